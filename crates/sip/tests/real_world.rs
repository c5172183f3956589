//! Messages shaped like what the far ends of a dialer send: Asterisk, FreeSWITCH, SIPp's
//! UAS scenarios, baresip and carriers' edge proxies (compact headers, folded lines, several
//! Vias in one header, Record-Route lists, Reason with a Q.850 cause, Session-Expires), each
//! read the way the trunk user agent will read it. `{LEN}` is replaced by the body's length.

use sip::{
    Direction, Message, Method, Offer, Refresher, Request, Response, SessionDescription, Uri,
    answer, negotiate, parse, parse_stream, q850_cause,
};

fn wire(text: &str) -> Vec<u8> {
    let text = text.replace('\n', "\r\n");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    format!(
        "{}\r\n\r\n{body}",
        head.replace("{LEN}", &body.len().to_string())
    )
    .into_bytes()
}

fn response(text: &str) -> Response {
    match parse(&wire(text)) {
        Ok(Message::Response(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn offer() -> Offer {
    Offer {
        addr: "192.0.2.10".parse().unwrap(),
        port: 40000,
        session_id: 77,
        version: 1,
        codecs: vec![0, 8],
        dtmf_pt: 101,
        ptime: 20,
        direction: Direction::SendRecv,
    }
}

const ASTERISK_200: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;received=192.0.2.10;branch=z9hG4bK0000000000000abc
Call-ID: 00000000000000000000000000000001@192.0.2.10
From: <sip:dialer@192.0.2.10>;tag=00000000000000aa
To: <sip:+14045550134@pbx.example.net>;tag=7c2d1e4b-3f0a-4c1e-9b8a-2f6c5d4e3a21
CSeq: 1 INVITE
Server: Asterisk PBX 18.20.0
Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER
Contact: <sip:203.0.113.5:5060>
Supported: 100rel, timer, replaces, norefersub
Session-Expires: 1800;refresher=uas
Require: timer
Content-Type: application/sdp
Content-Length: {LEN}

v=0
o=- 1234 3 IN IP4 203.0.113.5
s=Asterisk
c=IN IP4 203.0.113.5
t=0 0
m=audio 17890 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:140
a=sendrecv
";

#[test]
fn asterisk_200_ok() {
    let r = response(ASTERISK_200);
    let h = &r.headers;
    assert_eq!(r.status, 200);
    assert_eq!(h.cseq().unwrap().method, Method::Invite);
    assert_eq!(
        h.to().unwrap().tag(),
        Some("7c2d1e4b-3f0a-4c1e-9b8a-2f6c5d4e3a21")
    );
    assert_eq!(h.contact().unwrap().unwrap().uri.host, "203.0.113.5");
    let se = h.session_expires().unwrap().unwrap();
    assert_eq!((se.delta_s, se.refresher), (1800, Some(Refresher::Uas)));
    assert!(h.has_token("Require", "timer"));
    assert!(h.has_token("Allow", "UPDATE"));
    assert_eq!(
        h.vias().unwrap()[0].param("received"),
        Some(Some("192.0.2.10"))
    );
    let sdp = SessionDescription::parse(&r.body).unwrap();
    let n = negotiate(&offer(), &sdp).unwrap();
    assert_eq!(
        (n.remote.to_string().as_str(), n.payload_type, n.dtmf_pt),
        ("203.0.113.5:17890", 8, Some(101))
    );
    assert_eq!(sdp.media[0].attributes, ["maxptime:140"]);
}

#[test]
fn freeswitch_183_then_bye_with_reason() {
    let r = response(
        "SIP/2.0 183 Session Progress
Via: SIP/2.0/UDP 192.0.2.10;rport=5060;branch=z9hG4bK00000000000000b1;received=192.0.2.10
From: <sip:dialer@192.0.2.10>;tag=00000000000000bb
To: <sip:+14045550134@fs.example.net>;tag=Ng3Qj8Nr4Xv0H
Call-ID: 00000000000000000000000000000002@192.0.2.10
CSeq: 1 INVITE
Contact: <sip:+14045550134@203.0.113.6:5080;transport=udp>
User-Agent: FreeSWITCH-mod_sofia/1.10.9-release~64bit
Accept: application/sdp
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY
Supported: timer, path, replaces
Allow-Events: talk, hold, conference, refer
Content-Type: application/sdp
Content-Disposition: session
Content-Length: {LEN}
Remote-Party-ID: \"+14045550134\" <sip:+14045550134@203.0.113.6>;party=calling;privacy=off;screen=no

v=0
o=FreeSWITCH 1700000000 1700000001 IN IP4 203.0.113.6
s=FreeSWITCH
c=IN IP4 203.0.113.6
t=0 0
m=audio 24570 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=rtcp:24571 IN IP4 203.0.113.6
",
    );
    assert_eq!(
        r.headers.contact().unwrap().unwrap().uri.transport(),
        Some("udp")
    );
    let n = negotiate(&offer(), &SessionDescription::parse(&r.body).unwrap()).unwrap();
    assert_eq!((n.payload_type, n.remote.port()), (0, 24570));

    let bye = parse(&wire(
        "BYE sip:dialer@192.0.2.10:5060 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.6:5080;rport;branch=z9hG4bKa3Hy9tB6XmQ5c
Max-Forwards: 70
From: <sip:+14045550134@fs.example.net>;tag=Ng3Qj8Nr4Xv0H
To: <sip:dialer@192.0.2.10>;tag=00000000000000bb
Call-ID: 00000000000000000000000000000002@192.0.2.10
CSeq: 126447990 BYE
User-Agent: FreeSWITCH-mod_sofia/1.10.9-release~64bit
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY
Supported: timer, path, replaces
Reason: Q.850;cause=16;text=\"NORMAL_CLEARING\"
Content-Length: 0

",
    ))
    .unwrap();
    let Message::Request(bye) = bye else {
        panic!("a request")
    };
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(q850_cause(&bye.headers), Some(16));
    let ok = Response::to(&bye, 200, sip::reason_phrase(200), None);
    assert_eq!(ok.headers.get("Via"), bye.headers.get("Via"));
    assert_eq!(ok.headers.cseq().unwrap(), bye.headers.cseq().unwrap());
    assert_eq!(ok.headers.get("To"), bye.headers.get("To"));
    assert_eq!(ok.headers.content_length().unwrap(), Some(0));
    assert_eq!(
        parse(&Message::Response(ok).to_bytes())
            .unwrap()
            .headers()
            .call_id(),
        bye.headers.call_id()
    );
}

#[test]
fn carrier_busy_and_sipp_407() {
    let busy = response(
        "SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK00000000000000c1;received=192.0.2.10;rport=5060
From: \"Collections\" <sip:+18005550100@192.0.2.10>;tag=00000000000000cc
To: <sip:+14045550134@sbc.carrier.example>;tag=sbc-4f1a
Call-ID: 00000000000000000000000000000003@192.0.2.10
CSeq: 1 INVITE
Reason: Q.850;cause=17;text=\"User busy\"
Content-Length: 0

",
    );
    assert_eq!(busy.status, 486);
    assert_eq!(q850_cause(&busy.headers), Some(17));
    assert_eq!(busy.headers.reasons()[0].text.as_deref(), Some("User busy"));
    assert_eq!(
        busy.headers.from().unwrap().display.as_deref(),
        Some("Collections")
    );

    // As SIPp's uas scenario with authentication answers, [last_*] lines filled in.
    let auth = response(
        "SIP/2.0 407 Proxy Authentication Required
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK00000000000000d1
From: <sip:dialer@192.0.2.10>;tag=00000000000000dd
To: <sip:+14045550134@sipp.example>;tag=1234SIPpTag011
Call-ID: 00000000000000000000000000000004@192.0.2.10
CSeq: 1 INVITE
Proxy-Authenticate: Digest realm=\"sip.carrier.example\", nonce=\"YmFzZTY0bm9uY2U=\", opaque=\"\", qop=\"auth\", algorithm=MD5
Contact: <sip:203.0.113.7:5060;transport=UDP>
Content-Length: 0

",
    );
    let ch = sip::Challenge::parse(auth.headers.get("Proxy-Authenticate").unwrap()).unwrap();
    assert_eq!(
        (ch.realm.as_str(), ch.opaque.as_deref(), ch.qop.as_slice()),
        ("sip.carrier.example", Some(""), &["auth".to_string()][..])
    );
}

/// An edge proxy that writes compact names, folds a long line and packs several Vias and
/// Record-Routes into one header each (as OpenSIPS and Kamailio configurations do).
const COMPACT_180: &str = "SIP/2.0 180 Ringing
v: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bKproxy1.1, SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK00000000000000e1;rport=5060
f: <sip:dialer@192.0.2.10>;tag=00000000000000ee
t: <sip:+14045550134@edge.example>
 ;tag=as5f1c2d3e
i: 00000000000000000000000000000005@192.0.2.10
CSeq: 1 INVITE
Record-Route: <sip:198.51.100.2;lr;ftag=00000000000000ee>, <sip:10.0.0.2;lr>
Record-Route: <sip:10.0.0.3;lr;transport=tcp>
m: <sip:+14045550134@10.0.0.9:5060>
k: timer
l: 0

";

#[test]
fn compact_folded_multi_via_180() {
    let r = response(COMPACT_180);
    let h = &r.headers;
    assert_eq!(
        h.call_id(),
        Some("00000000000000000000000000000005@192.0.2.10")
    );
    assert_eq!(h.to().unwrap().tag(), Some("as5f1c2d3e"));
    let vias = h.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[1].branch(), Some("z9hG4bK00000000000000e1"));
    let rr = h.record_route().unwrap();
    assert_eq!(rr.len(), 3);
    // The UAC's route set is the Record-Route list reversed.
    let route: Vec<String> = rr.iter().rev().map(|n| n.uri.to_string()).collect();
    assert_eq!(
        route,
        [
            "sip:10.0.0.3;lr;transport=tcp",
            "sip:10.0.0.2;lr",
            "sip:198.51.100.2;lr;ftag=00000000000000ee"
        ]
    );
    assert!(rr.iter().all(|n| n.uri.lr()));
    assert_eq!(h.contact().unwrap().unwrap().uri.port, Some(5060));
    assert!(h.has_token("Supported", "timer"));
}

/// baresip putting the call on hold with a re-INVITE (sendonly), a Session-Expires refresh
/// and our answer built from it.
#[test]
fn baresip_hold_reinvite_and_our_answer() {
    let text = "INVITE sip:dialer@192.0.2.10:5060;transport=udp SIP/2.0
Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK2e5b3a0c1d;rport
Contact: <sip:agent7-0x55d1@192.0.2.50:5060;transport=udp>
Max-Forwards: 70
To: <sip:dialer@192.0.2.10>;tag=00000000000000ff
From: \"Agent 7\" <sip:agent7@192.0.2.10>;tag=7f2e8c1b9a
Call-ID: 00000000000000000000000000000006@192.0.2.10
CSeq: 24561 INVITE
User-Agent: baresip v3.10.1 (x86_64/linux)
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER
Supported: replaces,norefersub,timer
Session-Expires: 1800;refresher=uac
Min-SE: 90
Content-Type: application/sdp
Content-Length: {LEN}

v=0
o=- 2190389173 2190389174 IN IP4 192.0.2.50
s=-
c=IN IP4 192.0.2.50
t=0 0
m=audio 10028 RTP/AVP 0 8 101
b=AS:64
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendonly
a=label:1
a=ssrc:1470637389 cname:9d4b4f3c-2a3d-4bb7-9a2e-3f0c8e2d1a5b
a=rtcp-rsize
a=ptime:20
";
    let Ok(Message::Request(req)) = parse(&wire(text)) else {
        panic!("a request")
    };
    assert_eq!(Uri::parse(&req.uri).unwrap().transport(), Some("udp"));
    assert_eq!(
        req.headers.session_expires().unwrap().unwrap().refresher,
        Some(Refresher::Uac)
    );
    assert_eq!(req.headers.min_se().unwrap(), Some(90));
    assert!(req.headers.has_token("Allow", "update"));
    let their = SessionDescription::parse(&req.body).unwrap();
    let (ours, n) = answer(
        &their,
        &Offer {
            version: 2,
            ..offer()
        },
    )
    .unwrap();
    assert_eq!(
        (n.payload_type, n.dtmf_pt, n.direction),
        (0, Some(101), Direction::RecvOnly)
    );
    let mut ok = Response::to(&req, 200, "OK", None);
    ok.headers.push("Content-Type", "application/sdp");
    ok.body = ours.to_bytes();
    let back = parse(&Message::Response(ok).to_bytes()).unwrap();
    let sdp = SessionDescription::parse(back.body()).unwrap();
    assert_eq!(sdp.audio().unwrap().2, Direction::RecvOnly);
    assert_eq!(back.headers().to().unwrap().tag(), Some("00000000000000ff"));
}

/// A TCP stream from an edge proxy: keep-alives, three messages back to back, read whole
/// and cut at every byte.
#[test]
fn tcp_stream_of_real_messages() {
    let mut stream = b"\r\n\r\n".to_vec();
    let messages: Vec<Vec<u8>> = [COMPACT_180, ASTERISK_200]
        .iter()
        .map(|t| wire(t))
        .collect();
    for m in &messages {
        stream.extend_from_slice(m);
        stream.extend_from_slice(b"\r\n");
    }
    let mut req = Request::new(Method::Options, "sip:192.0.2.10");
    for (n, v) in [
        ("Via", "SIP/2.0/TCP 10.0.0.3;branch=z9hG4bKka"),
        ("From", "<sip:ping@10.0.0.3>;tag=1"),
        ("To", "<sip:192.0.2.10>"),
        ("Call-ID", "ka1"),
        ("CSeq", "1 OPTIONS"),
    ] {
        req.headers.push(n, v);
    }
    stream.extend_from_slice(&Message::Request(req).to_bytes());

    let mut whole = Vec::new();
    let mut rest = stream.as_slice();
    while let Some((m, used)) = parse_stream(rest).unwrap() {
        whole.push(m);
        rest = &rest[used..];
    }
    assert_eq!(whole.len(), 3);
    assert!(rest.is_empty());
    assert_eq!(parse(&messages[1]).unwrap(), whole[1]);

    // Fed in two pieces, cut anywhere: the same messages.
    for cut in 0..=stream.len() {
        let mut got = Vec::new();
        let mut buf: Vec<u8> = stream[..cut].to_vec();
        for piece in [&stream[cut..], &[][..]] {
            while let Some((m, used)) = parse_stream(&buf).unwrap() {
                got.push(m);
                buf.drain(..used);
            }
            buf.extend_from_slice(piece);
        }
        assert_eq!(got, whole, "cut at {cut}");
    }
}
