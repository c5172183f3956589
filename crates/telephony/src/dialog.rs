//! A SIP dialog as the user agent keeps it, and the narrow transaction layer it needs: the
//! INVITE client transaction (retransmission, digest challenge, CANCEL, the 200-after-CANCEL
//! race) and non-INVITE client transactions (CANCEL, BYE, refreshes).
//!
//! The dialer only ever originates (trunk calls, agents' nailed-up legs), so this is a UAC's
//! view of RFC 3261: requests it answers inside a dialog (BYE, re-INVITE, UPDATE, OPTIONS)
//! are handled by the call that owns the dialog.

use std::time::Duration;

use sip::{Message, Method, NameAddr, Request, Response};
use tokio::time::Instant;

use crate::config::Transport;
use crate::transport::{Endpoint, Route, Target};

/// RFC 3261 timer T1: the first retransmission interval over UDP.
const T1: Duration = Duration::from_millis(500);
/// RFC 3261 timer T2: the longest interval between non-INVITE retransmissions.
const T2: Duration = Duration::from_secs(4);
/// RFC 3261 timers B and F: how long a transaction waits for its final response.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(32);

/// The product token in User-Agent headers.
const USER_AGENT: &str = concat!("collections-dialer/", env!("CARGO_PKG_VERSION"));
/// What this user agent accepts inside a dialog.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";

fn random() -> u128 {
    uuid::Uuid::new_v4().as_u128()
}

/// A fresh Via branch.
pub fn new_branch() -> String {
    sip::ids::branch(random() as u64)
}

/// A fresh From/To tag.
pub fn new_tag() -> String {
    sip::ids::tag(random() as u64)
}

/// A fresh Call-ID.
pub fn new_call_id(host: &str) -> String {
    sip::ids::call_id(random(), host)
}

/// The Via of a request we send from `local` over `transport`.
pub fn via(transport: Transport, local: std::net::SocketAddr, branch: &str) -> String {
    format!("SIP/2.0/{} {local};branch={branch};rport", transport.via())
}

/// One side's identity in a dialog: what goes in From (ours) or To (theirs).
#[derive(Debug, Clone)]
pub struct Party {
    pub name_addr: String,
    pub tag: Option<String>,
}

impl Party {
    fn header(&self) -> String {
        match &self.tag {
            Some(t) => format!("{};tag={t}", self.name_addr),
            None => self.name_addr.clone(),
        }
    }
}

/// An established (confirmed) dialog: what every later request in it carries.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub local: Party,
    pub remote: Party,
    /// The remote target (the 2xx's Contact).
    pub remote_uri: String,
    /// Route headers, in order (the 2xx's Record-Route, reversed).
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    /// Where requests go: the outbound proxy, the first route, or the remote target.
    pub target: Target,
    pub contact: String,
}

impl Dialog {
    /// A new request in this dialog (the next CSeq; ACK takes the INVITE's number instead).
    pub fn request(&mut self, endpoint: &Endpoint, method: Method, cseq: Option<u32>) -> Request {
        let seq = match cseq {
            Some(s) => s,
            None => {
                self.local_cseq += 1;
                self.local_cseq
            }
        };
        let mut r = Request::new(method.clone(), self.remote_uri.clone());
        let h = &mut r.headers;
        h.push(
            "Via",
            via(self.target.transport, endpoint.local_addr(), &new_branch()),
        );
        h.push("Max-Forwards", "70");
        for route in &self.route_set {
            h.push("Route", route.clone());
        }
        h.push("From", self.local.header());
        h.push("To", self.remote.header());
        h.push("Call-ID", self.call_id.clone());
        h.push("CSeq", format!("{seq} {method}"));
        h.push("Contact", self.contact.clone());
        h.push("User-Agent", USER_AGENT);
        r
    }

