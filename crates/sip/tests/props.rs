//! Property tests: structured requests, responses, URIs, name-addrs, Vias and SDP written to
//! bytes and parsed back equal; arbitrary and mutated bytes fed to every parser give a
//! typed error or a value, never a panic; a TCP stream cut at every byte boundary yields
//! the same messages as the whole stream.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use sip::{
    CSeq, Challenge, Codec, Direction, Headers, MediaDescription, Message, Method, NameAddr,
    Origin, Reason, Request, Response, SessionDescription, SessionExpires, Uri, Via, parse,
    parse_stream,
};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,10}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
        any::<u32>().prop_map(|n| Ipv4Addr::from(n).to_string()),
        any::<u128>().prop_map(|n| format!("[{}]", Ipv6Addr::from(n))),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    vec(
        ("[a-z][a-z0-9-]{0,7}", option::of("[a-zA-Z0-9.-]{1,8}")),
        0..4,
    )
}

fn uri() -> BoxedStrategy<Uri> {
    let sip = (
        prop_oneof![Just("sip"), Just("sips"), Just("SIP")],
        option::of("([a-zA-Z0-9_.!~*'()&=+$,;?/-]|%[0-9A-F]{2}){1,12}"),
        option::of("[a-zA-Z0-9&=+$,_.-]{0,8}"),
        host(),
        option::of(any::<u16>()),
        params(),
        vec(
            (
                "[A-Za-z][A-Za-z0-9-]{0,5}",
                "[a-z0-9%]{0,6}".prop_filter("escapes", |v| !v.contains('%')),
            ),
            0..3,
        ),
    )
        .prop_map(
            |(scheme, user, password, host, port, params, headers)| Uri {
                scheme: scheme.into(),
                password: user.as_ref().and(password),
                user,
                host,
                port,
                params,
                headers,
            },
        );
    let tel = ("\\+?[0-9][0-9.()-]{0,14}", params()).prop_map(|(number, params)| Uri {
        scheme: "tel".into(),
        user: Some(number),
        params,
        ..Uri::default()
    });
    prop_oneof![4 => sip, 1 => tel].boxed()
}

fn name_addr() -> BoxedStrategy<NameAddr> {
    (
        option::of("[ -~]{0,12}"),
        uri(),
        vec((token(), option::of(token())), 0..3),
    )
        .prop_map(|(display, uri, params)| NameAddr {
            display,
            uri,
            params,
        })
        .boxed()
}

fn via() -> BoxedStrategy<Via> {
    (
        prop_oneof![Just("UDP"), Just("TCP"), Just("TLS"), Just("WS")],
        host(),
        option::of(any::<u16>()),
        vec((token(), option::of(token())), 0..3),
        any::<u64>(),
    )
        .prop_map(|(transport, host, port, mut params, branch)| {
            params.insert(0, ("branch".into(), Some(sip::ids::branch(branch))));
            Via {
                transport: transport.into(),
                host,
                port,
                params,
            }
        })
        .boxed()
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Options),
        Just(Method::Update),
        Just(Method::Info),
        Just(Method::Prack),
        "[A-Z][A-Z-]{0,8}".prop_map(|m| m.parse::<Method>().unwrap()),
    ]
}

