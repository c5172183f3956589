//! Where the account ledger meets the receivables (issue 12). A debt's money events are those
//! whose `account` is its debt id. From them the ledger derives what the dialer uses: the
//! receivables summary a read of the debt carries, and dispute holds (FDCPA 809(b)). Into them
//! go the money events the ledger makes itself: a load's opening balance, and the promise and
//! plan of a disposition. Those go through [`Store::import_money_events`] like every other
//! event, with ids derived from what made them, so a retry is a duplicate, never a second
//! event.

use std::collections::HashSet;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use ledger_api::domain::{Account, DebtReceivables, Hold, HoldKind};
use ledger_api::limits::{ID_BYTES, MAX_DAYS_PAST_DUE};
use receivables::{Category, Event, EventKind, Installment, PlanStatus, PromiseStatus};
use sqlstore::{List, sql, with_pool};

use super::{Result, Store, StoreError, short_hash};

/// Who the ledger's own holds and events are set by.
const SET_BY: &str = "receivables";

/// The id of a debt's opening-balance charge.
pub fn opening_event_id(debt_id: &str) -> String {
    format!("opening:{debt_id}")
}

/// The id of the promise event a disposition's promise makes (`outcome:<key>:promise`).
pub fn promise_event_id(outcome_key: &str) -> String {
    format!("outcome:{outcome_key}:promise")
}

/// The id of the plan event a disposition's plan makes (`outcome:<key>:plan`).
pub fn plan_event_id(outcome_key: &str) -> String {
    format!("outcome:{outcome_key}:plan")
}

/// The hold a dispute money event sets: `dispute:<event id>`, or a hash of the event id when
/// that would pass the ledger's id bound.
pub fn dispute_hold_id(event_id: &str) -> String {
    let id = format!("dispute:{event_id}");
    if id.len() <= ID_BYTES {
        id
    } else {
        format!("dispute:h-{}", short_hash(&[event_id]))
    }
}

/// 00:00 UTC of `d`: where a hold derived from a dated event starts or ends.
fn midnight(d: Date) -> Result<Timestamp> {
    d.to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|e| StoreError::Corrupt(format!("date {d}: {e}")))
}

/// The aging bucket (the report's names) of an item `days` past due.
fn bucket(days: i32) -> &'static str {
    match days {
        ..=0 => "current",
        1..=30 => "1_30",
        31..=60 => "31_60",
        61..=90 => "61_90",
        91..=120 => "91_120",
        _ => "121_plus",
    }
}

fn promise_status_name(s: PromiseStatus) -> &'static str {
    match s {
        PromiseStatus::Pending => "pending",
        PromiseStatus::Kept => "kept",
        PromiseStatus::Broken => "broken",
        PromiseStatus::Superseded => "superseded",
    }
}

fn plan_status_name(s: PlanStatus) -> &'static str {
    match s {
        PlanStatus::Active => "active",
        PlanStatus::Completed => "completed",
        PlanStatus::Broken => "broken",
        PlanStatus::Replaced => "replaced",
    }
}

