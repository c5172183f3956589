//! ReceivablesService over real gRPC, against PostgreSQL (a fresh database per test) and the
//! embedded SQLite store: the import is idempotent and all-or-nothing, refusals name the
//! event and the field, and the report equals `receivables::replay` of the same events (the
//! worked KPI example of crates/receivables and its expected report): what `ledgerd` answers
//! is what `dialerctl ledger replay` prints for the same file. Roles: CRM imports, managers
//! read.

mod common;

use common::*;
use ledger::grpc::receivables::report_out;
use ledger_api::common_pb;
use ledger_api::pb;
use ledger_api::pb::receivables_service_client::ReceivablesServiceClient;
use tonic::Code;
use tonic::transport::Channel;

both_stores!(
    report_equals_replay_of_the_same_file,
    a_refused_batch_leaves_nothing,
    statement_shows_one_account,
    arrival_order_holds_across_insert_chunks,
    a_second_store_never_serves_a_stale_book,
    aging_report_pages_through_every_line,
    filters_by_client_campaign_and_bucket_with_time_barred_flags,
    kpi_and_commitment_reports,
    csv_export_round_trips,
    a_report_right_after_start_is_correct,
);

const KPI_EVENTS: &str = include_str!("../../../crates/receivables/tests/data/kpi_example.jsonl");
const KPI_REPORT: &str =
    include_str!("../../../crates/receivables/tests/data/kpi_example.report.json");

type Client = ReceivablesServiceClient<Channel>;

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

async fn import(
    c: &mut Client,
    events: &[String],
) -> Result<pb::ImportMoneyEventsResponse, tonic::Status> {
    let msgs: Vec<pb::ImportMoneyEventsRequest> = events
        .iter()
        .map(|e| pb::ImportMoneyEventsRequest {
            event_json: e.clone(),
        })
        .collect();
    c.import_money_events(tokio_stream::iter(msgs))
        .await
        .map(|r| r.into_inner())
}

