//! Real-time services: the services this executor answers and their responders
//! ([`serving`]), one request's reading and answer ([`request`]), and the compiled
//! plans kept warm per version ([`warm`]).
pub mod request;
pub mod serving;
pub mod warm;
