//! SIP messages as data: requests and responses read from a UDP datagram or a TCP stream
//! and written back to bytes. Parsing checks what a user agent relies on before it acts on a
//! message (start line, the mandatory headers and their syntax, Content-Length framing,
//! size limits), so everything past [`parse`] can read those headers without failing.

use std::fmt;

use crate::error::{ErrorKind, ParseError};
use crate::headers::{NameAddr, same_name};
use crate::syntax::{clip, is_token, parse_decimal};
use crate::uri::Uri;

pub use crate::headers::{CSeq, Headers, Reason, Refresher, SessionExpires, Via, q850_cause};

/// The most a message may weigh, headers and body (an answer past it is 513).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The most header lines a message may carry.
pub const MAX_HEADERS: usize = 256;

/// A request method. Methods are case-sensitive (RFC 3261 7.1): `invite` is an unknown
/// method, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Update,
    Info,
    Prack,
    Refer,
    Notify,
    Subscribe,
    Message,
    Other(String),
}

impl Method {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Method, ParseError> {
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            other if is_token(other) => Method::Other(other.to_string()),
            other => {
                return Err(ParseError::malformed(
                    "method",
                    format!("{:?} is not a token", clip(other)),
                ));
            }
        })
    }
}

/// A request. `uri` is the Request-URI as written (any scheme: a `sip:` one is checked by
/// [`parse`]; read it with [`Uri::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: Method, uri: impl Into<String>) -> Request {
        Request {
            method,
            uri: uri.into(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, reason: impl Into<String>) -> Response {
        Response {
            status,
            reason: reason.into(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A response to `req` per RFC 3261 8.2.6: copies the Via(s), From, To (adding `to_tag`
    /// when given and To has none), Call-ID and CSeq, with Content-Length 0. A response
    /// that creates a dialog (101-299 to an INVITE) also copies Record-Route (12.1.1).
    pub fn to(req: &Request, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
        let mut resp = Response::new(status, reason);
        let creates_dialog = req.method == Method::Invite && (101..300).contains(&status);
        for (name, value) in req.headers.iter() {
            if same_name(name, "To") {
                let has_tag = NameAddr::parse(value)
                    .map(|n| n.tag().is_some())
                    .unwrap_or(true);
                match to_tag {
                    Some(tag) if !has_tag => resp.headers.push("To", format!("{value};tag={tag}")),
                    _ => resp.headers.push("To", value),
                }
            } else if same_name(name, "Via")
                || same_name(name, "From")
                || same_name(name, "Call-ID")
                || same_name(name, "CSeq")
                || (creates_dialog && same_name(name, "Record-Route"))
            {
                resp.headers.push(crate::headers::full_name(name), value);
            }
        }
        resp.headers.push("Content-Length", "0");
        resp
    }
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    pub fn body(&self) -> &[u8] {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// The message as bytes for the wire. Content-Length is set to the body's length: in
    /// place of the first Content-Length header if there is one (others dropped), else
    /// appended. Line breaks inside header values become spaces, so no value can smuggle a
    /// header in.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (start, headers, body) = match self {
            Message::Request(r) => (
                format!("{} {} SIP/2.0", r.method, r.uri),
                &r.headers,
                &r.body,
            ),
            Message::Response(r) => (
                format!("SIP/2.0 {} {}", r.status, r.reason),
                &r.headers,
                &r.body,
            ),
        };
        let mut out = Vec::with_capacity(start.len() + headers.len() * 40 + body.len() + 32);
        push_line(&mut out, &start);
        let mut wrote_length = false;
        for (name, value) in headers.iter() {
            if same_name(name, "Content-Length") {
                if !wrote_length {
                    push_line(&mut out, &format!("{name}: {}", body.len()));
                    wrote_length = true;
                }
                continue;
            }
            push_line(&mut out, &format!("{name}: {value}"));
        }
        if !wrote_length {
            push_line(&mut out, &format!("Content-Length: {}", body.len()));
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Message {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Message {
        Message::Response(r)
    }
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend(
        line.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Parses one UDP datagram. A body longer than Content-Length is cut to it (RFC 3261 18.3);
/// without Content-Length the body is the rest of the datagram.
pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
    if datagram.len() > MAX_MESSAGE {
        return Err(too_large(datagram.len()));
    }
    let skip = leading_crlf(datagram);
    let buf = datagram.get(skip..).unwrap_or_default();
    if buf.is_empty() {
        return Err(ParseError::new(
            ErrorKind::Empty,
            "message",
            "only line breaks (a keep-alive)",
        ));
    }
    let (head_end, body_start) = find_head_end(buf)
        .ok_or_else(|| ParseError::malformed("message", "no empty line after the headers"))?;
    let head = parse_head(buf.get(..head_end).unwrap_or_default())?;
    let rest = buf.get(body_start..).unwrap_or_default();
    let body = match head.content_length {
        Some(n) => rest.get(..n).ok_or_else(|| {
            ParseError::malformed(
                "Content-Length",
                format!("says {n} bytes but the body has {}", rest.len()),
            )
            .within("Content-Length", head.content_length_line)
        })?,
        None => rest,
    };
    Ok(head.into_message(body.to_vec()))
}

/// TCP: the first complete message in `buf` and the bytes it used; `Ok(None)` when more bytes
/// are needed; leading CRLF keep-alives skipped (counted in the bytes used). A message
/// without Content-Length has an empty body (RFC 3261 18.3 makes it mandatory on streams).
pub fn parse_stream(buf: &[u8]) -> Result<Option<(Message, usize)>, ParseError> {
    let skip = leading_crlf(buf);
    let rest = buf.get(skip..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(None);
    }
    let Some((head_end, body_start)) = find_head_end(rest) else {
        if rest.len() > MAX_MESSAGE {
            return Err(too_large(rest.len()));
        }
        return Ok(None);
    };
    if head_end > MAX_MESSAGE {
        return Err(too_large(head_end));
    }
    let head = parse_head(rest.get(..head_end).unwrap_or_default())?;
    let length = head.content_length.unwrap_or(0);
    let total = body_start.saturating_add(length);
    if total > MAX_MESSAGE {
        return Err(too_large(total));
    }
    match rest.get(body_start..total) {
        None => Ok(None),
        Some(body) => Ok(Some((head.into_message(body.to_vec()), skip + total))),
    }
}

fn too_large(n: usize) -> ParseError {
    ParseError::new(
        ErrorKind::TooLarge,
        "message",
        format!("{n} bytes, the limit is {MAX_MESSAGE}"),
    )
}

fn leading_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count()
}

/// The end of the header lines and the start of the body: the first empty line, with CRLF
/// or bare LF line ends.
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = buf.get(i..)?.iter().position(|b| *b == b'\n') {
        let nl = i + off;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some((nl, nl + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((nl, nl + 3)),
            _ => i = nl + 1,
        }
    }
    None
}

enum StartLine {
    Request { method: Method, uri: String },
    Response { status: u16, reason: String },
}

struct Head {
    start: StartLine,
    headers: Headers,
    content_length: Option<usize>,
    content_length_line: Option<usize>,
}

impl Head {
    fn into_message(self, body: Vec<u8>) -> Message {
        match self.start {
            StartLine::Request { method, uri } => Message::Request(Request {
                method,
                uri,
                headers: self.headers,
                body,
            }),
            StartLine::Response { status, reason } => Message::Response(Response {
                status,
                reason,
                headers: self.headers,
                body,
            }),
        }
    }
}

fn parse_head(head: &[u8]) -> Result<Head, ParseError> {
    let text = std::str::from_utf8(head).map_err(|e| {
        let line = head
            .get(..e.valid_up_to())
            .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count())
            + 1;
        ParseError::malformed("message", "header text is not UTF-8").within("message", Some(line))
    })?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start_text = lines.next().unwrap_or_default();
    let start = parse_start_line(start_text).map_err(|e| e.within("start line", Some(1)))?;

    let mut headers = Headers::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding: the line continues the previous header's value.
            let Some((_, value)) = current.as_mut() else {
                return Err(
                    ParseError::malformed("header", "continuation line before any header")
                        .within("header", Some(line_no)),
                );
            };
            let more = line.trim();
            if !more.is_empty() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(more);
            }
            continue;
        }
        if let Some((n, v)) = current.take() {
            headers.push(n, v);
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            ParseError::malformed("header", format!("no ':' in {:?}", clip(line)))
                .within("header", Some(line_no))
        })?;
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(ParseError::malformed(
                "header",
                format!("bad header name {:?}", clip(name)),
            )
            .within("header", Some(line_no)));
        }
        if starts.len() >= MAX_HEADERS {
            return Err(ParseError::new(
                ErrorKind::TooManyHeaders,
                "message",
                format!("more than {MAX_HEADERS} headers"),
            )
            .within("message", Some(line_no)));
        }
        starts.push(line_no);
        current = Some((name.to_string(), value.trim().to_string()));
    }
    if let Some((n, v)) = current.take() {
        headers.push(n, v);
    }
    let (content_length, content_length_line) = validate(&start, &headers, &starts)?;
    Ok(Head {
        start,
        headers,
        content_length,
        content_length_line,
    })
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line.len() >= 4
        && line
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        check_version(version)?;
        let code = parts.next().unwrap_or_default();
        let status = if code.len() == 3 {
            parse_decimal(code, 699)
        } else {
            None
        };
        let status = status.filter(|s| *s >= 100).ok_or_else(|| {
            ParseError::new(
                ErrorKind::OutOfRange,
                "status code",
                format!("{:?} is not 100-699", clip(code)),
            )
        })?;
        let reason = parts.next().unwrap_or_default().to_string();
        return Ok(StartLine::Response {
            status: status as u16,
            reason,
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts.as_slice() else {
        return Err(ParseError::malformed(
            "request line",
            "expected exactly 'METHOD SP Request-URI SP SIP/2.0' (single spaces, none at the end)",
        ));
    };
    let method: Method = method.parse()?;
    check_version(version)?;
    check_request_uri(uri)?;
    Ok(StartLine::Request {
        method,
        uri: uri.to_string(),
    })
}

fn check_version(v: &str) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        Ok(())
    } else if v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/")) {
        Err(ParseError::new(
            ErrorKind::Version,
            "version",
            format!("{:?} is not SIP/2.0", clip(v)),
        ))
    } else {
        Err(ParseError::malformed(
            "version",
            format!("{:?} is not SIP/2.0", clip(v)),
        ))
    }
}