/// Headers of a valid message: the mandatory ones, some extension headers, and
/// Content-Length (matching the body) somewhere among them.
fn headers(cseq_method: Method, body_len: usize) -> BoxedStrategy<Headers> {
    (
        vec(via(), 1..4),
        any::<bool>(),
        name_addr(),
        name_addr(),
        "[a-zA-Z0-9.@_-]{1,30}",
        0u32..(1 << 31),
        vec(
            ("X-[A-Za-z0-9-]{1,10}", "([!-~]([ -~]{0,30}[!-~])?)?"),
            0..5,
        ),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(
            move |(vias, one_line, from, to, call_id, seq, extra, at, compact)| {
                let mut h = Headers::new();
                if one_line {
                    h.push(
                        "Via",
                        vias.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                } else {
                    for v in &vias {
                        h.push(if compact { "v" } else { "Via" }, v.to_string());
                    }
                }
                h.push(if compact { "f" } else { "From" }, from.to_string());
                h.push("To", to.to_string());
                h.push(if compact { "i" } else { "Call-ID" }, call_id);
                h.push(
                    "CSeq",
                    CSeq {
                        seq,
                        method: cseq_method.clone(),
                    }
                    .to_string(),
                );
                let at = at.index(extra.len() + 1);
                for (i, (n, v)) in extra.into_iter().enumerate() {
                    if i == at {
                        h.push("Content-Length", body_len.to_string());
                    }
                    h.push(n, v);
                }
                if h.get("Content-Length").is_none() {
                    h.push(
                        if compact { "l" } else { "Content-Length" },
                        body_len.to_string(),
                    );
                }
                h
            },
        )
        .boxed()
}

fn request() -> BoxedStrategy<Message> {
    (method(), uri(), vec(any::<u8>(), 0..200))
        .prop_flat_map(|(method, uri, body)| {
            headers(method.clone(), body.len()).prop_map(move |headers| {
                let uri = Uri {
                    headers: Vec::new(),
                    ..uri.clone()
                };
                Message::Request(Request {
                    method: method.clone(),
                    uri: uri.to_string(),
                    headers,
                    body: body.clone(),
                })
            })
        })
        .boxed()
}

fn response() -> BoxedStrategy<Message> {
    (
        100u16..700,
        "[ -~]{0,20}",
        method(),
        vec(any::<u8>(), 0..200),
    )
        .prop_flat_map(|(status, reason, method, body)| {
            headers(method, body.len()).prop_map(move |headers| {
                Message::Response(Response {
                    status,
                    reason: reason.clone(),
                    headers,
                    body: body.clone(),
                })
            })
        })
        .boxed()
}

fn message() -> BoxedStrategy<Message> {
    prop_oneof![request(), response()].boxed()
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|n| IpAddr::from(Ipv4Addr::from(n))),
        any::<u128>().prop_map(|n| IpAddr::from(Ipv6Addr::from(n)))
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive)
    ]
}

fn attributes() -> impl Strategy<Value = Vec<String>> {
    vec("x-[a-z0-9-]{0,8}(:[!-~]{1,10})?", 0..3)
}

fn media() -> BoxedStrategy<MediaDescription> {
    let rtp = (
        prop_oneof![Just("audio"), Just("video")],
        any::<u16>(),
        prop_oneof![Just("RTP/AVP"), Just("RTP/SAVP")],
        prop::sample::subsequence((0u8..=127).collect::<Vec<_>>(), 0..5).prop_shuffle(),
        vec(
            (
                "[A-Za-z0-9-]{1,10}",
                prop_oneof![Just(8000u32), Just(16000), Just(48000)],
                option::of("[!-~]{1,10}"),
            ),
            5,
        ),
        option::of(ip()),
        option::of(1u32..200),
        option::of(direction()),
        attributes(),
    )
        .prop_map(
            |(media, port, proto, formats, names, connection, ptime, direction, attributes)| {
                MediaDescription {
                    media: media.into(),
                    port,
                    proto: proto.into(),
                    codecs: formats
                        .iter()
                        .zip(names)
                        .map(|(pt, (name, clock_rate, fmtp))| Codec {
                            payload_type: *pt,
                            name,
                            clock_rate,
                            fmtp,
                        })
                        .collect(),
                    formats,
                    connection,
                    ptime,
                    direction,
                    other_formats: Vec::new(),
                    attributes,
                }
            },
        );
    let t38 = any::<u16>().prop_map(|port| MediaDescription {
        media: "image".into(),
        port,
        proto: "udptl".into(),
        other_formats: vec!["t38".into()],
        ..Default::default()
    });
    prop_oneof![4 => rtp, 1 => t38].boxed()
}

fn session() -> BoxedStrategy<SessionDescription> {
    (
        token(),
        any::<u64>(),
        any::<u64>(),
        ip(),
        "[!-~]([ -~]{0,10}[!-~])?",
        option::of(ip()),
        option::of(direction()),
        vec(media(), 0..3),
        attributes(),
    )
        .prop_map(
            |(
                username,
                session_id,
                version,
                addr,
                session_name,
                connection,
                direction,
                media,
                attributes,
            )| SessionDescription {
                origin: Origin {
                    username,
                    session_id,
                    version,
                    addr: addr.to_string(),
                },
                session_name,
                connection,
                direction,
                media,
                attributes,
            },
        )
        .boxed()
}

