//! An agent's nailed-up leg: at login the dialer calls the agent's softphone once (it
//! auto-answers) and keeps that call up for the shift, so bridging a debtor to the agent is
//! only a change of where RTP goes, milliseconds instead of a new call's seconds.
//!
//! The leg re-dials the softphone when it drops (the agent hung up the softphone, a network
//! blip) until the agent logs out. A hang-up from the softphone during a call ends that call
//! (the agent hung up on the debtor); a hold (re-INVITE with `sendonly`) stops the debtor's
//! audio to the agent; DTMF the softphone sends is relayed to the debtor with the audio.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use carrier::CallId;
use sip::Method;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;

use crate::call::Command;
use crate::dialog::{InviteClient, InviteSpec, InviteStep, Party};
use crate::media_leg::MediaLeg;
use crate::transport::Incoming;
use crate::{Shared, sdp_offer};

/// How long to wait before calling a softphone again after its leg failed or dropped.
const REDIAL: Duration = Duration::from_secs(2);

#[derive(Default)]
struct State {
    media: Option<Arc<MediaLeg>>,
    call: Option<(CallId, UnboundedSender<Command>)>,
    stopped: bool,
}

/// One agent's leg to its softphone.
pub struct AgentLeg {
    uri: String,
    state: Mutex<State>,
    stop: Notify,
}

impl std::fmt::Debug for AgentLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentLeg").finish_non_exhaustive()
    }
}

impl AgentLeg {
    /// Starts calling `uri` (a SIP URI) and keeps the leg up until [`stop`](Self::stop).
    pub fn start(shared: Arc<Shared>, uri: &str) -> Arc<AgentLeg> {
        let leg = Arc::new(AgentLeg {
            uri: uri.to_string(),
            state: Mutex::new(State::default()),
            stop: Notify::new(),
        });
        tokio::spawn(keep_up(shared, leg.clone()));
        leg
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The leg's media while the softphone is connected.
    pub fn media(&self) -> Option<Arc<MediaLeg>> {
        self.state().media.clone()
    }

    /// Whether the softphone is connected and free.
    pub fn ready(&self) -> bool {
        let st = self.state();
        st.media.is_some() && st.call.is_none()
    }

    /// The debtor call now bridged to this agent (its commands, for a softphone hang-up).
    pub fn attach(&self, call: CallId, commands: UnboundedSender<Command>) {
        self.state().call = Some((call, commands));
    }

    /// The bridged call ended.
    pub fn detach(&self, call: CallId) {
        let mut st = self.state();
        if st.call.as_ref().is_some_and(|(c, _)| *c == call) {
            st.call = None;
        }
    }

    /// Hangs the leg up for good (the agent logged out).
    pub fn stop(&self) {
        self.state().stopped = true;
        self.stop.notify_one();
    }
}

async fn keep_up(shared: Arc<Shared>, leg: Arc<AgentLeg>) {
    while !leg.state().stopped {
        if let Err(e) = one_leg(&shared, &leg).await {
            tracing::info!(error = %e, "sip: agent leg not up");
        }
        leg.state().media = None;
        if let Some((_, commands)) = leg.state().call.take() {
            let _ = commands.send(Command::Hangup(None));
        }
        tokio::select! {
            _ = tokio::time::sleep(REDIAL) => {}
            _ = leg.stop.notified() => {}
        }
    }
}

/// Calls the softphone and holds the leg until it drops or the agent logs out.
async fn one_leg(shared: &Arc<Shared>, leg: &Arc<AgentLeg>) -> Result<(), String> {
    let uri = sip::Uri::parse(&leg.uri).map_err(|e| e.to_string())?;
    let transport = match uri.transport() {
        Some(t) if t.eq_ignore_ascii_case("tcp") => crate::config::Transport::Tcp,
        _ => crate::config::Transport::Udp,
    };
    let addr = crate::transport::lookup(&uri.host, uri.port.unwrap_or(5060))
        .await
        .map_err(|e| e.to_string())?;
    let target = crate::transport::Target { addr, transport };
    let local_ip = shared.endpoint.local_ip_towards(addr);
    let media = MediaLeg::bind(shared.rtp_ip, shared.laws[0])
        .await
        .map_err(|e| e.to_string())?;
    let call_id = crate::dialog::new_call_id(&local_ip.to_string());
    let (_route, mut incoming) = shared.endpoint.dialog(&call_id);
    let spec = InviteSpec {
        request_uri: leg.uri.clone(),
        from: Party {
            name_addr: format!("\"Dialer\" <sip:dialer@{local_ip}>"),
            tag: Some(crate::dialog::new_tag()),
        },
        to: format!("<{}>", leg.uri),
        call_id,
        contact: shared.contact(local_ip, transport),
        target,
        outbound_proxy: None,
        sdp: sdp_offer(shared, local_ip, media.local().port(), 1),
        headers: vec![("Call-Info".into(), "answer-after=0".into())],
        credentials: None,
        session_expires: None,
    };
    let mut invite = InviteClient::start(&shared.endpoint, spec)
        .await
        .map_err(|e| e.to_string())?;
    let (response, dialog) = loop {
        tokio::select! {
            step = invite.next() => match step {
                InviteStep::Provisional(_) => {}
                InviteStep::Answered(r, d) => break (r, *d),
                InviteStep::Failed(r) => return Err(format!("softphone answered {}", r.status)),
                InviteStep::Timeout => return Err("softphone did not answer".into()),
            },
            _ = leg.stop.notified() => {
                invite.cancel();
                return Ok(());
            }
        }
    };
    let mut dialog = dialog;
    let mut answer_route = invite.into_answer_route();
    if let Some(remote) = shared.remote_from(&response) {
        media.set_remote(remote);
    }
    leg.state().media = Some(media.clone());
    tracing::info!("sip: agent leg up");
    loop {
        tokio::select! {
            _ = leg.stop.notified() => {
                dialog.bye(&shared.endpoint, None).await;
                return Ok(());
            }
            _ = answer_route.reack(&dialog) => {}
            req = incoming.recv() => {
                let Some(Incoming { request, from }) = req else { return Ok(()) };
                match request.method {
                    Method::Bye => {
                        shared.endpoint.respond(crate::dialog::reply(&request, 200, None), from).await;
                        return Err("the softphone hung up".into());
                    }
                    Method::Invite | Method::Update => {
                        let r = crate::answer_offer(shared, &request, &media, &mut dialog);
                        shared.endpoint.respond(r, from).await;
                    }
                    Method::Ack => {}
                    _ => {
                        shared.endpoint.respond(crate::dialog::reply(&request, 200, None), from).await;
                    }
                }
            }
        }
    }
}
