//! The test vectors of the rule catalogue (rules.md section 9), one named test each:
//! vectors 1-25 and the second-jurisdiction checks U1-U3. Defaults per the catalogue:
//! Reg F third-party collector, one debt, manual live call, margin 0, unknown location deny.

use compliance::{CallRequest, Decision, Engine, Policy, ReasonCode, Verdict};
use serde_json::{Value, json};

fn eval_with(case: Value, policy: &Policy) -> Decision {
    let req: CallRequest = serde_json::from_value(case).expect("valid case");
    Engine::builtin().evaluate(&req, policy).expect("evaluates")
}

fn eval(case: Value) -> Decision {
    eval_with(case, &Policy::default())
}

fn codes(d: &Decision) -> Vec<&'static str> {
    d.reasons.iter().map(|r| r.code.as_str()).collect()
}

#[track_caller]
fn assert_allow(d: &Decision) {
    assert_eq!(d.verdict, Verdict::Allow, "reasons {:?}", d.reasons);
    assert!(d.next_eligible.is_none());
}

#[track_caller]
fn assert_deny(d: &Decision, code: ReasonCode, next: Option<&str>) {
    assert_eq!(d.verdict, Verdict::Deny, "{d:#?}");
    assert!(d.has(code), "expected {} in {:?}", code.as_str(), codes(d));
    assert_eq!(
        d.next_eligible.map(|t| t.to_string()).as_deref(),
        next,
        "next_eligible; reasons {:?}",
        d.reasons
    );
}

/// A consumer with one number and one address, calling that number about debt d1.
fn case(at: &str, number: &str, kind: &str, address: Value) -> Value {
    json!({
        "at": at,
        "dial": {"number": number, "debt_id": "d1"},
        "consumer": {
            "phones": [{"number": number, "kind": kind}],
            "addresses": if address.is_null() { json!([]) } else { json!([address]) },
        },
        "debts": [{"id": "d1"}],
    })
}

fn ny(at: &str) -> Value {
    case(
        at,
        "+12125550134",
        "landline",
        json!({"zip": "10001", "state": "NY"}),
    )
}

/// A consented-nothing mobile in Atlanta, Georgia: Reg F's hours in one zone, no state pack.
fn atlanta_mobile(at: &str) -> Value {
    case(
        at,
        "+14045550134",
        "mobile",
        json!({"zip": "30303", "state": "GA"}),
    )
}

/// A mobile in Boston, under Massachusetts' two-in-seven overlay.
fn boston(at: &str) -> Value {
    case(at, "+16175550134", "mobile", json!({"zip": "02108"}))
}

/// A London landline under the UK pack, dialled by a predictive campaign.
fn london_predictive(at: &str, history: Value) -> Value {
    let mut c = case(at, "+442071838750", "landline", json!({"country": "GB"}));
    c["mode"] = json!("predictive");
    c["history"] = history;
    c
}

/// New York with "weekdays 15:00-17:00 are bad" on file (US-REGF-02), asked for `since`.
fn ny_with_afternoon_blackout(at: &str, since: Option<&str>) -> Value {
    let mut c = ny(at);
    let mut b =
        json!({"days": ["mon", "tue", "wed", "thu", "fri"], "from": "15:00", "to": "17:00"});
    if let Some(since) = since {
        b["since"] = json!(since);
    }
    c["consumer"]["blackouts"] = json!([b]);
    c
}

fn call(at: &str, outcome: &str) -> Value {
    json!({"at": at, "direction": "outbound", "number": "+12125550134",
           "debt_ids": ["d1"], "outcome": outcome})
}

fn with_history(mut c: Value, history: Vec<Value>) -> Value {
    c["history"] = Value::Array(history);
    c
}

#[test]
fn vector_01_eight_oclock_sharp_is_allowed() {
    assert_allow(&eval(ny("2026-10-06T12:00:00Z")));
}