fn check_request_uri(uri: &str) -> Result<(), ParseError> {
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or_default();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok
        || uri
            .chars()
            .any(|c| c.is_control() || c == '<' || c == '>' || c == '"')
    {
        return Err(ParseError::malformed(
            "Request-URI",
            format!("{:?} is not a URI", clip(uri)),
        ));
    }
    let known = ["sip", "sips", "tel"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme));
    if known {
        let parsed = Uri::parse(uri).map_err(|e| e.within("Request-URI", None))?;
        if !parsed.headers.is_empty() {
            return Err(ParseError::malformed(
                "Request-URI",
                "headers (?...) are not allowed in a Request-URI",
            ));
        }
    }
    Ok(())
}

/// Checks the headers every message must carry and those a user agent reads: returns the
/// Content-Length (and its line).
fn validate(
    start: &StartLine,
    headers: &Headers,
    starts: &[usize],
) -> Result<(Option<usize>, Option<usize>), ParseError> {
    let line_of = |name: &str| {
        headers
            .iter()
            .position(|(n, _)| same_name(n, name))
            .and_then(|i| starts.get(i).copied())
    };
    let at = |name: &'static str| move |e: ParseError| e.within(name, line_of(name));
    let missing = |name: &str| ParseError::new(ErrorKind::Missing, name, "header absent");

    for (i, (name, value)) in headers.iter().enumerate() {
        let line = starts.get(i).copied();
        let checked = if same_name(name, "Via") {
            crate::headers::Headers::vias_of(value)
        } else if (same_name(name, "Contact") && value.trim() != "*")
            || same_name(name, "Record-Route")
            || same_name(name, "Route")
        {
            crate::headers::Headers::name_addrs_of(value)
        } else {
            Ok(())
        };
        checked.map_err(|e| e.within(crate::headers::full_name(name), line))?;
    }
    for once in ["From", "To", "Call-ID", "CSeq", "Max-Forwards"] {
        if headers.iter().filter(|(n, _)| same_name(n, once)).count() > 1 {
            let last = headers
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| same_name(n, once))
                .last();
            let line = last.and_then(|(i, _)| starts.get(i).copied());
            return Err(ParseError::malformed(once, "appears more than once").within(once, line));
        }
    }
    if headers.get_all("Via").next().is_none() {
        return Err(missing("Via"));
    }
    headers.from().map_err(at("From"))?;
    headers.to().map_err(at("To"))?;
    match headers.call_id() {
        Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) => {}
        Some(_) => {
            return Err(ParseError::malformed("Call-ID", "empty or with spaces")
                .within("Call-ID", line_of("Call-ID")));
        }
        None => return Err(missing("Call-ID")),
    }
    let cseq = headers.cseq().map_err(at("CSeq"))?;
    if let StartLine::Request { method, .. } = start {
        if *method != cseq.method {
            return Err(ParseError::malformed(
                "CSeq",
                format!(
                    "method {} does not match the request's {method}",
                    cseq.method
                ),
            )
            .within("CSeq", line_of("CSeq")));
        }
    }
    headers.max_forwards().map_err(at("Max-Forwards"))?;
    let mut lengths = headers.get_all("Content-Length");
    let length = headers.content_length().map_err(at("Content-Length"))?;
    let first = lengths.next();
    if lengths.any(|l| Some(l.trim()) != first.map(str::trim)) {
        return Err(
            ParseError::malformed("Content-Length", "several different values")
                .within("Content-Length", line_of("Content-Length")),
        );
    }
    Ok((length, line_of("Content-Length")))
}

/// The standard reason phrase of a status code (RFC 3261 21 and the extensions), or its
/// class's name for one without.
pub fn reason_phrase(status: u16) -> &'static str {
    known_phrase(status).unwrap_or(match status {
        100..=199 => "Provisional",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        600..=699 => "Global Failure",
        _ => "Unknown",
    })
}

fn known_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity-Info",
        437 => "Unsupported Certificate",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        555 => "Push Notification Service Not Supported",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        608 => "Rejected",
        _ => return None,
    })
}