    /// Sends BYE; its transaction finishes in the background.
    pub async fn bye(&mut self, endpoint: &Endpoint, reason: Option<&str>) {
        let mut bye = self.request(endpoint, Method::Bye, None);
        if let Some(reason) = reason {
            bye.headers.push("Reason", reason);
        }
        send_non_invite(endpoint, bye, self.target).await;
    }
}

/// Runs a non-INVITE client transaction to its end: the final response, or `None` after
/// [`TRANSACTION_TIMEOUT`].
pub async fn non_invite(endpoint: &Endpoint, request: Request, target: Target) -> Option<Response> {
    let sent = NonInvite::send(endpoint, request, target).await?;
    sent.finish().await
}

/// Sends a non-INVITE request now and leaves the rest of its transaction (retransmissions,
/// the final response) to a task, so the request is on the wire when this returns (a process
/// that exits right after a BYE has sent it).
pub async fn send_non_invite(endpoint: &Endpoint, request: Request, target: Target) {
    if let Some(sent) = NonInvite::send(endpoint, request, target).await {
        tokio::spawn(sent.finish());
    }
}

/// A non-INVITE client transaction whose request has been sent once.
struct NonInvite {
    endpoint: Endpoint,
    _route: Route,
    rx: tokio::sync::mpsc::UnboundedReceiver<Response>,
    message: Message,
    target: Target,
}

impl NonInvite {
    async fn send(endpoint: &Endpoint, request: Request, target: Target) -> Option<NonInvite> {
        let branch = request
            .headers
            .vias()
            .ok()
            .and_then(|v| v.first().and_then(|v| v.branch().map(str::to_string)))?;
        let (route, rx) = endpoint.transaction(&branch, &request.method);
        let message = Message::Request(request);
        endpoint.send(&message, target).await.ok()?;
        Some(NonInvite {
            endpoint: endpoint.clone(),
            _route: route,
            rx,
            message,
            target,
        })
    }

    /// Retransmits over UDP (T1 doubling up to T2) until the final response or the timeout.
    async fn finish(mut self) -> Option<Response> {
        let deadline = Instant::now() + TRANSACTION_TIMEOUT;
        let mut interval = T1;
        loop {
            let wake = match self.target.transport {
                Transport::Udp => (Instant::now() + interval).min(deadline),
                Transport::Tcp => deadline,
            };
            tokio::select! {
                r = self.rx.recv() => match r {
                    Some(r) if r.status >= 200 => return Some(r),
                    Some(_) => interval = T2,
                    None => return None,
                },
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    let _ = self.endpoint.send(&self.message, self.target).await;
                    interval = (interval * 2).min(T2);
                }
            }
        }
    }
}

/// What an INVITE needs beyond its dialog identifiers.
#[derive(Debug, Clone)]
pub struct InviteSpec {
    pub request_uri: String,
    pub from: Party,
    pub to: String,
    pub call_id: String,
    pub contact: String,
    pub target: Target,
    /// Where in-dialog requests go regardless of Contact and Record-Route.
    pub outbound_proxy: Option<Target>,
    pub sdp: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub credentials: Option<sip::Credentials>,
    pub session_expires: Option<u32>,
}

/// One step of an INVITE client transaction.
#[derive(Debug)]
pub enum InviteStep {
    /// A 18x (a 100 Trying is absorbed).
    Provisional(Response),
    /// A 2xx: the dialog is confirmed and acknowledged.
    Answered(Response, Box<Dialog>),
    /// A final failure, acknowledged.
    Failed(Response),
    /// No final response in time (timer B), or the transport failed.
    Timeout,
}

/// An INVITE client transaction the caller drives step by step, so it can select between
/// the network and its own commands (cancel) without losing either.
#[derive(Debug)]
pub struct InviteClient {
    endpoint: Endpoint,
    spec: InviteSpec,
    request: Request,
    cseq: u32,
    branch: String,
    route: Route,
    rx: tokio::sync::mpsc::UnboundedReceiver<Response>,
    interval: Duration,
    next_retransmit: Instant,
    deadline: Instant,
    provisional: bool,
    cancel_requested: bool,
    cancel_sent: bool,
    challenges: u8,
    session_expires: Option<u32>,
}

