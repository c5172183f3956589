//! `AgentService.Session`: one softphone on one campaign, as a bidirectional stream. The
//! agent is the token's `sub`; the engine checks that an agent only touches its own calls
//! (its refusals come back as `CommandRejected`). Closing the stream logs the agent out.
//! A session on a campaign another replica drives (holds the lease of) is proxied to that
//! replica; a session whose campaign moves ends with UNAVAILABLE, and the softphone
//! reconnects (docs/architecture.md, "Campaign ownership").

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use auth::Role;
use collections_proto::dialer_v1 as pb;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, info, info_span};

use super::Shared;
use super::convert;
use super::status::{self, invalid};
use crate::engine::{Backend, CampaignHandle};
use crate::metrics::Metrics;
use crate::session::{AgentCommand, AgentEvent, SeatState};

type Out = mpsc::Sender<Result<pb::AgentMessage, Status>>;
type SessionStream = Pin<Box<dyn Stream<Item = Result<pb::AgentMessage, Status>> + Send>>;

/// The live session of each (campaign, agent): a newer login replaces an older one, and only
/// the current session's end logs the agent out.
#[derive(Debug, Default)]
struct Sessions {
    next: AtomicU64,
    current: Mutex<HashMap<(String, String), u64>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), u64>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, campaign: &str, agent: &str) -> u64 {
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .insert((campaign.to_string(), agent.to_string()), generation);
        generation
    }

    fn is_current(&self, campaign: &str, agent: &str, generation: u64) -> bool {
        self.lock()
            .get(&(campaign.to_string(), agent.to_string()))
            .is_some_and(|g| *g == generation)
    }

    fn close(&self, campaign: &str, agent: &str, generation: u64) {
        let mut map = self.lock();
        let key = (campaign.to_string(), agent.to_string());
        if map.get(&key) == Some(&generation) {
            map.remove(&key);
        }
    }
}

/// The AgentService implementation.
pub struct AgentGrpc<B: Backend> {
    registry: Shared<B>,
    metrics: Metrics,
    sessions: Arc<Sessions>,
    /// Becomes true when the server shuts down (after campaigns have stopped).
    stop: watch::Receiver<bool>,
}

impl<B: Backend> std::fmt::Debug for AgentGrpc<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentGrpc").finish_non_exhaustive()
    }
}

impl<B: Backend> AgentGrpc<B> {
    pub fn new(registry: Shared<B>, metrics: Metrics, stop: watch::Receiver<bool>) -> Self {
        AgentGrpc {
            registry,
            metrics,
            sessions: Arc::new(Sessions::default()),
            stop,
        }
    }
}

/// Checks the login and answers who logs in where.
fn login(first: Option<pb::AgentRequest>, subject: &str, role: Role) -> Result<pb::Login, Status> {
    let Some(pb::AgentRequest {
        command: Some(pb::agent_request::Command::Login(mut l)),
    }) = first
    else {
        return Err(invalid(
            "login",
            "the first message of a session must be a login",
        ));
    };
    if l.campaign_id.is_empty() {
        return Err(invalid("login.campaign_id", "required"));
    }
    if l.campaign_id.len() > crate::limits::CAMPAIGN_ID_BYTES {
        return Err(invalid(
            "login.campaign_id",
            format_args!("at most {} bytes", crate::limits::CAMPAIGN_ID_BYTES),
        ));
    }
    if l.endpoint.trim().is_empty() {
        return Err(invalid("login.endpoint", "required"));
    }
    convert::text("login.endpoint", &l.endpoint, crate::limits::ENDPOINT_CHARS)?;
    if l.agent_id.is_empty() {
        l.agent_id = subject.to_string();
    } else if role != Role::Admin && l.agent_id != subject {
        return Err(status::not_yourself());
    }
    convert::id("login.agent_id", &l.agent_id)?;
    Ok(l)
}

