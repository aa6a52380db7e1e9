//! The browser's session: the console signs in with `POST /v1/auth/session`, which
//! answers a session token in a cookie that scripts cannot read (`HttpOnly`) and
//! other sites do not send (`SameSite=Strict`). The cookie alone never changes
//! anything: a request that would is honoured only with the header
//! [`CONSOLE_HEADER`], which a page of another origin cannot add without a CORS
//! preflight that this server never grants, and only when the browser does not
//! say it came from another origin (`Sec-Fetch-Site`, `Origin`). Pages of other
//! origins on the same host (another port is the same *site*, so `SameSite`
//! alone would let the cookie through) are stopped by these checks.
use axum::http::{HeaderMap, HeaderValue, Method, header};

use crate::error::{ApiError, ApiResult, Code};

pub const COOKIE: &str = "prism_session";
/// Sent by the console with every request; its value is not a secret.
pub const CONSOLE_HEADER: &str = "x-prism-console";

/// The session token of the request's cookie, if it carries one.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

/// Refuses a cookie-borne request that changes something unless it provably
/// comes from a page of this origin.
pub fn check_same_origin(method: &Method, headers: &HeaderMap) -> ApiResult<()> {
    if matches!(*method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    let refuse = |why: &str| {
        Err(ApiError::new(
            Code::PermissionDenied,
            Some(CONSOLE_HEADER),
            format!("a change made with the browser session must come from the console: {why}"),
        ))
    };
    if !headers.contains_key(CONSOLE_HEADER) {
        return refuse("the header x-prism-console is missing");
    }
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|site| site != "same-origin") {
        return refuse("the browser says the request came from another origin");
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        if origin_host.is_none() || origin_host != host {
            return refuse("its Origin is not this server");
        }
    }
    Ok(())
}

/// Whether the browser reached this server over HTTPS (directly, or through a load
/// balancer that says so): then the cookie is also `Secure`.
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a new session lasting `max_age_secs`.
pub fn set_cookie(headers: &HeaderMap, token: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if over_https(headers) { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&value).expect("a token is header-safe")
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("prism_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; prism_session=tok; b=2")]);
        assert_eq!(token(&h).as_deref(), Some("tok"));
        assert_eq!(token(&headers(&[("cookie", "prism_sessionx=1")])), None);
    }

    #[test]
    fn changes_need_the_console_header_and_the_same_origin() {
        let post = Method::POST;
        assert!(check_same_origin(&Method::GET, &headers(&[])).is_ok());
        assert!(check_same_origin(&post, &headers(&[])).is_err());
        let ok = [
            ("x-prism-console", "1"),
            ("host", "h:8080"),
            ("origin", "http://h:8080"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(check_same_origin(&post, &headers(&ok)).is_ok());
        let cross = [
            ("x-prism-console", "1"),
            ("host", "h:8080"),
            ("origin", "http://h:9999"),
        ];
        assert!(check_same_origin(&post, &headers(&cross)).is_err());
        let site = [("x-prism-console", "1"), ("sec-fetch-site", "same-site")];
        assert!(check_same_origin(&post, &headers(&site)).is_err());
    }
}
