//! `ReceivablesService` (issue 12): the client-streaming import of money events and the
//! reports derived from them. The edge only parses: each message's JSON becomes a
//! `receivables::Event` (refusals name the event's index and the field, as the engine words
//! them), the batch goes to [`Store::import_money_events`], and reports come back from the
//! store's `receivables::replay` mapped field for field to protobuf. The aging and
//! commitment reports are paged by account id; the CSV export is a server stream of chunks.

use std::pin::Pin;

use jiff::civil::Date;
use ledger_api::pb;
use receivables::{AccountLine, Aging, Bucket, ConsumerPayment, Event, EventError, Kpi, Report};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::status::{bad_field, status};
use crate::store::{
    CommitmentCounts, CommitmentLine, MAX_EVENT_BYTES, MAX_EVENTS_PER_IMPORT, ReportFilter,
    ReportLine, Statement, Store, page_size,
};

/// A CSV chunk's size: whole lines, flushed once a chunk reaches this many bytes.
const CSV_CHUNK_BYTES: usize = 1 << 20;

type CsvStream = Pin<Box<dyn Stream<Item = Result<pb::CsvChunk, Status>> + Send + 'static>>;

/// The ReceivablesService implementation.
#[derive(Debug, Clone)]
pub struct ReceivablesGrpc {
    store: Store,
}

