//! What signalling costs the trunk user agent per message, on one thread: parsing a 200 OK
//! with SDP (as Asterisk sends it), writing a request, reading and negotiating the SDP
//! answer, and answering a digest challenge.
//!
//! `cargo bench -p sip --bench parse`. Prints ns per operation (the best of three runs after
//! a warm-up). A call costs roughly a dozen messages in and out (INVITE, 100, 180/183, 200,
//! ACK, BYE, 200, a 407 and the INVITE again), so messages/s / 12 is calls/s per core.

use std::hint::black_box;
use std::time::Instant;

use sip::{
    Challenge, Credentials, Direction, Message, Method, Offer, Request, SessionDescription,
    authorize, negotiate, parse, parse_stream,
};

const ROUNDS: usize = 20_000;

const OK_200: &str = "SIP/2.0 200 OK\r
Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;received=192.0.2.10;branch=z9hG4bK0000000000000abc\r
Call-ID: 00000000000000000000000000000001@192.0.2.10\r
From: <sip:dialer@192.0.2.10>;tag=00000000000000aa\r
To: <sip:+14045550134@pbx.example.net>;tag=7c2d1e4b-3f0a-4c1e-9b8a-2f6c5d4e3a21\r
CSeq: 1 INVITE\r
Server: Asterisk PBX 18.20.0\r
Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER\r
Contact: <sip:203.0.113.5:5060>\r
Supported: 100rel, timer, replaces, norefersub\r
Session-Expires: 1800;refresher=uas\r
Require: timer\r
Content-Type: application/sdp\r
Content-Length: {LEN}\r
\r
v=0\r
o=- 1234 3 IN IP4 203.0.113.5\r
s=Asterisk\r
c=IN IP4 203.0.113.5\r
t=0 0\r
m=audio 17890 RTP/AVP 8 101\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:20\r
a=maxptime:140\r
a=sendrecv\r
";

fn time(name: &str, bytes: usize, mut f: impl FnMut()) {
    let mut best = f64::MAX;
    for run in 0..4 {
        let started = Instant::now();
        for _ in 0..ROUNDS {
            f();
        }
        let ns = started.elapsed().as_nanos() as f64 / ROUNDS as f64;
        if run > 0 {
            best = best.min(ns);
        }
    }
    let per_s = 1e9 / best;
    if bytes > 0 {
        println!("{name:<34} {best:>8.0} ns  {per_s:>10.0}/s  ({bytes} bytes)");
    } else {
        println!("{name:<34} {best:>8.0} ns  {per_s:>10.0}/s");
    }
}

fn main() {
    let (head, body) = OK_200.split_once("\r\n\r\n").unwrap_or_default();
    let text = format!(
        "{}\r\n\r\n{body}",
        head.replace("{LEN}", &body.len().to_string())
    );
    let bytes = text.as_bytes();
    if let Err(e) = parse(bytes) {
        panic!("the sample does not parse: {e}");
    }
    time("parse 200 OK with SDP (UDP)", bytes.len(), || {
        black_box(parse(black_box(bytes)).ok());
    });
    time("parse_stream 200 OK with SDP (TCP)", bytes.len(), || {
        black_box(parse_stream(black_box(bytes)).ok());
    });
    let msg = parse(bytes).unwrap_or_else(|e| panic!("{e}"));
    time("read typed headers (vias, to, cseq)", 0, || {
        let h = black_box(&msg).headers();
        black_box((h.vias().ok(), h.to().ok(), h.cseq().ok(), h.contact().ok()));
    });

    let offer = Offer {
        addr: "192.0.2.10".parse().unwrap_or_else(|e| panic!("{e}")),
        port: 40000,
        session_id: 1,
        version: 1,
        codecs: vec![0, 8],
        dtmf_pt: 101,
        ptime: 20,
        direction: Direction::SendRecv,
    };
    let mut invite = Request::new(Method::Invite, "sip:+14045550134@trunk.example.net");
    for (n, v) in [
        (
            "Via",
            "SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK0000000000000abc",
        ),
        ("Max-Forwards", "70"),
        ("From", "<sip:+18005550100@192.0.2.10>;tag=00000000000000aa"),
        ("To", "<sip:+14045550134@trunk.example.net>"),
        ("Call-ID", "00000000000000000000000000000001@192.0.2.10"),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:dialer@192.0.2.10:5060>"),
        ("Content-Type", "application/sdp"),
    ] {
        invite.headers.push(n, v);
    }
    invite.body = offer.to_sdp().to_bytes();
    let invite = Message::Request(invite);
    time(
        "write INVITE with SDP offer",
        invite.to_bytes().len(),
        || {
            black_box(black_box(&invite).to_bytes());
        },
    );

    let body = msg.body();
    time("parse SDP answer + negotiate", body.len(), || {
        let sdp = SessionDescription::parse(black_box(body)).ok();
        black_box(sdp.map(|s| negotiate(&offer, &s).ok()));
    });

    let creds = Credentials {
        username: "6001".into(),
        password: "s3cret".into(),
    };
    let header = r#"Digest realm="sip.carrier.example", nonce="YmFzZTY0bm9uY2U=", qop="auth", algorithm=MD5"#;
    time("parse challenge + authorize (MD5)", 0, || {
        let ch = Challenge::parse(black_box(header)).ok();
        black_box(ch.map(|ch| {
            authorize(
                &creds,
                &Method::Invite,
                "sip:+14045550134@trunk.example.net",
                &ch,
                "0a4f113b",
                1,
            )
        }));
    });
}