/// Damages bytes the ways a network or a hostile peer would: overwrite, insert, delete,
/// truncate.
fn mutate(mut bytes: Vec<u8>, edits: &[(u8, prop::sample::Index, u8)]) -> Vec<u8> {
    for (kind, at, byte) in edits {
        let i = at.index(bytes.len() + 1);
        match kind % 4 {
            0 if i < bytes.len() => bytes[i] = *byte,
            1 => bytes.insert(i, *byte),
            2 if i < bytes.len() => {
                bytes.remove(i);
            }
            _ => bytes.truncate(i),
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(u8, prop::sample::Index, u8)>> {
    vec(
        (
            any::<u8>(),
            any::<prop::sample::Index>(),
            prop_oneof![
                any::<u8>(),
                Just(b'\r'),
                Just(b'\n'),
                Just(b':'),
                Just(b';'),
                Just(b' '),
                Just(b'"'),
                Just(b'<')
            ],
        ),
        1..6,
    )
}

fn all_parsers(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for e in [
        parse(bytes).err(),
        parse_stream(bytes).err(),
        Uri::parse(&text).err(),
        Via::parse(&text).err(),
        NameAddr::parse(&text).err(),
        CSeq::parse(&text).err(),
        Reason::parse(&text).err(),
        SessionExpires::parse(&text).err(),
        Challenge::parse(&text).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!e.to_string().is_empty());
    }
    if let Err(e) = SessionDescription::parse(bytes) {
        assert!(!e.to_string().is_empty());
    }
}

proptest! {
    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(parse(&bytes), Ok(m.clone()));
        prop_assert_eq!(parse_stream(&bytes), Ok(Some((m, bytes.len()))));
    }

    #[test]
    fn uris_name_addrs_and_vias_round_trip(u in uri(), n in name_addr(), v in via()) {
        prop_assert_eq!(Uri::parse(&u.to_string()), Ok(u));
        prop_assert_eq!(NameAddr::parse(&n.to_string()), Ok(n));
        prop_assert_eq!(Via::parse(&v.to_string()), Ok(v));
    }

    #[test]
    fn sdp_round_trips(s in session()) {
        prop_assert_eq!(SessionDescription::parse(&s.to_bytes()), Ok(s));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        all_parsers(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\r\n\t\u{80}-\u{10ffff}]{0,300}") {
        all_parsers(text.as_bytes());
    }

    #[test]
    fn damaged_messages_never_panic(m in message(), e in edits()) {
        let bytes = mutate(m.to_bytes(), &e);
        all_parsers(&bytes);
        // What parses can be written and read again.
        if let Ok(m) = parse(&bytes) {
            prop_assert!(parse(&m.to_bytes()).is_ok(), "{:?}", String::from_utf8_lossy(&m.to_bytes()));
        }
    }

    #[test]
    fn damaged_sdp_never_panics(s in session(), e in edits()) {
        let bytes = mutate(s.to_bytes(), &e);
        if let Ok(s) = SessionDescription::parse(&bytes) {
            prop_assert!(SessionDescription::parse(&s.to_bytes()).is_ok());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn streams_cut_anywhere_give_the_same_messages(ms in vec(message(), 1..4), keepalive in vec(any::<bool>(), 4)) {
        let mut stream = Vec::new();
        for (m, ka) in ms.iter().zip(&keepalive) {
            if *ka {
                stream.extend_from_slice(b"\r\n\r\n");
            }
            stream.extend_from_slice(&m.to_bytes());
        }
        for cut in 0..=stream.len() {
            let mut got = Vec::new();
            let mut buf = stream[..cut].to_vec();
            for piece in [&stream[cut..], &[][..]] {
                while let Some((m, used)) = parse_stream(&buf).unwrap() {
                    got.push(m);
                    buf.drain(..used);
                }
                buf.extend_from_slice(piece);
            }
            prop_assert_eq!(&got, &ms, "cut at {}", cut);
        }
    }
}

#[test]
fn limits() {
    let mut m = Request::new(Method::Options, "sip:a@b");
    for (n, v) in [
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
        ("From", "<sip:a@b>;tag=1"),
        ("To", "<sip:a@b>"),
        ("Call-ID", "c"),
        ("CSeq", "1 OPTIONS"),
    ] {
        m.headers.push(n, v);
    }
    for i in 0..300 {
        m.headers.push(format!("X-{i}"), "v");
    }
    let e = parse(&Message::Request(m.clone()).to_bytes()).unwrap_err();
    assert_eq!(e.kind, sip::ErrorKind::TooManyHeaders);
    m.headers = Headers::new();
    m.body = vec![b'x'; sip::MAX_MESSAGE];
    let e = parse(&Message::Request(m.clone()).to_bytes()).unwrap_err();
    assert_eq!(e.kind, sip::ErrorKind::TooLarge);
    assert_eq!(parse(b"\r\n\r\n").unwrap_err().kind, sip::ErrorKind::Empty);
    assert_eq!(parse_stream(b"\r\n\r\n"), Ok(None));
    // A stream that never ends its headers is cut off at the limit, not buffered forever.
    let e = parse_stream(&vec![b'a'; sip::MAX_MESSAGE + 1]).unwrap_err();
    assert_eq!(e.kind, sip::ErrorKind::TooLarge);
}
