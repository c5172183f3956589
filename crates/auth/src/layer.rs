//! Who may call which method, decided in one place per server: a [`RoleTable`] (each method's
//! full gRPC path to the roles that may call it) enforced by [`RoleLayer`] around every
//! service of that server, so no handler carries a role check and a method the table does not
//! list cannot be reached. Handlers read the admitted caller with [`caller`] for the checks
//! that depend on data (whose call, who acts).

use std::future::{Future, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tower_service::Service;

use crate::{Auth, Caller, Role};

/// One server's grants: `(path, roles)` with `path` as gRPC routes it
/// (`/collections.ledger.v1.LedgerService/RecordOutcomes`). Admin may call every listed method.
#[derive(Debug, Clone, Copy)]
pub struct RoleTable(&'static [(&'static str, &'static [Role])]);

impl RoleTable {
    pub const fn new(grants: &'static [(&'static str, &'static [Role])]) -> RoleTable {
        RoleTable(grants)
    }

    /// The roles besides admin that may call `path`; `None` when the table does not list it.
    pub fn roles(&self, path: &str) -> Option<&'static [Role]> {
        self.0.iter().find(|(p, _)| *p == path).map(|(_, r)| *r)
    }

    /// Every listed path, in table order.
    pub fn paths(&self) -> impl Iterator<Item = &'static str> {
        self.0.iter().map(|(p, _)| *p)
    }

    /// What keeps the table from listing exactly `methods` (the RPCs its server serves, as
    /// paths): methods it lacks, entries naming no such method, paths listed twice. Each
    /// server's tests check this against the protos.
    pub fn mismatches(&self, methods: &[String]) -> Vec<String> {
        let listed: Vec<&str> = self.paths().collect();
        let missing = methods
            .iter()
            .filter(|m| !listed.contains(&m.as_str()))
            .map(|m| format!("{m}: no entry"));
        let unknown = listed
            .iter()
            .filter(|p| !methods.iter().any(|m| m == *p))
            .map(|p| format!("{p}: no such method"));
        let twice = listed
            .iter()
            .enumerate()
            .filter(|(i, p)| listed[..*i].contains(p))
            .map(|(_, p)| format!("{p}: listed twice"));
        missing.chain(unknown).chain(twice).collect()
    }

    /// `caller` if its role may call `path`: PERMISSION_DENIED for a role the method does not
    /// allow, UNIMPLEMENTED for a path the table does not list (as for a method that does not
    /// exist: an unlisted one is never reachable).
    pub fn admit(&self, path: &str, caller: Caller) -> Result<Caller, Status> {
        let roles = self
            .roles(path)
            .ok_or_else(|| Status::unimplemented(format!("{path}: no such method")))?;
        if caller.role == Role::Admin || roles.contains(&caller.role) {
            Ok(caller)
        } else {
            Err(Status::permission_denied(format!(
                "role {} may not call this method",
                caller.role.as_str()
            )))
        }
    }
}

/// Authenticates every request (UNAUTHENTICATED first, as a missing token says nothing about
/// a role), then admits it by the table; the admitted [`Caller`] rides in the request's
/// extensions. One value per server, applied to each of its services.
#[derive(Debug, Clone)]
pub struct RoleLayer {
    auth: Auth,
    table: RoleTable,
}

impl RoleLayer {
    pub fn new(auth: Auth, table: RoleTable) -> RoleLayer {
        RoleLayer { auth, table }
    }

    fn admit(&self, path: &str, headers: &http::HeaderMap) -> Result<Caller, Status> {
        self.table.admit(path, self.auth.caller(headers)?)
    }
}

impl<S> tower_layer::Layer<S> for RoleLayer {
    type Service = RoleService<S>;