async fn report(c: &mut Client, period_start: &str, as_of: &str) -> pb::ReceivablesReport {
    c.get_receivables_report(pb::GetReceivablesReportRequest {
        as_of: as_of.into(),
        period_start: period_start.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn statement(
    c: &mut Client,
    account: &str,
    as_of: &str,
) -> Result<pb::AccountStatement, tonic::Status> {
    c.get_account_statement(pb::GetAccountStatementRequest {
        account_id: account.into(),
        as_of: as_of.into(),
    })
    .await
    .map(|r| r.into_inner())
}

fn replay(text: &str, period_start: &str, as_of: &str) -> receivables::Report {
    let book = receivables::jsonl::load(text).unwrap();
    receivables::replay(&book, period_start.parse().unwrap(), as_of.parse().unwrap()).unwrap()
}

async fn report_equals_replay_of_the_same_file(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    let events = lines(KPI_EVENTS);
    let r = import(&mut c, &events).await.unwrap();
    assert_eq!((r.new_events, r.duplicate_events), (13, 0));

    // The expected report of the worked example, and the engine's replay of the file, are
    // what the ledger answers.
    let expected: receivables::Report = serde_json::from_str(KPI_REPORT).unwrap();
    assert_eq!(replay(KPI_EVENTS, "2024-03-01", "2024-03-31"), expected);
    let got = report(&mut c, "2024-03-01", "2024-03-31").await;
    assert_eq!(got, report_out(&expected));
    // As of other dates too (reports are reproducible as of any date).
    for (s, d) in [
        ("2024-01-01", "2024-01-31"),
        ("2024-02-01", "2024-02-29"),
        ("2024-04-01", "2024-04-30"),
        ("2024-01-01", "2024-12-31"),
    ] {
        assert_eq!(
            report(&mut c, s, d).await,
            report_out(&replay(KPI_EVENTS, s, d)),
            "{s}..{d}"
        );
    }

    // Re-importing the file is a no-op; so is a part of it in another order of calls.
    let r = import(&mut c, &events).await.unwrap();
    assert_eq!((r.new_events, r.duplicate_events), (0, 13));
    let r = import(&mut c, &events[5..]).await.unwrap();
    assert_eq!((r.new_events, r.duplicate_events), (0, 8));
    assert_eq!(
        report(&mut c, "2024-03-01", "2024-03-31").await,
        report_out(&expected)
    );

    // The same file imported in two calls gives the same report: references reach the
    // events of an earlier call.
    srv.stop().await;
    let db2 = TestDb::sqlite();
    let srv2 = TestServer::start(&db2.url, None).await;
    let mut c2 = ReceivablesServiceClient::new(srv2.channel().await);
    let (first, second) = events.split_at(7);
    assert_eq!(import(&mut c2, first).await.unwrap().new_events, 7);
    assert_eq!(import(&mut c2, second).await.unwrap().new_events, 6);
    assert_eq!(
        report(&mut c2, "2024-03-01", "2024-03-31").await,
        report_out(&expected)
    );

    // Bad report requests name the field.
    let e = c2
        .get_receivables_report(pb::GetReceivablesReportRequest {
            as_of: "2024-03-01".into(),
            period_start: "2024-03-31".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("period_start"), "{}", e.message());
    let e = c2
        .get_receivables_report(pb::GetReceivablesReportRequest {
            as_of: "2024-02-30".into(),
            period_start: "2024-02-01".into(),
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("as_of"), "{}", e.message());
    srv2.stop().await;
    db2.cleanup().await;
}

const C1: &str = r#"{"type":"charge","id":"c1","account":"A","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal","currency":"USD"}"#;
const P1: &str = r#"{"type":"payment","id":"p1","account":"A","date":"2024-02-01","amount_minor":300,"applies_to":"c1"}"#;

fn refusal(r: Result<pb::ImportMoneyEventsResponse, tonic::Status>) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    e.message().to_owned()
}

async fn a_refused_batch_leaves_nothing(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();

    // A bad event refuses the whole call, naming its index, id and field.
    let bad_amount =
        r#"{"type":"payment","id":"p2","account":"A","date":"2024-02-02","amount_minor":0}"#;
    let m = refusal(import(&mut c, &s(&[C1, P1, bad_amount])).await);
    assert_eq!(m, "event 2 (p2): amount_minor must be positive");
    let unknown_ref =
        r#"{"type":"reversal","id":"r1","account":"A","date":"2024-02-03","reverses":"p9"}"#;
    let m = refusal(import(&mut c, &s(&[C1, P1, unknown_ref])).await);
    assert!(m.starts_with("event 2 (r1): reverses: p9"), "{m}");
    let m = refusal(import(&mut c, &s(&[C1, "{not json"])).await);
    assert!(m.starts_with("event 1: not a JSON object"), "{m}");
    // Nothing of them was stored.
    let e = statement(&mut c, "A", "2024-12-31").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let book_report = report(&mut c, "2024-01-01", "2024-12-31").await;
    assert!(book_report.accounts.is_empty());

    // Stored, then re-sent with a different content: refused naming the field, and the new
    // events of that call are not stored either.
    assert_eq!(import(&mut c, &s(&[C1])).await.unwrap().new_events, 1);
    let changed = C1.replace("1000", "1001");
    let m = refusal(import(&mut c, &[P1.to_owned(), changed]).await);
    assert_eq!(
        m,
        "event 1 (c1): amount_minor: differs from the event c1 imported before"
    );
    let moved = C1.replace(r#""account":"A""#, r#""account":"B""#);
    let m = refusal(import(&mut c, &[moved]).await);
    assert_eq!(
        m,
        "event 0 (c1): account: differs from the event c1 imported before"
    );
    // Twice in one call with different contents.
    let p1b = P1.replace("300", "301");
    let m = refusal(import(&mut c, &[P1.to_owned(), p1b]).await);
    assert_eq!(
        m,
        "event 1 (p1): amount_minor: differs from the event p1 imported before"
    );
    let st = statement(&mut c, "A", "2024-12-31").await.unwrap();
    assert_eq!(st.events_json.len(), 1);
    assert!(statement(&mut c, "B", "2024-12-31").await.is_err());

    // A reference to an event stored by an earlier call is good.
    let r = import(&mut c, &s(&[P1, C1])).await.unwrap();
    assert_eq!((r.new_events, r.duplicate_events), (1, 1));
    srv.stop().await;
}

async fn statement_shows_one_account(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    import(&mut c, &lines(KPI_EVENTS)).await.unwrap();
    let book = receivables::jsonl::load(KPI_EVENTS).unwrap();
    let as_of = "2024-03-31".parse().unwrap();
    for account in book.accounts() {
        let st = statement(&mut c, account.id(), "2024-03-31").await.unwrap();
        let want = account.state_as_of(as_of);
        assert_eq!(st.account_id, account.id());
        assert_eq!(st.balance_minor, want.balance_minor());
        assert_eq!(st.aging.unwrap().total, want.aging.total);
        assert_eq!(st.in_dispute, want.in_dispute);
        let state: receivables::AccountState = serde_json::from_str(&st.state_json).unwrap();
        assert_eq!(state, want);
        let events: Vec<receivables::Event> = st
            .events_json
            .iter()
            .map(|e| receivables::Event::from_value(&serde_json::from_str(e).unwrap()).unwrap())
            .collect();
        let want_events: Vec<receivables::Event> = account
            .events()
            .iter()
            .filter(|e| e.date <= as_of)
            .cloned()
            .collect();
        assert_eq!(events, want_events);
    }
    // As of before its first event the account has nothing open.
    let st = statement(&mut c, "A", "2023-12-31").await.unwrap();
    assert_eq!((st.balance_minor, st.events_json.len()), (0, 0));
    let e = statement(&mut c, "", "2024-03-31").await.unwrap_err();
    assert!(e.message().starts_with("account_id"), "{}", e.message());
    srv.stop().await;
}

/// More events than one INSERT statement writes, with same-date ties whose order shows in
/// the report (a later promise of the same date supersedes the earlier one): the stored
/// arrival order is the call's.
async fn arrival_order_holds_across_insert_chunks(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    let mut events = Vec::new();
    for a in 0..3_000 {
        let (first, second) = if a % 3 == 0 { (500, 100) } else { (100, 500) };
        events.push(format!(
            r#"{{"type":"charge","id":"c{a}","account":"a{a:05}","date":"2024-03-01","amount_minor":1000,"due":"2024-03-31","category":"fee"}}"#
        ));
        for (k, amount) in [first, second].into_iter().enumerate() {
            events.push(format!(
                r#"{{"type":"promise","id":"pr{a}-{k}","account":"a{a:05}","date":"2024-03-02","amount_minor":{amount},"due":"2024-03-10"}}"#
            ));
        }
        events.push(format!(
            r#"{{"type":"payment","id":"p{a}","account":"a{a:05}","date":"2024-03-05","amount_minor":100}}"#
        ));
    }
    let r = import(&mut c, &events).await.unwrap();
    assert_eq!(r.new_events, 12_000);
    let text = events.join("\n");
    let want = replay(&text, "2024-03-01", "2024-03-31");
    assert_eq!(
        (want.kpi.promises_kept, want.kpi.promises_broken),
        (1_000, 2_000)
    );
    assert_eq!(
        report(&mut c, "2024-03-01", "2024-03-31").await,
        report_out(&want)
    );
    srv.stop().await;
}

fn parsed(events: &[String]) -> Vec<receivables::Event> {
    events
        .iter()
        .map(|e| receivables::Event::from_value(&serde_json::from_str(e).unwrap()).unwrap())
        .collect()
}

/// Two stores on one database (two `ledgerd` replicas): each keeps its book in memory, and
/// each report catches up with what the other committed, so neither serves a stale book.
async fn a_second_store_never_serves_a_stale_book(url: &str) {
    use ledger::store::Store;
    let one = Store::connect(url).await.unwrap();
    let two = Store::connect(url).await.unwrap();
    let events = lines(KPI_EVENTS);
    let (first, second) = events.split_at(7);
    let (s, d) = ("2024-03-01".parse().unwrap(), "2024-03-31".parse().unwrap());
    one.import_money_events(parsed(first), "t").await.unwrap();
    // `two` loads its book now, with the first part only.
    let partial = two.receivables_report(s, d).await.unwrap();
    assert_eq!(
        partial,
        replay(&first.join("\n"), "2024-03-01", "2024-03-31")
    );
    // `one` imports the rest; `two` sees it in its next report and statement.
    one.import_money_events(parsed(second), "t").await.unwrap();
    let expected: receivables::Report = serde_json::from_str(KPI_REPORT).unwrap();
    assert_ne!(partial, expected);
    assert_eq!(two.receivables_report(s, d).await.unwrap(), expected);
    let st = two.account_statement("D", d).await.unwrap();
    assert!(st.state.in_dispute);
    // And the other way: `two` imports (checked against its caught-up book: a reference to
    // an event `one` stored), `one` reports it.
    let later = r#"{"type":"dispute_resolved","id":"dr1","account":"D","date":"2024-03-25","dispute":"d-d1","resolution":"verified"}"#.to_owned();
    let r = two
        .import_money_events(parsed(std::slice::from_ref(&later)), "t")
        .await
        .unwrap();
    assert_eq!(r.new, 1);
    let mut all = events.clone();
    all.push(later);
    let want = replay(&all.join("\n"), "2024-03-01", "2024-03-31");
    assert_eq!(want.kpi.accounts_in_dispute, 0);
    assert_eq!(one.receivables_report(s, d).await.unwrap(), want);
    assert_eq!(two.receivables_report(s, d).await.unwrap(), want);
    // A duplicate through `one` is a duplicate (its book caught up before checking).
    let r = one.import_money_events(parsed(&all), "t").await.unwrap();
    assert_eq!((r.new, r.duplicates), (0, all.len()));
    one.close().await;
    two.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_imports_and_managers_read() {
    let db = TestDb::sqlite();
    let srv = TestServer::start(&db.url, Some(KEY)).await;
    let ch = srv.channel().await;
    let client = |role: auth::Role| receivables_client(&ch, role);
    let events = lines(KPI_EVENTS);
    let msgs = |events: &[String]| {
        tokio_stream::iter(
            events
                .iter()
                .map(|e| pb::ImportMoneyEventsRequest {
                    event_json: e.clone(),
                })
                .collect::<Vec<_>>(),
        )
    };
    let req = || pb::GetReceivablesReportRequest {
        as_of: "2024-03-31".into(),
        period_start: "2024-03-01".into(),
    };
    for role in [auth::Role::Manager, auth::Role::Dialer, auth::Role::Agent] {
        let e = client(role)
            .import_money_events(msgs(&events))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{role:?}");
    }
    let r = client(auth::Role::Crm)
        .import_money_events(msgs(&events))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.new_events, 13);
    let aging = || pb::GetAgingReportRequest {
        as_of: "2024-03-31".into(),
        ..Default::default()
    };
    let kpis = || pb::GetKpiReportRequest {
        as_of: "2024-03-31".into(),
        period_start: "2024-03-01".into(),
        filter: None,
    };
    let commitments = || pb::GetCommitmentReportRequest {
        as_of: "2024-03-31".into(),
        ..Default::default()
    };
    for role in [auth::Role::Crm, auth::Role::Dialer, auth::Role::Agent] {
        let mut c = client(role);
        let codes = [
            c.get_receivables_report(req()).await.map(|_| ()),
            c.get_aging_report(aging()).await.map(|_| ()),
            c.export_aging_csv(aging()).await.map(|_| ()),
            c.get_kpi_report(kpis()).await.map(|_| ()),
            c.get_commitment_report(commitments()).await.map(|_| ()),
            c.get_account_statement(pb::GetAccountStatementRequest {
                account_id: "A".into(),
                as_of: "2024-03-31".into(),
            })
            .await
            .map(|_| ()),
        ]
        .map(|r| r.unwrap_err().code());
        assert_eq!(codes, [Code::PermissionDenied; 6], "{role:?}");
    }
    for role in [auth::Role::Manager, auth::Role::Admin] {
        let mut c = client(role);
        assert_eq!(
            c.get_aging_report(aging())
                .await
                .unwrap()
                .into_inner()
                .accounts
                .len(),
            4
        );
        let mut csv = c.export_aging_csv(aging()).await.unwrap().into_inner();
        assert!(csv.message().await.unwrap().is_some());
        assert_eq!(
            c.get_kpi_report(kpis())
                .await
                .unwrap()
                .into_inner()
                .accounts,
            4
        );
        let r = c.get_commitment_report(commitments()).await.unwrap();
        assert_eq!(r.into_inner().commitments.len(), 3);
    }
    for role in [auth::Role::Manager, auth::Role::Admin] {
        let r = client(role).get_receivables_report(req()).await.unwrap();
        assert_eq!(r.into_inner().kpi.unwrap().charges_minor, 700);
        let st = client(role)
            .get_account_statement(pb::GetAccountStatementRequest {
                account_id: "A".into(),
                as_of: "2024-03-31".into(),
            })
            .await
            .unwrap();
        assert_eq!(st.into_inner().account_id, "A");
    }
    let e = ReceivablesServiceClient::new(ch.clone())
        .get_receivables_report(req())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    srv.stop().await;
    db.cleanup().await;
}

async fn aging_page(
    c: &mut Client,
    as_of: &str,
    filter: Option<pb::ReportFilter>,
    page_size: u32,
    page_token: &str,
) -> Result<pb::AgingReport, tonic::Status> {
    c.get_aging_report(pb::GetAgingReportRequest {
        as_of: as_of.into(),
        filter,
        page_size,
        page_token: page_token.into(),
    })
    .await
    .map(|r| r.into_inner())
}

/// Every page of the aging report: the first page's totals and all lines.
async fn aging_all(
    c: &mut Client,
    as_of: &str,
    filter: Option<pb::ReportFilter>,
    page_size: u32,
) -> (pb::AgingTotals, Vec<pb::ReceivablesAccountLine>, usize) {
    let first = aging_page(c, as_of, filter.clone(), page_size, "")
        .await
        .unwrap();
    let totals = first.totals.unwrap();
    let mut lines = first.accounts;
    let mut token = first.next_page_token;
    let mut pages = 1;
    while !token.is_empty() {
        let page = aging_page(c, as_of, filter.clone(), page_size, &token)
            .await
            .unwrap();
        assert!(page.totals.is_none(), "totals are in the first page only");
        assert!(page.accounts.len() <= page_size as usize);
        lines.extend(page.accounts);
        token = page.next_page_token;
        pages += 1;
    }
    (totals, lines, pages)
}

async fn aging_report_pages_through_every_line(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    import(&mut c, &lines(KPI_EVENTS)).await.unwrap();
    let want = replay(KPI_EVENTS, "2024-03-31", "2024-03-31");
    let want_lines = report_out(&want).accounts;
    for page_size in [1, 2, 3, 4, 0] {
        let (totals, got, pages) = aging_all(&mut c, "2024-03-31", None, page_size).await;
        assert_eq!(totals.aging.unwrap(), report_out(&want).aging.unwrap());
        assert_eq!(totals.credit_balance_minor, want.credit_balance_minor);
        assert_eq!(totals.accounts, 4);
        assert_eq!(got, want_lines, "page size {page_size}");
        let expected_pages = if page_size == 0 {
            1
        } else {
            4usize.div_ceil(page_size as usize)
        };
        assert_eq!(pages, expected_pages, "page size {page_size}");
    }
    // The paged report of a larger book equals the one-message report.
    let mut events = Vec::new();
    for a in 0..2_500 {
        events.push(format!(
            r#"{{"type":"charge","id":"c{a}","account":"a{a:05}","date":"2024-01-0{}","amount_minor":{},"due":"2024-01-31","category":"fee"}}"#,
            1 + a % 9,
            100 + a
        ));
    }
    import(&mut c, &events).await.unwrap();
    let full = report(&mut c, "2024-03-01", "2024-03-31").await;
    let (totals, got, pages) = aging_all(&mut c, "2024-03-31", None, 1000).await;
    assert_eq!((pages, got.len()), (3, 2_504));
    assert_eq!(got, full.accounts);
    assert_eq!(totals.aging, full.aging);
    // Bad requests name the field.
    let e = aging_page(&mut c, "2024-03-31", None, 10_001, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("page_size"), "{}", e.message());
    let e = aging_page(&mut c, "", None, 0, "").await.unwrap_err();
    assert!(e.message().starts_with("as_of"), "{}", e.message());
    let bad_bucket = pb::ReportFilter {
        bucket: "90_plus".into(),
        ..Default::default()
    };
    let e = aging_page(&mut c, "2024-03-31", Some(bad_bucket), 0, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("filter.bucket"), "{}", e.message());
    srv.stop().await;
}

/// Two ledger accounts of two clients (GA and CA consumers), money on three of their debts
/// and on one account that is no ledger debt; outcomes of two campaigns.
async fn filter_fixture(srv: &TestServer) -> Client {
    let mut ledger = srv.client().await;
    let mut x = account("X");
    let mut y = account("Y");
    y.creditor = "Beta Credit".into();
    y.persons[0].addresses[0].state = "CA".into();
    // No opening balances (docs/receivables.md): the money below is all there is.
    for debt in x.debts.iter_mut().chain(y.debts.iter_mut()) {
        debt.balance_minor = 0;
    }
    upsert(&mut ledger, vec![x, y]).await;
    let mut oy = outcome("k-y", "Y", common_pb::OutcomeKind::NoAnswer, T0);
    oy.campaign_id = "c2".into();
    record(
        &mut ledger,
        vec![
            outcome("k-x", "X", common_pb::OutcomeKind::NoAnswer, T0),
            oy,
        ],
    )
    .await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    let events = [
        r#"{"type":"charge","id":"x1","account":"X-d1","date":"2018-01-01","amount_minor":1000,"due":"2018-01-31","category":"principal"}"#,
        r#"{"type":"charge","id":"x2","account":"X-d2","date":"2024-03-01","amount_minor":500,"due":"2024-03-31","category":"principal"}"#,
        r#"{"type":"charge","id":"y1","account":"Y-d1","date":"2024-01-01","amount_minor":700,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"promise","id":"y2","account":"Y-d1","date":"2024-02-01","amount_minor":200,"due":"2024-02-10"}"#,
        r#"{"type":"charge","id":"z1","account":"Z","date":"2024-01-15","amount_minor":300,"due":"2024-02-15","category":"fee"}"#,
    ];
    let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    assert_eq!(import(&mut c, &events).await.unwrap().new_events, 5);
    c
}

fn filter(client: &str, campaign: &str, bucket: &str) -> Option<pb::ReportFilter> {
    Some(pb::ReportFilter {
        client: client.into(),
        campaign_id: campaign.into(),
        bucket: bucket.into(),
        transfer_blocked: None,
    })
}

async fn filters_by_client_campaign_and_bucket_with_time_barred_flags(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = filter_fixture(&srv).await;
    let accounts = |lines: &[pb::ReceivablesAccountLine]| {
        lines.iter().map(|l| l.account.clone()).collect::<Vec<_>>()
    };
    for (f, want) in [
        (filter("", "", ""), vec!["X-d1", "X-d2", "Y-d1", "Z"]),
        (filter("Acme Bank", "", ""), vec!["X-d1", "X-d2"]),
        (filter("Beta Credit", "", ""), vec!["Y-d1"]),
        (filter("Nobody", "", ""), vec![]),
        (filter("", "c1", ""), vec!["X-d1"]),
        (filter("", "c2", ""), vec!["Y-d1"]),
        (filter("Beta Credit", "c1", ""), vec![]),
        (filter("", "", "121_plus"), vec!["X-d1"]),
        (filter("", "", "current"), vec!["X-d2"]),
        (filter("", "", "31_60"), vec!["Y-d1", "Z"]),
        (filter("Acme Bank", "", "current"), vec!["X-d2"]),
        (None, vec!["X-d1", "X-d2", "Y-d1", "Z"]),
    ] {
        let (totals, lines, _) = aging_all(&mut c, "2024-03-31", f.clone(), 1).await;
        assert_eq!(accounts(&lines), want, "{f:?}");
        assert_eq!(totals.accounts as usize, want.len(), "{f:?}");
        let sum: i64 = lines.iter().map(|l| l.aging.unwrap().total).sum();
        assert_eq!(totals.aging.unwrap().total, sum, "{f:?}");
    }
    // Time-barred (docs/receivables.md): X-d1's GA consumer, oldest open item due
    // 2018-01-31, GA's shorter period 4 years: barred from 2022-01-31. Y-d1 (CA, 2024) is
    // not; Z has no consumer in the ledger.
    let (_, lines, _) = aging_all(&mut c, "2024-03-31", None, 2).await;
    let barred: Vec<(String, bool)> = lines
        .iter()
        .map(|l| (l.account.clone(), l.time_barred))
        .collect();
    assert_eq!(
        barred,
        [
            ("X-d1", true),
            ("X-d2", false),
            ("Y-d1", false),
            ("Z", false)
        ]
        .map(|(a, b)| (a.to_owned(), b))
    );
    let full = report(&mut c, "2024-03-01", "2024-03-31").await;
    assert_eq!(
        full.accounts, lines,
        "the one-message report carries the flag too"
    );
    for (as_of, want) in [("2022-01-30", false), ("2022-01-31", true)] {
        let st = statement(&mut c, "X-d1", as_of).await.unwrap();
        assert_eq!(
            (st.time_barred, st.us_state.as_str()),
            (want, "GA"),
            "{as_of}"
        );
        let (_, lines, _) = aging_all(&mut c, as_of, filter("", "", "121_plus"), 10).await;
        assert_eq!(lines[0].time_barred, want, "{as_of}");
    }
    let st = statement(&mut c, "Z", "2024-03-31").await.unwrap();
    assert_eq!((st.time_barred, st.us_state.as_str()), (false, ""));
    // The KPIs follow the filter.
    let k = kpi(
        &mut c,
        "2024-03-01",
        "2024-03-31",
        filter("Acme Bank", "", ""),
    )
    .await;
    assert_eq!(
        (k.accounts, k.kpi.unwrap().ending_receivables_minor),
        (2, 1500)
    );
    srv.stop().await;
}

async fn kpi(
    c: &mut Client,
    period_start: &str,
    as_of: &str,
    filter: Option<pb::ReportFilter>,
) -> pb::KpiReport {
    c.get_kpi_report(pb::GetKpiReportRequest {
        as_of: as_of.into(),
        period_start: period_start.into(),
        filter,
    })
    .await
    .unwrap()
    .into_inner()
}

async fn kpi_and_commitment_reports(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    import(&mut c, &lines(KPI_EVENTS)).await.unwrap();
    let expected: receivables::Report = serde_json::from_str(KPI_REPORT).unwrap();
    let k = kpi(&mut c, "2024-03-01", "2024-03-31", None).await;
    assert_eq!(k.kpi, report_out(&expected).kpi);
    assert_eq!(k.accounts, 4);
    let e = c
        .get_kpi_report(pb::GetKpiReportRequest {
            as_of: "2024-03-01".into(),
            period_start: "2024-03-31".into(),
            filter: None,
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("period_start"), "{}", e.message());

    // Commitments of the worked example as of 2024-03-31: A's promise kept on its due
    // date, B's plan broken from the day after its first installment (its payment was
    // reversed), C's promise paid 2 days late: broken from 03-11.
    let req = |token: &str, page_size| pb::GetCommitmentReportRequest {
        as_of: "2024-03-31".into(),
        filter: None,
        page_size,
        page_token: token.into(),
    };
    let r = c
        .get_commitment_report(req("", 0))
        .await
        .unwrap()
        .into_inner();
    let counts = r.counts.unwrap();
    assert_eq!(
        (
            counts.promises_kept,
            counts.promises_broken,
            counts.plans_broken
        ),
        (1, 1, 1)
    );
    assert_eq!(counts.promises_pending + counts.plans_active, 0);
    let brief: Vec<(String, String, String, String, String, String)> = r
        .commitments
        .iter()
        .map(|l| {
            (
                l.account.clone(),
                l.kind.clone(),
                l.status.clone(),
                l.due.clone(),
                l.kept_on.clone(),
                l.broken_on.clone(),
            )
        })
        .collect();
    let s = |v: &str| v.to_owned();
    assert_eq!(
        brief,
        vec![
            (
                s("A"),
                s("promise"),
                s("kept"),
                s("2024-03-10"),
                s("2024-03-10"),
                s("")
            ),
            (
                s("B"),
                s("plan"),
                s("broken"),
                s("2024-03-20"),
                s(""),
                s("2024-03-21")
            ),
            (
                s("C"),
                s("promise"),
                s("broken"),
                s("2024-03-10"),
                s(""),
                s("2024-03-11")
            ),
        ]
    );
    let plan = &r.commitments[1];
    assert_eq!(
        (plan.amount_minor, plan.installments, plan.installments_kept),
        (500, 2, 0)
    );
    assert!(r.next_page_token.is_empty());
    // Paged by account: one account per page, the same lines.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .get_commitment_report(req(&token, 1))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.counts.is_some(), token.is_empty());
        paged.extend(page.commitments);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, r.commitments);
    srv.stop().await;
}

/// The CSV stream, concatenated, is `accounts_csv` of the same report (what `dialerctl
/// ledger replay --csv` prints), and reads back to the report's lines.
async fn csv_export_round_trips(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    let mut events = lines(KPI_EVENTS);
    // An id a spreadsheet would run as a formula, and one that needs quoting.
    events.push(r#"{"type":"charge","id":"f1","account":"=SUM(A1)","date":"2024-03-01","amount_minor":5,"due":"2024-03-01","category":"fee"}"#.to_owned());
    events.push(r#"{"type":"charge","id":"f2","account":"a,\"b\"","date":"2024-03-01","amount_minor":7,"due":"2024-04-01","category":"fee"}"#.to_owned());
    import(&mut c, &events).await.unwrap();
    let csv = async |c: &mut Client, filter: Option<pb::ReportFilter>| {
        let mut stream = c
            .export_aging_csv(pb::GetAgingReportRequest {
                as_of: "2024-03-31".into(),
                filter,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut bytes = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = stream.message().await.unwrap() {
            bytes.extend(chunk.data);
            chunks += 1;
        }
        assert!(chunks >= 1);
        String::from_utf8(bytes).unwrap()
    };
    let text = csv(&mut c, None).await;
    let want = replay(&events.join("\n"), "2024-03-31", "2024-03-31");
    assert_eq!(text, receivables::accounts_csv(&want));
    // Read back: every row is a line of the report.
    let rows = parse_csv(&text);
    assert_eq!(rows[0].join(","), receivables::CSV_HEADER.trim_end());
    assert_eq!(rows.len(), want.accounts.len() + 1);
    for (row, line) in rows[1..].iter().zip(&want.accounts) {
        let account = row[0].strip_prefix('\'').unwrap_or(&row[0]);
        assert_eq!(account, line.account);
        let a = &line.aging;
        let nums: Vec<i64> = row[1..9].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(
            nums,
            [
                a.current,
                a.d1_30,
                a.d31_60,
                a.d61_90,
                a.d91_120,
                a.d121_plus,
                a.total,
                line.credit_balance_minor
            ]
        );
        assert_eq!(row[9], line.in_dispute.to_string());
        assert_eq!(row[10], line.settled.to_string());
    }
    // The filter applies; an empty selection is the header alone.
    // 1_30 as of 03-31: D's fee and the formula-like id's fee, both due 03-01.
    let only = parse_csv(&csv(&mut c, filter("", "", "1_30")).await);
    let ids: Vec<&str> = only[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["'=SUM(A1)", "D"]);
    assert_eq!(
        csv(&mut c, filter("Nobody", "", "")).await,
        receivables::CSV_HEADER
    );
    srv.stop().await;
}

/// RFC 4180 rows (CRLF-terminated, quoted fields with doubled quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

/// User + system CPU time of this process so far, in seconds (Linux; 0 elsewhere).
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // After the command name's closing parenthesis: fields 3.. ; utime and stime are the
    // 14th and 15th fields, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Import throughput over gRPC and the reports' times, on both stores (`LEDGER_BENCH_EVENTS`
/// events, default 200,000: a quarter as many accounts, each a charge, a promise, a payment
/// and an interest charge; imported in calls of at most 1,000,000 events). Ignored: a
/// measurement, run in release with
/// `cargo test --release -p ledger --test receivables -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn import_throughput() {
    let n: usize = std::env::var("LEDGER_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut events = Vec::with_capacity(n);
    for a in 0..n / 4 {
        events.push(format!(
            r#"{{"type":"charge","id":"c{a}","account":"acct{a:07}","date":"2024-01-01","amount_minor":{},"due":"2024-01-31","category":"principal"}}"#,
            1000 + a % 500
        ));
        events.push(format!(
            r#"{{"type":"promise","id":"pr{a}","account":"acct{a:07}","date":"2024-02-01","amount_minor":300,"due":"2024-02-15"}}"#
        ));
        events.push(format!(
            r#"{{"type":"payment","id":"p{a}","account":"acct{a:07}","date":"2024-02-{:02}","amount_minor":300}}"#,
            1 + a % 28
        ));
        events.push(format!(
            r#"{{"type":"charge","id":"i{a}","account":"acct{a:07}","date":"2024-03-01","amount_minor":25,"due":"2024-03-31","category":"interest"}}"#
        ));
    }
    let accounts = events.len() / 4;
    let calls = events.len().div_ceil(ledger::store::MAX_EVENTS_PER_IMPORT);
    let (s, d) = ("2024-03-01".parse().unwrap(), "2024-03-31".parse().unwrap());
    let stores = std::env::var("LEDGER_BENCH_STORES").unwrap_or_else(|_| "postgres,sqlite".into());
    for name in ["postgres", "sqlite"] {
        if !stores.split(',').any(|s| s == name) {
            continue;
        }
        let db = if name == "postgres" {
            TestDb::postgres().await
        } else {
            TestDb::sqlite()
        };
        let srv = TestServer::start(&db.url, None).await;
        let mut c = ReceivablesServiceClient::new(srv.channel().await)
            .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES);
        let t = std::time::Instant::now();
        for call in events.chunks(ledger::store::MAX_EVENTS_PER_IMPORT) {
            let r = import(&mut c, call).await.unwrap();
            assert_eq!(r.new_events as usize, call.len());
        }
        let secs = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let aging = c
            .get_aging_report(pb::GetAgingReportRequest {
                as_of: "2024-03-31".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let aging_secs = t.elapsed().as_secs_f64();
        assert_eq!(aging.totals.unwrap().accounts as usize, accounts);
        let t = std::time::Instant::now();
        let kpi = c
            .get_kpi_report(pb::GetKpiReportRequest {
                as_of: "2024-03-31".into(),
                period_start: "2024-03-01".into(),
                filter: None,
            })
            .await
            .unwrap()
            .into_inner();
        let kpi_secs = t.elapsed().as_secs_f64();
        assert_eq!(kpi.accounts as usize, accounts);
        println!(
            "{name}: imported {} events of {accounts} accounts in {calls} call(s) in {secs:.2} s \
             ({:.0} events/s) over gRPC; aging report (totals and first page) {aging_secs:.2} s, \
             KPI report {kpi_secs:.2} s",
            events.len(),
            events.len() as f64 / secs,
        );
        if accounts <= 500_000 {
            let t = std::time::Instant::now();
            let rep = report(&mut c, "2024-03-01", "2024-03-31").await;
            println!(
                "{name}: GetReceivablesReport over {} accounts (one message) {:.2} s",
                rep.accounts.len(),
                t.elapsed().as_secs_f64()
            );
        }
        srv.stop().await;
        db.cleanup().await;
        // The store alone (what `dialerctl ledger replay` runs), without gRPC.
        let db = if name == "postgres" {
            TestDb::postgres().await
        } else {
            TestDb::sqlite()
        };
        let store = ledger::store::Store::connect(&db.url).await.unwrap();
        let (mut secs, mut cpu) = (0.0, 0.0);
        for call in events.chunks(ledger::store::MAX_EVENTS_PER_IMPORT) {
            let batch = parsed(call);
            let (t, c) = (std::time::Instant::now(), process_cpu_secs());
            store.import_money_events(batch, "bench").await.unwrap();
            secs += t.elapsed().as_secs_f64();
            cpu += process_cpu_secs() - c;
        }
        // On the shared machine the wall clock also counts other builds' use of the two
        // cores; the process's CPU time (the whole store on SQLite, this side only on
        // PostgreSQL) does not.
        println!(
            "{name}: the store alone imported {} events in {secs:.2} s ({:.0} events/s); \
             {cpu:.2} s of this process's CPU ({:.0} events per CPU second)",
            events.len(),
            events.len() as f64 / secs,
            events.len() as f64 / cpu
        );
        let filter = ledger::store::ReportFilter::default();
        let t = std::time::Instant::now();
        let warm = store.aging_page(d, &filter, None, 1000).await.unwrap();
        let warm_secs = t.elapsed().as_secs_f64();
        // Another store on the same database: its first report loads the book.
        let other = ledger::store::Store::connect(&db.url).await.unwrap();
        let t = std::time::Instant::now();
        let cold = other.aging_page(d, &filter, None, 1000).await.unwrap();
        let cold_secs = t.elapsed().as_secs_f64();
        assert_eq!(cold, warm);
        let t = std::time::Instant::now();
        let (kpi, _) = other.kpi_report(s, d, &filter).await.unwrap();
        let kpi_secs = t.elapsed().as_secs_f64();
        assert_eq!(
            kpi.ending_receivables_minor,
            warm.totals.unwrap().aging.total
        );
        println!(
            "{name}: aging over {accounts} accounts: {warm_secs:.2} s from the kept book, \
             {cold_secs:.2} s loading it from the table first; KPI report (two derivations \
             per account) {kpi_secs:.2} s"
        );
        let peak = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM"))
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        println!("{name}: process peak memory so far: {peak}");
        store.close().await;
        other.close().await;
        db.cleanup().await;
    }
}

/// The book loads in the background when the server starts: a report asked at once (before
/// the load can have ended, or after) is the full report, and the load's gauges are set once
/// it has ended.
async fn a_report_right_after_start_is_correct(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    import(&mut c, &lines(KPI_EVENTS)).await.unwrap();
    srv.stop().await;

    // A new process on the same database: its book is empty until loaded.
    let store = ledger::store::Store::connect(url).await.unwrap();
    let metrics = ledger::metrics::Metrics::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let (s, m) = (store.clone(), metrics.clone());
    let task = tokio::spawn(async move {
        ledger::server::serve(
            s,
            m,
            auth::Auth::new(None),
            Default::default(),
            listener,
            async {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
    });
    let ch = loop {
        // The listener is bound: the first connect succeeds once serve runs.
        if let Ok(ch) = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            break ch;
        }
        tokio::task::yield_now().await;
    };
    let mut c = ReceivablesServiceClient::new(ch);
    let expected: receivables::Report = serde_json::from_str(KPI_REPORT).unwrap();
    assert_eq!(
        report(&mut c, "2024-03-01", "2024-03-31").await,
        report_out(&expected)
    );
    // The gauges: set when the load ends (the report above waited for it or came after).
    for _ in 0..3000 {
        if metrics.book_events.get() != 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(metrics.book_events.get(), 13);
    assert!(metrics.book_load_seconds.get() > 0.0);
    assert!(
        metrics
            .render()
            .contains("ledger_receivables_book_load_seconds")
    );
    let _ = stop.send(());
    let _ = task.await;
    store.close().await;
}