/// A debt's receivables summary as of `as_of`, from its money events: one derivation.
pub fn debt_summary(account: &receivables::Account, as_of: Date) -> DebtReceivables {
    let st = account.state_as_of(as_of);
    let events = account.events();
    let oldest_due = st.open_items.iter().map(|i| i.due).min();
    let oldest_days = oldest_due.map_or(0, |due| {
        (receivables::book::day_number(as_of) - receivables::book::day_number(due)).max(0)
    });
    let promise = st.latest_promise();
    let grace = promise.map_or(0, |p| match events.get(p.event).map(|e| &e.kind) {
        Some(EventKind::Promise { grace_days, .. }) => grace_days.unwrap_or(0),
        _ => 0,
    });
    let plan = st.active_plan().or(st.plans.last());
    // The latest payment not reversed as of the date (by date, then arrival).
    let reversed: HashSet<&str> = events
        .iter()
        .filter(|e| e.date <= as_of)
        .filter_map(|e| match &e.kind {
            EventKind::Reversal { reverses, .. } => Some(reverses.as_str()),
            _ => None,
        })
        .collect();
    let last_payment = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.date <= as_of && !reversed.contains(e.id.as_str()))
        .filter_map(|(i, e)| match e.kind {
            EventKind::Payment { amount_minor, .. } => Some(((e.date, i), amount_minor)),
            _ => None,
        })
        .max_by_key(|(k, _)| *k);
    DebtReceivables {
        as_of: Some(as_of),
        open_minor: st.total_open_minor(),
        credit_balance_minor: st.credit_balance_minor,
        past_due_minor: st
            .open_items
            .iter()
            .filter(|i| i.due < as_of)
            .map(|i| i.open_minor)
            .sum(),
        oldest_days_past_due: oldest_days,
        oldest_bucket: oldest_due.map_or("", |_| bucket(oldest_days)).to_owned(),
        promise_status: promise
            .map_or("", |p| promise_status_name(p.status))
            .to_owned(),
        promise_amount_minor: promise.map_or(0, |p| p.amount_minor),
        promise_due: promise.map(|p| p.due),
        promise_grace_days: grace,
        plan_status: plan.map_or("", |p| plan_status_name(p.status)).to_owned(),
        in_dispute: st.in_dispute,
        settled: st.settled,
        last_payment_date: last_payment.map(|((d, _), _)| d),
        last_payment_minor: last_payment.map_or(0, |(_, a)| a),
    }
}

/// The holds a debt's dispute events set: one per dispute, from its date (00:00 UTC) until
/// its resolution's date (00:00 UTC) once resolved. Derived from the events alone, so
/// deriving them again gives the same holds (and `set_hold` makes that a no-op).
pub fn dispute_holds(account: &receivables::Account, account_id: &str) -> Result<Vec<Hold>> {
    let events = account.events();
    let mut holds = Vec::new();
    for e in events {
        let EventKind::Dispute { .. } = e.kind else {
            continue;
        };
        let resolved = events.iter().find_map(|r| match &r.kind {
            EventKind::DisputeResolved { dispute, .. } if *dispute == e.id => Some(r.date),
            _ => None,
        });
        holds.push(Hold {
            hold_id: dispute_hold_id(&e.id),
            account_id: account_id.to_owned(),
            kind: HoldKind::Dispute,
            debt_id: account.id().to_owned(),
            number: String::new(),
            since: midnight(e.date)?,
            until: resolved.map(midnight).transpose()?,
            set_by: SET_BY.to_owned(),
            reason: if resolved.is_some() {
                "dispute resolved (money events)".to_owned()
            } else {
                "dispute, verification pending (money events)".to_owned()
            },
        });
    }
    Ok(holds)
}

/// The opening balances a load posts, in the load's own transaction (see
/// `Store::upsert_accounts`): each debt of `accts` with a balance and no money events of
/// its own (`had` lists those with) gets a `charge` (principal, the debt's currency)
/// `opening:<debt_id>` due `days_past_due` days before the load date `today` (so its aging
/// is what the CRM said). The engine refuses a charge due before its date, so it is dated on
/// its due date too. Later loads post nothing (the debt has events then): the balance is the
/// ledger's from the first load on.
pub(super) fn opening_events<'a>(
    accts: impl IntoIterator<Item = &'a Account>,
    had: &HashSet<String>,
    today: Date,
) -> Vec<Event> {
    accts
        .into_iter()
        .flat_map(|a| a.debts.iter())
        .filter(|d| d.balance_minor > 0 && !had.contains(&d.debt_id))
        .map(|d| {
            let days = d.days_past_due.clamp(0, MAX_DAYS_PAST_DUE);
            let due = today
                .checked_sub(Span::new().days(i64::from(days)))
                .unwrap_or(today);
            Event {
                id: opening_event_id(&d.debt_id),
                account: d.debt_id.clone(),
                date: due,
                kind: EventKind::Charge {
                    amount_minor: d.balance_minor,
                    due,
                    category: Category::Principal,
                    currency: Some(d.currency.clone()),
                },
            }
        })
        .collect()
}

