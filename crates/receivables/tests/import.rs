//! The JSON Lines import: every refusal names the line and the field, a bad file is refused
//! as a whole (the book is left as it was), and ids are idempotent.

use receivables::{Book, Event, EventError, Inserted, jsonl};

const CHARGE: &str = r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#;
const PAYMENT: &str =
    r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-01","amount_minor":40}"#;

/// The error message of a file made of `CHARGE`, `PAYMENT` and then `line`.
fn third_line(line: &str) -> String {
    let text = format!("{CHARGE}\n{PAYMENT}\n{line}\n");
    jsonl::load(&text).expect_err("refused").to_string()
}

#[test]
fn messages_name_the_line_and_field() {
    let cases = [
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01","amount_minor":0}"#,
            "line 3: amount_minor must be positive",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01","amount_minor":-5}"#,
            "line 3: amount_minor must be positive",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01","amount_minor":1.5}"#,
            "line 3: amount_minor must be an integer number of minor units",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01","amount_minor":"10"}"#,
            "line 3: amount_minor must be an integer number of minor units",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01"}"#,
            "line 3: amount_minor is missing",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-30","amount_minor":5}"#,
            "line 3: date is not a valid ISO date (YYYY-MM-DD)",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01T10:00","amount_minor":5}"#,
            "line 3: date is not a valid ISO date (YYYY-MM-DD)",
        ),
        (
            r#"{"type":"charge","id":"c2","account":"a","date":"2024-02-01","amount_minor":5,"due":"2024-01-31","category":"fee"}"#,
            "line 3: due is before date",
        ),
        (
            r#"{"type":"charge","id":"c2","account":"a","date":"2024-02-01","amount_minor":5,"due":"2024-02-01","category":"penalty"}"#,
            "line 3: category must be one of principal, interest, fee",
        ),
        (
            r#"{"type":"charge","id":"c2","account":"a","date":"2024-02-01","amount_minor":5,"due":"2024-02-01","category":"fee","currency":"usd"}"#,
            "line 3: currency must be an ISO 4217 code like USD",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01","amount_minor":5,"applies_to":"nope"}"#,
            "line 3: applies_to: nope is not an earlier event of account a",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"b","date":"2024-02-01","amount_minor":5,"applies_to":"c1"}"#,
            "line 3: applies_to: c1 is not an earlier event of account b",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01","amount_minor":5,"applies_to":"p1"}"#,
            "line 3: applies_to: p1 is a payment, not a charge",
        ),
        (
            r#"{"type":"reversal","id":"x1","account":"a","date":"2024-02-01","reverses":"c1"}"#,
            "line 3: reverses: c1 is a charge, not a payment",
        ),
        (
            r#"{"type":"reversal","id":"x1","account":"a","date":"2024-01-31","reverses":"p1"}"#,
            "line 3: reverses: p1 is dated after this event",
        ),
        (
            r#"{"type":"dispute_resolved","id":"r1","account":"a","date":"2024-02-01","dispute":"p1","resolution":"verified"}"#,
            "line 3: dispute: p1 is a payment, not a dispute",
        ),
        (
            r#"{"type":"plan","id":"pl","account":"a","date":"2024-02-01","installments":[{"due":"2024-03-01","amount_minor":5},{"due":"2024-03-01","amount_minor":5}]}"#,
            "line 3: installments must be in increasing due order",
        ),
        (
            r#"{"type":"plan","id":"pl","account":"a","date":"2024-02-01","installments":[{"due":"2024-03-01","amount_minor":0}]}"#,
            "line 3: installments[0].amount_minor must be positive",
        ),
        (
            r#"{"type":"plan","id":"pl","account":"a","date":"2024-02-01","installments":[]}"#,
            "line 3: installments must be a non-empty list",
        ),
        (
            r#"{"type":"promise","id":"pr","account":"a","date":"2024-02-01","amount_minor":5,"due":"2024-03-01","grace_days":-1}"#,
            "line 3: grace_days must be an integer from 0 to 3650",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01","amount_minor":5,"reason":"x"}"#,
            "line 3: reason is not a field of a payment event",
        ),
        (
            r#"{"type":"loan","id":"p2","account":"a","date":"2024-02-01"}"#,
            "line 3: type must be one of charge, payment, reversal, credit, refund, write_off, promise, plan, settlement, dispute, dispute_resolved",
        ),
        (
            r#"{"type":"payment","id":"","account":"a","date":"2024-02-01","amount_minor":5}"#,
            "line 3: id must be a non-empty string",
        ),
        (
            r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-01","amount_minor":41}"#,
            "line 3: id: p1 was imported before with different content",
        ),
        (
            r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-01","amount_minor":5000000000000000000}"#,
            "line 3: amount_minor must be at most 10^15 minor units",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(third_line(line), expected, "{line}");
    }
}