#[test]
fn vector_02_two_fifty_nine_pm_allowed_with_margin_warning() {
    let d = eval(ny("2026-10-07T00:59:00Z"));
    assert_allow(&d);
    assert!(d.warnings.is_empty());
    let one_min = Policy {
        last_dial_margin_minutes: 1,
        ..Policy::default()
    };
    assert!(
        eval_with(ny("2026-10-07T00:59:00Z"), &one_min)
            .warnings
            .is_empty()
    );
    let five = Policy {
        last_dial_margin_minutes: 5,
        ..Policy::default()
    };
    let d = eval_with(ny("2026-10-07T00:59:00Z"), &five);
    assert_allow(&d);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.code == ReasonCode::WarnLastDialMargin)
    );
}

#[test]
fn vector_03_nine_pm_is_the_first_denied_instant() {
    let d = eval(ny("2026-10-07T01:00:00Z"));
    assert_deny(&d, ReasonCode::RegfHours, Some("2026-10-07T12:00:00Z"));
    assert_eq!(codes(&d), ["US_REGF_HOURS"]);
}

fn atlanta_mobile_sf_address(at: &str) -> Value {
    case(
        at,
        "+14045550134",
        "mobile",
        json!({"zip": "94103", "state": "CA"}),
    )
}

#[test]
fn vector_04_eastern_mobile_pacific_address_waits_for_pacific_eight() {
    let d = eval(atlanta_mobile_sf_address("2026-07-15T14:30:00Z"));
    assert_deny(
        &d,
        ReasonCode::RegfHoursMultizone,
        Some("2026-07-15T15:00:00Z"),
    );
    let zones: Vec<&str> = d.zones.iter().map(|z| z.zone.as_ref()).collect();
    assert_eq!(zones, ["America/New_York", "America/Los_Angeles"]);
}

#[test]
fn vector_05_both_zones_open() {
    assert_allow(&eval(atlanta_mobile_sf_address("2026-07-15T15:00:00Z")));
}

#[test]
fn vector_06_address_zone_already_past_nine() {
    let c = case(
        "2026-07-16T01:15:00Z",
        "+13035550134",
        "mobile",
        json!({"zip": "10001"}),
    );
    let d = eval(c);
    assert_deny(
        &d,
        ReasonCode::RegfHoursMultizone,
        Some("2026-07-16T14:00:00Z"),
    );
}

#[test]
fn vector_07_state_alone_spanning_two_zones() {
    let c = case(
        "2026-07-16T01:30:00Z",
        "+16155550134",
        "landline",
        json!({"state": "TN"}),
    );
    let d = eval(c);
    assert_deny(
        &d,
        ReasonCode::RegfHoursMultizone,
        Some("2026-07-16T13:00:00Z"),
    );
}

#[test]
fn vector_08_split_area_code_resolved_by_exchange() {
    let c = case(
        "2026-07-15T12:30:00Z",
        "+18504320134",
        "mobile",
        Value::Null,
    );
    let d = eval(c);
    assert_deny(&d, ReasonCode::RegfHours, Some("2026-07-15T13:00:00Z"));
    assert_eq!(d.zones[0].zone, "America/Chicago");
    assert!(
        d.warnings
            .iter()
            .any(|w| w.code == ReasonCode::WarnLowConfidenceZone)
    );
}

#[test]
fn vector_09_arizona_has_no_dst() {
    let c = case(
        "2026-07-15T14:30:00Z",
        "+16025550134",
        "landline",
        json!({"zip": "85004", "state": "AZ"}),
    );
    assert_deny(
        &eval(c),
        ReasonCode::RegfHours,
        Some("2026-07-15T15:00:00Z"),
    );
}

#[test]
fn vector_10_navajo_nation_observes_dst() {
    let c = case(
        "2026-07-16T03:30:00Z",
        "+19288710134",
        "landline",
        json!({"zip": "86515", "state": "AZ"}),
    );
    let d = eval(c);
    // Denver opens at 14:00Z, when Phoenix is still at 07:00 MST: both open at 15:00Z.
    assert_deny(
        &d,
        ReasonCode::RegfHoursMultizone,
        Some("2026-07-16T15:00:00Z"),
    );
}

