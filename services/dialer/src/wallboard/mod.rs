//! dialerd's HTTP port: Prometheus `/metrics` and the floor manager's web wallboard
//! (`/wallboard/`), its pages, embedded assets and live feeds (server-sent events fed from
//! the registry's figures watch channels, the same source as `WatchCampaign`).
//!
//! Served with axum: it is already in the build (tonic's router is axum 0.8 on hyper 1), so
//! the HTTP/1.1 keep-alive, streaming bodies and header handling SSE and cookies need come
//! without a new dependency, where the one-request-per-connection `/metrics` server of
//! `service::metrics` would have had to grow them by hand.
//!
//! Auth: a manager (or admin) token, as a bearer header (API clients) or the HttpOnly
//! `wallboard_token` cookie the `?token=` login sets (browsers). See [`access`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use auth::{Auth, Role};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_stream::wrappers::{IntervalStream, WatchStream};
use tokio_stream::{Stream, StreamExt};

use crate::engine::trend::TREND_EVERY_MS;
use crate::engine::{Backend, Figures, TrendPoint};
use crate::registry::Registry;

/// The page (overview and campaign views: the script reads the path).
const PAGE: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");
const SCRIPT: &str = include_str!("assets/wallboard.js");
const STYLE: &str = include_str!("assets/wallboard.css");

/// The cookie the `?token=` login sets.
pub const COOKIE: &str = "wallboard_token";

/// How often the overview feed sends every campaign's figures (the campaigns publish theirs
/// once per second).
const OVERVIEW_EVERY: Duration = Duration::from_secs(1);

/// What a request's credentials allow on the wallboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Granted,
    /// No token: 401 and the login page.
    Missing,
    /// A token that is not signed with the key, malformed or expired: 401.
    Invalid,
    /// A valid token of a role that may not watch the floor (agent, crm, dialer): 403.
    Refused(Role),
}

/// Managers and admins watch the floor; everyone when authentication is disabled (as
/// dialerd's gRPC API then is).
pub fn access(auth: &Auth, token: Option<&str>) -> Access {
    if !auth.enabled() {
        return Access::Granted;
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Access::Missing;
    };
    match auth.verify(token) {
        Ok(c) if matches!(c.role, Role::Manager | Role::Admin) => Access::Granted,
        Ok(c) => Access::Refused(c.role),
        Err(_) => Access::Invalid,
    }
}

/// The request's token: `Authorization: Bearer` first, else the login cookie.
pub fn request_token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.to_owned())
    })
}

/// The value of `name` in a query string (tokens are URL-safe; `+` and `%xx` are decoded
/// for pasted ones anyway).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).trim().to_owned()
}

/// What the HTTP port serves from.
struct Shared<B: Backend> {
    registry: Arc<Registry<B>>,
    auth: Auth,
    metrics: prometheus::Registry,
    refresh: Box<dyn Fn() + Send + Sync>,
}

type St<B> = State<Arc<Shared<B>>>;

/// The routes of dialerd's HTTP port: `/metrics` (open, as Prometheus scrapes it), the
/// wallboard's pages, assets and feeds.
pub fn router<B: Backend>(
    registry: Arc<Registry<B>>,
    auth: Auth,
    metrics: prometheus::Registry,
    refresh: impl Fn() + Send + Sync + 'static,
) -> Router {
    let shared = Arc::new(Shared {
        registry,
        auth,
        metrics,
        refresh: Box::new(refresh),
    });
    Router::new()
        .route("/metrics", get(metrics_text::<B>))
        .route("/wallboard", get(|| async { redirect("/wallboard/") }))
        .route("/wallboard/", get(page::<B>))
        .route("/wallboard/campaign/{id}", get(page::<B>))
        .route(
            "/wallboard/assets/wallboard.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/wallboard/assets/wallboard.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/wallboard/api/campaigns", get(campaigns::<B>))
        .route("/wallboard/api/events", get(overview_events::<B>))
        .route(
            "/wallboard/api/campaigns/{id}/events",
            get(campaign_events::<B>),
        )
        .with_state(shared)
}