impl Store {
    /// Called by `import_money_events` after a batch committed (duplicates included, so a
    /// retried import sets what a crash in between left unset): the dispute holds of the
    /// ledger debts the batch's disputes and resolutions concern.
    pub(super) async fn after_money_import(&self, events: &[Event], actor: &str) -> Result<()> {
        let debts: Vec<String> = events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Dispute { .. } | EventKind::DisputeResolved { .. }
                )
            })
            .map(|e| e.account.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if debts.is_empty() {
            return Ok(());
        }
        self.sync_dispute_holds(&debts, actor).await
    }

    /// Sets (through [`Store::set_hold`], so the change feed and the pre-dial check carry
    /// them) the dispute holds of those of `debt_ids` that are ledger debts.
    pub(super) async fn sync_dispute_holds(&self, debt_ids: &[String], actor: &str) -> Result<()> {
        let rows: Vec<(String, String)> = with_pool!(self.db, p, D => {
            sqlx::query_as(sql!(D,
                "SELECT debt_id, account_id FROM debts WHERE debt_id " in_list(1)))
            .bind(List(debt_ids))
            .fetch_all(p)
            .await?
        });
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let book = self.money_book(Some(&ids)).await?;
        for (debt, account_id) in rows {
            let Some(a) = book.account(&debt) else {
                continue;
            };
            for h in dispute_holds(a, &account_id)? {
                self.set_hold(h, actor).await?;
            }
        }
        Ok(())
    }

    /// Puts on each debt of `account` that has money events the receivables ledger's
    /// figures as of the ledger's today: its summary, its balance (open minus credit, never
    /// below 0: a read may be written back) and days past due (of the oldest open item).
    pub(super) async fn fill_receivables(&self, account: &mut Account) -> Result<()> {
        self.fill_receivables_many(&mut [account]).await
    }

    /// [`Store::fill_receivables`] for many accounts with one read of their money events.
    pub(super) async fn fill_receivables_many(&self, accounts: &mut [&mut Account]) -> Result<()> {
        let ids: Vec<String> = accounts
            .iter()
            .flat_map(|a| a.debts.iter().map(|d| d.debt_id.clone()))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let book = self.money_book(Some(&ids)).await?;
        if book.is_empty() {
            return Ok(());
        }
        let today = self.today();
        for d in accounts.iter_mut().flat_map(|a| a.debts.iter_mut()) {
            if let Some(a) = book.account(&d.debt_id) {
                let r = debt_summary(a, today);
                d.balance_minor = r.open_minor.saturating_sub(r.credit_balance_minor).max(0);
                d.days_past_due = r.oldest_days_past_due.clamp(0, MAX_DAYS_PAST_DUE);
                d.receivables = Some(r);
            }
        }
        Ok(())
    }

    /// The receivables `promise` event of a promise a disposition made (`outcome_key` set):
    /// `outcome:<key>:promise` on the debt, dated the ledger's today when first recorded (its
    /// due date if that is earlier). A resent promise finds the event there and imports
    /// nothing (on another day its date would differ).
    pub(super) async fn import_promise_event(
        &self,
        p: &ledger_api::domain::Promise,
        actor: &str,
    ) -> Result<()> {
        if p.outcome_key.is_empty() {
            return Ok(());
        }
        let due: Date = p.due_date.parse().map_err(|_| {
            StoreError::Invalid(ledger_api::domain::ValidationError::new(
                "promise.due_date",
                "is not a date (YYYY-MM-DD)",
            ))
        })?;
        let id = promise_event_id(&p.outcome_key);
        let known: Option<(String,)> = with_pool!(self.db, q, D => {
            sqlx::query_as("SELECT event_id FROM money_events WHERE event_id = $1")
                .bind(&id)
                .fetch_optional(q)
                .await?
        });
        if known.is_some() {
            return Ok(());
        }
        let event = Event {
            id,
            account: p.debt_id.clone(),
            date: self.today().min(due),
            kind: EventKind::Promise {
                amount_minor: p.amount_minor,
                due,
                grace_days: None,
            },
        };
        self.import_money_events(vec![event], actor).await?;
        Ok(())
    }

    /// Records a payment plan a disposition made: the receivables `plan` event
    /// `outcome:<outcome_key>:plan` on `debt_id` (of `account_id`), dated `made_on` (or its
    /// first installment's due date, if earlier). Idempotent by the outcome key.
    pub async fn record_plan(
        &self,
        plan: &PlanRecord,
        actor: &str,
    ) -> Result<receivables::ImportSummary> {
        self.record_plan_fenced(plan, actor, None).await
    }

    /// [`Store::record_plan`] for a dialer replica holding `fence` (a resent plan is a
    /// duplicate whatever the token).
    pub async fn record_plan_fenced(
        &self,
        plan: &PlanRecord,
        actor: &str,
        fence: Option<&ledger_api::domain::Fence>,
    ) -> Result<receivables::ImportSummary> {
        plan.validate()?;
        let debt: Option<(String,)> = with_pool!(self.db, p, D => {
            sqlx::query_as("SELECT debt_id FROM debts WHERE debt_id = $1 AND account_id = $2")
                .bind(&plan.debt_id)
                .bind(&plan.account_id)
                .fetch_optional(p)
                .await?
        });
        if debt.is_none() {
            self.require_account(&plan.account_id, "plan.account_id")
                .await?;
            return Err(ledger_api::domain::ValidationError::new(
                "plan.debt_id",
                "is not a debt of the account",
            )
            .into());
        }
        let first = plan.installments.first().map_or(plan.made_on, |i| i.due);
        let event = Event {
            id: plan_event_id(&plan.outcome_key),
            account: plan.debt_id.clone(),
            date: plan.made_on.min(first),
            kind: EventKind::Plan {
                installments: plan.installments.clone(),
                grace_days: (plan.grace_days > 0).then_some(plan.grace_days),
            },
        };
        self.import_money_events_fenced(vec![event], actor, fence)
            .await
    }
}