impl InviteClient {
    /// Sends the INVITE.
    pub async fn start(endpoint: &Endpoint, spec: InviteSpec) -> std::io::Result<InviteClient> {
        let branch = new_branch();
        let (route, rx) = endpoint.transaction(&branch, &Method::Invite);
        let session_expires = spec.session_expires;
        let mut client = InviteClient {
            endpoint: endpoint.clone(),
            request: Request::new(Method::Invite, spec.request_uri.clone()),
            spec,
            cseq: 1,
            branch,
            route,
            rx,
            interval: T1,
            next_retransmit: Instant::now() + T1,
            deadline: Instant::now() + TRANSACTION_TIMEOUT,
            provisional: false,
            cancel_requested: false,
            cancel_sent: false,
            challenges: 0,
            session_expires,
        };
        client.request = client.build(None);
        client.send().await?;
        Ok(client)
    }

    fn build(&self, authorization: Option<(&str, String)>) -> Request {
        let s = &self.spec;
        let mut r = Request::new(Method::Invite, s.request_uri.clone());
        let h = &mut r.headers;
        h.push(
            "Via",
            via(s.target.transport, self.endpoint.local_addr(), &self.branch),
        );
        h.push("Max-Forwards", "70");
        h.push("From", s.from.header());
        h.push("To", s.to.clone());
        h.push("Call-ID", s.call_id.clone());
        h.push("CSeq", format!("{} INVITE", self.cseq));
        h.push("Contact", s.contact.clone());
        h.push("Allow", ALLOW);
        h.push("Supported", "timer");
        if let Some(se) = self.session_expires {
            h.push("Session-Expires", se.to_string());
            h.push("Min-SE", se.min(90).to_string());
        }
        h.push("User-Agent", USER_AGENT);
        for (name, value) in &s.headers {
            h.push(name.clone(), value.clone());
        }
        if let Some((name, value)) = authorization {
            h.push(name, value);
        }
        h.push("Content-Type", "application/sdp");
        r.body = s.sdp.clone();
        r
    }

    async fn send(&mut self) -> std::io::Result<()> {
        self.endpoint
            .send(&Message::Request(self.request.clone()), self.spec.target)
            .await
    }

    /// Whether a 18x (or 100) has arrived, so CANCEL may be sent.
    pub fn has_provisional(&self) -> bool {
        self.provisional
    }

    /// Asks for the call to stop ringing: sends CANCEL now if a provisional response has
    /// arrived (RFC 3261 9.1), else as soon as one does. The INVITE then ends with a 487 or,
    /// when the callee answered first, a 2xx the caller must end with BYE.
    pub fn cancel(&mut self) {
        self.cancel_requested = true;
        self.deadline = Instant::now() + TRANSACTION_TIMEOUT;
        if self.provisional {
            self.send_cancel();
        }
    }

    /// Whether [`cancel`](Self::cancel) was asked for.
    pub fn cancelling(&self) -> bool {
        self.cancel_requested
    }

    fn send_cancel(&mut self) {
        if self.cancel_sent {
            return;
        }
        self.cancel_sent = true;
        let mut c = Request::new(Method::Cancel, self.request.uri.clone());
        for name in ["Via", "Route"] {
            for v in self.request.headers.get_all(name) {
                c.headers.push(name, v.to_string());
            }
        }
        c.headers.push("Max-Forwards", "70");
        for name in ["From", "To", "Call-ID"] {
            if let Some(v) = self.request.headers.get(name) {
                c.headers.push(name, v.to_string());
            }
        }
        c.headers.push("CSeq", format!("{} CANCEL", self.cseq));
        c.headers.push("User-Agent", USER_AGENT);
        let endpoint = self.endpoint.clone();
        let target = self.spec.target;
        tokio::spawn(async move {
            non_invite(&endpoint, c, target).await;
        });
    }