#[test]
fn vector_11_dst_start_day() {
    assert_allow(&eval(ny("2026-03-08T12:30:00Z")));
}

#[test]
fn vector_12_dst_end_day() {
    assert_deny(
        &eval(ny("2026-11-01T12:30:00Z")),
        ReasonCode::RegfHours,
        Some("2026-11-01T13:00:00Z"),
    );
}

#[test]
fn vector_13_guam_is_a_day_ahead() {
    let c = case(
        "2026-07-14T14:00:00Z",
        "+16715550134",
        "landline",
        json!({"zip": "96910"}),
    );
    let d = eval(c);
    assert_deny(&d, ReasonCode::RegfHours, Some("2026-07-14T22:00:00Z"));
    assert_eq!(d.zones[0].local_time.to_string(), "2026-07-15T00:00:00");
}

#[test]
fn vector_14_toll_free_only() {
    let c = case(
        "2026-07-15T19:00:00Z",
        "+18005550134",
        "unknown",
        Value::Null,
    );
    let d = eval(c.clone());
    assert_deny(&d, ReasonCode::RegfNoLocation, None);
    let all_us = Policy {
        unknown_location: compliance::policy::UnknownLocation::AllUs,
        ..Policy::default()
    };
    let d = eval_with(c, &all_us);
    assert_deny(
        &d,
        ReasonCode::RegfHoursMultizone,
        Some("2026-07-15T22:00:00Z"),
    );
    assert!(d.zones.iter().any(|z| z.zone == "Pacific/Guam"));
}

#[test]
fn vector_15_eighth_call_in_seven_days() {
    let h = vec![
        call("2026-04-01T14:00:00Z", "no_answer"),
        call("2026-04-02T14:00:00Z", "no_answer"),
        call("2026-04-02T18:00:00Z", "voicemail"),
        call("2026-04-03T14:00:00Z", "no_answer"),
        call("2026-04-03T18:00:00Z", "machine"),
        call("2026-04-06T14:00:00Z", "no_answer"),
        call("2026-04-06T18:00:00Z", "lcm"),
    ];
    let d = eval(with_history(ny("2026-04-07T14:00:00Z"), h));
    assert_deny(&d, ReasonCode::Regf7in7, Some("2026-04-08T12:00:00Z"));
    assert_eq!(codes(&d), ["US_REGF_7IN7"]);
}

#[test]
fn vector_16_window_slides_by_calendar_date() {
    let h = (1..=7)
        .map(|day| call(&format!("2026-04-0{day}T14:00:00Z"), "no_answer"))
        .collect();
    assert_allow(&eval(with_history(ny("2026-04-08T13:00:00Z"), h)));
}

#[test]
fn vector_17_busy_and_sit_do_not_count() {
    let mut h: Vec<Value> = (2..=7)
        .map(|day| call(&format!("2026-04-0{day}T14:00:00Z"), "no_answer"))
        .collect();
    h.push(call("2026-04-04T16:00:00Z", "busy"));
    h.push(call("2026-04-05T16:00:00Z", "busy"));
    h.push(call("2026-04-06T16:00:00Z", "sit"));
    assert_allow(&eval(with_history(ny("2026-04-08T14:00:00Z"), h)));
}

#[test]
fn vector_18_quiet_period_after_conversation() {
    let h = vec![call("2026-08-14T15:00:00Z", "conversation")];
    let d = eval(with_history(ny("2026-08-20T14:00:00Z"), h));
    assert_deny(&d, ReasonCode::RegfPostconv, Some("2026-08-21T12:00:00Z"));
}

#[test]
fn vector_19_quiet_period_over() {
    let h = vec![call("2026-08-14T15:00:00Z", "conversation")];
    assert_allow(&eval(with_history(ny("2026-08-21T12:05:00Z"), h)));
}