#[test]
fn an_account_keeps_its_currency() {
    let usd = CHARGE.replace("\"principal\"", "\"principal\",\"currency\":\"USD\"");
    let eur = r#"{"type":"charge","id":"c2","account":"a","date":"2024-02-01","amount_minor":5,"due":"2024-02-01","category":"fee","currency":"EUR"}"#;
    assert_eq!(
        jsonl::load(&format!("{usd}\n{PAYMENT}\n{eur}\n"))
            .unwrap_err()
            .to_string(),
        "line 3: currency: EUR differs from the account's USD"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let err = jsonl::load(&format!("{CHARGE}\n\n{{not json\n")).unwrap_err();
    assert_eq!(err.line, 3);
    assert!(matches!(err.error, EventError::NotJson(_)));
}

#[test]
fn a_payment_is_reversed_once_and_a_dispute_resolved_once() {
    let x = r#"{"type":"reversal","id":"x1","account":"a","date":"2024-02-02","reverses":"p1"}"#;
    let x2 = r#"{"type":"reversal","id":"x2","account":"a","date":"2024-02-03","reverses":"p1"}"#;
    let err = jsonl::load(&[CHARGE, PAYMENT, x, x2].join("\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 4: reverses: payment p1 is already reversed"
    );
    let dsp = r#"{"type":"dispute","id":"d1","account":"a","date":"2024-02-02"}"#;
    let r1 = r#"{"type":"dispute_resolved","id":"r1","account":"a","date":"2024-02-03","dispute":"d1","resolution":"withdrawn"}"#;
    let r2 = r#"{"type":"dispute_resolved","id":"r2","account":"a","date":"2024-02-04","dispute":"d1","resolution":"verified"}"#;
    let err = jsonl::load(&[CHARGE, dsp, r1, r2].join("\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 4: dispute: dispute d1 is already resolved"
    );
}

#[test]
fn same_id_same_content_is_a_no_op() {
    // Key order and spacing do not matter: the content does.
    let again = r#"{ "amount_minor": 40, "date": "2024-02-01", "account": "a", "id": "p1", "type": "payment" }"#;
    let mut book = Book::new();
    let summary = jsonl::import(&mut book, &[CHARGE, PAYMENT, again].join("\n")).unwrap();
    assert_eq!((summary.new, summary.duplicates), (2, 1));
    let summary = jsonl::import(&mut book, PAYMENT).unwrap();
    assert_eq!((summary.new, summary.duplicates), (0, 1));
    assert_eq!(book.len(), 2);
    let p1: Event = serde_json::from_str(PAYMENT).unwrap();
    assert_eq!(book.insert(p1), Ok(Inserted::Duplicate));
}

#[test]
fn a_bad_file_leaves_the_book_as_it_was() {
    let mut book = Book::new();
    jsonl::import(&mut book, CHARGE).unwrap();
    let before = book
        .account("a")
        .unwrap()
        .state_as_of("2024-12-31".parse().unwrap());
    let good_new_account = r#"{"type":"charge","id":"z1","account":"z","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal","currency":"USD"}"#;
    let good_reversal =
        r#"{"type":"reversal","id":"x1","account":"a","date":"2024-02-02","reverses":"p1"}"#;
    let curr = r#"{"type":"charge","id":"c9","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal","currency":"GBP"}"#;
    let bad = r#"{"type":"payment","id":"p9","account":"a","date":"2024-02-01","amount_minor":0}"#;
    let conflicting =
        r#"{"type":"payment","id":"c1","account":"a","date":"2024-02-01","amount_minor":1}"#;
    let err = jsonl::import(
        &mut book,
        &[PAYMENT, good_new_account, good_reversal, curr, conflicting].join("\n"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 5: id: c1 was imported before with different content"
    );
    assert_eq!(book.len(), 1);
    assert!(book.account("z").is_none());
    assert_eq!(book.account("a").unwrap().currency(), None);
    let after = book
        .account("a")
        .unwrap()
        .state_as_of("2024-12-31".parse().unwrap());
    assert_eq!(before, after);
    // The same lines without the bad one go in, reversal and all (it was undone cleanly).
    jsonl::import(
        &mut book,
        &[PAYMENT, good_new_account, good_reversal].join("\n"),
    )
    .unwrap();
    assert_eq!(book.len(), 4);
    let err = jsonl::import(&mut book, bad).unwrap_err();
    assert_eq!(err.to_string(), "line 1: amount_minor must be positive");
}

#[test]
fn events_round_trip_through_serde() {
    let lines = [
        CHARGE,
        PAYMENT,
        r#"{"type":"reversal","id":"x1","account":"a","date":"2024-02-02","reverses":"p1","reason":"NSF"}"#,
        r#"{"type":"credit","id":"k1","account":"a","date":"2024-02-02","amount_minor":5,"applies_to":"c1","reason":"memo"}"#,
        r#"{"type":"refund","id":"r1","account":"a","date":"2024-02-02","amount_minor":5}"#,
        r#"{"type":"write_off","id":"w1","account":"a","date":"2024-02-02"}"#,
        r#"{"type":"promise","id":"pr","account":"a","date":"2024-02-02","amount_minor":5,"due":"2024-02-09","grace_days":3}"#,
        r#"{"type":"plan","id":"pl","account":"a","date":"2024-02-02","installments":[{"due":"2024-03-01","amount_minor":5}],"grace_days":1}"#,
        r#"{"type":"settlement","id":"s1","account":"a","date":"2024-02-02","amount_minor":5,"due":"2024-02-09"}"#,
        r#"{"type":"dispute","id":"d1","account":"a","date":"2024-02-02","reason":"not mine"}"#,
        r#"{"type":"dispute_resolved","id":"d1r","account":"a","date":"2024-02-03","dispute":"d1","resolution":"withdrawn"}"#,
    ];
    let events = jsonl::parse(&lines.join("\n")).unwrap();
    for ((_, event), line) in events.iter().zip(lines) {
        let back: Event = serde_json::from_str(&event.to_string()).unwrap();
        assert_eq!(&back, event);
        let a: serde_json::Value = serde_json::from_str(line).unwrap();
        let b: serde_json::Value = serde_json::to_value(event).unwrap();
        assert_eq!(a, b);
    }
    jsonl::load(&lines.join("\n")).unwrap();
}
