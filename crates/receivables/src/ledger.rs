//! The derivation: what one account owes, and the state of its commitments and disputes, as
//! of a date D — a pure function of its events (issue 12, semantics 1-7).
//!
//! One pass per account: the events dated <= D, minus the payments reversed by a reversal
//! dated <= D (rule 3: a reversed payment counts as never made, so allocation, promises, plans
//! and settlements are simply re-derived without it), are stably sorted by date (rule 1:
//! date, then arrival) and applied in turn. Open items live in a B-tree keyed by the
//! allocation order of rule 2 (due date, charge date, arrival), so the whole pass is
//! O(n log n) in the account's events.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::book::{Account, day_number};
use crate::event::{Category, EventKind, Resolution};

/// Open amounts by age as of D (rule 4): D minus the due date, in days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aging {
    /// Not yet past due (<= 0 days).
    pub current: i64,
    #[serde(rename = "1_30")]
    pub d1_30: i64,
    #[serde(rename = "31_60")]
    pub d31_60: i64,
    #[serde(rename = "61_90")]
    pub d61_90: i64,
    #[serde(rename = "91_120")]
    pub d91_120: i64,
    #[serde(rename = "121_plus")]
    pub d121_plus: i64,
    /// Sum of the buckets: the total open.
    pub total: i64,
}

impl Aging {
    /// Adds an open amount `days_past_due` days past its due date.
    pub fn add(&mut self, days_past_due: i32, amount: i64) {
        let bucket = match days_past_due {
            ..=0 => &mut self.current,
            1..=30 => &mut self.d1_30,
            31..=60 => &mut self.d31_60,
            61..=90 => &mut self.d61_90,
            91..=120 => &mut self.d91_120,
            _ => &mut self.d121_plus,
        };
        *bucket = bucket.saturating_add(amount);
        self.total = self.total.saturating_add(amount);
    }

    /// Adds another aging bucket by bucket (a portfolio's total).
    pub fn merge(&mut self, other: &Aging) {
        for (a, b) in [
            (&mut self.current, other.current),
            (&mut self.d1_30, other.d1_30),
            (&mut self.d31_60, other.d31_60),
            (&mut self.d61_90, other.d61_90),
            (&mut self.d91_120, other.d91_120),
            (&mut self.d121_plus, other.d121_plus),
            (&mut self.total, other.total),
        ] {
            *a = a.saturating_add(b);
        }
    }
}

/// What an open item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Charge(Category),
    /// The part of a refund the credit balance did not cover (after a later reversal): owed
    /// again, due on the refund date (rule 2).
    RefundOwed,
}

/// A charge (or refund owed) with money still open as of D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenItem {
    /// Index of the charge or refund in [`Account::events`].
    pub event: usize,
    pub kind: ItemKind,
    pub date: Date,
    pub due: Date,
    pub open_minor: i64,
}

/// A promise's status as of D (rule 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromiseStatus {
    Pending,
    Kept,
    Broken,
    /// A later promise was made while this one was pending: neither kept nor broken.
    Superseded,
}

/// A settlement's status as of D (rule 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    Pending,
    /// Its window's payments reached the amount: the rest of the account was closed.
    Fulfilled,
    Broken,
    /// A later settlement was made while this one was pending (at most one is pending).
    Superseded,
}

/// A plan's status as of D (rule 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Active,
    Completed,
    Broken,
    /// A later plan was made while this one was active; not counted in the KPIs.
    Replaced,
}

/// A promise or settlement as of D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment<S> {
    /// Index of the promise or settlement in [`Account::events`].
    pub event: usize,
    pub amount_minor: i64,
    pub due: Date,
    /// Payments of its window (after it, dated <= due + grace) counted so far.
    pub paid_minor: i64,
    /// Date of the payment that kept or fulfilled it.
    pub met_on: Option<Date>,
    pub status: S,
}

/// A plan as of D.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanState {
    /// Index of the plan in [`Account::events`].
    pub event: usize,
    pub total_minor: i64,
    pub paid_minor: i64,
    /// Installments 1..k kept (their cumulative sum paid in time).
    pub installments_kept: usize,
    pub installments: usize,
    pub status: PlanStatus,
}

