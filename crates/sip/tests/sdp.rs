//! Offer/answer tables: what our offer looks like, what each kind of answer the trunks send
//! settles (PCMA only, no common codec, hold by sendonly or 0.0.0.0, another
//! telephone-event number, ptime 30), and our answers to the far end's re-offers.

use std::net::{IpAddr, SocketAddr};

use sip::{Direction, Offer, SdpError, SessionDescription, answer, negotiate};

fn offer() -> Offer {
    Offer {
        addr: "192.0.2.10".parse().unwrap(),
        port: 40000,
        session_id: 1234,
        version: 1,
        codecs: vec![0, 8],
        dtmf_pt: 101,
        ptime: 20,
        direction: Direction::SendRecv,
    }
}

fn sdp(text: &str) -> SessionDescription {
    SessionDescription::parse(text.replace('\n', "\r\n").as_bytes()).unwrap()
}

fn reply(media: &str, attrs: &str) -> SessionDescription {
    sdp(&format!(
        "v=0\no=- 99 2 IN IP4 203.0.113.5\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\n{media}\n{attrs}"
    ))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn our_offer() {
    let bytes = offer().to_sdp().to_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(
        text,
        "v=0\r\no=- 1234 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    assert_eq!(SessionDescription::parse(&bytes).unwrap(), offer().to_sdp());
}

#[test]
fn answers_to_our_offer() {
    struct Case {
        name: &'static str,
        media: &'static str,
        attrs: &'static str,
        want: Result<(SocketAddr, u8, Option<u8>, u32, Direction), SdpError>,
    }
    let cases = [
        Case {
            name: "PCMU and our telephone-event",
            media: "m=audio 30000 RTP/AVP 0 101",
            attrs: "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16",
            want: Ok((
                addr("203.0.113.5:30000"),
                0,
                Some(101),
                20,
                Direction::SendRecv,
            )),
        },
        Case {
            name: "PCMA only",
            media: "m=audio 30000 RTP/AVP 8",
            attrs: "a=rtpmap:8 PCMA/8000",
            want: Ok((addr("203.0.113.5:30000"), 8, None, 20, Direction::SendRecv)),
        },
        Case {
            name: "their order wins: PCMA first",
            media: "m=audio 30000 RTP/AVP 8 0",
            attrs: "",
            want: Ok((addr("203.0.113.5:30000"), 8, None, 20, Direction::SendRecv)),
        },
        Case {
            name: "no common codec",
            media: "m=audio 30000 RTP/AVP 18",
            attrs: "a=rtpmap:18 G729/8000",
            want: Err(SdpError::NoCommonCodec),
        },
        Case {
            name: "hold: they only send",
            media: "m=audio 30000 RTP/AVP 0",
            attrs: "a=sendonly",
            want: Ok((addr("203.0.113.5:30000"), 0, None, 20, Direction::RecvOnly)),
        },
        Case {
            name: "their telephone-event on another number, ptime 30",
            media: "m=audio 30000 RTP/AVP 0 96",
            attrs: "a=rtpmap:96 telephone-event/8000\na=fmtp:96 0-15\na=ptime:30",
            want: Ok((
                addr("203.0.113.5:30000"),
                0,
                Some(96),
                30,
                Direction::SendRecv,
            )),
        },
        Case {
            name: "rejected stream",
            media: "m=audio 0 RTP/AVP 0",
            attrs: "",
            want: Ok((addr("203.0.113.5:0"), 0, None, 20, Direction::Inactive)),
        },
        Case {
            name: "no audio",
            media: "m=video 30000 RTP/AVP 31",
            attrs: "",
            want: Err(SdpError::NoAudio),
        },
    ];
    for c in cases {
        let got = negotiate(&offer(), &reply(c.media, c.attrs))
            .map(|n| (n.remote, n.payload_type, n.dtmf_pt, n.ptime, n.direction));
        assert_eq!(got, c.want, "{}", c.name);
    }
    // Hold the RFC 2543 way: c=0.0.0.0, and a media-level c= over the session's.
    let held = sdp(
        "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\nm=audio 30000 RTP/AVP 0\nc=IN IP4 0.0.0.0\n",
    );
    let n = negotiate(&offer(), &held).unwrap();
    assert!(n.remote.ip().is_unspecified());
    assert_eq!(n.direction, Direction::RecvOnly);
    // Session-level direction counts when the media has none.
    let inactive = sdp(
        "v=0\no=- 1 1 IN IP4 x\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\na=inactive\nm=audio 30000 RTP/AVP 8\n",
    );
    assert_eq!(
        negotiate(&offer(), &inactive).unwrap().direction,
        Direction::Inactive
    );
}

#[test]
fn answering_their_offers() {
    let local = Offer {
        codecs: vec![8, 0],
        version: 2,
        ..offer()
    };
    // Hold: they offer sendonly; we answer recvonly on the codecs we share, ours first.
    let their = reply(
        "m=audio 31000 RTP/AVP 0 8 18 97",
        "a=rtpmap:97 telephone-event/8000\na=fmtp:97 0-16\na=sendonly\na=ptime:20",
    );
    let (ans, n) = answer(&their, &local).unwrap();
    assert_eq!(n.remote, addr("203.0.113.5:31000"));
    assert_eq!(
        (n.payload_type, n.dtmf_pt, n.direction),
        (8, Some(97), Direction::RecvOnly)
    );
    let m = &ans.media[0];
    assert_eq!(m.formats, [8, 0, 97]);
    assert_eq!(m.direction, Some(Direction::RecvOnly));
    assert_eq!(m.port, 40000);
    assert_eq!(ans.origin.version, 2);
    assert_eq!(
        ans.connection,
        Some("192.0.2.10".parse::<IpAddr>().unwrap())
    );
    // The answer reads back as what we meant.
    assert_eq!(SessionDescription::parse(&ans.to_bytes()).unwrap(), ans);

    // Unhold to a new address; a video stream is refused with port 0.
    let their = sdp(
        "v=0\no=- 99 3 IN IP4 x\ns=-\nt=0 0\nm=audio 32000 RTP/AVP 0\nc=IN IP4 198.51.100.7\na=sendrecv\nm=video 5000 RTP/AVP 31\nc=IN IP4 198.51.100.7\n",
    );
    let (ans, n) = answer(&their, &local).unwrap();
    assert_eq!(
        (n.remote, n.payload_type, n.dtmf_pt, n.direction),
        (addr("198.51.100.7:32000"), 0, None, Direction::SendRecv)
    );
    assert_eq!(ans.media.len(), 2);
    assert_eq!(
        (ans.media[1].media.as_str(), ans.media[1].port),
        ("video", 0)
    );

    // inactive -> inactive; and nothing in common -> 488 for the caller.
    let their = reply("m=audio 31000 RTP/AVP 0", "a=inactive");
    assert_eq!(
        answer(&their, &local).unwrap().1.direction,
        Direction::Inactive
    );
    let their = reply("m=audio 31000 RTP/AVP 9", "");
    assert_eq!(answer(&their, &local), Err(SdpError::NoCommonCodec));
    // An offer without a connection address cannot be answered.
    let their = sdp("v=0\no=- 1 1 IN IP4 x\ns=-\nt=0 0\nm=audio 31000 RTP/AVP 0\n");
    assert_eq!(answer(&their, &local), Err(SdpError::NoConnection));
}

#[test]
fn sdp_errors() {
    for (body, what) in [
        ("", "empty"),
        ("o=- 1 1 IN IP4 x\ns=-\n", "no v= first"),
        ("v=0\ns=-\n", "no o="),
        ("v=0\no=- 1 1 IN IP4 x\n", "no s="),
        ("v=0\no=- x 1 IN IP4 x\ns=-\n", "bad session id"),
        (
            "v=0\no=- 1 1 IN IP4 x\ns=-\nc=IN IP4 example.com\n",
            "c= not an address",
        ),
        (
            "v=0\no=- 1 1 IN IP4 x\ns=-\nm=audio 99999 RTP/AVP 0\n",
            "port past 65535",
        ),
        (
            "v=0\no=- 1 1 IN IP4 x\ns=-\nm=audio 1 RTP/AVP 200\n",
            "payload type past 127",
        ),
        (
            "v=0\no=- 1 1 IN IP4 x\ns=-\nm=audio 1 RTP/AVP 0\na=rtpmap:x PCMU/8000\n",
            "bad rtpmap",
        ),
        (
            "v=0\no=- 1 1 IN IP4 x\ns=-\nm=audio 1 RTP/AVP 0\na=ptime:abc\n",
            "bad ptime",
        ),
        ("v=0\no=- 1 1 IN IP4 x\ns=-\nX=1\n", "upper-case type"),
    ] {
        assert!(
            SessionDescription::parse(body.as_bytes()).is_err(),
            "{what}"
        );
    }
    assert!(SessionDescription::parse(b"v=0\n\xff").is_err());
}
