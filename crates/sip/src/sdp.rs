//! SDP (RFC 4566) as far as a voice call needs it, and the offer/answer rules (RFC 3264)
//! for one audio stream: our offer (PCMU, PCMA, telephone-event), what the far end's answer
//! chose, and our answer to the far end's re-offers (hold, unhold, a new address).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why an SDP body cannot be read or agreed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP line {line}: {detail}")]
    Syntax { line: usize, detail: String },
    #[error("SDP has no {0} line")]
    Missing(&'static str),
    #[error("SDP has no audio stream")]
    NoAudio,
    #[error("SDP audio stream has no connection address")]
    NoConnection,
    #[error("no codec in common with ours")]
    NoCommonCodec,
}

/// Which way media flows, as an SDP attribute says it (from the writer's side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attr(s: &str) -> Option<Direction> {
        Some(match s {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    pub fn from_flags(send: bool, recv: bool) -> Direction {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The same flow seen from the other side: sendonly becomes recvonly.
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both allow.
    pub fn and(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One payload format of a media stream: from `a=rtpmap`, or implied by a static payload
/// type (0 PCMU, 3 GSM, 4 G723, 8 PCMA, 9 G722, 13 CN, 18 G729).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Codec {
    pub payload_type: u8,
    pub name: String,
    pub clock_rate: u32,
    /// The `a=fmtp` parameters (`0-16` for telephone-event).
    pub fmtp: Option<String>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaDescription {
    /// `audio`, `video`, `image`...
    pub media: String,
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, `udptl`...
    pub proto: String,
    /// The payload types of an RTP stream, in preference order.
    pub formats: Vec<u8>,
    /// One per format we know a name for, in `formats` order.
    pub codecs: Vec<Codec>,
    pub connection: Option<IpAddr>,
    pub ptime: Option<u32>,
    pub direction: Option<Direction>,
    /// The formats of a stream that is not RTP (`t38` on `udptl`), as written.
    pub other_formats: Vec<String>,
    /// Other `a=` lines, as written after `a=` (`rtcp:9`, `maxptime:150`...).
    pub attributes: Vec<String>,
}

/// `o=`: who made the description and its version (bumped on every change in a dialog).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub username: String,
    pub session_id: u64,
    pub version: u64,
    pub addr: String,
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionDescription {
    pub origin: Origin,
    pub session_name: String,
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<MediaDescription>,
    /// Other session-level `a=` lines, as written after `a=`.
    pub attributes: Vec<String>,
}

/// The name and clock rate of a static RTP payload type (RFC 3551).
pub fn static_codec(pt: u8) -> Option<(&'static str, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => return None,
    })
}

const TELEPHONE_EVENT: &str = "telephone-event";

fn syntax(line: usize, detail: impl Into<String>) -> SdpError {
    SdpError::Syntax {
        line,
        detail: detail.into(),
    }
}

fn parse_connection(value: &str, line: usize) -> Result<IpAddr, SdpError> {
    let mut f = value.split_whitespace();
    let (Some(net), Some(_addrtype), Some(addr), None) = (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(syntax(
            line,
            "c= needs network type, address type and address",
        ));
    };
    if net != "IN" {
        return Err(syntax(line, "c= network type is not IN"));
    }
    // A multicast address may carry /ttl/count; the address is what matters here.
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse().map_err(|_| {
        syntax(
            line,
            format!(
                "c= address {:?} is not an IP address",
                crate::syntax::clip(addr)
            ),
        )
    })
}

fn parse_number<T: std::str::FromStr>(s: &str, line: usize, what: &str) -> Result<T, SdpError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax(
            line,
            format!("{what} {:?} is not a number", crate::syntax::clip(s)),
        ));
    }
    s.parse().map_err(|_| {
        syntax(
            line,
            format!("{what} {:?} is out of range", crate::syntax::clip(s)),
        )
    })
}

struct RawMedia {
    desc: MediaDescription,
    rtpmaps: Vec<(u8, String, u32)>,
    fmtps: Vec<(u8, String)>,
}