#[tonic::async_trait]
impl<B: Backend> pb::agent_service_server::AgentService for AgentGrpc<B> {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        req: Request<Streaming<pb::AgentRequest>>,
    ) -> Result<Response<SessionStream>, Status> {
        let caller = auth::caller(&req)?;
        let proxied = req.metadata().get(PROXIED).is_some();
        let authorization = req.metadata().get("authorization").cloned();
        let mut inbound = req.into_inner();
        let first = inbound.message().await?;
        let l = login(first.clone(), &caller.subject, caller.role)?;
        // A session another replica proxied here is served here (no second hop).
        if !proxied && let Some(addr) = self.registry.route(&l.campaign_id) {
            return proxy(
                self.registry.clone(),
                addr,
                authorization,
                first,
                inbound,
                l.campaign_id,
            )
            .await;
        }
        let handle = self
            .registry
            .handle(&l.campaign_id)
            .map_err(status::registry)?;
        let events = handle
            .login(&l.agent_id, &l.endpoint)
            .map_err(|_| status::campaign_stopped())?;
        let generation = self.sessions.open(&l.campaign_id, &l.agent_id);
        let (tx, rx) = mpsc::channel(256);
        let session = Session {
            handle,
            campaign: l.campaign_id,
            agent: l.agent_id,
            generation,
            sessions: self.sessions.clone(),
            tx,
        };
        let span =
            info_span!("agent_session", campaign_id = %session.campaign, agent_id = %session.agent);
        let metrics = self.metrics.clone();
        let stop = self.stop.clone();
        let moved = moved_away(self.registry.clone(), session.campaign.clone(), None);
        tokio::spawn(
            async move {
                metrics.sessions.inc();
                info!("agent session opened");
                session.run(inbound, events, stop, moved).await;
                metrics.sessions.dec();
                info!("agent session closed");
            }
            .instrument(span),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Marks a session one replica proxied to another (served there, never proxied again).
const PROXIED: &str = "x-dialer-proxied";

/// How often a session checks whether its campaign moved to another replica.
const ROUTE_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

fn moved_status() -> Status {
    Status::unavailable("the campaign is driven by another replica now: reconnect")
}

/// Resolves once sessions on `campaign` belong elsewhere than `at` (`None`: this replica;
/// `Some(addr)`: the replica a proxied session goes to). Never, without campaign leases.
async fn moved_away<B: Backend>(registry: Shared<B>, campaign: String, at: Option<String>) {
    if registry.leases().is_none() {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(ROUTE_CHECK).await;
        if registry.route(&campaign) != at {
            return;
        }
    }
}

/// Proxies a session to the replica at `addr`, which drives `campaign`: the login and every
/// later message go up with the agent's own token (that replica authenticates it again),
/// everything it answers comes back. Ends with UNAVAILABLE when either side breaks or the
/// campaign moves, and the softphone reconnects.
async fn proxy<B: Backend>(
    registry: Shared<B>,
    addr: String,
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    first: Option<pb::AgentRequest>,
    mut inbound: Streaming<pb::AgentRequest>,
    campaign: String,
) -> Result<Response<SessionStream>, Status> {
    let unreachable = |e: &dyn std::fmt::Display| {
        Status::unavailable(format!(
            "campaign {campaign} is driven by the replica at {addr}, which did not answer \
             ({e}): reconnect"
        ))
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| unreachable(&e))?
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| unreachable(&e))?;
    let (up, up_rx) = mpsc::channel(64);
    if let Some(f) = first {
        let _ = up.send(f).await;
    }
    let mut req = Request::new(ReceiverStream::new(up_rx));
    if let Some(a) = authorization {
        req.metadata_mut().insert("authorization", a);
    }
    req.metadata_mut()
        .insert(PROXIED, tonic::metadata::MetadataValue::from_static("1"));
    let mut down = pb::agent_service_client::AgentServiceClient::new(channel)
        .session(req)
        .await?
        .into_inner();
    let (tx, rx) = mpsc::channel(256);
    let span = info_span!("agent_session_proxy", campaign_id = %campaign, to = %addr);
    let moved = moved_away(registry, campaign, Some(addr));
    tokio::spawn(
        async move {
            info!("agent session proxied to the campaign's replica");
            tokio::pin!(moved);
            loop {
                tokio::select! {
                    m = inbound.next() => match m {
                        // Dropping `up` ends the upstream session: the agent logs out there.
                        Some(Ok(r)) => if up.send(r).await.is_err() { break },
                        Some(Err(_)) | None => break,
                    },
                    m = down.next() => match m {
                        Some(item) => if tx.send(item).await.is_err() { break },
                        None => {
                            let _ = tx.send(Err(moved_status())).await;
                            break;
                        }
                    },
                    () = &mut moved => {
                        let _ = tx.send(Err(moved_status())).await;
                        break;
                    }
                }
            }
            info!("agent session proxy closed");
        }
        .instrument(span),
    );
    Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
}

struct Session {
    handle: CampaignHandle,
    campaign: String,
    agent: String,
    generation: u64,
    sessions: Arc<Sessions>,
    tx: Out,
}

/// How a session ended.
enum End {
    /// The agent logged out: nothing left to do.
    LoggedOut,
    /// The softphone went away (or the server is closing): log the agent out.
    Disconnected,
    /// The engine closed the event channel: a newer session took over, or the campaign
    /// ended.
    Closed,
}

impl Session {
    async fn send(&self, m: Result<pb::AgentMessage, Status>) -> bool {
        self.tx.send(m).await.is_ok()
    }

    async fn run(
        self,
        mut inbound: Streaming<pb::AgentRequest>,
        mut events: mpsc::UnboundedReceiver<AgentEvent>,
        mut stop: watch::Receiver<bool>,
        moved: impl std::future::Future<Output = ()>,
    ) {
        let mut logging_out = false;
        tokio::pin!(moved);
        let end = loop {
            tokio::select! {
                msg = inbound.next() => match msg {
                    Some(Ok(req)) => {
                        let Some(cmd) = req.command else {
                            let e = invalid("command", "required");
                            if !self.send(Ok(convert::rejected("unknown", &e))).await {
                                break End::Disconnected;
                            }
                            continue;
                        };
                        let name = convert::command_name(&cmd);
                        match convert::agent_command(cmd) {
                            Ok(c) => {
                                logging_out |= c == AgentCommand::Logout;
                                if self.handle.agent(&self.agent, c).is_err() {
                                    break End::Closed;
                                }
                            }
                            Err(e) => {
                                if !self.send(Ok(convert::rejected(name, &e))).await {
                                    break End::Disconnected;
                                }
                            }
                        }
                    }
                    // Closed, cancelled or broken: the softphone is gone.
                    Some(Err(_)) | None => break End::Disconnected,
                },
                ev = events.recv() => match ev {
                    Some(ev) => {
                        let logged_out = matches!(&ev, AgentEvent::State { state: SeatState::LoggedOut });
                        if matches!(&ev, AgentEvent::Rejected { command, .. } if command == "logout") {
                            logging_out = false;
                        }
                        if !self.send(Ok(convert::agent_event_to(ev))).await {
                            break End::Disconnected;
                        }
                        if logged_out && logging_out {
                            break End::LoggedOut;
                        }
                    }
                    None => break End::Closed,
                },
                () = super::stopped(&mut stop) => {
                    let _ = self.send(Err(status::shutting_down())).await;
                    break End::Disconnected;
                }
                () = &mut moved => {
                    info!("campaign driven by another replica now: the agent reconnects there");
                    let _ = self.send(Err(moved_status())).await;
                    break End::Disconnected;
                }
            }
        };
        let current = self
            .sessions
            .is_current(&self.campaign, &self.agent, self.generation);
        match end {
            End::Disconnected if current => {
                // Not ready at once (applies after the call if one is in progress, whose
                // wrap-up then times out), then out if nothing is in progress.
                let _ = self.handle.agent(
                    &self.agent,
                    AgentCommand::NotReady {
                        code: "disconnected".into(),
                    },
                );
                let _ = self.handle.agent(&self.agent, AgentCommand::Logout);
                info!("agent disconnected: set not ready and logged out");
            }
            End::Closed if !current => {
                let _ = self.send(Err(status::replaced())).await;
            }
            End::Closed => {
                let _ = self.send(Err(status::campaign_stopped())).await;
            }
            _ => {}
        }
        self.sessions
            .close(&self.campaign, &self.agent, self.generation);
    }
}
