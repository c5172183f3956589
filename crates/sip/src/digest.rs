//! HTTP digest authentication as SIP uses it (RFC 2617, RFC 7616, RFC 8760): reading a
//! carrier's 401/407 challenge and computing the Authorization or Proxy-Authorization value
//! that answers it. MD5 and MD5-sess (what trunks ask for), SHA-256 and SHA-256-sess;
//! `qop=auth` or none (RFC 2069 style).

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::ParseError;
use crate::message::Method;
use crate::syntax::{clip, is_token_char, take_quoted};

/// A `Digest` challenge from WWW-Authenticate (401) or Proxy-Authenticate (407).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// As written (`MD5`, `MD5-sess`...); `None` means MD5.
    pub algorithm: Option<String>,
    /// The qop options offered (`auth`, `auth-int`); empty for an RFC 2069 challenge.
    pub qop: Vec<String>,
    /// The nonce expired but the credentials were right: answer again with the new nonce
    /// rather than give up.
    pub stale: bool,
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("the challenge offers qop {0:?}, none of which is auth")]
    UnsupportedQop(Vec<String>),
    #[error("the nonce count starts at 1")]
    ZeroNonceCount,
}

/// The account a trunk authenticates.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log line.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Challenge {
    /// Parses a WWW-Authenticate / Proxy-Authenticate value: `Digest realm="...", nonce=...`.
    pub fn parse(header_value: &str) -> Result<Challenge, ParseError> {
        let field = "challenge";
        let bad = |d: String| ParseError::malformed(field, d);
        let s = header_value.trim();
        let (scheme, mut rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(bad(format!("scheme {:?} is not Digest", clip(scheme))));
        }
        let (mut realm, mut nonce, mut opaque, mut algorithm, mut qop, mut stale) =
            (None, None, None, None, Vec::new(), false);
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
            if rest.is_empty() {
                break;
            }
            let name_len = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
            let (name, after) = rest.split_at(name_len);
            if name.is_empty() {
                return Err(bad(format!(
                    "expected a parameter name at {:?}",
                    clip(rest)
                )));
            }
            let after = after.trim_start();
            let Some(after) = after.strip_prefix('=') else {
                return Err(bad(format!("parameter {:?} has no '='", clip(name))));
            };
            let after = after.trim_start();
            let (value, tail) = if after.starts_with('"') {
                take_quoted(after).map_err(bad)?
            } else {
                let end = after
                    .find(|c: char| c == ',' || c.is_whitespace())
                    .unwrap_or(after.len());
                let (v, t) = after.split_at(end);
                if v.is_empty() {
                    return Err(bad(format!("parameter {:?} has no value", clip(name))));
                }
                (v.to_string(), t)
            };
            let tail = tail.trim_start();
            if !(tail.is_empty() || tail.starts_with(',')) {
                return Err(bad(format!(
                    "expected ',' after parameter {:?}",
                    clip(name)
                )));
            }
            rest = tail;
            match name.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "nonce" => nonce = Some(value),
                "opaque" => opaque = Some(value),
                "algorithm" => algorithm = Some(value),
                "qop" => {
                    qop = value
                        .split(',')
                        .map(str::trim)
                        .filter(|q| !q.is_empty())
                        .map(str::to_string)
                        .collect()
                }
                "stale" => stale = value.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        Ok(Challenge {
            realm: realm
                .ok_or_else(|| ParseError::new(crate::ErrorKind::Missing, field, "no realm"))?,
            nonce: nonce
                .ok_or_else(|| ParseError::new(crate::ErrorKind::Missing, field, "no nonce"))?,
            opaque,
            algorithm,
            qop,
            stale,
        })
    }
}

#[derive(Clone, Copy)]
enum Hash {
    Md5,
    Sha256,
}

impl Hash {
    fn hex(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Hash::Md5 => Md5::digest(data.as_bytes()).to_vec(),
            Hash::Sha256 => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes
            .iter()
            .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
                use std::fmt::Write as _;
                let _ = write!(s, "{b:02x}");
                s
            })
    }
}

/// The Authorization / Proxy-Authorization header value answering `ch` for a request
/// `method uri`. `cnonce` comes from the caller (random), `nc` is how many times this
/// nonce has been used, 1 the first time.
pub fn authorize(
    c: &Credentials,
    method: &Method,
    uri: &str,
    ch: &Challenge,
    cnonce: &str,
    nc: u32,
) -> Result<String, DigestError> {
    let algorithm = ch.algorithm.as_deref().unwrap_or("MD5");
    let (hash, sess) = match algorithm.to_ascii_uppercase().as_str() {
        "MD5" => (Hash::Md5, false),
        "MD5-SESS" => (Hash::Md5, true),
        "SHA-256" => (Hash::Sha256, false),
        "SHA-256-SESS" => (Hash::Sha256, true),
        _ => return Err(DigestError::UnsupportedAlgorithm(algorithm.to_string())),
    };
    let qop_auth = if ch.qop.is_empty() {
        false
    } else if ch.qop.iter().any(|q| q.eq_ignore_ascii_case("auth")) {
        true
    } else {
        return Err(DigestError::UnsupportedQop(ch.qop.clone()));
    };
    if nc == 0 {
        return Err(DigestError::ZeroNonceCount);
    }
    let nc = format!("{nc:08x}");
    let mut ha1 = hash.hex(&format!("{}:{}:{}", c.username, ch.realm, c.password));
    if sess {
        ha1 = hash.hex(&format!("{ha1}:{}:{cnonce}", ch.nonce));
    }
    let ha2 = hash.hex(&format!("{method}:{uri}"));
    let response = if qop_auth {
        hash.hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", ch.nonce))
    } else {
        hash.hex(&format!("{ha1}:{}:{ha2}", ch.nonce))
    };
    let q = crate::syntax::quote;
    let mut out = format!(
        "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\"",
        q(&c.username),
        q(&ch.realm),
        q(&ch.nonce),
        q(uri)
    );
    if let Some(a) = &ch.algorithm {
        out.push_str(&format!(", algorithm={a}"));
    }
    if qop_auth || sess {
        out.push_str(&format!(", cnonce={}", q(cnonce)));
    }
    if let Some(o) = &ch.opaque {
        out.push_str(&format!(", opaque={}", q(o)));
    }
    if qop_auth {
        out.push_str(&format!(", qop=auth, nc={nc}"));
    }
    Ok(out)
}
