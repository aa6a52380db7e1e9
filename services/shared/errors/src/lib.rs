//! The error vocabulary every Prism crate shares, so that each decision is made in
//! one place:
//!
//! - [`Retryable`]: whether doing the same thing again may succeed. Every error type
//!   of the store, the bus, the engine and the attempt fence implements it; consumers
//!   decide ack, delayed nak or terminate from it, never from message strings
//!   (restate's `MaybeRetryableError` is the model).
//! - [`Code`]: the stable code of an answer, spelled once, from which both the HTTP
//!   status and the bus reply code derive.
//! - [`bounded`]: error text cut to [`MAX_ERROR_TEXT_BYTES`], so that no input can
//!   make a record or an event exceed the store's value limit.
//! - [`injected`]: seeded chances for the faults tests inject.
#![forbid(unsafe_code)]

pub mod injected;

/// Whether an operation that failed with this error may succeed when repeated.
pub trait Retryable {
    fn retryable(&self) -> bool;
}

/// The stable, machine-readable code of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    InvalidArgument,
    /// No valid credential: missing, malformed, expired or revoked.
    Unauthenticated,
    /// A valid caller without the permission the request needs.
    PermissionDenied,
    NotFound,
    Conflict,
    /// Well-formed, but it could not be processed (a service's computation failed).
    Unprocessable,
    /// Too many attempts (e.g. failed logins): wait, then try again.
    ResourceExhausted,
    Unavailable,
    /// No answer in the time allowed (a service past its `timeout_ms`).
    DeadlineExceeded,
    Internal,
}

impl Code {
    pub const ALL: [Code; 10] = [
        Code::InvalidArgument,
        Code::Unauthenticated,
        Code::PermissionDenied,
        Code::NotFound,
        Code::Conflict,
        Code::Unprocessable,
        Code::ResourceExhausted,
        Code::Unavailable,
        Code::DeadlineExceeded,
        Code::Internal,
    ];

    /// The code's name in HTTP bodies and bus replies.
    pub fn name(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid_argument",
            Code::Unauthenticated => "unauthenticated",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::Unprocessable => "unprocessable",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::Conflict => "conflict",
            Code::Unavailable => "unavailable",
            Code::Internal => "internal",
        }
    }

    /// The HTTP status the code answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Code::InvalidArgument => 400,
            Code::Unauthenticated => 401,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unprocessable => 422,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::Conflict => 409,
            Code::Unavailable => 503,
            Code::Internal => 500,
        }
    }

    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.name() == name)
    }

    /// Unavailable and internal failures are the service's; the others are the
    /// caller's, and repeating the same request gives the same answer.
    pub fn is_caller_error(self) -> bool {
        matches!(
            self,
            Code::InvalidArgument
                | Code::Unauthenticated
                | Code::PermissionDenied
                | Code::NotFound
                | Code::Conflict
        )
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The most bytes of error text kept in a record or an event.
pub const MAX_ERROR_TEXT_BYTES: usize = 4_096;

/// `text`, cut to at most [`MAX_ERROR_TEXT_BYTES`] on a character boundary, with a
/// marker saying how much was cut.
pub fn bounded(text: &str) -> String {
    bounded_to(text, MAX_ERROR_TEXT_BYTES)
}

/// `text` cut to at most `limit` bytes (marker included) on a character boundary.
pub fn bounded_to(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    // The marker's length depends on the count it prints; 40 bytes always hold it.
    let mut keep = limit.saturating_sub(40);
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}… [truncated {} bytes]", &text[..keep], text.len() - keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_map_to_http() {
        for code in Code::ALL {
            assert_eq!(Code::from_name(code.name()), Some(code));
        }
        assert_eq!(Code::InvalidArgument.http_status(), 400);
        assert_eq!(Code::Unavailable.http_status(), 503);
        assert_eq!(Code::from_name("nope"), None);
    }

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_with_a_marker() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(10_000);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_ERROR_TEXT_BYTES, "{}", cut.len());
        assert!(cut.ends_with("bytes]"), "{cut}");
        assert!(cut.starts_with("éé"));
        let cut = bounded_to(&"x".repeat(1_000), 100);
        assert_eq!(cut, format!("{}… [truncated 940 bytes]", "x".repeat(60)));
    }
}