impl RawMedia {
    fn finish(mut self) -> MediaDescription {
        let mut codecs = Vec::new();
        for &pt in &self.desc.formats {
            let named = self
                .rtpmaps
                .iter()
                .find(|(p, _, _)| *p == pt)
                .map(|(_, n, c)| (n.clone(), *c));
            let Some((name, clock_rate)) =
                named.or_else(|| static_codec(pt).map(|(n, c)| (n.to_string(), c)))
            else {
                continue;
            };
            let fmtp = self
                .fmtps
                .iter()
                .find(|(p, _)| *p == pt)
                .map(|(_, f)| f.clone());
            codecs.push(Codec {
                payload_type: pt,
                name,
                clock_rate,
                fmtp,
            });
        }
        self.desc.codecs = codecs;
        self.desc
    }
}

impl SessionDescription {
    /// Parses an SDP body (CRLF or LF line ends).
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            let line = body
                .get(..e.valid_up_to())
                .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count())
                + 1;
            syntax(line, "not UTF-8")
        })?;
        let mut sd = SessionDescription::default();
        let mut seen_v = false;
        let mut seen_o = false;
        let mut seen_s = false;
        let mut current: Option<RawMedia> = None;
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            let mut chars = line.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(syntax(line_no, "expected <type>=<value>"));
            };
            if !kind.is_ascii_lowercase() {
                return Err(syntax(line_no, format!("bad line type {kind:?}")));
            }
            let value = line.get(2..).unwrap_or_default();
            if !seen_v {
                if kind != 'v' || value.trim() != "0" {
                    return Err(syntax(line_no, "the first line must be v=0"));
                }
                seen_v = true;
                continue;
            }
            match kind {
                'o' => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    let [username, id, version, _net, _addrtype, addr] = f.as_slice() else {
                        return Err(syntax(line_no, "o= needs six fields"));
                    };
                    sd.origin = Origin {
                        username: username.to_string(),
                        session_id: parse_number(id, line_no, "session id")?,
                        version: parse_number(version, line_no, "session version")?,
                        addr: addr.to_string(),
                    };
                    seen_o = true;
                }
                's' => {
                    sd.session_name = value.to_string();
                    seen_s = true;
                }
                'c' => {
                    let addr = parse_connection(value, line_no)?;
                    match current.as_mut() {
                        Some(m) => m.desc.connection = Some(addr),
                        None => sd.connection = Some(addr),
                    }
                }
                'm' => {
                    if let Some(m) = current.take() {
                        sd.media.push(m.finish());
                    }
                    current = Some(parse_media_line(value, line_no)?);
                }
                'a' => {
                    let (name, arg) = match value.split_once(':') {
                        Some((n, a)) => (n, Some(a)),
                        None => (value, None),
                    };
                    let direction = if arg.is_none() {
                        Direction::from_attr(name)
                    } else {
                        None
                    };
                    match current.as_mut() {
                        None => match direction {
                            Some(d) => sd.direction = Some(d),
                            None => sd.attributes.push(value.to_string()),
                        },
                        Some(m) => match (name, arg, direction) {
                            (_, _, Some(d)) => m.desc.direction = Some(d),
                            ("rtpmap", Some(arg), _) => {
                                let (pt, enc) = arg.split_once(' ').ok_or_else(|| {
                                    syntax(line_no, "rtpmap needs a payload type and an encoding")
                                })?;
                                let pt: u8 = parse_number(pt, line_no, "payload type")?;
                                let mut parts = enc.trim().split('/');
                                let name = parts.next().unwrap_or_default();
                                if name.is_empty() {
                                    return Err(syntax(line_no, "rtpmap without an encoding name"));
                                }
                                match parts.next() {
                                    Some(clock) => {
                                        let clock: u32 =
                                            parse_number(clock, line_no, "clock rate")?;
                                        m.rtpmaps.push((pt, name.to_string(), clock));
                                    }
                                    // RFC 4475's "a=rtpmap:31 LPC": no rate, so no codec
                                    // we could use; kept as written.
                                    None => m.desc.attributes.push(value.to_string()),
                                }
                            }
                            ("fmtp", Some(arg), _) => {
                                let (pt, params) = arg.split_once(' ').unwrap_or((arg, ""));
                                let pt: u8 = parse_number(pt, line_no, "payload type")?;
                                m.fmtps.push((pt, params.trim().to_string()));
                            }
                            ("ptime", Some(arg), _) => {
                                // Some send "20.0"; the whole milliseconds are what count.
                                let whole = arg.trim().split('.').next().unwrap_or_default();
                                m.desc.ptime = Some(parse_number(whole, line_no, "ptime")?);
                            }
                            _ => m.desc.attributes.push(value.to_string()),
                        },
                    }
                }
                _ => {}
            }
        }
        if let Some(m) = current.take() {
            sd.media.push(m.finish());
        }
        if !seen_v {
            return Err(SdpError::Missing("v="));
        }
        if !seen_o {
            return Err(SdpError::Missing("o="));
        }
        if !seen_s {
            return Err(SdpError::Missing("s="));
        }
        Ok(sd)
    }

    /// The description as bytes (CRLF line ends). Codecs are written as `a=rtpmap` lines
    /// (static ones too: harmless, and clearer to read in a trace).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        let o = &self.origin;
        let addrtype = if o.addr.parse::<std::net::Ipv6Addr>().is_ok() {
            "IP6"
        } else {
            "IP4"
        };
        let name = if self.session_name.is_empty() {
            "-"
        } else {
            &self.session_name
        };
        let _ = write!(
            out,
            "v=0\r\no={} {} {} IN {addrtype} {}\r\ns={name}\r\n",
            or_dash(&o.username),
            o.session_id,
            o.version,
            or_dash(&o.addr)
        );
        if let Some(c) = self.connection {
            write_connection(&mut out, c);
        }
        out.push_str("t=0 0\r\n");
        if let Some(d) = self.direction {
            let _ = write!(out, "a={d}\r\n");
        }
        for a in &self.attributes {
            let _ = write!(out, "a={a}\r\n");
        }
        for m in &self.media {
            let _ = write!(out, "m={} {} {}", m.media, m.port, m.proto);
            for f in &m.formats {
                let _ = write!(out, " {f}");
            }
            for f in &m.other_formats {
                let _ = write!(out, " {f}");
            }
            out.push_str("\r\n");
            if let Some(c) = m.connection {
                write_connection(&mut out, c);
            }
            for c in &m.codecs {
                let _ = write!(
                    out,
                    "a=rtpmap:{} {}/{}\r\n",
                    c.payload_type, c.name, c.clock_rate
                );
                if let Some(f) = &c.fmtp {
                    let _ = write!(out, "a=fmtp:{} {f}\r\n", c.payload_type);
                }
            }
            if let Some(p) = m.ptime {
                let _ = write!(out, "a=ptime:{p}\r\n");
            }
            if let Some(d) = m.direction {
                let _ = write!(out, "a={d}\r\n");
            }
            for a in &m.attributes {
                let _ = write!(out, "a={a}\r\n");
            }
        }
        out.into_bytes()
    }

    /// The first audio stream: (its description, the address from the media- or
    /// session-level `c=`, the direction (media over session level, default sendrecv)).
    pub fn audio(&self) -> Option<(&MediaDescription, Option<IpAddr>, Direction)> {
        let m = self.media.iter().find(|m| m.media == "audio")?;
        let addr = m.connection.or(self.connection);
        let dir = m.direction.or(self.direction).unwrap_or_default();
        Some((m, addr, dir))
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn write_connection(out: &mut String, c: IpAddr) {
    let t = if c.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(out, "c=IN {t} {c}\r\n");
}

fn parse_media_line(value: &str, line: usize) -> Result<RawMedia, SdpError> {
    let mut f = value.split_whitespace();
    let (Some(media), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err(syntax(line, "m= needs media, port and proto"));
    };
    let port = port.split('/').next().unwrap_or(port);
    let port: u16 = parse_number(port, line, "port")?;
    let mut desc = MediaDescription {
        media: media.to_string(),
        port,
        proto: proto.to_string(),
        ..Default::default()
    };
    let rtp = proto.to_ascii_uppercase().contains("RTP");
    for fmt in f {
        if rtp {
            let pt: u8 = parse_number(fmt, line, "payload type")?;
            if pt > 127 {
                return Err(syntax(line, format!("payload type {pt} is past 127")));
            }
            desc.formats.push(pt);
        } else {
            desc.other_formats.push(fmt.to_string());
        }
    }
    Ok(RawMedia {
        desc,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
    })
}

/// Our offer: audio at `addr:port`, the static codecs in `codecs` (PCMU 0, PCMA 8) in that
/// order, telephone-event on the dynamic payload type `dtmf_pt` (events 0-16), `ptime`,
/// `direction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub addr: IpAddr,
    pub port: u16,
    pub session_id: u64,
    /// Bumped by the caller on every new offer or answer in the dialog (RFC 3264 8).
    pub version: u64,
    pub codecs: Vec<u8>,
    pub dtmf_pt: u8,
    pub ptime: u32,
    pub direction: Direction,
}

