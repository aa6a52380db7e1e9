//! Signing in, tokens, users, roles and overrides.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// A browser session started: its token is in the `prism_session` cookie only.
#[derive(Serialize, ToSchema)]
pub struct BrowserSession {
    pub user: String,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct Session {
    /// The bearer token: `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenRef {
    pub id: String,
    pub kind: String,
    pub expires_at: Option<String>,
}

/// A grant and the role that gives it.
#[derive(Serialize, ToSchema)]
pub struct EffectiveGrant {
    pub role: String,
    pub entity: String,
    #[serde(rename = "match")]
    pub pattern: String,
    pub actions: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: String,
    pub roles: Vec<String>,
    /// What the caller's roles grant, built-in and custom together.
    pub grants: Vec<EffectiveGrant>,
    pub token: TokenRef,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthzQuestion {
    /// Someone else (needs `view` on users); the caller when absent.
    pub user: Option<String>,
    pub action: String,
    pub entity: String,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthzAnswer {
    pub user: String,
    pub permission: String,
    pub allowed: bool,
    pub because: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub label: String,
    /// When it expires (RFC 3339); at most a year ahead.
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Token {
    pub id: String,
    pub label: String,
    pub kind: String,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    /// The secret, shown once: only in the answer to `POST /v1/tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Tokens {
    pub tokens: Vec<Token>,
}

#[derive(Serialize, ToSchema)]
pub struct User {
    pub name: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Users {
    pub users: Vec<User>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// A new password (required for a new user).
    pub password: Option<String>,
    /// Changing one's own password needs the current one.
    pub current_password: Option<String>,
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// An entity type, e.g. `dataflows`.
    pub entity: String,
    /// A name or a glob of names; every name when absent.
    #[serde(rename = "match", default = "every_name")]
    pub pattern: String,
    pub actions: Vec<String>,
}

fn every_name() -> String {
    "*".into()
}

impl From<&prism_auth::model::Grant> for Grant {
    fn from(grant: &prism_auth::model::Grant) -> Self {
        Grant {
            entity: grant.entity.name().into(),
            pattern: grant.pattern.clone(),
            actions: grant.actions.iter().map(|a| a.name().into()).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Role {
    pub name: String,
    pub builtin: bool,
    pub grants: Vec<Grant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Roles {
    pub roles: Vec<Role>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub grants: Vec<Grant>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    /// `user:<name>` or `role:<name>`.
    pub principal: String,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Acl {
    pub entity: String,
    pub name: String,
    pub entries: Vec<AclEntry>,
    pub updated_at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclChange {
    pub entries: Vec<AclEntry>,
}
