//! Bearer-JWT authentication (HS256, key from config) and per-method roles, shared by the
//! ledger and the dialer so one token format and one set of roles serve both. Without a
//! configured key every caller is an anonymous admin (development and the embedded demo); with
//! one, `authorization: Bearer <jwt>` with claims `sub`, `role` (`crm`, `dialer`, `agent`,
//! `manager` or `admin`) and optionally `exp` is required. Expired or badly signed tokens are
//! UNAUTHENTICATED; a role a method does not allow is PERMISSION_DENIED. Both are enforced by
//! one tower layer ([`RoleLayer`]) over each server's [`RoleTable`].
//! Token verification is hand-rolled on `hmac`/`sha2` to keep the dependency tree small; it
//! accepts only `alg: HS256`.
//!
//! # Layout
//!
//! - this file: roles, claims, minting and verifying tokens ([`Auth`], [`sign_hs256`]).
//! - `layer`: the server side, [`RoleTable`] (method path -> roles) and [`RoleLayer`], the one
//!   tower layer every server is wrapped in.
//! - `client`: the client side, the [`Token`] a client sends and [`BearerAuth`], the
//!   interceptor that attaches it.

mod client;
mod layer;

pub use client::{BearerAuth, Token};
pub use layer::{RoleLayer, RoleService, RoleTable, caller};

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tonic::Status;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A CRM: loads accounts, reads, watches, sets holds and consents.
    Crm,
    /// The dialer: streams outcomes, reads, watches, sets holds, consents, promises.
    Dialer,
    /// A dialer agent (softphone): its own session on a campaign, as the token's `sub`.
    Agent,
    /// A campaign manager: creates and runs campaigns, asks the compliance engine why.
    Manager,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role, for CLIs and docs.
    pub const ALL: [Role; 5] = [
        Role::Crm,
        Role::Dialer,
        Role::Agent,
        Role::Manager,
        Role::Admin,
    ];

    /// The claim value (`crm`, `dialer`, `agent`, `manager`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Crm => "crm",
            Role::Dialer => "dialer",
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Role, AuthError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AuthError::UnknownRole(s.to_string()))
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed token")]
    Malformed,
    #[error("malformed token header")]
    MalformedHeader,
    #[error("token alg must be HS256")]
    Algorithm,
    #[error("malformed token signature")]
    MalformedSignature,
    #[error("bad token signature")]
    BadSignature,
    #[error("malformed token claims (need sub and a known role)")]
    MalformedClaims,
    #[error("token expired")]
    Expired,
    #[error("unknown role {0:?}")]
    UnknownRole(String),
}

/// The authenticated caller, stored in request extensions by [`RoleLayer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
}

impl Caller {
    /// Who calls when authentication is disabled.
    pub fn anonymous() -> Caller {
        Caller {
            subject: "anonymous".into(),
            role: Role::Admin,
        }
    }
}

/// JWT claims the services read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// The configured key (or none); cheap to clone.
#[derive(Clone, Default)]
pub struct Auth {
    key: Option<Arc<Vec<u8>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("enabled", &self.key.is_some())
            .finish()
    }
}

impl Auth {
    /// `None` disables authentication.
    pub fn new(hs256_key: Option<&str>) -> Self {
        Self {
            key: hs256_key.map(|k| Arc::new(k.as_bytes().to_vec())),
        }
    }

    /// Whether tokens are checked at all.
    pub fn enabled(&self) -> bool {
        self.key.is_some()
    }