    /// ACK for a non-2xx final response: part of the INVITE transaction (same branch).
    async fn ack_failure(&self, response: &Response) {
        let mut ack = Request::new(Method::Ack, self.request.uri.clone());
        if let Some(v) = self.request.headers.get("Via") {
            ack.headers.push("Via", v.to_string());
        }
        ack.headers.push("Max-Forwards", "70");
        for name in ["From", "Call-ID"] {
            if let Some(v) = self.request.headers.get(name) {
                ack.headers.push(name, v.to_string());
            }
        }
        if let Some(to) = response.headers.get("To") {
            ack.headers.push("To", to.to_string());
        }
        ack.headers.push("CSeq", format!("{} ACK", self.cseq));
        let _ = self
            .endpoint
            .send(&Message::Request(ack), self.spec.target)
            .await;
    }

    /// The dialog a 2xx confirms.
    fn dialog(&self, response: &Response) -> Dialog {
        let h = &response.headers;
        let remote_tag = h.to().ok().and_then(|t| t.tag().map(str::to_string));
        let remote_uri = h
            .contact()
            .ok()
            .flatten()
            .map(|c| c.uri.to_string())
            .unwrap_or_else(|| self.request.uri.clone());
        let mut route_set: Vec<String> = h
            .record_route()
            .map(|rr| rr.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default();
        route_set.reverse();
        Dialog {
            call_id: self.spec.call_id.clone(),
            local: self.spec.from.clone(),
            remote: Party {
                name_addr: strip_tag(h.get("To").unwrap_or(&self.spec.to)),
                tag: remote_tag,
            },
            remote_uri,
            route_set,
            local_cseq: self.cseq,
            target: self.spec.outbound_proxy.unwrap_or(self.spec.target),
            contact: self.spec.contact.clone(),
        }
    }

    /// Acknowledges a 2xx (again, when it is retransmitted).
    pub async fn ack_answer(&self, dialog: &Dialog) {
        let mut d = dialog.clone();
        let ack = d.request(&self.endpoint, Method::Ack, Some(self.cseq));
        let _ = self.endpoint.send(&Message::Request(ack), d.target).await;
    }

    /// Waits for the next thing that happens to the INVITE. Cancel-safe: every wait is on a
    /// channel or a timer whose state lives in `self`.
    pub async fn next(&mut self) -> InviteStep {
        loop {
            let wake = if !self.provisional && self.spec.target.transport == Transport::Udp {
                self.next_retransmit.min(self.deadline)
            } else {
                self.deadline
            };
            let response = tokio::select! {
                r = self.rx.recv() => r,
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= self.deadline {
                        return InviteStep::Timeout;
                    }
                    if self.send().await.is_err() {
                        return InviteStep::Timeout;
                    }
                    self.interval *= 2;
                    self.next_retransmit = Instant::now() + self.interval;
                    continue;
                }
            };
            let Some(response) = response else {
                return InviteStep::Timeout;
            };
            match response.headers.cseq() {
                Ok(c) if c.method == Method::Invite && c.seq == self.cseq => {}
                // A CANCEL's response, or one for an INVITE we re-sent with credentials.
                _ => continue,
            }
            match response.status {
                100..=199 => {
                    self.provisional = true;
                    if self.cancel_requested {
                        self.send_cancel();
                    }
                    if response.status != 100 {
                        return InviteStep::Provisional(response);
                    }
                }
                200..=299 => {
                    let dialog = self.dialog(&response);
                    self.ack_answer(&dialog).await;
                    return InviteStep::Answered(response, Box::new(dialog));
                }
                401 | 407 if !self.cancel_requested => {
                    self.ack_failure(&response).await;
                    match self.authorized_retry(&response) {
                        Some(request) => {
                            self.restart(request).await;
                            continue;
                        }
                        None => return InviteStep::Failed(response),
                    }
                }
                422 if !self.cancel_requested && self.challenges < 3 => {
                    self.ack_failure(&response).await;
                    let min_se = response
                        .headers
                        .get("Min-SE")
                        .and_then(|v| v.split(';').next()?.trim().parse::<u32>().ok());
                    match min_se {
                        Some(se) => {
                            self.challenges += 1;
                            self.session_expires = Some(se);
                            self.cseq += 1;
                            self.branch = new_branch();
                            let request = self.build(None);
                            self.restart(request).await;
                            continue;
                        }
                        None => return InviteStep::Failed(response),
                    }
                }
                _ => {
                    self.ack_failure(&response).await;
                    return InviteStep::Failed(response);
                }
            }
        }
    }