#[test]
fn vector_20_inbound_conversation_starts_the_period() {
    let mut conv = call("2026-08-13T15:00:00Z", "conversation");
    conv["direction"] = json!("inbound");
    let d = eval(with_history(ny("2026-08-19T14:00:00Z"), vec![conv]));
    assert_deny(&d, ReasonCode::RegfPostconv, Some("2026-08-20T12:00:00Z"));
}

#[test]
fn vector_21_call_me_back_monday() {
    let mut c = with_history(
        ny("2026-04-06T15:00:00Z"),
        vec![call("2026-04-03T15:00:00Z", "conversation")],
    );
    c["consumer"]["call_consents"] = json!([{"debt_id": "d1", "given_at": "2026-04-03T15:10:00Z"}]);
    let d = eval(c.clone());
    assert_allow(&d);
    assert!(
        d.notes
            .iter()
            .any(|n| n.code == ReasonCode::AllowPriorConsentExclusion)
    );
    assert!(!d.counted, "a consented call is not counted");

    // The Monday call becomes a conversation: consent ends, and Wednesday is in its quiet period.
    c["history"]
        .as_array_mut()
        .expect("history")
        .push(call("2026-04-06T15:00:00Z", "conversation"));
    c["at"] = json!("2026-04-08T14:00:00Z");
    assert_deny(
        &eval(c),
        ReasonCode::RegfPostconv,
        Some("2026-04-13T12:00:00Z"),
    );
}

#[test]
fn vector_22_student_loans_under_one_account_are_one_debt() {
    // Outside New York City, whose 3-in-7 rule (in effect since 2026-09-01) would also deny.
    let mut c = case(
        "2026-10-12T14:00:00Z",
        "+12125550134",
        "landline",
        json!({"zip": "30303", "state": "GA"}),
    );
    c["dial"]["debt_id"] = json!("C");
    c["debts"] = json!([
        {"id": "A", "student_loan_group": "acct-1"},
        {"id": "B", "student_loan_group": "acct-1"},
        {"id": "C", "student_loan_group": "acct-1"},
    ]);
    let on = |day: u32, hour: u32, debt: &str| {
        let mut e = call(&format!("2026-10-{day:02}T{hour}:00:00Z"), "no_answer");
        e["debt_ids"] = json!([debt]);
        e
    };
    let h = vec![
        on(6, 14, "A"),
        on(6, 18, "A"),
        on(7, 14, "A"),
        on(8, 14, "B"),
        on(9, 14, "B"),
        on(10, 14, "C"),
        on(11, 14, "C"),
    ];
    let d = eval(with_history(c.clone(), h.clone()));
    assert_deny(&d, ReasonCode::Regf7in7, Some("2026-10-13T12:00:00Z"));

    // Without the grouping each loan is its own debt and C has only 2 counted calls.
    c["debts"] = json!([{"id": "A"}, {"id": "B"}, {"id": "C"}]);
    assert_allow(&eval(with_history(c, h)));
}

#[test]
fn vector_23_massachusetts_two_in_seven() {
    let mut c = boston("2026-10-09T14:00:00Z");
    let e = |at: &str, outcome: &str| json!({"at": at, "number": "+16175550134", "debt_ids": ["d1"], "outcome": outcome});
    c["history"] = json!([
        e("2026-10-05T14:00:00Z", "machine"),
        e("2026-10-07T14:00:00Z", "lcm")
    ]);
    let d = eval(c);
    assert_deny(&d, ReasonCode::Ma2in7, Some("2026-10-12T12:00:00Z"));
    assert!(!d.has(ReasonCode::Regf7in7), "Reg F alone would allow");
    assert!(d.packs.contains("US-MA"));
}

#[test]
fn massachusetts_counts_texts_and_reg_f_does_not() {
    let mut c = boston("2026-10-09T14:00:00Z");
    let text = |at: &str| json!({"at": at, "number": "+16175550134", "debt_ids": ["d1"], "outcome": "answered", "channel": "text"});
    c["history"] = json!([text("2026-10-05T14:00:00Z"), text("2026-10-07T14:00:00Z")]);
    let d = eval(c.clone());
    assert_deny(&d, ReasonCode::Ma2in7, Some("2026-10-12T12:00:00Z"));
    // The same texts to a consumer outside Massachusetts count for nothing.
    c["consumer"]["addresses"] = json!([{"zip": "30303"}]);
    c["consumer"]["phones"][0]["number"] = json!("+14045550134");
    c["dial"]["number"] = json!("+14045550134");
    assert_allow(&eval(c));
}

