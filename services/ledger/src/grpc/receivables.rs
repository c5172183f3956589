//! `ReceivablesService` (issue 12): the client-streaming import of money events and the
//! reports derived from them. The edge only parses: each message's JSON becomes a
//! `receivables::Event` (refusals name the event's index and the field, as the engine words
//! them), the batch goes to [`Store::import_money_events`], and reports come back from the
//! store's `receivables::replay` mapped field for field to protobuf.

use jiff::civil::Date;
use ledger_api::pb;
use receivables::{Aging, Event, EventError, Kpi, Report};
use tonic::{Request, Response, Status, Streaming};

use super::status::{bad_field, status};
use crate::store::{MAX_EVENT_BYTES, MAX_EVENTS_PER_IMPORT, Statement, Store};

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

/// The replay report as protobuf, field for field.
pub fn report_out(r: &Report) -> pb::ReceivablesReport {
    pb::ReceivablesReport {
        as_of: r.as_of.to_string(),
        period_start: r.period_start.to_string(),
        aging: Some(aging_out(&r.aging)),
        credit_balance_minor: r.credit_balance_minor,
        kpi: Some(kpi_out(&r.kpi)),
        accounts: r
            .accounts
            .iter()
            .map(|l| pb::ReceivablesAccountLine {
                account: l.account.clone(),
                aging: Some(aging_out(&l.aging)),
                credit_balance_minor: l.credit_balance_minor,
                in_dispute: l.in_dispute,
                settled: l.settled,
            })
            .collect(),
    }
}

fn statement_out(s: &Statement, as_of: Date) -> Result<pb::AccountStatement, Status> {
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
        let as_of = date("as_of", &r.as_of)?;
        let period_start = date("period_start", &r.period_start)?;
        if period_start > as_of {
            return Err(bad_field("period_start", "must not be after as_of"));
        }
        let report = self
            .store
            .receivables_report(period_start, as_of)
            .await
            .map_err(status)?;
        Ok(Response::new(report_out(&report)))
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
        let statement = self
            .store
            .account_statement(&r.account_id, as_of)
            .await
            .map_err(status)?;
        Ok(Response::new(statement_out(&statement, as_of)?))
    }
}
