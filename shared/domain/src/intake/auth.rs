//! The `Authorization` header of `POST /alerts`: a bearer token, or Basic with an
//! empty user and the token as password.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The token of an `Authorization` header: `Bearer <token>`, or `Basic` with an empty
/// user and the token as password.
pub fn authorization_token(header: &str) -> Option<Vec<u8>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.as_bytes().to_vec())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = B64.decode(rest).ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        Some(decoded[colon + 1..].to_vec())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_forms() {
        assert_eq!(
            authorization_token("Bearer abc").as_deref(),
            Some(&b"abc"[..])
        );
        let basic = format!("Basic {}", B64.encode(":abc"));
        assert_eq!(authorization_token(&basic).as_deref(), Some(&b"abc"[..]));
        assert_eq!(authorization_token("Token abc"), None);
        assert_eq!(authorization_token("Basic !!!"), None);
    }
}