#[test]
fn vector_24_consumer_said_afternoons_are_bad() {
    // Wednesday 15:30 EDT.
    assert_deny(
        &eval(ny_with_afternoon_blackout("2026-07-15T19:30:00Z", None)),
        ReasonCode::RegfConsumerTime,
        Some("2026-07-15T21:00:00Z"),
    );
}

#[test]
fn vector_25_stop_text_revokes_automated_calls_only() {
    let mut c = atlanta_mobile("2026-10-13T14:00:00Z");
    c["consumer"]["phones"][0]["consent_automated"] = json!(true);
    c["consumer"]["phones"][0]["consent_revoked_at"] = json!("2026-10-05T16:00:00Z");
    c["mode"] = json!("predictive");
    let d = eval(c.clone());
    assert_deny(&d, ReasonCode::TcpaRevoked, None);
    assert_eq!(codes(&d), ["US_TCPA_REVOKED"]);
    c["mode"] = json!("manual");
    assert_allow(&eval(c));
}

fn ontario(at: &str) -> Value {
    // Confirmed in Toronto: the province alone would add north-western Ontario's Central time.
    let mut c = case(
        at,
        "+14165550134",
        "landline",
        json!({"state": "ON", "country": "CA"}),
    );
    c["consumer"]["known_zone"] = json!("America/Toronto");
    c
}

#[test]
fn u1_ontario_sunday_afternoon_only() {
    // Sunday 2026-07-19, Toronto is UTC-4.
    let d = eval(ontario("2026-07-19T16:30:00Z"));
    assert_deny(&d, ReasonCode::CaOnSunday, Some("2026-07-19T17:00:00Z"));
    assert!(!d.packs.contains("US-FED"));
    assert_allow(&eval(ontario("2026-07-19T17:30:00Z")));
}

#[test]
fn u2_uk_no_automated_redial_within_72h_of_an_abandoned_call() {
    let mut c = london_predictive(
        "2026-07-15T10:00:00Z",
        json!([{"at": "2026-07-13T10:00:00Z", "number": "+442071838750",
                "debt_ids": ["d1"], "outcome": "abandoned"}]),
    );
    let d = eval(c.clone());
    assert_deny(&d, ReasonCode::UkOfcom72h, Some("2026-07-16T10:00:00Z"));
    c["dial"]["agent_reserved"] = json!(true);
    assert_allow(&eval(c));
}

#[test]
fn u3_quebec_christmas() {
    let c = case(
        "2026-12-25T15:00:00Z",
        "+15145550134",
        "landline",
        json!({"state": "QC", "country": "CA"}),
    );
    // Dec 25 is a holiday, Dec 26 a Saturday, 08:00 EST = 13:00Z.
    assert_deny(
        &eval(c),
        ReasonCode::CaQcHours,
        Some("2026-12-26T13:00:00Z"),
    );
}

// Rules the section 9 vectors do not reach.

#[test]
fn workplace_prohibition_lifted_only_by_the_consumers_own_consent_window() {
    let mut c = case(
        "2026-07-15T15:00:00Z",
        "+14045550177",
        "work",
        json!({"zip": "30303"}),
    );
    c["consumer"]["phones"][0]["employer_prohibits"] = json!(true);
    let d = eval(c.clone());
    assert_deny(&d, ReasonCode::RegfWorkplace, None);
    c["consumer"]["consent_windows"] =
        json!([{"from": "2026-07-15T14:00:00Z", "to": "2026-07-15T16:00:00Z"}]);
    let d = eval(c.clone());
    assert_allow(&d);
    assert!(
        d.notes
            .iter()
            .any(|n| n.code == ReasonCode::AllowConsentWindow)
    );
    // Consent given to the creditor, not to this collector, does not count (US-REGF-03).
    c["consumer"]["consent_windows"][0]["direct_to_collector"] = json!(false);
    assert_deny(&eval(c), ReasonCode::RegfWorkplace, None);
}