fn our_codec(pt: u8) -> Option<Codec> {
    static_codec(pt).map(|(name, clock_rate)| Codec {
        payload_type: pt,
        name: name.to_string(),
        clock_rate,
        fmtp: None,
    })
}

fn dtmf_codec(pt: u8) -> Codec {
    Codec {
        payload_type: pt,
        name: TELEPHONE_EVENT.to_string(),
        clock_rate: 8000,
        fmtp: Some("0-16".to_string()),
    }
}

fn is_dtmf(c: &Codec) -> bool {
    c.name.eq_ignore_ascii_case(TELEPHONE_EVENT) && c.clock_rate == 8000
}

/// Whether their codec is our static payload type `pt` (by name and rate: the number they
/// use may differ for a dynamic one, and a static number is only a default).
fn same_codec(pt: u8, theirs: &Codec) -> bool {
    static_codec(pt).is_some_and(|(name, rate)| {
        theirs.name.eq_ignore_ascii_case(name) && theirs.clock_rate == rate
    })
}

impl Offer {
    fn session(&self, media: Vec<MediaDescription>) -> SessionDescription {
        SessionDescription {
            origin: Origin {
                username: "-".into(),
                session_id: self.session_id,
                version: self.version,
                addr: self.addr.to_string(),
            },
            session_name: "-".into(),
            connection: Some(self.addr),
            direction: None,
            media,
            attributes: Vec::new(),
        }
    }

