//! Issue 12's last wirings over real gRPC, on PostgreSQL and SQLite: one consumer's payment
//! split over several debts (`ApplyConsumerPayment`: never a disputed debt, Reg F
//! 1006.30(c); idempotent by id; all-or-nothing), the do-not-transfer flag of settled and
//! disputed debts (1006.30(b)) in lines, statements, CSV and as a filter, and the KPI and
//! commitment reports as CSV. Roles: CRM applies payments, managers export.

mod common;

use common::*;
use ledger_api::pb;
use ledger_api::pb::receivables_service_client::ReceivablesServiceClient;
use tonic::Code;
use tonic::transport::Channel;

both_stores!(
    a_consumer_payment_is_split_over_the_debts,
    refused_consumer_payments_name_the_field_and_store_nothing,
    transfer_blocked_flag_and_filter,
    kpi_and_commitment_csv,
);

const KPI_EVENTS: &str = include_str!("../../../crates/receivables/tests/data/kpi_example.jsonl");

/// Four debts of one consumer as of 2024-03-10: x 300 due 03-01 (USD), y 200 due 02-01,
/// z 500 due 01-15 and disputed since 03-01, w 100 due 03-01.
const DEBTS: &str = r#"{"type":"charge","id":"x1","account":"x","date":"2024-01-01","amount_minor":300,"due":"2024-03-01","category":"principal","currency":"USD"}
{"type":"charge","id":"y1","account":"y","date":"2024-01-01","amount_minor":200,"due":"2024-02-01","category":"principal"}
{"type":"charge","id":"z1","account":"z","date":"2024-01-01","amount_minor":500,"due":"2024-01-15","category":"principal"}
{"type":"dispute","id":"z2","account":"z","date":"2024-03-01"}
{"type":"charge","id":"w1","account":"w","date":"2024-01-01","amount_minor":100,"due":"2024-03-01","category":"principal"}
"#;

type Client = ReceivablesServiceClient<Channel>;

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

async fn import(c: &mut Client, text: &str) -> pb::ImportMoneyEventsResponse {
    let msgs: Vec<pb::ImportMoneyEventsRequest> = lines(text)
        .into_iter()
        .map(|event_json| pb::ImportMoneyEventsRequest { event_json })
        .collect();
    c.import_money_events(tokio_stream::iter(msgs))
        .await
        .unwrap()
        .into_inner()
}

fn payment(id: &str, amount: i64, debts: &[&str]) -> pb::ApplyConsumerPaymentRequest {
    pb::ApplyConsumerPaymentRequest {
        payment_id: id.into(),
        date: "2024-03-10".into(),
        amount_minor: amount,
        currency: "USD".into(),
        debt_ids: debts.iter().map(|d| (*d).to_owned()).collect(),
        reason: String::new(),
    }
}

async fn apply(
    c: &mut Client,
    req: pb::ApplyConsumerPaymentRequest,
) -> Result<pb::ApplyConsumerPaymentResponse, tonic::Status> {
    c.apply_consumer_payment(req).await.map(|r| r.into_inner())
}

fn parts(r: &pb::ApplyConsumerPaymentResponse) -> Vec<(String, i64, String)> {
    r.parts
        .iter()
        .map(|p| (p.debt_id.clone(), p.amount_minor, p.event_id.clone()))
        .collect()
}

fn part(debt: &str, amount: i64, event: &str) -> (String, i64, String) {
    (debt.to_owned(), amount, event.to_owned())
}