/// A dispute as of D (rule 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeState {
    /// Index of the dispute in [`Account::events`].
    pub event: usize,
    pub date: Date,
    /// The resolution, when dated <= D.
    pub resolution: Option<Resolution>,
}

/// Effective sums as of D (reversed payments excluded): the terms of the balance identity
/// `total open - credit balance = charges - payments - credits - written off - settled +
/// refunds`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub principal_minor: i64,
    pub interest_minor: i64,
    pub fees_minor: i64,
    /// Payments not reversed as of D.
    pub payments_minor: i64,
    pub credits_minor: i64,
    /// The part of write-offs that closed open money (never more than was open).
    pub written_off_minor: i64,
    /// Closed by fulfilled settlements (not cash).
    pub settled_minor: i64,
    pub refunds_minor: i64,
}

impl Totals {
    pub fn charges_minor(&self) -> i64 {
        self.principal_minor
            .saturating_add(self.interest_minor)
            .saturating_add(self.fees_minor)
    }

    /// What the identity says is owed net: total open minus credit balance.
    pub fn net_minor(&self) -> i64 {
        self.charges_minor()
            .saturating_sub(self.payments_minor)
            .saturating_sub(self.credits_minor)
            .saturating_sub(self.written_off_minor)
            .saturating_sub(self.settled_minor)
            .saturating_add(self.refunds_minor)
    }
}

/// One account as of D.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    pub as_of: Date,
    /// In allocation order (due, charge date, arrival).
    pub open_items: Vec<OpenItem>,
    pub aging: Aging,
    /// Money received beyond what was open; a later charge consumes it first.
    pub credit_balance_minor: i64,
    pub promises: Vec<Commitment<PromiseStatus>>,
    pub settlements: Vec<Commitment<SettlementStatus>>,
    pub plans: Vec<PlanState>,
    pub disputes: Vec<DisputeState>,
    /// A dispute open as of D: collection hold (FDCPA 809(b)).
    pub in_dispute: bool,
    /// A settlement was fulfilled (as of D).
    pub settled: bool,
    pub totals: Totals,
}

impl AccountState {
    /// The total open (sum of the open items).
    pub fn total_open_minor(&self) -> i64 {
        self.aging.total
    }

    /// Net owed: total open minus credit balance (negative when money is held).
    pub fn balance_minor(&self) -> i64 {
        self.aging.total.saturating_sub(self.credit_balance_minor)
    }

    /// The most recent promise: what ranking reads (call the day after a broken promise,
    /// not before a pending one is due).
    pub fn latest_promise(&self) -> Option<&Commitment<PromiseStatus>> {
        self.promises.last()
    }

    /// The plan in force, if any.
    pub fn active_plan(&self) -> Option<&PlanState> {
        self.plans.iter().find(|p| p.status == PlanStatus::Active)
    }

    /// The settlement offer in force, if any (at most one).
    pub fn pending_settlement(&self) -> Option<&Commitment<SettlementStatus>> {
        self.settlements
            .iter()
            .find(|s| s.status == SettlementStatus::Pending)
    }
}

impl Account {
    /// The account as of `as_of`: events dated later are invisible.
    pub fn state_as_of(&self, as_of: Date) -> AccountState {
        derive(self, day_number(as_of), as_of)
    }
}

/// Allocation key of an open item: due day, charge day, arrival index (rule 2).
type Key = (i32, i32, u32);

/// A promise or settlement being followed through the pass.
#[derive(Debug, Clone, Copy)]
struct Running {
    slot: usize,
    amount: i64,
    deadline: i32,
    paid: i64,
    met: bool,
}

impl Running {
    /// Counts a payment of day `t`; true when it meets the amount now.
    fn pay(&mut self, t: i32, amount: i64) -> bool {
        if self.met || t > self.deadline {
            return false;
        }
        self.paid = self.paid.saturating_add(amount);
        self.met = self.paid >= self.amount;
        self.met
    }

    /// Still pending on day `t`: not met, window not over.
    fn pending_on(&self, t: i32) -> bool {
        !self.met && t <= self.deadline
    }
}

