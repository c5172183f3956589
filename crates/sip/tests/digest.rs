//! Digest answers checked against the RFCs' worked examples (RFC 2617 3.5, RFC 7616 3.9.1)
//! and against values computed independently (Python's hashlib) for the forms the RFCs do
//! not show: RFC 2069 (no qop), MD5-sess, and a SIP INVITE as Asterisk challenges it.

use sip::{Challenge, Credentials, DigestError, Method, authorize};

fn mufasa(password: &str) -> Credentials {
    Credentials {
        username: "Mufasa".into(),
        password: password.into(),
    }
}

fn field<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .strip_prefix("Digest ")?
        .split(", ")
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .map(|v| v.trim_matches('"'))
}

const RFC2617: &str = r#"Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

#[test]
fn rfc2617_worked_example() {
    let ch = Challenge::parse(&RFC2617.replace('\n', " ")).unwrap();
    assert_eq!(ch.realm, "testrealm@host.com");
    assert_eq!(ch.qop, ["auth", "auth-int"]);
    assert_eq!(
        ch.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    assert!(!ch.stale);
    let get = Method::Other("GET".into());
    let h = authorize(
        &mufasa("Circle Of Life"),
        &get,
        "/dir/index.html",
        &ch,
        "0a4f113b",
        1,
    )
    .unwrap();
    assert_eq!(
        field(&h, "response"),
        Some("6629fae49393a05397450978507c4ef1")
    );
    assert_eq!(field(&h, "nc"), Some("00000001"));
    assert_eq!(field(&h, "qop"), Some("auth"));
    assert_eq!(field(&h, "cnonce"), Some("0a4f113b"));
    assert_eq!(
        field(&h, "opaque"),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    assert_eq!(field(&h, "uri"), Some("/dir/index.html"));
    assert_eq!(field(&h, "username"), Some("Mufasa"));
}

#[test]
fn rfc7616_worked_examples_md5_and_sha256() {
    for (algorithm, expected) in [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ] {
        let ch = Challenge::parse(&format!(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
        ))
        .unwrap();
        let h = authorize(
            &mufasa("Circle of Life"),
            &Method::Other("GET".into()),
            "/dir/index.html",
            &ch,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        )
        .unwrap();
        assert_eq!(field(&h, "response"), Some(expected), "{algorithm}");
        assert_eq!(field(&h, "algorithm"), Some(algorithm));
    }
}

#[test]
fn rfc2069_and_md5_sess() {
    let get = Method::Other("GET".into());
    let mut ch = Challenge::parse(&RFC2617.replace('\n', " ")).unwrap();
    ch.qop.clear();
    let h = authorize(
        &mufasa("Circle Of Life"),
        &get,
        "/dir/index.html",
        &ch,
        "0a4f113b",
        1,
    )
    .unwrap();
    assert_eq!(
        field(&h, "response"),
        Some("670fd8c2df070c60b045671b8b24ff02")
    );
    assert_eq!(field(&h, "qop"), None);
    assert_eq!(field(&h, "nc"), None);
    ch.qop = vec!["auth".into()];
    ch.algorithm = Some("MD5-sess".into());
    let h = authorize(
        &mufasa("Circle Of Life"),
        &get,
        "/dir/index.html",
        &ch,
        "0a4f113b",
        2,
    )
    .unwrap();
    assert_eq!(
        field(&h, "response"),
        Some("d16df0df0d92cef8935129145e21b5e1")
    );
    assert_eq!(field(&h, "nc"), Some("00000002"));
}

#[test]
fn a_trunk_407() {
    // Asterisk's challenge: no qop, algorithm=MD5, realm "asterisk".
    let ch =
        Challenge::parse(r#"Digest  algorithm=MD5, realm="asterisk", nonce="5f3c1a2b""#).unwrap();
    let creds = Credentials {
        username: "6001".into(),
        password: "s3cret".into(),
    };
    let h = authorize(
        &creds,
        &Method::Invite,
        "sip:+14045550134@trunk.example.net",
        &ch,
        "unused",
        1,
    )
    .unwrap();
    assert_eq!(
        field(&h, "response"),
        Some("863096fab8e68bdd54ecdb2ecbef369a")
    );
    assert!(!format!("{creds:?}").contains("s3cret"));
}

#[test]
fn challenges_that_cannot_be_answered() {
    let ch = |s: &str| Challenge::parse(s).unwrap();
    let creds = mufasa("x");
    let e = authorize(
        &creds,
        &Method::Invite,
        "sip:a@b",
        &ch(r#"Digest realm="r", nonce="n", algorithm=AKAv1-MD5"#),
        "c",
        1,
    );
    assert!(matches!(e, Err(DigestError::UnsupportedAlgorithm(_))));
    let e = authorize(
        &creds,
        &Method::Invite,
        "sip:a@b",
        &ch(r#"Digest realm="r", nonce="n", qop="auth-int""#),
        "c",
        1,
    );
    assert!(matches!(e, Err(DigestError::UnsupportedQop(_))));
    let e = authorize(
        &creds,
        &Method::Invite,
        "sip:a@b",
        &ch(r#"Digest realm="r", nonce="n""#),
        "c",
        0,
    );
    assert_eq!(e, Err(DigestError::ZeroNonceCount));
    assert!(ch(r#"Digest realm="r", nonce="n", stale=TRUE"#).stale);
    for bad in [
        "Basic realm=\"r\"",
        "Digest nonce=\"n\"",
        "Digest realm=\"r\"",
        "Digest realm=\"r, nonce=n",
        "Digest realm",
        "Digest =x",
        "",
    ] {
        assert!(Challenge::parse(bad).is_err(), "{bad}");
    }
}