    /// The INVITE again with credentials for `challenge`, or `None` when we have none or the
    /// trunk refused them already.
    fn authorized_retry(&mut self, challenge: &Response) -> Option<Request> {
        let credentials = self.spec.credentials.clone()?;
        let (header, reply) = if challenge.status == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let ch = sip::Challenge::parse(challenge.headers.get(header)?).ok()?;
        // A second challenge means the credentials were refused, unless the nonce was stale.
        if self.challenges >= 1 && !ch.stale || self.challenges >= 3 {
            return None;
        }
        self.challenges += 1;
        self.cseq += 1;
        self.branch = new_branch();
        let cnonce = format!("{:016x}", random() as u64);
        let value = sip::authorize(
            &credentials,
            &Method::Invite,
            &self.spec.request_uri,
            &ch,
            &cnonce,
            1,
        )
        .ok()?;
        Some(self.build(Some((reply, value))))
    }

    async fn restart(&mut self, request: Request) {
        let (route, rx) = self.endpoint.transaction(&self.branch, &Method::Invite);
        self.route = route;
        self.rx = rx;
        self.request = request;
        self.provisional = false;
        self.interval = T1;
        self.next_retransmit = Instant::now() + T1;
        self.deadline = Instant::now() + TRANSACTION_TIMEOUT;
        let _ = self.send().await;
    }

    /// Keeps the INVITE's branch routed so a retransmitted 2xx is acknowledged again.
    pub fn into_answer_route(self) -> AnswerRoute {
        AnswerRoute {
            _route: self.route,
            rx: self.rx,
            endpoint: self.endpoint,
            cseq: self.cseq,
        }
    }
}

/// After a 2xx: its retransmissions (our ACK was lost) are acknowledged again.
#[derive(Debug)]
pub struct AnswerRoute {
    _route: Route,
    rx: tokio::sync::mpsc::UnboundedReceiver<Response>,
    endpoint: Endpoint,
    cseq: u32,
}

impl AnswerRoute {
    /// Waits for a retransmitted 2xx and acknowledges it. Cancel-safe.
    pub async fn reack(&mut self, dialog: &Dialog) {
        if let Some(r) = self.rx.recv().await {
            if (200..300).contains(&r.status) {
                let mut d = dialog.clone();
                let ack = d.request(&self.endpoint, Method::Ack, Some(self.cseq));
                let _ = self.endpoint.send(&Message::Request(ack), d.target).await;
            }
        } else {
            std::future::pending::<()>().await;
        }
    }
}

fn strip_tag(header: &str) -> String {
    match NameAddr::parse(header) {
        Ok(mut n) => {
            n.params.retain(|(k, _)| !k.eq_ignore_ascii_case("tag"));
            n.to_string()
        }
        Err(_) => header.to_string(),
    }
}

/// A 200 OK (or other status) to a request that arrived in a dialog, with our tag.
pub fn reply(request: &Request, status: u16, local_tag: Option<&str>) -> Response {
    Response::to(request, status, sip::reason_phrase(status), local_tag)
}