/// The active plan being followed.
#[derive(Debug, Clone)]
struct RunningPlan {
    slot: usize,
    /// (deadline day, cumulative amount) per installment.
    schedule: Vec<(i32, i64)>,
    paid: i64,
    kept: usize,
}

impl RunningPlan {
    /// Broken on day `t`: the first installment not kept is past its due + grace.
    fn broken_on(&self, t: i32) -> bool {
        self.schedule
            .get(self.kept)
            .is_some_and(|&(deadline, _)| t > deadline)
    }
}

fn grace_days(grace: Option<u32>) -> i32 {
    // Bounded by MAX_GRACE_DAYS at import.
    i32::try_from(grace.unwrap_or(0)).unwrap_or(i32::MAX / 2)
}

/// The pass over one account's events visible on day `d`.
fn derive(account: &Account, d: i32, as_of: Date) -> AccountState {
    let events = &account.events;
    let links = &account.links;
    // Rule 3: a reversal dated <= D removes its payment (and itself) from the pass.
    let reversed = |i: usize| {
        links
            .get(i)
            .and_then(|l| l.answered_by)
            .and_then(|r| links.get(r as usize))
            .is_some_and(|r| r.day <= d)
    };
    let mut order: Vec<u32> = Vec::with_capacity(events.len());
    for (i, (event, link)) in events.iter().zip(links).enumerate() {
        if link.day > d {
            continue;
        }
        match event.kind {
            EventKind::Reversal { .. } => continue,
            EventKind::Payment { .. } if reversed(i) => continue,
            _ => order.push(i as u32),
        }
    }
    // Rule 1: by date, then arrival (a stable sort keeps arrival order within a day).
    order.sort_by_key(|&i| links.get(i as usize).map_or(0, |l| l.day));

    let mut open: BTreeMap<Key, i64> = BTreeMap::new();
    let mut credit: i64 = 0;
    let mut totals = Totals::default();
    let mut promises: Vec<Commitment<PromiseStatus>> = Vec::new();
    let mut settlements: Vec<Commitment<SettlementStatus>> = Vec::new();
    let mut plans: Vec<PlanState> = Vec::new();
    let mut disputes: Vec<DisputeState> = Vec::new();
    let mut promise: Option<Running> = None;
    let mut settlement: Option<Running> = None;
    let mut plan: Option<RunningPlan> = None;
    let mut settled = false;

    // The allocation key of a charge, for `applies_to`.
    let charge_key = |index: u32| -> Option<Key> {
        let event = events.get(index as usize)?;
        let link = links.get(index as usize)?;
        match event.kind {
            EventKind::Charge { due, .. } => Some((day_number(due), link.day, index)),
            _ => None,
        }
    };

    for &i in &order {
        let (Some(event), Some(link)) = (events.get(i as usize), links.get(i as usize)) else {
            continue;
        };
        let t = link.day;
        match &event.kind {
            EventKind::Charge {
                amount_minor,
                due,
                category,
                ..
            } => {
                match category {
                    Category::Principal => {
                        totals.principal_minor =
                            totals.principal_minor.saturating_add(*amount_minor)
                    }
                    Category::Interest => {
                        totals.interest_minor = totals.interest_minor.saturating_add(*amount_minor)
                    }
                    Category::Fee => {
                        totals.fees_minor = totals.fees_minor.saturating_add(*amount_minor)
                    }
                }
                // Rule 2: a later charge first consumes the credit balance.
                let consumed = credit.min(*amount_minor);
                credit -= consumed;
                let rest = amount_minor - consumed;
                if rest > 0 {
                    open.insert((day_number(*due), t, i), rest);
                }
            }
            EventKind::Payment {
                amount_minor,
                applies_to: _,
            } => {
                totals.payments_minor = totals.payments_minor.saturating_add(*amount_minor);
                let target = link.target.and_then(charge_key);
                let left = allocate(&mut open, *amount_minor, target);
                credit = credit.saturating_add(left);
                if let Some(p) = promise.as_mut() {
                    let met = p.pay(t, *amount_minor);
                    if let Some(state) = promises.get_mut(p.slot) {
                        state.paid_minor = p.paid;
                        if met {
                            state.met_on = Some(event.date);
                            state.status = PromiseStatus::Kept;
                        }
                    }
                }
                if let Some(running) = plan.as_mut()
                    && let Some(state) = plans.get_mut(running.slot)
                {
                    if running.broken_on(t) {
                        state.status = PlanStatus::Broken;
                        plan = None;
                    } else {
                        running.paid = running.paid.saturating_add(*amount_minor);
                        while running
                            .schedule
                            .get(running.kept)
                            .is_some_and(|&(_, cumulative)| running.paid >= cumulative)
                        {
                            running.kept += 1;
                        }
                        state.paid_minor = running.paid;
                        state.installments_kept = running.kept;
                        if running.kept >= running.schedule.len() {
                            state.status = PlanStatus::Completed;
                            plan = None;
                        }
                    }
                }
                if let Some(s) = settlement.as_mut() {
                    let met = s.pay(t, *amount_minor);
                    if let Some(state) = settlements.get_mut(s.slot) {
                        state.paid_minor = s.paid;
                        if met {
                            // Rule 5: right after this payment the rest is closed as settled.
                            state.met_on = Some(event.date);
                            state.status = SettlementStatus::Fulfilled;
                            let rest = open.values().fold(0i64, |a, v| a.saturating_add(*v));
                            totals.settled_minor = totals.settled_minor.saturating_add(rest);
                            open.clear();
                            settled = true;
                        }
                    }
                    if met {
                        settlement = None;
                    }
                }
            }
            EventKind::Credit { amount_minor, .. } => {
                totals.credits_minor = totals.credits_minor.saturating_add(*amount_minor);
                let target = link.target.and_then(charge_key);
                let left = allocate(&mut open, *amount_minor, target);
                credit = credit.saturating_add(left);
            }
            EventKind::WriteOff { amount_minor, .. } => {
                // Without an amount, the whole open balance (summed only then: partial
                // write-offs stay O(log n)).
                let amount = amount_minor
                    .unwrap_or_else(|| open.values().fold(0i64, |a, v| a.saturating_add(*v)));
                let target = link.target.and_then(charge_key);
                // Rule 2: a write-off never creates a credit balance.
                let left = allocate(&mut open, amount, target);
                totals.written_off_minor = totals
                    .written_off_minor
                    .saturating_add(amount.saturating_sub(left));
            }
            EventKind::Refund { amount_minor, .. } => {
                totals.refunds_minor = totals.refunds_minor.saturating_add(*amount_minor);
                let covered = credit.min(*amount_minor);
                credit -= covered;
                let owed = amount_minor - covered;
                if owed > 0 {
                    open.insert((t, t, i), owed);
                }
            }
            EventKind::Promise {
                amount_minor,
                due,
                grace_days: grace,
            } => {
                // Rule 6: a promise made while an earlier one is pending supersedes it.
                if let Some(p) = promise
                    && !p.met
                    && let Some(state) = promises.get_mut(p.slot)
                {
                    state.status = if p.pending_on(t) {
                        PromiseStatus::Superseded
                    } else {
                        PromiseStatus::Broken
                    };
                }
                let slot = promises.len();
                promises.push(Commitment {
                    event: i as usize,
                    amount_minor: *amount_minor,
                    due: *due,
                    paid_minor: 0,
                    met_on: None,
                    status: PromiseStatus::Pending,
                });
                promise = Some(Running {
                    slot,
                    amount: *amount_minor,
                    deadline: day_number(*due).saturating_add(grace_days(*grace)),
                    paid: 0,
                    met: false,
                });
            }
            EventKind::Settlement {
                amount_minor,
                due,
                grace_days: grace,
            } => {
                // At most one pending settlement: a new one supersedes it.
                if let Some(s) = settlement
                    && !s.met
                    && let Some(state) = settlements.get_mut(s.slot)
                {
                    state.status = if s.pending_on(t) {
                        SettlementStatus::Superseded
                    } else {
                        SettlementStatus::Broken
                    };
                }
                let slot = settlements.len();
                settlements.push(Commitment {
                    event: i as usize,
                    amount_minor: *amount_minor,
                    due: *due,
                    paid_minor: 0,
                    met_on: None,
                    status: SettlementStatus::Pending,
                });
                settlement = Some(Running {
                    slot,
                    amount: *amount_minor,
                    deadline: day_number(*due).saturating_add(grace_days(*grace)),
                    paid: 0,
                    met: false,
                });
            }
            EventKind::Plan {
                installments,
                grace_days: grace,
            } => {
                if let Some(running) = plan.take()
                    && let Some(state) = plans.get_mut(running.slot)
                {
                    state.status = if running.broken_on(t) {
                        PlanStatus::Broken
                    } else {
                        PlanStatus::Replaced
                    };
                }
                let g = grace_days(*grace);
                let mut cumulative = 0i64;
                let schedule: Vec<(i32, i64)> = installments
                    .iter()
                    .map(|k| {
                        cumulative = cumulative.saturating_add(k.amount_minor);
                        (day_number(k.due).saturating_add(g), cumulative)
                    })
                    .collect();
                let slot = plans.len();
                plans.push(PlanState {
                    event: i as usize,
                    total_minor: cumulative,
                    paid_minor: 0,
                    installments_kept: 0,
                    installments: schedule.len(),
                    status: PlanStatus::Active,
                });
                plan = Some(RunningPlan {
                    slot,
                    schedule,
                    paid: 0,
                    kept: 0,
                });
            }
            EventKind::Dispute { .. } => {
                let resolution = link
                    .answered_by
                    .and_then(|r| Some((events.get(r as usize)?, links.get(r as usize)?)))
                    .filter(|(_, l)| l.day <= d)
                    .and_then(|(e, _)| match e.kind {
                        EventKind::DisputeResolved { resolution, .. } => Some(resolution),
                        _ => None,
                    });
                disputes.push(DisputeState {
                    event: i as usize,
                    date: event.date,
                    resolution,
                });
            }
            EventKind::Reversal { .. } | EventKind::DisputeResolved { .. } => {}
        }
    }

    // Statuses as of D of what is still running.
    if let Some(p) = promise
        && !p.met
        && d > p.deadline
        && let Some(state) = promises.get_mut(p.slot)
    {
        state.status = PromiseStatus::Broken;
    }
    if let Some(s) = settlement
        && !s.met
        && d > s.deadline
        && let Some(state) = settlements.get_mut(s.slot)
    {
        state.status = SettlementStatus::Broken;
    }
    if let Some(running) = plan
        && running.broken_on(d)
        && let Some(state) = plans.get_mut(running.slot)
    {
        state.status = PlanStatus::Broken;
    }

    let mut aging = Aging::default();
    let mut open_items = Vec::with_capacity(open.len());
    for (&(due_day, _, index), &amount) in &open {
        aging.add(d - due_day, amount);
        if let Some(event) = events.get(index as usize) {
            let (kind, due) = match event.kind {
                EventKind::Charge { category, due, .. } => (ItemKind::Charge(category), due),
                _ => (ItemKind::RefundOwed, event.date),
            };
            open_items.push(OpenItem {
                event: index as usize,
                kind,
                date: event.date,
                due,
                open_minor: amount,
            });
        }
    }
    let in_dispute = disputes.iter().any(|s| s.resolution.is_none());
    AccountState {
        as_of,
        open_items,
        aging,
        credit_balance_minor: credit,
        promises,
        settlements,
        plans,
        disputes,
        in_dispute,
        settled,
        totals,
    }
}

/// Rule 2: money goes first to the `target` charge (when still open), then to the open items
/// by due date, charge date, arrival. Returns what is left over.
fn allocate(open: &mut BTreeMap<Key, i64>, mut amount: i64, target: Option<Key>) -> i64 {
    if let Some(key) = target
        && let Some(item) = open.get_mut(&key)
    {
        let take = amount.min(*item);
        *item -= take;
        amount -= take;
        if *item == 0 {
            open.remove(&key);
        }
    }
    while amount > 0 {
        let Some(mut first) = open.first_entry() else {
            break;
        };
        let item = first.get_mut();
        let take = amount.min(*item);
        *item -= take;
        amount -= take;
        if *item == 0 {
            first.remove();
        }
    }
    amount
}
