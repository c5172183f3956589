//! SIPp's message log (`-trace_msg`) read back as messages, so a test can check what the trunk
//! received from the dialer (the ACK, the BYE, the Authorization header) and what it sent,
//! without a SIP parser of its own.

/// One SIP message from SIPp's message log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedMessage {
    /// Received by SIPp (sent by the peer under test), or sent by SIPp.
    pub received: bool,
    /// The message, lines joined with "\n".
    pub text: String,
}

impl LoggedMessage {
    /// The request or status line.
    pub fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    /// Whether it is a request (not a response).
    pub fn is_request(&self) -> bool {
        !self.start_line().starts_with("SIP/2.0")
    }

    /// The request's method, or for a response the method of its CSeq.
    pub fn method(&self) -> Option<&str> {
        if self.is_request() {
            self.start_line().split_whitespace().next()
        } else {
            self.header("CSeq")?.split_whitespace().nth(1)
        }
    }

    /// The response's status code.
    pub fn status(&self) -> Option<u16> {
        if self.is_request() {
            return None;
        }
        self.start_line().split_whitespace().nth(1)?.parse().ok()
    }

    /// The values of every header called `name` (case-insensitive, compact forms not mapped).
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.head()
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (header, value) = line.split_once(':')?;
                header
                    .trim()
                    .eq_ignore_ascii_case(name)
                    .then_some(value.trim())
            })
            .collect()
    }

    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers(name).into_iter().next()
    }

    fn head(&self) -> &str {
        self.text
            .split_once("\n\n")
            .map(|(head, _)| head)
            .unwrap_or(&self.text)
    }

    /// The body (SDP), empty when there is none.
    pub fn body(&self) -> &str {
        self.text
            .split_once("\n\n")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }
}

/// The messages of a SIPp message log, in order.
pub fn parse_message_log(log: &str) -> Vec<LoggedMessage> {
    let mut messages = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    let mut flush = |block: &mut Vec<&str>| {
        if let Some((first, rest)) = block.split_first() {
            let received = first.contains("received");
            let text = rest
                .iter()
                .map(|line| line.trim_end_matches('\r'))
                .skip_while(|line| line.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            let text = text.trim_end_matches('\n').to_string();
            if !text.is_empty() {
                messages.push(LoggedMessage { received, text });
            }
        }
        block.clear();
    };
    for line in log.lines() {
        if line.starts_with("----------------------------------------------- ") {
            flush(&mut block);
        } else if !block.is_empty() || line.contains(" message ") {
            block.push(line);
        }
    }
    flush(&mut block);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "----------------------------------------------- 2026-12-07 05:10:53.759496
UDP message received [587] bytes :

INVITE sip:1404555011@127.0.0.1:25090 SIP/2.0\r
Via: SIP/2.0/UDP 127.0.0.1:25091;branch=z9hG4bK-1\r
CSeq: 1 INVITE\r
Content-Type: application/sdp\r
Content-Length:   10\r
\r
v=0\r
s=-\r

----------------------------------------------- 2026-12-07 05:10:53.759734
UDP message sent (239 bytes):

SIP/2.0 486 Busy Here\r
CSeq: 1 INVITE\r
Reason: Q.850;cause=17;text=\"User busy\"\r
Content-Length:     0\r
\r

";

    #[test]
    fn messages_come_back_with_direction_lines_headers_and_body() {
        let messages = parse_message_log(LOG);
        assert_eq!(messages.len(), 2);
        let invite = &messages[0];
        assert!(invite.received && invite.is_request());
        assert_eq!(invite.method(), Some("INVITE"));
        assert_eq!(invite.header("content-type"), Some("application/sdp"));
        assert_eq!(invite.body(), "v=0\ns=-");
        let busy = &messages[1];
        assert!(!busy.received);
        assert_eq!(busy.status(), Some(486));
        assert_eq!(busy.method(), Some("INVITE"));
        assert_eq!(
            busy.header("Reason"),
            Some("Q.850;cause=17;text=\"User busy\"")
        );
        assert_eq!(busy.body(), "");
    }

    #[test]
    fn nonsense_gives_no_messages() {
        assert!(parse_message_log("").is_empty());
        assert!(parse_message_log("hello\nworld").is_empty());
    }
}