#[test]
fn attorney_hold_stops_calls_to_the_consumer_not_to_the_attorney() {
    let mut c = atlanta_mobile("2026-07-15T15:00:00Z");
    c["consumer"]["holds"] =
        json!([{"kind": "attorney", "debt_id": "d1", "since": "2026-07-01T00:00:00Z"}]);
    assert_deny(&eval(c.clone()), ReasonCode::RegfAttorney, None);
    c["dial"]["party"] = json!("attorney");
    let d = eval(c);
    assert_allow(&d);
    assert!(
        !d.counted,
        "calls to the attorney do not count toward 7-in-7"
    );
}

#[test]
fn hold_with_an_end_clears_at_that_end_and_wrong_numbers_stay_blocked() {
    let mut c = atlanta_mobile("2026-07-15T15:00:00Z");
    c["consumer"]["holds"] = json!([{"kind": "dispute", "since": "2026-07-01T00:00:00Z", "until": "2026-07-20T00:00:00Z"}]);
    // The hold ends at 00:00Z, 20:00 in Atlanta: inside the window, so callable at once.
    assert_deny(
        &eval(c.clone()),
        ReasonCode::DisputeHold,
        Some("2026-07-20T00:00:00Z"),
    );
    c["consumer"]["holds"] = json!([{"kind": "wrong_number", "number": "+14045550134", "since": "2026-07-01T00:00:00Z"}]);
    assert_deny(&eval(c), ReasonCode::WrongNumber, None);
}

#[test]
fn reassigned_number_answers_and_cell_consent_for_automated_modes() {
    let mut c = atlanta_mobile("2026-07-15T15:00:00Z");
    c["mode"] = json!("predictive");
    assert_deny(&eval(c.clone()), ReasonCode::TcpaNoConsent, None);
    c["mode"] = json!("preview");
    assert_allow(&eval(c.clone()));
    c["consumer"]["phones"][0]["rnd"] = json!("yes");
    assert_deny(&eval(c.clone()), ReasonCode::TcpaRndDisconnected, None);
    c["consumer"]["phones"][0]["rnd"] = json!("no_data");
    let d = eval(c);
    assert_allow(&d);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.code == ReasonCode::WarnRndNoData)
    );
}

// Fail closed: history later than the evaluation instant counts (it happened; the clock
// evaluating is behind, e.g. after a restart). Its window is measured from its own date.

#[test]
fn seven_calls_dated_after_now_still_count_for_seven_in_seven() {
    // US-REGF-08: at Tue Apr 7 10:00 EDT, seven counted calls are already dated Apr 8-10.
    let h = vec![
        call("2026-04-08T14:00:00Z", "no_answer"),
        call("2026-04-08T16:00:00Z", "no_answer"),
        call("2026-04-08T18:00:00Z", "voicemail"),
        call("2026-04-09T14:00:00Z", "no_answer"),
        call("2026-04-09T18:00:00Z", "machine"),
        call("2026-04-10T14:00:00Z", "no_answer"),
        call("2026-04-10T18:00:00Z", "lcm"),
    ];
    let d = eval(with_history(ny("2026-04-07T14:00:00Z"), h));
    // The Apr 8 calls leave their own 7-date window on Apr 15 (08:00 EDT = 12:00Z).
    assert_deny(&d, ReasonCode::Regf7in7, Some("2026-04-15T12:00:00Z"));
}

#[test]
fn a_promise_to_pay_recorded_after_now_starts_the_quiet_period() {
    // US-REGF-09: the conversation (a promise to pay) is dated Fri Aug 14, the clock says
    // Wed Aug 12: quiet until Aug 21, as if the clock were right.
    let h = vec![call("2026-08-14T15:00:00Z", "conversation")];
    let d = eval(with_history(ny("2026-08-12T14:00:00Z"), h));
    assert_deny(&d, ReasonCode::RegfPostconv, Some("2026-08-21T12:00:00Z"));
}