    /// The claims of `token` if it is signed with the configured key and not expired
    /// (disabled authentication verifies nothing and refuses every token as malformed).
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let key = self.key.as_deref().ok_or(AuthError::Malformed)?;
        verify_hs256(key, token)
    }

    /// Who sends a request with these headers: the anonymous admin without a key, else the
    /// bearer token's subject and role (UNAUTHENTICATED when it is missing or bad).
    pub fn caller(&self, headers: &http::HeaderMap) -> Result<Caller, Status> {
        let Some(key) = &self.key else {
            return Ok(Caller::anonymous());
        };
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("missing authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization must be Bearer <jwt>"))?;
        let claims =
            verify_hs256(key, token).map_err(|e| Status::unauthenticated(e.to_string()))?;
        Ok(Caller {
            subject: claims.sub,
            role: claims.role,
        })
    }
}

fn verify_hs256(key: &[u8], token: &str) -> Result<Claims, AuthError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(AuthError::MalformedHeader)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(AuthError::Algorithm);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| AuthError::MalformedSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| AuthError::BadSignature)?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| AuthError::BadSignature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(AuthError::MalformedClaims)?;
    if let Some(exp) = claims.exp
        && exp < jiff::Timestamp::now().as_second()
    {
        return Err(AuthError::Expired);
    }
    Ok(claims)
}

/// Signs claims with an HS256 key (for tests, the services' `token` commands, and the dialer's
/// own ledger token).
pub fn sign_hs256(key: &str, claims: &Claims) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h}.{p}.{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn call(auth: &Auth, header: Option<&str>) -> Result<Caller, Status> {
        let mut headers = http::HeaderMap::new();
        if let Some(h) = header {
            headers.insert("authorization", h.parse().unwrap());
        }
        auth.caller(&headers)
    }

    #[test]
    fn verifies_hs256_tokens() {
        let auth = Auth::new(Some(KEY));
        let good = sign_hs256(
            KEY,
            &Claims {
                sub: "crm-1".into(),
                role: Role::Crm,
                exp: None,
            },
        );
        let c = call(&auth, Some(&format!("Bearer {good}"))).unwrap();
        assert_eq!(c.role, Role::Crm);
        let forged = sign_hs256(
            "another key of 32 bytes or more!!",
            &Claims {
                sub: "x".into(),
                role: Role::Admin,
                exp: None,
            },
        );
        let e = call(&auth, Some(&format!("Bearer {forged}"))).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            call(&auth, None).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let expired = sign_hs256(
            KEY,
            &Claims {
                sub: "d".into(),
                role: Role::Dialer,
                exp: Some(1),
            },
        );
        assert!(call(&auth, Some(&format!("Bearer {expired}"))).is_err());
        // Disabled: anonymous admin.
        assert_eq!(call(&Auth::new(None), None).unwrap().role, Role::Admin);
    }

    #[test]
    fn new_roles_and_typed_errors() {
        let auth = Auth::new(Some(KEY));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let t = sign_hs256(
                KEY,
                &Claims {
                    sub: "a1".into(),
                    role,
                    exp: Some(jiff::Timestamp::now().as_second() + 60),
                },
            );
            assert_eq!(auth.verify(&t).unwrap().role, role);
        }
        let expired = sign_hs256(
            KEY,
            &Claims {
                sub: "a1".into(),
                role: Role::Agent,
                exp: Some(1),
            },
        );
        assert_eq!(auth.verify(&expired), Err(AuthError::Expired));
        // An agent's token with the payload of an admin's: the signature no longer matches.
        let agent = sign_hs256(
            KEY,
            &Claims {
                sub: "a1".into(),
                role: Role::Agent,
                exp: None,
            },
        );
        let admin = sign_hs256(
            "some other key of at least 32 bytes",
            &Claims {
                sub: "a1".into(),
                role: Role::Admin,
                exp: None,
            },
        );
        let a: Vec<&str> = agent.split('.').collect();
        let b: Vec<&str> = admin.split('.').collect();
        let tampered = format!("{}.{}.{}", a[0], b[1], a[2]);
        assert_eq!(auth.verify(&tampered), Err(AuthError::BadSignature));
        assert_eq!(auth.verify("x.y"), Err(AuthError::Malformed));
        assert!("root".parse::<Role>().is_err());
    }
}