    pub fn to_sdp(&self) -> SessionDescription {
        let mut codecs: Vec<Codec> = self.codecs.iter().filter_map(|pt| our_codec(*pt)).collect();
        codecs.push(dtmf_codec(self.dtmf_pt));
        let audio = MediaDescription {
            media: "audio".into(),
            port: self.port,
            proto: "RTP/AVP".into(),
            formats: codecs.iter().map(|c| c.payload_type).collect(),
            codecs,
            ptime: Some(self.ptime),
            direction: Some(self.direction),
            ..Default::default()
        };
        self.session(vec![audio])
    }
}

/// What an exchange settled: where to send RTP (an unspecified address or port 0 = on hold
/// or rejected: send nothing), which payload type to send, the far end's telephone-event
/// payload type, the ptime to send with, and *our* direction (what we may do: `SendOnly`
/// means send, don't expect to receive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub remote: SocketAddr,
    pub payload_type: u8,
    pub dtmf_pt: Option<u8>,
    pub ptime: u32,
    pub direction: Direction,
}

/// Our direction from theirs: the mirror of what they said, within what we want, and
/// without sending when they gave no address to send to.
fn our_direction(ours: Direction, theirs: Direction, ip: IpAddr, port: u16) -> Direction {
    if port == 0 {
        return Direction::Inactive;
    }
    let d = ours.and(theirs.reversed());
    if ip.is_unspecified() {
        Direction::from_flags(false, d.receives())
    } else {
        d
    }
}