/// Serves [`router`] on `listener` until the task is dropped (Nagle off on each connection,
/// as on the gRPC port: an event streamed right after another would wait for a delayed ACK).
pub async fn serve(listener: TcpListener, router: Router) {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    if let Err(e) = axum::serve(listener, router).await {
        tracing::warn!(error = %e, "the HTTP port stopped");
    }
}

async fn metrics_text<B: Backend>(State(s): St<B>) -> Response {
    (s.refresh)();
    // One request per connection, as the endpoint always answered: simple scrapers read to
    // the end of the stream.
    (
        [
            (header::CONTENT_TYPE, "text/plain; version=0.0.4"),
            (header::CONNECTION, "close"),
        ],
        service::metrics::render(&s.metrics),
    )
        .into_response()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .body(Body::empty())
        .expect("redirect")
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The login page with `message` (why the token was not taken).
fn login(status: StatusCode, message: &str) -> Response {
    html(status, LOGIN.replace("{{message}}", message))
}

fn refusal(a: &Access) -> Response {
    match a {
        Access::Granted => StatusCode::OK.into_response(),
        Access::Missing => login(
            StatusCode::UNAUTHORIZED,
            "Paste a manager token to open the wallboard.",
        ),
        Access::Invalid => login(
            StatusCode::UNAUTHORIZED,
            "That token was not accepted (expired, or not signed for this dialer).",
        ),
        Access::Refused(role) => login(
            StatusCode::FORBIDDEN,
            &format!(
                "A {} token may not open the wallboard: it needs a manager or admin token.",
                role.as_str()
            ),
        ),
    }
}

/// A page: `?token=` logs in (a cookie, then a redirect to the clean URL); otherwise the
/// bearer header or the cookie must grant access.
async fn page<B: Backend>(State(s): St<B>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if let Some(token) = query_param(req.uri().query(), "token") {
        let a = access(&s.auth, Some(&token));
        if a != Access::Granted {
            return refusal(&a);
        }
        let mut r = redirect(&path);
        // Tokens are base64url and dots: nothing to escape in a cookie value.
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{COOKIE}={token}; Path=/wallboard; HttpOnly; SameSite=Strict; Max-Age=86400"
        )) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return r;
    }
    let a = access(&s.auth, request_token(req.headers()).as_deref());
    if a != Access::Granted {
        return refusal(&a);
    }
    html(StatusCode::OK, PAGE.to_owned())
}

/// API refusals: a short text, no page.
fn api_refusal(a: &Access) -> Response {
    let (status, msg) = match a {
        Access::Granted => (StatusCode::OK, ""),
        Access::Missing => (StatusCode::UNAUTHORIZED, "a manager token is needed\n"),
        Access::Invalid => (StatusCode::UNAUTHORIZED, "token not accepted\n"),
        Access::Refused(_) => (StatusCode::FORBIDDEN, "managers and admins only\n"),
    };
    (status, msg).into_response()
}

/// The refusal of an API request, or none when it may proceed.
fn api_refused<B: Backend>(s: &Shared<B>, headers: &HeaderMap) -> Option<Response> {
    match access(&s.auth, request_token(headers).as_deref()) {
        Access::Granted => None,
        a => Some(api_refusal(&a)),
    }
}

/// One campaign on the overview.
#[derive(Debug, Serialize)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub state: &'static str,
    pub figures: Figures,
}

fn rows<B: Backend>(registry: &Registry<B>) -> Vec<CampaignRow> {
    registry
        .list()
        .into_iter()
        .map(|c| CampaignRow {
            id: c.spec.id,
            name: c.spec.name,
            state: c.state.as_str(),
            figures: c.figures,
        })
        .collect()
}