/// A payment plan taken on a call (the `PAYMENT_PLAN` disposition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    pub account_id: String,
    pub debt_id: String,
    /// The idempotency key of the outcome it came from (the event's id derives from it).
    pub outcome_key: String,
    /// The day the plan was made (the call's date, UTC).
    pub made_on: Date,
    pub installments: Vec<Installment>,
    pub grace_days: u32,
}

impl PlanRecord {
    /// Bounds and order, each refusal naming its field (`plan.installments[2].due`).
    pub fn validate(&self) -> Result<(), ledger_api::domain::ValidationError> {
        use ledger_api::domain::ValidationError as V;
        for (f, v) in [
            ("plan.account_id", &self.account_id),
            ("plan.debt_id", &self.debt_id),
            ("plan.outcome_key", &self.outcome_key),
        ] {
            if v.is_empty() || v.len() > ID_BYTES {
                return Err(V::new(f, format!("required, at most {ID_BYTES} bytes")));
            }
        }
        if self.installments.is_empty() || self.installments.len() > MAX_INSTALLMENTS {
            return Err(V::new(
                "plan.installments",
                format!("1 to {MAX_INSTALLMENTS} installments"),
            ));
        }
        let mut previous: Option<Date> = None;
        for (k, i) in self.installments.iter().enumerate() {
            if !(1..=ledger_api::limits::MAX_MINOR).contains(&i.amount_minor) {
                return Err(V::new(
                    format!("plan.installments[{k}].amount_minor"),
                    "must be 1 to 10^15",
                ));
            }
            if previous.is_some_and(|p| i.due <= p) {
                return Err(V::new(
                    format!("plan.installments[{k}].due"),
                    "must be after the previous installment's",
                ));
            }
            previous = Some(i.due);
        }
        if self.grace_days > receivables::event::MAX_GRACE_DAYS {
            return Err(V::new("plan.grace_days", "must be 0 to 3650"));
        }
        Ok(())
    }
}