/// Reads the far end's answer to our offer: the first of its codecs (in its order of
/// preference) that is one of ours, its telephone-event payload type, where and how to send.
pub fn negotiate(offer: &Offer, answer: &SessionDescription) -> Result<Negotiated, SdpError> {
    let (m, addr, dir) = answer.audio().ok_or(SdpError::NoAudio)?;
    let chosen = m
        .codecs
        .iter()
        .find(|c| offer.codecs.iter().any(|pt| same_codec(*pt, c)));
    let ip = match addr {
        Some(ip) => ip,
        None if m.port == 0 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        None => return Err(SdpError::NoConnection),
    };
    let payload_type = match chosen {
        Some(c) => c.payload_type,
        // A rejected stream need not list a codec we know.
        None if m.port == 0 => offer.codecs.first().copied().unwrap_or(0),
        None => return Err(SdpError::NoCommonCodec),
    };
    Ok(Negotiated {
        remote: SocketAddr::new(ip, m.port),
        payload_type,
        dtmf_pt: m.codecs.iter().find(|c| is_dtmf(c)).map(|c| c.payload_type),
        ptime: m.ptime.unwrap_or(offer.ptime),
        direction: our_direction(offer.direction, dir, ip, m.port),
    })
}

/// Our answer to the far end's offer (a re-INVITE or UPDATE: hold, unhold, a new address):
/// the codecs we share in `local.codecs` order under the far end's payload numbers, its
/// telephone-event if offered, the mirrored direction (sendonly -> recvonly, inactive ->
/// inactive) within `local.direction`; every other stream refused with port 0 (RFC 3264
/// 6). Also returns what the answer means for us.
pub fn answer(
    offer: &SessionDescription,
    local: &Offer,
) -> Result<(SessionDescription, Negotiated), SdpError> {
    let index = offer
        .media
        .iter()
        .position(|m| m.media == "audio")
        .ok_or(SdpError::NoAudio)?;
    let (m, addr, dir) = offer.audio().ok_or(SdpError::NoAudio)?;
    let ip = match addr {
        Some(ip) => ip,
        None if m.port == 0 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        None => return Err(SdpError::NoConnection),
    };
    let mut codecs: Vec<Codec> = local
        .codecs
        .iter()
        .filter_map(|pt| m.codecs.iter().find(|c| same_codec(*pt, c)))
        .map(|c| Codec {
            fmtp: None,
            ..c.clone()
        })
        .collect();
    let payload_type = codecs
        .first()
        .map(|c| c.payload_type)
        .ok_or(SdpError::NoCommonCodec)?;
    let dtmf_pt = m.codecs.iter().find(|c| is_dtmf(c)).map(|c| c.payload_type);
    if let Some(pt) = dtmf_pt {
        codecs.push(dtmf_codec(pt));
    }
    let direction = our_direction(local.direction, dir, ip, m.port);
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, om)| {
            if i == index {
                MediaDescription {
                    media: "audio".into(),
                    port: if om.port == 0 { 0 } else { local.port },
                    proto: om.proto.clone(),
                    formats: codecs.iter().map(|c| c.payload_type).collect(),
                    codecs: codecs.clone(),
                    ptime: Some(local.ptime),
                    direction: Some(direction),
                    ..Default::default()
                }
            } else {
                MediaDescription {
                    media: om.media.clone(),
                    port: 0,
                    proto: om.proto.clone(),
                    formats: om.formats.clone(),
                    other_formats: om.other_formats.clone(),
                    ..Default::default()
                }
            }
        })
        .collect();
    let negotiated = Negotiated {
        remote: SocketAddr::new(ip, m.port),
        payload_type,
        dtmf_pt,
        ptime: m.ptime.unwrap_or(local.ptime),
        direction,
    };
    Ok((local.session(media), negotiated))
}