impl ReceivablesGrpc {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// INVALID_ARGUMENT for message `index` of an import (`event 3 (p1): amount_minor ...`).
fn refused(index: usize, id: Option<&str>, message: impl std::fmt::Display) -> Status {
    match id {
        Some(id) => Status::invalid_argument(format!("event {index} ({id}): {message}")),
        None => Status::invalid_argument(format!("event {index}: {message}")),
    }
}

/// One import message's event.
fn parse_event(index: usize, text: &str) -> Result<Event, Status> {
    if text.len() > MAX_EVENT_BYTES {
        return Err(refused(
            index,
            None,
            format!("event_json: at most {MAX_EVENT_BYTES} bytes"),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| refused(index, None, EventError::NotJson(e.to_string())))?;
    let id = value.get("id").and_then(|v| v.as_str());
    Event::from_value(&value).map_err(|e| refused(index, id, e))
}

/// A request's date field: required, `YYYY-MM-DD`.
fn date(field: &str, text: &str) -> Result<Date, Status> {
    if text.is_empty() {
        return Err(bad_field(field, "is required"));
    }
    receivables::event::parse_date(text)
        .ok_or_else(|| bad_field(field, "must be a date (YYYY-MM-DD)"))
}

fn aging_out(a: &Aging) -> pb::Aging {
    pb::Aging {
        current: a.current,
        d1_30: a.d1_30,
        d31_60: a.d31_60,
        d61_90: a.d61_90,
        d91_120: a.d91_120,
        d121_plus: a.d121_plus,
        total: a.total,
    }
}

fn kpi_out(k: &Kpi) -> pb::Kpi {
    pb::Kpi {
        beginning_receivables_minor: k.beginning_receivables_minor,
        charges_minor: k.charges_minor,
        ending_receivables_minor: k.ending_receivables_minor,
        net_collections_minor: k.net_collections_minor,
        past_due_percent: k.past_due_percent,
        cei_percent: k.cei_percent,
        dso_days: k.dso_days,
        liquidation_percent: k.liquidation_percent,
        promises_kept: k.promises_kept,
        promises_broken: k.promises_broken,
        promise_kept_percent: k.promise_kept_percent,
        plans_active: k.plans_active,
        plans_completed: k.plans_completed,
        plans_broken: k.plans_broken,
        accounts_in_dispute: k.accounts_in_dispute,
    }
}

fn line_out(l: &AccountLine, time_barred: bool) -> pb::ReceivablesAccountLine {
    pb::ReceivablesAccountLine {
        account: l.account.clone(),
        aging: Some(aging_out(&l.aging)),
        credit_balance_minor: l.credit_balance_minor,
        in_dispute: l.in_dispute,
        settled: l.settled,
        time_barred,
        transfer_blocked: l.transfer_blocked,
    }
}

/// A request's filter: ids bounded, the bucket one of the report's names.
fn filter_in(f: Option<pb::ReportFilter>) -> Result<ReportFilter, Status> {
    let f = f.unwrap_or_default();
    let id = |field: &str, v: String| -> Result<Option<String>, Status> {
        if v.is_empty() {
            return Ok(None);
        }
        ledger_api::domain::bounded(field, &v, ledger_api::limits::ID_BYTES)
            .map_err(super::status::invalid)?;
        Ok(Some(v))
    };
    let bucket = if f.bucket.is_empty() {
        None
    } else {
        Some(Bucket::parse(&f.bucket).ok_or_else(|| {
            bad_field(
                "filter.bucket",
                "must be one of current, 1_30, 31_60, 61_90, 91_120, 121_plus",
            )
        })?)
    };
    Ok(ReportFilter {
        client: id("filter.client", f.client)?,
        campaign_id: id("filter.campaign_id", f.campaign_id)?,
        bucket,
        transfer_blocked: f.transfer_blocked,
    })
}

/// What the report requests share, parsed once and in this order: `as_of`, the period's
/// `period_start` (reports with a period), the filter, and the page (paged reports).
struct ReportQuery {
    as_of: Date,
    /// `as_of` when the report has no period.
    period_start: Date,
    filter: ReportFilter,
    after: Option<String>,
    /// `usize::MAX` for reports without pages.
    limit: usize,
}

fn report_query(
    as_of: &str,
    period_start: Option<&str>,
    filter: Option<pb::ReportFilter>,
    page: Option<(u32, &str)>,
) -> Result<ReportQuery, Status> {
    let as_of = date("as_of", as_of)?;
    let period_start = match period_start {
        None => as_of,
        Some(text) => {
            let start = date("period_start", text)?;
            if start > as_of {
                return Err(bad_field("period_start", "must not be after as_of"));
            }
            start
        }
    };
    let filter = filter_in(filter)?;
    let (limit, after) = match page {
        None => (usize::MAX, None),
        Some((size, token)) => (
            page_size(size).map_err(status)?,
            token_in(token)?.map(str::to_owned),
        ),
    };
    Ok(ReportQuery {
        as_of,
        period_start,
        filter,
        after,
        limit,
    })
}

/// A page token (an account id) or none.
fn token_in(token: &str) -> Result<Option<&str>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    if token.len() > 1024 {
        return Err(bad_field("page_token", "is not a token of this report"));
    }
    Ok(Some(token))
}

fn counts_out(c: &CommitmentCounts) -> pb::CommitmentCounts {
    use receivables::{PlanStatus as Pl, PromiseStatus as Pr, SettlementStatus as Se};
    let pr = |s| c.promises.get(&s).copied().unwrap_or(0);
    let pl = |s| c.plans.get(&s).copied().unwrap_or(0);
    let se = |s| c.settlements.get(&s).copied().unwrap_or(0);
    pb::CommitmentCounts {
        promises_pending: pr(Pr::Pending),
        promises_kept: pr(Pr::Kept),
        promises_broken: pr(Pr::Broken),
        promises_superseded: pr(Pr::Superseded),
        plans_active: pl(Pl::Active),
        plans_completed: pl(Pl::Completed),
        plans_broken: pl(Pl::Broken),
        plans_replaced: pl(Pl::Replaced),
        settlements_pending: se(Se::Pending),
        settlements_fulfilled: se(Se::Fulfilled),
        settlements_broken: se(Se::Broken),
        settlements_superseded: se(Se::Superseded),
    }
}

fn commitment_out(l: CommitmentLine) -> pb::CommitmentLine {
    let day = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
    pb::CommitmentLine {
        account: l.account,
        kind: l.kind.to_owned(),
        event_id: l.event_id,
        status: l.status,
        date: l.date.to_string(),
        due: l.due.to_string(),
        amount_minor: l.amount_minor,
        paid_minor: l.paid_minor,
        kept_on: day(l.kept_on),
        broken_on: day(l.broken_on),
        installments: l.installments as u32,
        installments_kept: l.installments_kept as u32,
    }
}

/// An export's reply: rows as CSV chunks of about [`CSV_CHUNK_BYTES`] (whole rows; the
/// header first, alone when there are no rows).
fn csv_response<T: Send + 'static>(
    header: &'static str,
    rows: Vec<T>,
    push: fn(&mut String, &T),
) -> Response<CsvStream> {
    let mut rows = rows.into_iter().peekable();
    let mut first = true;
    let chunks = std::iter::from_fn(move || {
        if !first && rows.peek().is_none() {
            return None;
        }
        let mut out = String::with_capacity(CSV_CHUNK_BYTES + 1024);
        if first {
            out.push_str(header);
            first = false;
        }
        while out.len() < CSV_CHUNK_BYTES {
            let Some(row) = rows.next() else { break };
            push(&mut out, &row);
        }
        Some(Ok(pb::CsvChunk {
            data: out.into_bytes(),
        }))
    });
    Response::new(Box::pin(tokio_stream::iter(chunks)))
}

/// The header of the commitment CSV: the fields of `CommitmentLine`.
pub const COMMITMENT_CSV_HEADER: &str = "account,kind,event_id,status,date,due,amount_minor,paid_minor,kept_on,broken_on,installments,installments_kept\r\n";

/// One commitment's CSV row (with its CRLF); empty dates are empty fields.
pub fn push_commitment_row(out: &mut String, l: &CommitmentLine) {
    let day = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
    let fields = [
        receivables::csv_field(&l.account),
        l.kind.to_owned(),
        receivables::csv_field(&l.event_id),
        l.status.clone(),
        l.date.to_string(),
        l.due.to_string(),
        l.amount_minor.to_string(),
        l.paid_minor.to_string(),
        day(l.kept_on),
        day(l.broken_on),
        l.installments.to_string(),
        l.installments_kept.to_string(),
    ];
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// The replay report as protobuf, field for field (`time_barred` false: see
/// [`flagged_report_out`]).
pub fn report_out(r: &Report) -> pb::ReceivablesReport {
    pb::ReceivablesReport {
        as_of: r.as_of.to_string(),
        period_start: r.period_start.to_string(),
        aging: Some(aging_out(&r.aging)),
        credit_balance_minor: r.credit_balance_minor,
        kpi: Some(kpi_out(&r.kpi)),
        accounts: r.accounts.iter().map(|l| line_out(l, false)).collect(),
    }
}

/// The replay report with each line's time-barred flag.
fn flagged_report_out(r: &Report, flags: &[bool]) -> pb::ReceivablesReport {
    let mut out = report_out(r);
    for (line, flag) in out.accounts.iter_mut().zip(flags) {
        line.time_barred = *flag;
    }
    out
}

fn statement_out(
    s: &Statement,
    as_of: Date,
    us_state: Option<String>,
    time_barred: bool,
) -> Result<pb::AccountStatement, Status> {
    let st = &s.state;
    let t = &st.totals;
    let internal = |e: serde_json::Error| {
        tracing::error!(error = %e, "statement serialisation");
        Status::internal("internal error")
    };
    let events_json = s
        .account
        .events()
        .iter()
        .filter(|e| e.date <= as_of)
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    Ok(pb::AccountStatement {
        account_id: s.account.id().to_owned(),
        as_of: as_of.to_string(),
        currency: s.account.currency().unwrap_or_default().to_owned(),
        aging: Some(aging_out(&st.aging)),
        credit_balance_minor: st.credit_balance_minor,
        balance_minor: st.balance_minor(),
        in_dispute: st.in_dispute,
        settled: st.settled,
        totals: Some(pb::ReceivablesTotals {
            principal_minor: t.principal_minor,
            interest_minor: t.interest_minor,
            fees_minor: t.fees_minor,
            payments_minor: t.payments_minor,
            credits_minor: t.credits_minor,
            written_off_minor: t.written_off_minor,
            settled_minor: t.settled_minor,
            refunds_minor: t.refunds_minor,
        }),
        state_json: serde_json::to_string(st).map_err(internal)?,
        events_json,
        time_barred,
        us_state: us_state.unwrap_or_default(),
        transfer_blocked: st.transfer_blocked(),
    })
}

#[tonic::async_trait]
impl pb::receivables_service_server::ReceivablesService for ReceivablesGrpc {
    async fn import_money_events(
        &self,
        req: Request<Streaming<pb::ImportMoneyEventsRequest>>,
    ) -> Result<Response<pb::ImportMoneyEventsResponse>, Status> {
        let actor = auth::caller(&req).map(|c| c.subject)?;
        let mut stream = req.into_inner();
        let mut events = Vec::new();
        while let Some(msg) = stream.message().await? {
            let index = events.len();
            if index >= MAX_EVENTS_PER_IMPORT {
                return Err(refused(
                    index,
                    None,
                    format!("at most {MAX_EVENTS_PER_IMPORT} events per import"),
                ));
            }
            events.push(parse_event(index, &msg.event_json)?);
        }
        let summary = self
            .store
            .import_money_events(events, &actor)
            .await
            .map_err(status)?;
        tracing::info!(
            actor = %actor,
            new = summary.new,
            duplicates = summary.duplicates,
            "money events imported"
        );
        Ok(Response::new(pb::ImportMoneyEventsResponse {
            new_events: summary.new as u64,
            duplicate_events: summary.duplicates as u64,
        }))
    }

    async fn get_receivables_report(
        &self,
        req: Request<pb::GetReceivablesReportRequest>,
    ) -> Result<Response<pb::ReceivablesReport>, Status> {
        let r = req.into_inner();
        let q = report_query(&r.as_of, Some(&r.period_start), None, None)?;
        let (report, flags) = self
            .store
            .receivables_report_flagged(q.period_start, q.as_of)
            .await
            .map_err(status)?;
        Ok(Response::new(flagged_report_out(&report, &flags)))
    }

    async fn get_account_statement(
        &self,
        req: Request<pb::GetAccountStatementRequest>,
    ) -> Result<Response<pb::AccountStatement>, Status> {
        let r = req.into_inner();
        if r.account_id.is_empty() {
            return Err(bad_field("account_id", "is required"));
        }
        ledger_api::domain::bounded("account_id", &r.account_id, ledger_api::limits::ID_BYTES)
            .map_err(super::status::invalid)?;
        let as_of = date("as_of", &r.as_of)?;
        let (statement, us_state, barred) = self
            .store
            .account_statement_flagged(&r.account_id, as_of)
            .await
            .map_err(status)?;
        Ok(Response::new(statement_out(
            &statement, as_of, us_state, barred,
        )?))
    }

    async fn get_aging_report(
        &self,
        req: Request<pb::GetAgingReportRequest>,
    ) -> Result<Response<pb::AgingReport>, Status> {
        let r = req.into_inner();
        let q = report_query(&r.as_of, None, r.filter, Some((r.page_size, &r.page_token)))?;
        let page = self
            .store
            .aging_page(q.as_of, &q.filter, q.after.as_deref(), q.limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AgingReport {
            as_of: q.as_of.to_string(),
            totals: page.totals.map(|t| pb::AgingTotals {
                aging: Some(aging_out(&t.aging)),
                credit_balance_minor: t.credit_balance_minor,
                accounts: t.accounts,
            }),
            accounts: page
                .lines
                .iter()
                .map(|ReportLine { line, time_barred }| line_out(line, *time_barred))
                .collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    type ExportAgingCsvStream = CsvStream;

    async fn export_aging_csv(
        &self,
        req: Request<pb::GetAgingReportRequest>,
    ) -> Result<Response<CsvStream>, Status> {
        let r = req.into_inner();
        let q = report_query(&r.as_of, None, r.filter, None)?;
        let lines = self
            .store
            .aging_lines(q.as_of, &q.filter)
            .await
            .map_err(status)?;
        Ok(csv_response(
            receivables::CSV_HEADER,
            lines,
            receivables::push_csv_line,
        ))
    }

    async fn get_kpi_report(
        &self,
        req: Request<pb::GetKpiReportRequest>,
    ) -> Result<Response<pb::KpiReport>, Status> {
        let r = req.into_inner();
        let q = report_query(&r.as_of, Some(&r.period_start), r.filter, None)?;
        let (kpi, accounts) = self
            .store
            .kpi_report(q.period_start, q.as_of, &q.filter)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::KpiReport {
            as_of: q.as_of.to_string(),
            period_start: q.period_start.to_string(),
            kpi: Some(kpi_out(&kpi)),
            accounts,
        }))
    }

    type ExportKpiCsvStream = CsvStream;

    async fn export_kpi_csv(
        &self,
        req: Request<pb::GetKpiReportRequest>,
    ) -> Result<Response<CsvStream>, Status> {
        let r = req.into_inner();
        let q = report_query(&r.as_of, Some(&r.period_start), r.filter, None)?;
        let (kpi, accounts) = self
            .store
            .kpi_report(q.period_start, q.as_of, &q.filter)
            .await
            .map_err(status)?;
        let row = (q.period_start, q.as_of, accounts, kpi);
        Ok(csv_response(
            receivables::KPI_CSV_HEADER,
            vec![row],
            |out, (s, d, n, k)| receivables::push_kpi_row(out, *s, *d, *n, k),
        ))
    }

    async fn get_commitment_report(
        &self,
        req: Request<pb::GetCommitmentReportRequest>,
    ) -> Result<Response<pb::CommitmentReport>, Status> {
        let r = req.into_inner();
        let q = report_query(&r.as_of, None, r.filter, Some((r.page_size, &r.page_token)))?;
        let page = self
            .store
            .commitment_page(q.as_of, &q.filter, q.after.as_deref(), q.limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CommitmentReport {
            as_of: q.as_of.to_string(),
            counts: page.counts.as_ref().map(counts_out),
            commitments: page.lines.into_iter().map(commitment_out).collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    type ExportCommitmentCsvStream = CsvStream;

    async fn export_commitment_csv(
        &self,
        req: Request<pb::GetCommitmentReportRequest>,
    ) -> Result<Response<CsvStream>, Status> {
        let r = req.into_inner();
        let q = report_query(&r.as_of, None, r.filter, None)?;
        // Every page at once: one snapshot of the book.
        let page = self
            .store
            .commitment_page(q.as_of, &q.filter, None, q.limit)
            .await
            .map_err(status)?;
        Ok(csv_response(
            COMMITMENT_CSV_HEADER,
            page.lines,
            push_commitment_row,
        ))
    }

    async fn apply_consumer_payment(
        &self,
        req: Request<pb::ApplyConsumerPaymentRequest>,
    ) -> Result<Response<pb::ApplyConsumerPaymentResponse>, Status> {
        let actor = auth::caller(&req).map(|c| c.subject)?;
        let r = req.into_inner();
        let payment = consumer_payment_in(r)?;
        let applied = self
            .store
            .apply_consumer_payment(&payment, &actor)
            .await
            .map_err(status)?;
        let p = &applied.payment;
        Ok(Response::new(pb::ApplyConsumerPaymentResponse {
            payment_id: p.id.clone(),
            parts: applied
                .split
                .parts
                .iter()
                .map(|(debt, amount)| pb::ConsumerPaymentPart {
                    debt_id: debt.clone(),
                    amount_minor: *amount,
                    event_id: p.event_id(debt),
                })
                .collect(),
            unapplied_minor: applied.split.unapplied_minor,
            duplicate: applied.duplicate,
        }))
    }
}

/// A consumer payment request, checked field by field (each refusal names its field).
fn consumer_payment_in(r: pb::ApplyConsumerPaymentRequest) -> Result<ConsumerPayment, Status> {
    use ledger_api::domain::bounded;
    use ledger_api::limits::{ID_BYTES, TEXT_BYTES};
    let invalid = super::status::invalid;
    for (field, value) in [("payment_id", &r.payment_id), ("currency", &r.currency)] {
        if value.is_empty() {
            return Err(bad_field(field, "is required"));
        }
    }
    bounded("payment_id", &r.payment_id, ID_BYTES).map_err(invalid)?;
    let day = date("date", &r.date)?;
    for (k, debt) in r.debt_ids.iter().enumerate() {
        bounded(&format!("debt_ids[{k}]"), debt, ID_BYTES).map_err(invalid)?;
    }
    bounded("reason", &r.reason, TEXT_BYTES).map_err(invalid)?;
    ConsumerPayment::new(
        r.payment_id,
        day,
        r.amount_minor,
        r.currency,
        r.debt_ids,
        Some(r.reason),
    )
    .map_err(|e| Status::invalid_argument(e.to_string()))
}