#[test]
fn a_hold_received_after_now_applies() {
    // US-REGF-06: a cease notice received "later" stops the call now, and never clears.
    let mut c = ny("2026-07-15T14:00:00Z");
    c["consumer"]["holds"] = json!([{"kind": "cease", "since": "2026-07-20T00:00:00Z"}]);
    assert_deny(&eval(c.clone()), ReasonCode::RegfCease, None);
    // Its end still releases the call.
    c["consumer"]["holds"][0]["until"] = json!("2026-07-14T00:00:00Z");
    assert_allow(&eval(c));
}

#[test]
fn a_revocation_recorded_after_now_applies() {
    // US-TCPA-05: revocation applies on ingest, whatever its timestamp.
    let mut c = atlanta_mobile("2026-10-13T14:00:00Z");
    c["consumer"]["phones"][0]["consent_automated"] = json!(true);
    c["consumer"]["phones"][0]["consent_revoked_at"] = json!("2026-10-20T16:00:00Z");
    c["mode"] = json!("predictive");
    assert_deny(&eval(c), ReasonCode::TcpaRevoked, None);
}

#[test]
fn a_blackout_asked_for_after_now_applies() {
    // US-REGF-02: "weekdays 15:00-17:00 are bad", recorded a week "later".
    // Wed 15:30 EDT.
    let c = ny_with_afternoon_blackout("2026-07-15T19:30:00Z", Some("2026-07-22T00:00:00Z"));
    assert_deny(
        &eval(c),
        ReasonCode::RegfConsumerTime,
        Some("2026-07-15T21:00:00Z"),
    );
}

#[test]
fn an_abandoned_call_dated_after_now_still_needs_its_72_hours() {
    // UK-OFCOM-01: measured from the abandoned call's own time.
    let c = london_predictive(
        "2026-07-15T10:00:00Z",
        json!([{"at": "2026-07-15T11:00:00Z", "number": "+442071838750",
                "debt_ids": ["d1"], "outcome": "abandoned"}]),
    );
    assert_deny(
        &eval(c),
        ReasonCode::UkOfcom72h,
        Some("2026-07-18T11:00:00Z"),
    );
}

#[test]
fn a_third_party_reached_after_now_is_not_called_again() {
    // US-REGF-14: once per third party, whenever that once was recorded.
    let mut c = ny("2026-07-15T14:00:00Z");
    c["dial"]["party"] = json!("third_party");
    c["dial"]["third_party_id"] = json!("neighbour");
    c["history"] = json!([{"at": "2026-07-16T14:00:00Z", "number": "+12125550134",
        "debt_ids": ["d1"], "outcome": "answered", "party": "third_party",
        "third_party_id": "neighbour"}]);
    assert_deny(&eval(c), ReasonCode::RegfLocationRepeat, None);
}

#[test]
fn a_canadian_number_alone_is_held_to_the_reg_f_window() {
    // US-REGF-01: +1 506 (New Brunswick) and no address: the owner may live in the US and no
    // province is known, so Mon 23:48 ADT is refused, not allowed for want of a Canadian pack.
    let d = eval(case(
        "2026-08-18T02:48:34Z",
        "+15065737812",
        "mobile",
        Value::Null,
    ));
    assert_deny(&d, ReasonCode::RegfHours, Some("2026-08-18T11:00:00Z"));
    // With a province on file the province's packs decide (Ontario: 07:00-21:00).
    let on = eval(case(
        "2026-08-18T02:48:34Z",
        "+14165550134",
        "mobile",
        json!({"state": "ON", "country": "CA"}),
    ));
    // Toronto 22:48 EDT; the province also has Central-time north-west Ontario.
    assert_deny(&on, ReasonCode::CaOnHours, Some("2026-08-18T12:00:00Z"));
}