    fn layer(&self, inner: S) -> RoleService<S> {
        RoleService {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service behind [`RoleLayer`]; it keeps the inner service's name for tonic's router.
#[derive(Debug, Clone)]
pub struct RoleService<S> {
    inner: S,
    layer: RoleLayer,
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for RoleService<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> Service<http::Request<B>> for RoleService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self.layer.admit(req.uri().path(), req.headers()) {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                Box::pin(self.inner.call(req))
            }
            Err(status) => Box::pin(ready(Ok(status.into_http()))),
        }
    }
}

/// The caller [`RoleLayer`] admitted. INTERNAL when there is none: the service was served
/// without the layer, which must not pass as anyone.
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("no authenticated caller (the server lacks RoleLayer)"))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::task::Waker;

    use tower_layer::Layer;

    use super::*;
    use crate::{Claims, sign_hs256};

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const TABLE: RoleTable = RoleTable::new(&[
        ("/pkg.Svc/Read", &[Role::Crm, Role::Dialer]),
        ("/pkg.Svc/Write", &[Role::Dialer]),
    ]);

    /// Answers with the caller it was handed, as the response body.
    #[derive(Clone)]
    struct Echo;

    impl Service<http::Request<()>> for Echo {
        type Response = http::Response<Option<Caller>>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<()>) -> Self::Future {
            ready(Ok(http::Response::new(
                req.extensions().get::<Caller>().cloned(),
            )))
        }
    }

    /// The status code and the caller the inner service saw, calling `path` with `role`'s
    /// token (no token for `None`).
    fn call(auth: Auth, path: &str, role: Option<Role>) -> (tonic::Code, Option<Caller>) {
        let mut svc = RoleLayer::new(auth, TABLE).layer(Echo);
        let mut req = http::Request::new(());
        *req.uri_mut() = path.parse().unwrap();
        if let Some(role) = role {
            let claims = Claims {
                sub: "s1".into(),
                role,
                exp: None,
            };
            let t = format!("Bearer {}", sign_hs256(KEY, &claims));
            req.headers_mut()
                .insert("authorization", t.parse().unwrap());
        }
        let mut fut = svc.call(req);
        let Poll::Ready(Ok(resp)) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        else {
            panic!("the layer answers at once over an inner service that does");
        };
        let code = Status::from_header_map(resp.headers()).map_or(tonic::Code::Ok, |s| s.code());
        (code, resp.into_body())
    }

    #[test]
    fn authenticates_then_admits_by_the_table() {
        use tonic::Code;
        let on = || Auth::new(Some(KEY));
        assert_eq!(call(on(), "/pkg.Svc/Read", None).0, Code::Unauthenticated);
        // Unauthenticated before anything about the method.
        assert_eq!(call(on(), "/pkg.Svc/Nope", None).0, Code::Unauthenticated);
        let (code, seen) = call(on(), "/pkg.Svc/Read", Some(Role::Crm));
        assert_eq!(code, Code::Ok);
        assert_eq!(
            seen,
            Some(Caller {
                subject: "s1".into(),
                role: Role::Crm
            })
        );
        assert_eq!(
            call(on(), "/pkg.Svc/Write", Some(Role::Crm)).0,
            Code::PermissionDenied
        );
        assert_eq!(
            call(on(), "/pkg.Svc/Write", Some(Role::Manager)).0,
            Code::PermissionDenied
        );
        assert_eq!(call(on(), "/pkg.Svc/Write", Some(Role::Admin)).0, Code::Ok);
        assert_eq!(
            call(on(), "/pkg.Svc/Nope", Some(Role::Admin)).0,
            Code::Unimplemented
        );
        // No key: everyone is the anonymous admin.
        let (code, seen) = call(Auth::new(None), "/pkg.Svc/Write", None);
        assert_eq!((code, seen), (Code::Ok, Some(Caller::anonymous())));
    }

    #[test]
    fn mismatches_name_what_is_missing_unknown_or_twice() {
        let methods = ["/pkg.Svc/Read".to_string(), "/pkg.Svc/Write".to_string()];
        assert!(TABLE.mismatches(&methods).is_empty());
        const ODD: RoleTable = RoleTable::new(&[
            ("/pkg.Svc/Read", &[]),
            ("/pkg.Svc/Gone", &[]),
            ("/pkg.Svc/Read", &[]),
        ]);
        assert_eq!(
            ODD.mismatches(&methods),
            [
                "/pkg.Svc/Write: no entry",
                "/pkg.Svc/Gone: no such method",
                "/pkg.Svc/Read: listed twice"
            ]
        );
    }

    #[test]
    fn a_handler_without_the_layer_has_no_caller() {
        let e = caller(&tonic::Request::new(())).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Internal);
    }
}
