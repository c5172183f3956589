//! RFC 4475's torture messages where they apply to a user agent: the valid ones parse (and
//! read as the RFC says they should), the invalid ones give a typed error and never panic.
//! Messages are written here with LF line ends and sent with CRLF, as in the RFC.

use sip::{ErrorKind, Message, Method, NameAddr, SessionDescription, Uri, parse};

fn wire(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn ok(text: &str) -> Message {
    match parse(&wire(text)) {
        Ok(m) => m,
        Err(e) => panic!("should parse: {e}\n{text}"),
    }
}

fn bad(text: &str) -> sip::ParseError {
    match parse(&wire(text)) {
        Ok(m) => panic!("should be refused: {m:?}"),
        Err(e) => e,
    }
}

const SDP_150: &str = "v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
";

/// 3.1.1.1: a short tortuous INVITE (folding, escapes in quotes, LWS everywhere, compact
/// and long names mixed, unknown headers, leading zeros).
#[test]
fn wsinv() {
    let text = format!(
        "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;rport;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

{SDP_150}"
    );
    let Message::Request(r) = ok(&text) else {
        panic!("a request")
    };
    assert_eq!(r.method, Method::Invite);
    let h = &r.headers;
    assert_eq!(h.to().unwrap().tag(), Some("1918181833n"));
    let from = h.from().unwrap();
    assert_eq!(from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(h.max_forwards().unwrap(), Some(68));
    assert_eq!(h.cseq().unwrap().seq, 9);
    assert_eq!(h.get("Subject"), Some(""));
    assert_eq!(
        h.get("newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(h.get("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    let vias = h.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[1].transport.as_str(), vias[1].host.as_str()),
        ("TCP", "spindle.example.com")
    );
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let contact = h.contact().unwrap().unwrap();
    assert_eq!(contact.display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(contact.param("newparam"), Some(Some("newvalue")));
    assert_eq!(contact.param("secondparam"), Some(None));
    assert_eq!(contact.param("q"), Some(Some("0.33")));
    assert!(h.route().unwrap()[0].uri.lr());
    assert_eq!(r.body.len(), 150);
    let sdp = SessionDescription::parse(&r.body).unwrap();
    assert_eq!(sdp.media.len(), 2);
}

/// 3.1.1.2: unusual but legal characters in method, URI, branch, display names, Call-ID.
#[test]
fn intmeth() {
    let text = "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u{440}\u{430}\u{431}\u{43e}\u{442}\u{430}\u{44e}\u{449}\u{438}\u{439}\";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\u{feff}\u{5927}\u{505c}\u{96fb}
Content-Length: 0

";
    let Message::Request(r) = ok(text) else {
        panic!("a request")
    };
    assert_eq!(
        r.method,
        Method::Other("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    let uri = Uri::parse(&r.uri).unwrap();
    assert_eq!(
        uri.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        uri.password.as_deref(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(uri.host, "example.com");
    assert_eq!(
        r.headers.to().unwrap().display.as_deref(),
        Some("BEL:\x07 NUL:\x00 DEL:\x7F")
    );
    let from = r.headers.from().unwrap();
    assert_eq!(
        from.display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        r.headers.call_id(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
}

/// 3.1.1.3: the % escaping mechanism, in URIs and a folded Contact.
#[test]
fn esc01() {
    let text = format!(
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

{SDP_150}"
    );
    let m = ok(&text);
    let h = m.headers();
    assert_eq!(h.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(h.get("Content-Type"), Some("application/sdp"));
    let c = h.contact().unwrap().unwrap();
    assert_eq!(c.uri.user.as_deref(), Some("cal%6Cer"));
    assert_eq!(c.uri.param("n%61me"), Some(Some("v%61lue%25%34%31")));
}

/// 3.1.1.4 and 3.1.1.5: escaped nulls in URIs; % that is not an escape in a method name
/// and a header name.
#[test]
fn escnull_and_esc02() {
    ok("REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

");
    let m = ok("RE%47IST%45R sip:registrar.example.com SIP/2.0
To: \"%Z%45\" <sip:resource@example.com>
From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

");
    let Message::Request(r) = m else {
        panic!("a request")
    };
    assert_eq!(r.method, Method::Other("RE%47IST%45R".into()));
    assert_eq!(r.headers.get_all("Contact").count(), 2);
}

/// 3.1.1.6 (lwsdisp), 3.1.1.9 (semiuri), 3.1.1.10 (transports), 3.1.1.13 (no reason
/// phrase), 3.1.1.12 (unusual reason phrase), 3.1.1.7 long values.
#[test]
fn other_valid_messages() {
    ok("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

");
    let m = ok("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

");
    let Message::Request(r) = m else {
        panic!("a request")
    };
    let uri = Uri::parse(&r.uri).unwrap();
    assert_eq!(uri.user.as_deref(), Some("user;par=u%40example.net"));
    assert_eq!(r.headers.get_all("Accept").count(), 6);

    let m = ok("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

");
    let transports: Vec<String> = m
        .headers()
        .vias()
        .unwrap()
        .into_iter()
        .map(|v| v.transport)
        .collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);

    let m = ok("SIP/2.0 100 
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

");
    let Message::Response(r) = m else {
        panic!("a response")
    };
    assert_eq!((r.status, r.reason.as_str()), (100, ""));

    let m = ok(
        "SIP/2.0 200 = 2**3 * 5**2 \u{43d}\u{43e} \u{441}\u{442}\u{43e}
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 0
Contact: <sip:user@host198.example.com>

",
    );
    let Message::Response(r) = m else {
        panic!("a response")
    };
    assert!(r.reason.starts_with("= 2**3 * 5**2"));

    let long_param = "longvalue".repeat(60);
    let long_tag = "9".repeat(300);
    let vias: String = (0..40)
        .map(|i| format!("Via: SIP/2.0/TCP sip{i}.example.com;branch=z9hG4bK{i}\n"))
        .collect();
    ok(&format!(
        "INVITE sip:user@example.com SIP/2.0
To: \"I have a user name of {} proportion\"<sip:user@example.com:6000;unknownparam1={long_param}>
F: sip:amazinglylongcallername@example.net;tag={long_tag}
Call-ID: longreq.onereallyreallyreallyreallyreallyreallyreallyreallyreallyreallylongcallid
CSeq: 3882340 INVITE
{vias}Max-Forwards: 70
Content-Length: 0

",
        "extreme".repeat(30)
    ));
}

/// 3.1.1.11 (unkscm, novelsc): a Request-URI of an unknown scheme is well-formed (the UAS
/// answers 416); 3.1.1.8 (inv2543): an RFC 2543 request without branch or Max-Forwards.
#[test]
fn unknown_schemes_and_rfc2543() {
    let m = ok("OPTIONS nobodyknows:40817 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

");
    let Message::Request(r) = m else {
        panic!("a request")
    };
    assert!(Uri::parse(&r.uri).is_err());
    ok("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

");
    let m = ok("INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0
");
    assert_eq!(m.headers().vias().unwrap()[0].branch(), None);
    // Without <>, `;user=phone` is a header parameter of To, not a URI parameter.
    let to = m.headers().to().unwrap();
    assert_eq!(to.param("user"), Some(Some("phone")));
    assert!(to.uri.params.is_empty());
    assert_eq!(
        m.headers().record_route().unwrap()[0].uri.param("maddr"),
        Some(Some("ss1.example.com"))
    );
}

#[test]
fn badinv01_extraneous_separators() {
    let e = bad("INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: \"Joe\" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
");
    assert_eq!((e.field.as_str(), e.line), ("Via", Some(7)));
    assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_err());
}

#[test]
fn clerr_and_ncl_content_length() {
    let head = "INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
";
    let e = bad(&format!("{head}Content-Length: 9999\n\n{SDP_150}"));
    assert_eq!(e.field, "Content-Length");
    let e = bad(&format!("{head}Content-Length: -999\n\n{SDP_150}"));
    assert_eq!(e.field, "Content-Length");
    // Over TCP a too-large Content-Length only means "wait for more".
    assert_eq!(
        sip::parse_stream(&wire(&format!("{head}Content-Length: 9999\n\n{SDP_150}"))),
        Ok(None)
    );
    let e =
        sip::parse_stream(&wire(&format!("{head}Content-Length: 99999999999\n\n"))).unwrap_err();
    assert_eq!(e.field, "Content-Length");
}

#[test]
fn scalar02_and_scalarlg_overlarge_values() {
    let e = bad("REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

");
    assert_eq!(
        (e.kind, e.field.as_str(), e.line),
        (ErrorKind::OutOfRange, "CSeq", Some(5))
    );
    let e = bad("SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture \"In Progress\"
Content-Length: 0

");
    assert_eq!(e.field, "CSeq");
    let e = bad("SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

");
    assert_eq!((e.kind, e.line), (ErrorKind::OutOfRange, Some(1)));
}

const OPTIONS_TAIL: &str = "Via: SIP/2.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: <sip:a.g.bell@example.com>;tag=43
To: <sip:t.watson@example.org>
Call-ID: torture.31415@c.example.com
CSeq: 3923239 OPTIONS
l: 0

";

#[test]
fn malformed_request_lines() {
    for start in [
        "OPTIONS <sip:user@example.com> SIP/2.0",   // ltgtruri
        "OPTIONS sip:user@example.com; lr SIP/2.0", // lwsruri
        "OPTIONS  sip:user@example.com  SIP/2.0",   // lwsstart
        "OPTIONS sip:remote-target@example.com SIP/2.0  ", // trws
        "OPTIONS sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0", // escruri
    ] {
        let e = bad(&format!("{start}\n{OPTIONS_TAIL}"));
        assert_eq!(e.line, Some(1), "{start}: {e}");
    }
    let e = bad(&format!(
        "OPTIONS sip:t.watson@example.org SIP/7.0\n{OPTIONS_TAIL}"
    ));
    assert_eq!(e.kind, ErrorKind::Version);
}

#[test]
fn malformed_name_addrs() {
    let cases = [
        // quotbal: unterminated quote in the display name.
        (
            "To: <sip:t.watson@example.org>",
            "To: \"Mr. J. User <sip:j.user@example.com>",
        ),
        // baddn: a display name with non-token characters must be quoted.
        (
            "From: <sip:a.g.bell@example.com>;tag=43",
            "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
        ),
        // badaspec: spaces inside <>.
        (
            "To: <sip:t.watson@example.org>",
            "To: \"Watson, Thomas\" < sip:t.watson@example.org >",
        ),
        // regbadct: a URI with headers outside <>.
        (
            "l: 0",
            "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\nl: 0",
        ),
    ];
    for (from, to) in cases {
        let text = format!(
            "OPTIONS sip:user@example.com SIP/2.0\n{}",
            OPTIONS_TAIL.replacen(from, to, 1)
        );
        let e = bad(&text);
        assert_eq!(e.kind, ErrorKind::Malformed, "{to}: {e}");
    }
}

#[test]
fn mismatched_cseq_methods_and_missing_headers() {
    // mismatch01 / mismatch02
    let e = bad(&format!(
        "INVITE sip:user@example.com SIP/2.0\n{OPTIONS_TAIL}"
    ));
    assert_eq!(e.field, "CSeq");
    let e = bad(&format!(
        "NEWMETHOD sip:user@example.com SIP/2.0\n{OPTIONS_TAIL}"
    ));
    assert_eq!(e.field, "CSeq");
    // insuf: no Call-ID, From or To.
    let e = bad("INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 0

");
    assert_eq!(e.kind, ErrorKind::Missing);
    // mcl01: two different Content-Lengths.
    let e = bad(&format!(
        "OPTIONS sip:user@example.com SIP/2.0\n{}",
        OPTIONS_TAIL.replace("l: 0\n", "Content-Length: 13\nl: 5\n")
    ));
    assert_eq!(e.field, "Content-Length");
    // multi01: headers that appear once, twice.
    let e = bad(&format!(
        "OPTIONS sip:user@example.com SIP/2.0\n{}",
        OPTIONS_TAIL.replace("l: 0\n", "To: sip:other@example.net\nl: 0\n")
    ));
    assert_eq!(e.field, "To");
}

/// 3.1.2.? (env): an SDP line with a space before '=' is not SDP.
#[test]
fn sdp_torture() {
    let e =
        SessionDescription::parse(SDP_150.replace("m=video", "m =video").as_bytes()).unwrap_err();
    assert!(matches!(e, sip::SdpError::Syntax { line: 7, .. }), "{e}");
}

/// What the errors say: the kind, the field and the line, for a person reading a log.
#[test]
fn error_messages_name_field_and_line() {
    let e = bad(&format!(
        "OPTIONS sip:user@example.com SIP/2.0\n{}",
        OPTIONS_TAIL.replace(
            "Via: SIP/2.0/UDP c.example.com;",
            "Via: ,\nX: SIP/2.0/UDP c.example.com;"
        )
    ));
    assert_eq!(e.to_string(), "missing Via: header absent");
    let e = bad(&format!(
        "OPTIONS sip:user@example.com SIP/2.0\n{}",
        OPTIONS_TAIL.replace("c.example.com;", "c.example.com:70000;")
    ));
    assert_eq!(
        e.to_string(),
        "out of range Via at line 2: sent-by: bad port \"70000\""
    );
    let e = bad(&format!(
        "OPTIONS sip:user@example.com SIP/2.0\n{}",
        OPTIONS_TAIL.replace("CSeq: 3923239 OPTIONS", "CSeq: 1 OPTIONS\n bad")
    ));
    assert_eq!(
        e.to_string(),
        "malformed CSeq at line 7: method: \"OPTIONS bad\" is not a token"
    );
}
