//! Checks a digest response (RFC 2617 / 8760 MD5, with or without qop=auth) that the peer
//! under test sent, from SIPp's message log. SIPp's own `verifyauth` reads only the
//! Authorization header, so the 407 scenario (Proxy-Authorization) is checked here.

use md5::{Digest, Md5};

use crate::siplog::{LoggedMessage, parse_message_log};

/// Why a digest response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No received request carried Authorization or Proxy-Authorization.
    #[error("no request with Authorization or Proxy-Authorization in the log")]
    NoCredentials,
    /// A parameter the response needs is missing.
    #[error("credentials without {0}")]
    Missing(&'static str),
    /// Another algorithm than MD5.
    #[error("algorithm {0} (only MD5 is checked)")]
    Algorithm(String),
    /// The user name is not the expected one.
    #[error("user {got:?}, expected {want:?}")]
    User {
        /// What was sent.
        got: String,
        /// What was expected.
        want: String,
    },
    /// The response does not match the password.
    #[error("response {got} for {method} {uri}, expected {want}")]
    Response {
        /// What was sent.
        got: String,
        /// What the password gives.
        want: String,
        /// The request's method.
        method: String,
        /// The digest uri.
        uri: String,
    },
}

/// Checks the credentials of the last request SIPp received that carried Authorization or
/// Proxy-Authorization (SIPp's message log, `SippResult::messages`).
pub fn verify(message_log: &str, user: &str, password: &str) -> Result<(), DigestError> {
    let messages = parse_message_log(message_log);
    let (request, credentials) = messages
        .iter()
        .rev()
        .filter(|m| m.received && m.is_request())
        .find_map(|m| credentials_of(m).map(|c| (m, c)))
        .ok_or(DigestError::NoCredentials)?;
    let method = request.method().ok_or(DigestError::Missing("method"))?;
    verify_header(credentials, method, user, password)
}

fn credentials_of(message: &LoggedMessage) -> Option<&str> {
    message
        .header("Authorization")
        .or_else(|| message.header("Proxy-Authorization"))
}

/// Checks one Authorization / Proxy-Authorization value for `method`.
pub fn verify_header(
    value: &str,
    method: &str,
    user: &str,
    password: &str,
) -> Result<(), DigestError> {
    let params = value
        .trim()
        .strip_prefix("Digest")
        .ok_or(DigestError::Missing("Digest"))?;
    let param = |name: &'static str| param(params, name);
    let got_user = param("username").ok_or(DigestError::Missing("username"))?;
    if got_user != user {
        return Err(DigestError::User {
            got: got_user,
            want: user.to_string(),
        });
    }
    if let Some(algorithm) = param("algorithm")
        && !algorithm.eq_ignore_ascii_case("MD5")
    {
        return Err(DigestError::Algorithm(algorithm));
    }
    let realm = param("realm").ok_or(DigestError::Missing("realm"))?;
    let nonce = param("nonce").ok_or(DigestError::Missing("nonce"))?;
    let uri = param("uri").ok_or(DigestError::Missing("uri"))?;
    let got = param("response").ok_or(DigestError::Missing("response"))?;
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let want = match param("qop") {
        Some(qop) => {
            let nc = param("nc").ok_or(DigestError::Missing("nc"))?;
            let cnonce = param("cnonce").ok_or(DigestError::Missing("cnonce"))?;
            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    };
    if got.eq_ignore_ascii_case(&want) {
        Ok(())
    } else {
        Err(DigestError::Response {
            got,
            want,
            method: method.to_string(),
            uri,
        })
    }
}

/// A parameter of a digest header (quoted or not). Splits on commas outside quotes.
fn param(params: &str, name: &str) -> Option<String> {
    let mut in_quotes = false;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (i, c) in params.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                pieces.extend(params.get(start..i));
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.extend(params.get(start..));
    pieces.into_iter().find_map(|piece| {
        let (key, value) = piece.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // From a SIPp UAC run against digest.xml (user alice, password secret).
    const WITH_QOP: &str = "Digest username=\"alice\",realm=\"trunk.test\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:25090\",nonce=\"7a3f0c2e9b1d4c58a6e0f3b2d1c4e5f6\",response=\"a66b9a1be5ef2ef2a6a3f108ba8d1b3a\",algorithm=MD5";

    #[test]
    fn a_sipp_response_with_qop_checks_out() {
        assert_eq!(verify_header(WITH_QOP, "INVITE", "alice", "secret"), Ok(()));
        assert!(matches!(
            verify_header(WITH_QOP, "INVITE", "alice", "wrong"),
            Err(DigestError::Response { .. })
        ));
        assert!(matches!(
            verify_header(WITH_QOP, "INVITE", "bob", "secret"),
            Err(DigestError::User { .. })
        ));
    }

    #[test]
    fn a_response_without_qop_checks_out() {
        // RFC 2617-style, without qop: response = MD5(HA1:nonce:HA2).
        let value = "Digest username=\"alice\", realm=\"trunk.test\", nonce=\"7a3f0c2e9b1d4c58a6e0f3b2d1c4e5f6\", uri=\"sip:127.0.0.1:25090\", response=\"f21b7f6233fa9946d2423eba226b3cec\"";
        assert_eq!(verify_header(value, "INVITE", "alice", "secret"), Ok(()));
    }

    #[test]
    fn the_log_is_searched_for_the_last_credentials_received() {
        let log = format!(
            "----------------------------------------------- x\nUDP message received [1] bytes :\n\nINVITE sip:a@b SIP/2.0\r\nCSeq: 2 INVITE\r\nProxy-Authorization: {WITH_QOP}\r\n\r\n\n"
        );
        assert_eq!(verify(&log, "alice", "secret"), Ok(()));
        assert_eq!(
            verify("", "alice", "secret"),
            Err(DigestError::NoCredentials)
        );
        assert!(verify_header("Basic abc", "INVITE", "a", "b").is_err());
    }
}
