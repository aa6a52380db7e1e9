//! Who may do what, decided the same way by every service that asks.
//!
//! - [`model`]: actions, entity types and grants.
//! - [`builtin`]: the built-in roles, defined here and never stored.
//! - [`policy`]: the decision for one user, action and entity, with its reason.
//! - [`password`]: argon2id hashing off the async workers.
//! - [`secret`]: opaque bearer tokens and the hash they are stored under.
//! - [`directory`]: what the configuration database holds about one user.
#![forbid(unsafe_code)]

pub mod builtin;
pub mod directory;
pub mod glob;
pub mod model;
pub mod password;
pub mod policy;
pub mod secret;

pub use model::{Action, Entity, Permission};
pub use policy::Decision;
