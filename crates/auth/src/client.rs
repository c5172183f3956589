//! The client's side of the bearer tokens: the token a client sends (fixed, or asked for
//! on every call so a rotated one takes effect without a restart) and the tonic interceptor
//! that attaches it. Every client of the ledger and the dialer (the dialer's ledger link and
//! outbox relay, the all-in-one, the load tools, the tests) uses these two.

use std::fmt;
use std::sync::Arc;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The bearer JWT a server requires, or none (a server without a key). A provider closure
/// is asked on every call (and on every relay reconnect), so a rotated token takes effect
/// without a restart. Never printed.
#[derive(Clone, Default)]
pub struct Token(Option<Arc<dyn Fn() -> String + Send + Sync>>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Token(***)"
        } else {
            "Token(none)"
        })
    }
}

impl Token {
    /// No authorization header (a ledger running without a key).
    pub fn none() -> Self {
        Token(None)
    }

    /// Always this JWT.
    pub fn fixed(jwt: impl Into<String>) -> Self {
        let jwt: String = jwt.into();
        Token(Some(Arc::new(move || jwt.clone())))
    }

    /// The JWT `f` returns at each call.
    pub fn from_fn(f: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Token(Some(Arc::new(f)))
    }

    /// The `authorization` header value, if any.
    pub fn header(&self) -> Result<Option<MetadataValue<Ascii>>, Status> {
        let Some(f) = &self.0 else { return Ok(None) };
        MetadataValue::try_from(format!("Bearer {}", f()))
            .map(Some)
            .map_err(|_| Status::unauthenticated("token is not a valid header value"))
    }
}

/// Adds `authorization: Bearer <jwt>` to every request.
#[derive(Debug, Clone)]
pub struct BearerAuth(pub Token);

impl Interceptor for BearerAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = self.0.header()? {
            req.metadata_mut().insert("authorization", v);
        }
        Ok(req)
    }
}