async fn report(c: &mut Client, as_of: &str) -> pb::ReceivablesReport {
    c.get_receivables_report(pb::GetReceivablesReportRequest {
        as_of: as_of.into(),
        period_start: "2024-03-01".into(),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn a_consumer_payment_is_split_over_the_debts(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    import(&mut c, DEBTS).await;

    // 700 for all four as of 03-10: z is the oldest but disputed, so nothing goes to it; y
    // (due 02-01) takes its 200, then w and x (both due 03-01, by id) 100 and 300; 100 is
    // left over, unapplied.
    let r = apply(&mut c, payment("P1", 700, &["z", "x", "w", "y"]))
        .await
        .unwrap();
    assert_eq!(
        parts(&r),
        [
            part("y", 200, "P1/y"),
            part("w", 100, "P1/w"),
            part("x", 300, "P1/x")
        ]
    );
    assert_eq!((r.unapplied_minor, r.duplicate), (100, false));
    let after = report(&mut c, "2024-03-10").await;
    let open: Vec<(String, i64)> = after
        .accounts
        .iter()
        .map(|l| (l.account.clone(), l.aging.unwrap().total))
        .collect();
    assert_eq!(
        open,
        [("w", 0), ("x", 0), ("y", 0), ("z", 500)].map(|(a, n)| (a.to_owned(), n))
    );
    // Each part is a `payment` money event of its debt, like an imported one.
    let st = c
        .get_account_statement(pb::GetAccountStatementRequest {
            account_id: "x".into(),
            as_of: "2024-03-31".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        st.events_json
            .iter()
            .any(|e| e.contains(r#""id":"P1/x""#) && e.contains(r#""amount_minor":300"#)),
        "{:?}",
        st.events_json
    );

    // The ledger's figures are the engine's for the same file with a consumer_payment line
    // (what `dialerctl ledger replay` reads).
    let file = format!(
        "{DEBTS}{}\n",
        r#"{"type":"consumer_payment","id":"P1","date":"2024-03-10","amount_minor":700,"currency":"USD","debt_ids":["z","x","w","y"]}"#
    );
    let (book, _) = receivables::jsonl::load_mixed(&file).unwrap();
    let want = receivables::replay(
        &book,
        "2024-03-01".parse().unwrap(),
        "2024-03-10".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(after.kpi, ledger::grpc::receivables::report_out(&want).kpi);

    // The same payment again (debts in another order): the same split, nothing imported.
    let again = apply(&mut c, payment("P1", 700, &["y", "w", "x", "z"]))
        .await
        .unwrap();
    assert_eq!((parts(&again), again.duplicate), (parts(&r), true));
    assert_eq!(report(&mut c, "2024-03-10").await, after);
    // The same id with another content: refused, naming the field.
    for (req, field) in [
        (payment("P1", 600, &["x", "y", "z", "w"]), "amount_minor"),
        (payment("P1", 700, &["x", "y"]), "debt_ids"),
        (
            pb::ApplyConsumerPaymentRequest {
                date: "2024-03-11".into(),
                ..payment("P1", 700, &["x", "y", "z", "w"])
            },
            "date",
        ),
    ] {
        let e = apply(&mut c, req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(
            e.message(),
            format!("{field}: differs from the consumer payment P1 applied before")
        );
    }

    // Only a disputed debt: nothing applied, all of it unapplied, never put on z.
    let r = apply(&mut c, payment("P2", 50, &["z"])).await.unwrap();
    assert_eq!((r.parts.len(), r.unapplied_minor), (0, 50));
    // Overpaying what is left: y, w, x owe nothing now, so it is all unapplied too.
    let r = apply(&mut c, payment("P3", 80, &["x", "y", "w", "z"]))
        .await
        .unwrap();
    assert_eq!((r.parts.len(), r.unapplied_minor), (0, 80));
    assert_eq!(
        report(&mut c, "2024-03-10").await.accounts,
        after.accounts,
        "nothing more imported"
    );
    srv.stop().await;
}

async fn refused_consumer_payments_name_the_field_and_store_nothing(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    import(&mut c, DEBTS).await;
    import(
        &mut c,
        r#"{"type":"charge","id":"e1","account":"e","date":"2024-01-01","amount_minor":5,"due":"2024-01-01","category":"fee","currency":"EUR"}"#,
    )
    .await;
    let before = report(&mut c, "2024-03-31").await;
    let cases = [
        (payment("", 5, &["x"]), "payment_id: is required"),
        (
            pb::ApplyConsumerPaymentRequest {
                date: "2024-3-10".into(),
                ..payment("P", 5, &["x"])
            },
            "date: must be a date (YYYY-MM-DD)",
        ),
        (payment("P", 0, &["x"]), "amount_minor must be positive"),
        (
            pb::ApplyConsumerPaymentRequest {
                currency: "usd".into(),
                ..payment("P", 5, &["x"])
            },
            "currency must be an ISO 4217 code like USD",
        ),
        (payment("P", 5, &[]), "debt_ids must be a non-empty list"),
        (
            payment("P", 5, &["x", "x"]),
            "debt_ids[1]: x is listed twice",
        ),
        (
            payment("P", 5, &["x", "q"]),
            "debt_ids: q has no money events",
        ),
        (
            payment("P", 5, &["x", "e"]),
            "currency: USD differs from debt e's EUR",
        ),
    ];
    for (req, want) in cases {
        let e = apply(&mut c, req.clone()).await.unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (Code::InvalidArgument, want),
            "{req:?}"
        );
    }
    // Nothing of a refused payment is stored: the id is still free.
    assert_eq!(report(&mut c, "2024-03-31").await, before);
    let r = apply(&mut c, payment("P", 5, &["x"])).await.unwrap();
    assert_eq!((parts(&r), r.duplicate), (vec![part("x", 5, "P/x")], false));
    srv.stop().await;
}

/// The aging report's accounts (and their flags) with this transfer filter.
async fn flagged(c: &mut Client, transfer_blocked: Option<bool>) -> Vec<(String, bool)> {
    c.get_aging_report(pb::GetAgingReportRequest {
        as_of: "2024-03-31".into(),
        filter: Some(pb::ReportFilter {
            transfer_blocked,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .accounts
    .iter()
    .map(|l| (l.account.clone(), l.transfer_blocked))
    .collect()
}

async fn csv(mut stream: tonic::Streaming<pb::CsvChunk>) -> String {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        bytes.extend(chunk.data);
    }
    String::from_utf8(bytes).unwrap()
}

async fn transfer_blocked_flag_and_filter(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    import(&mut c, KPI_EVENTS).await;
    // E settles: 600 of 1000 accepted, paid on its due date, so the rest is closed as settled.
    import(
        &mut c,
        r#"{"type":"charge","id":"e1","account":"E","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal"}
{"type":"settlement","id":"e2","account":"E","date":"2024-03-01","amount_minor":600,"due":"2024-03-15"}
{"type":"payment","id":"e3","account":"E","date":"2024-03-15","amount_minor":600}"#,
    )
    .await;
    // D is in dispute, E settled: not to be sold or transferred (1006.30(b)).
    let s = |a: &str, b| (a.to_owned(), b);
    assert_eq!(
        flagged(&mut c, None).await,
        [
            s("A", false),
            s("B", false),
            s("C", false),
            s("D", true),
            s("E", true)
        ]
    );
    assert_eq!(
        flagged(&mut c, Some(true)).await,
        [s("D", true), s("E", true)]
    );
    assert_eq!(
        flagged(&mut c, Some(false)).await,
        [s("A", false), s("B", false), s("C", false)]
    );
    // Before the dispute (03-20) D was not blocked.
    let st = |account: &str, as_of: &str| pb::GetAccountStatementRequest {
        account_id: account.into(),
        as_of: as_of.into(),
    };
    let d = c
        .get_account_statement(st("D", "2024-03-31"))
        .await
        .unwrap();
    assert!(d.into_inner().transfer_blocked);
    let d = c
        .get_account_statement(st("D", "2024-03-19"))
        .await
        .unwrap();
    assert!(!d.into_inner().transfer_blocked);
    // The one-message report and the aging CSV carry it (the CSV as its last column).
    let r = report(&mut c, "2024-03-31").await;
    let blocked: Vec<&str> = r
        .accounts
        .iter()
        .filter(|l| l.transfer_blocked)
        .map(|l| l.account.as_str())
        .collect();
    assert_eq!(blocked, ["D", "E"]);
    let text = csv(c
        .export_aging_csv(pb::GetAgingReportRequest {
            as_of: "2024-03-31".into(),
            filter: Some(pb::ReportFilter {
                transfer_blocked: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner())
    .await;
    assert_eq!(
        text,
        "account,current,1_30,31_60,61_90,91_120,121_plus,total,credit_balance_minor,in_dispute,settled,transfer_blocked\r\n\
         D,0,200,0,0,0,0,200,0,true,false,true\r\n\
         E,0,0,0,0,0,0,0,0,false,true,true\r\n"
    );
    srv.stop().await;
}

async fn kpi_and_commitment_csv(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = ReceivablesServiceClient::new(srv.channel().await);
    import(&mut c, KPI_EVENTS).await;
    let kpi_req = |filter| pb::GetKpiReportRequest {
        as_of: "2024-03-31".into(),
        period_start: "2024-03-01".into(),
        filter,
    };
    // The worked example of docs/receivables.md, one row.
    let text = csv(c.export_kpi_csv(kpi_req(None)).await.unwrap().into_inner()).await;
    assert_eq!(
        text,
        "period_start,as_of,accounts,beginning_receivables_minor,charges_minor,ending_receivables_minor,net_collections_minor,past_due_percent,cei_percent,dso_days,liquidation_percent,promises_kept,promises_broken,promise_kept_percent,plans_active,plans_completed,plans_broken,accounts_in_dispute\r\n\
         2024-03-01,2024-03-31,4,1400,700,1400,700,64.29,43.75,62,33.33,1,1,50,0,0,1,1\r\n"
    );
    // A selection without accounts: null ratios are empty fields.
    let none = Some(pb::ReportFilter {
        client: "Nobody".into(),
        ..Default::default()
    });
    let text = csv(c.export_kpi_csv(kpi_req(none)).await.unwrap().into_inner()).await;
    assert_eq!(
        text.lines().nth(1).unwrap(),
        "2024-03-01,2024-03-31,0,0,0,0,0,,,,,0,0,,0,0,0,0"
    );
    let e = c
        .export_kpi_csv(pb::GetKpiReportRequest {
            period_start: "2024-04-01".into(),
            ..kpi_req(None)
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::InvalidArgument,
            "period_start: must not be after as_of"
        )
    );

    // Commitments: every line of the paged report, as rows (C's payment of 03-12 came after
    // its promise's window, due 03-10 without grace: 0 paid in it).
    let req = pb::GetCommitmentReportRequest {
        as_of: "2024-03-31".into(),
        page_size: 1,
        ..Default::default()
    };
    let text = csv(c
        .export_commitment_csv(req.clone())
        .await
        .unwrap()
        .into_inner())
    .await;
    assert_eq!(
        text,
        "account,kind,event_id,status,date,due,amount_minor,paid_minor,kept_on,broken_on,installments,installments_kept\r\n\
         A,promise,a-pr1,kept,2024-03-01,2024-03-10,300,300,2024-03-10,,0,0\r\n\
         B,plan,b-pl1,broken,2024-03-05,2024-03-20,500,0,,2024-03-21,2,0\r\n\
         C,promise,c-pr1,broken,2024-03-01,2024-03-10,400,0,,2024-03-11,0,0\r\n"
    );
    let page = c.get_commitment_report(req).await.unwrap().into_inner();
    assert_eq!(page.commitments.len(), 1, "the RPC pages, the CSV does not");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_applies_payments_and_managers_export() {
    let db = TestDb::sqlite();
    let srv = TestServer::start(&db.url, Some(KEY)).await;
    let ch = srv.channel().await;
    let client = |role: auth::Role| receivables_client(&ch, role);
    let msgs: Vec<pb::ImportMoneyEventsRequest> = lines(DEBTS)
        .into_iter()
        .map(|event_json| pb::ImportMoneyEventsRequest { event_json })
        .collect();
    client(auth::Role::Crm)
        .import_money_events(tokio_stream::iter(msgs))
        .await
        .unwrap();
    for role in [auth::Role::Manager, auth::Role::Dialer, auth::Role::Agent] {
        let e = client(role)
            .apply_consumer_payment(payment("P1", 10, &["x"]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{role:?}");
    }
    for role in [auth::Role::Crm, auth::Role::Admin] {
        let r = client(role)
            .apply_consumer_payment(payment("P1", 10, &["x"]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.parts.len(), 1, "{role:?}");
    }
    let kpi = || pb::GetKpiReportRequest {
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
            c.export_kpi_csv(kpi()).await.map(|_| ()),
            c.export_commitment_csv(commitments()).await.map(|_| ()),
        ]
        .map(|r| r.unwrap_err().code());
        assert_eq!(codes, [Code::PermissionDenied; 2], "{role:?}");
    }
    for role in [auth::Role::Manager, auth::Role::Admin] {
        let mut c = client(role);
        assert!(c.export_kpi_csv(kpi()).await.is_ok(), "{role:?}");
        assert!(
            c.export_commitment_csv(commitments()).await.is_ok(),
            "{role:?}"
        );
    }
    srv.stop().await;
    db.cleanup().await;
}