/// Most installments of one plan (five years of monthly payments).
pub const MAX_INSTALLMENTS: usize = 60;

#[cfg(test)]
mod tests {
    use super::*;

    fn book(lines: &str) -> receivables::Book {
        receivables::jsonl::load(lines).expect("events")
    }

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn the_summary_is_one_derivation_of_the_debts_events() {
        let b = book(concat!(
            r#"{"type":"charge","id":"c1","account":"d1","date":"2024-01-01","due":"2024-01-31","category":"principal","amount_minor":1000,"currency":"USD"}"#,
            "\n",
            r#"{"type":"charge","id":"c2","account":"d1","date":"2024-03-01","due":"2024-04-15","category":"fee","amount_minor":50}"#,
            "\n",
            r#"{"type":"payment","id":"p1","account":"d1","date":"2024-03-05","amount_minor":100}"#,
            "\n",
            r#"{"type":"payment","id":"p2","account":"d1","date":"2024-03-08","amount_minor":200}"#,
            "\n",
            r#"{"type":"reversal","id":"r2","account":"d1","date":"2024-03-09","reverses":"p2"}"#,
            "\n",
            r#"{"type":"promise","id":"pr","account":"d1","date":"2024-03-10","amount_minor":300,"due":"2024-03-20","grace_days":2}"#,
            "\n",
        ));
        let a = b.account("d1").unwrap();
        let s = debt_summary(a, d("2024-03-31"));
        assert_eq!(s.open_minor, 950);
        // c1 (900 left) is 60 days past due; the fee is not due yet.
        assert_eq!(s.past_due_minor, 900);
        assert_eq!(s.oldest_days_past_due, 60);
        assert_eq!(s.oldest_bucket, "31_60");
        // p2 was reversed: the last payment standing is p1.
        assert_eq!(s.last_payment_date, Some(d("2024-03-05")));
        assert_eq!(s.last_payment_minor, 100);
        assert_eq!(s.promise_status, "broken");
        assert_eq!(s.promise_grace_days, 2);
        assert_eq!(s.promise_broken_from(), Some(d("2024-03-23")));
        // Before the reversal p2 counts; before the promise's window ends it is pending.
        let s = debt_summary(a, d("2024-03-08"));
        assert_eq!(s.last_payment_minor, 200);
        let s = debt_summary(a, d("2024-03-22"));
        assert_eq!(s.promise_status, "pending");
        // Nothing open: no bucket.
        let s = debt_summary(a, d("2023-12-31"));
        assert_eq!((s.open_minor, s.oldest_bucket.as_str()), (0, ""));
    }

    #[test]
    fn each_dispute_holds_its_debt_from_its_date_until_its_resolution() {
        let b = book(concat!(
            r#"{"type":"dispute","id":"x1","account":"d1","date":"2024-03-01"}"#,
            "\n",
            r#"{"type":"dispute_resolved","id":"x1r","account":"d1","date":"2024-03-15","dispute":"x1","resolution":"verified"}"#,
            "\n",
            r#"{"type":"dispute","id":"x2","account":"d1","date":"2024-04-01"}"#,
            "\n",
        ));
        let holds = dispute_holds(b.account("d1").unwrap(), "A").unwrap();
        assert_eq!(holds.len(), 2);
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(holds[0].hold_id, "dispute:x1");
        assert_eq!(
            (holds[0].account_id.as_str(), holds[0].debt_id.as_str()),
            ("A", "d1")
        );
        assert_eq!(holds[0].kind, HoldKind::Dispute);
        assert_eq!(holds[0].since, at("2024-03-01T00:00:00Z"));
        assert_eq!(holds[0].until, Some(at("2024-03-15T00:00:00Z")));
        assert_eq!(holds[1].until, None);
        holds[0].validate().unwrap();
        // A long event id still makes a valid hold id.
        let long = "e".repeat(200);
        assert!(dispute_hold_id(&long).len() <= ID_BYTES);
        assert_ne!(dispute_hold_id(&long), dispute_hold_id(&"f".repeat(200)));
    }
}