async fn campaigns<B: Backend>(State(s): St<B>, headers: HeaderMap) -> Response {
    if let Some(r) = api_refused(&s, &headers) {
        return r;
    }
    let body = serde_json::to_string(&rows(&s.registry)).unwrap_or_else(|_| "[]".into());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn sse<S>(stream: S) -> Response
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Every campaign's figures, once per second (event `campaigns`, a JSON array of
/// [`CampaignRow`]).
async fn overview_events<B: Backend>(State(s): St<B>, headers: HeaderMap) -> Response {
    if let Some(r) = api_refused(&s, &headers) {
        return r;
    }
    let registry = s.registry.clone();
    let ticks = IntervalStream::new(tokio::time::interval(OVERVIEW_EVERY));
    sse(ticks.map(move |_| {
        let data = serde_json::to_string(&rows(&registry)).unwrap_or_else(|_| "[]".into());
        Ok(Event::default().event("campaigns").data(data))
    }))
}

/// The first event of a campaign's feed: the shift so far, so a page opened or reloaded
/// mid-shift draws its charts from the start (event `history`).
#[derive(Debug, Serialize)]
pub struct History {
    /// Campaign-clock ms between samples.
    pub every_ms: i64,
    /// Oldest first.
    pub points: Vec<TrendPoint>,
}

/// One campaign's feed: its figures over the shift so far (event `history`, the JSON of
/// [`History`]), then its figures as the engine publishes them (event `figures`, the JSON
/// of [`Figures`]): the latest at once, then each new snapshot, until the campaign's task
/// ends. A reconnecting page gets the history again and redraws from it.
async fn campaign_events<B: Backend>(
    State(s): St<B>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = api_refused(&s, &headers) {
        return r;
    }
    let (Ok(rx), Ok(points)) = (s.registry.watch(&id), s.registry.trend(&id)) else {
        return (
            StatusCode::NOT_FOUND,
            format!("campaign {id:?} not found\n"),
        )
            .into_response();
    };
    let history = History {
        every_ms: TREND_EVERY_MS,
        points,
    };
    let history = serde_json::to_string(&history).unwrap_or_else(|_| "{}".into());
    let first = tokio_stream::once(Ok(Event::default().event("history").data(history)));
    sse(first.chain(WatchStream::new(rx).map(|f| {
        let data = serde_json::to_string(&f).unwrap_or_else(|_| "{}".into());
        Ok(Event::default().event("figures").data(data))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth::{Claims, sign_hs256};

    fn token(key: &str, role: Role, exp: i64) -> String {
        sign_hs256(
            key,
            &Claims {
                sub: "x".into(),
                role,
                exp: Some(exp),
            },
        )
    }

    #[test]
    fn managers_and_admins_watch_the_floor_other_roles_are_refused() {
        let auth = Auth::new(Some("k"));
        let later = jiff::Timestamp::now().as_second() + 3600;
        assert_eq!(
            access(&auth, Some(&token("k", Role::Manager, later))),
            Access::Granted
        );
        assert_eq!(
            access(&auth, Some(&token("k", Role::Admin, later))),
            Access::Granted
        );
        for role in [Role::Agent, Role::Crm, Role::Dialer] {
            assert_eq!(
                access(&auth, Some(&token("k", role, later))),
                Access::Refused(role)
            );
        }
        assert_eq!(access(&auth, None), Access::Missing);
        assert_eq!(access(&auth, Some("")), Access::Missing);
        assert_eq!(
            access(&auth, Some(&token("other", Role::Manager, later))),
            Access::Invalid
        );
        assert_eq!(
            access(&auth, Some(&token("k", Role::Manager, 1000))),
            Access::Invalid
        );
        // Without a key dialerd is open (development), the wallboard too.
        assert_eq!(access(&Auth::new(None), None), Access::Granted);
    }

    #[test]
    fn the_token_comes_from_the_bearer_header_else_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(request_token(&h), None);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; wallboard_token=cookie.t; b=2"),
        );
        assert_eq!(request_token(&h).as_deref(), Some("cookie.t"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer header.t"),
        );
        assert_eq!(request_token(&h).as_deref(), Some("header.t"));
    }

    #[test]
    fn query_tokens_are_found_and_decoded() {
        assert_eq!(
            query_param(Some("a=1&token=x.y_z"), "token").as_deref(),
            Some("x.y_z")
        );
        assert_eq!(
            query_param(Some("token=%20x%2Ey+"), "token").as_deref(),
            Some("x.y")
        );
        assert_eq!(query_param(Some("tokens=1"), "token"), None);
        assert_eq!(query_param(None, "token"), None);
    }
}
