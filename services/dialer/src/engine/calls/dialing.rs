//! Dialing: each second's pacing decision turned into calls (pop, plan, reserve, note,
//! originate), preview offers, and manual dials.

use std::time::Duration;

use carrier::{CallId, EndCause, Originate};
use compliance::model::DialMode;
use compliance::{Decision, Verdict as Allowed};
use ledger_api::domain::ChangeKind;
use pacing::{InFlight, Phase as PacePhase, Tick};
use queue::reservation::window_start;
use queue::{AttemptBook, CampaignQueue, Lease, Millis, Next, Reservation, ReserveOutcome};
use tracing::{debug, warn};

use super::call::{Answer, Attempt, Call, Input, Phase, Step, provisional};
use super::lease::Held;
use super::{
    MAX_POP_ROUNDS, MINUTE, NEXT_CALL, Plan, Prepared, REG_F_LIMIT, Runtime, Target,
    counted_attempts, debt_keys, join_all, open_debts, ts,
};
use crate::account::{AccountSource, AccountView};
use crate::engine::Backend;
use crate::engine::figures::RunState;
use crate::engine::seats::Seats;
use crate::outcomes::{OutcomeSink, Unacknowledged, WriteKind};
use crate::session::{AgentEvent, Rejection, SeatState};

impl<B: Backend> Runtime<B> {
    // ------------------------------------------------------------------ pacing and dialing

    pub(super) async fn on_tick(&mut self, now: Millis) {
        self.reconcile_leases();
        while self.writes.try_join_next().is_some() {}
        if now - self.last_extend >= MINUTE {
            self.extend_leases(now).await;
        }
        match self.queue.sizes().await {
            Ok(q) => self.queue_view = q.into(),
            Err(e) => {
                warn!(error = %e, "queue unavailable");
                self.counters.errors += 1;
            }
        }
        let tick = Tick {
            t: now as f64 / 1000.0,
            agents: self.seats.pacing_agents(),
            inflight: self
                .calls
                .values()
                .filter_map(|c| {
                    let phase = match c.phase() {
                        Phase::Dialing(_) | Phase::Ringing(_) => PacePhase::Ringing,
                        Phase::Answered(_, Answer::Detecting | Answer::Waiting { .. }) => {
                            PacePhase::Answered
                        }
                        _ => return None,
                    };
                    Some(InFlight {
                        elapsed: (now - c.attempt().started_at) as f64 / 1000.0,
                        phase,
                    })
                })
                .collect(),
            completed: std::mem::take(&mut self.completed),
        };
        // A new holder resumes the pacing state before its first tick as holder.
        self.resume_pacing(now).await;
        // The pacer learns from every tick, dialing or not.
        let decision = match self.pacer.tick(&tick) {
            Ok(d) => d,
            Err(e) => {
                warn!(error = %e, "pacer refused the tick");
                return;
            }
        };
        self.save_pacing();
        if self.state != RunState::Running {
            return;
        }
        let wants = self.spec.dial_mode() == DialMode::Preview || decision.dial > 0;
        if !wants || self.clock_behind(now) || !self.confirm_running(now).await {
            return;
        }
        // Held now but the stored pacing state not read yet (the lease arrived after this
        // tick's read, or the read failed): the next tick reads it first.
        if self.control.is_some() && !self.pacing_resumed {
            return;
        }
        if self.spec.dial_mode() == DialMode::Preview {
            self.offer_previews(now).await;
        } else if decision.dial > 0 {
            self.dial(decision.dial as usize, now).await;
        }
    }

    pub(super) async fn extend_leases(&mut self, now: Millis) {
        self.last_extend = now;
        let ttl = Millis::from(self.spec.lease_s) * 1000;
        let leases: Vec<Lease> = self
            .calls
            .values()
            .filter_map(|c| c.attempt().lease.as_ref().map(Held::lease))
            .filter(|l| l.expires_at - now < ttl / 2)
            .cloned()
            .collect();
        if !leases.is_empty()
            && let Err(e) = self.queue.extend(&leases, now, ttl).await
        {
            warn!(error = %e, "lease extension failed");
            self.counters.errors += 1;
        }
    }

    /// Pops accounts and dials up to `n` of them.
    pub(super) async fn dial(&mut self, n: usize, now: Millis) {
        let mut dialed = 0;
        for _ in 0..MAX_POP_ROUNDS {
            let need = n - dialed;
            if need == 0 {
                break;
            }
            let popped = std::time::Instant::now();
            let leases = match self.pop(need, now).await {
                Some(l) if !l.is_empty() => l,
                _ => break,
            };
            let pop_share = popped.elapsed() / leases.len() as u32;
            let mut prepared = Vec::with_capacity(leases.len());
            for lease in leases {
                self.decision_started = Some((std::time::Instant::now(), pop_share));
                if let Some(p) = self.prepare(lease, None, self.spec.dial_mode(), now).await {
                    prepared.push(p);
                }
            }
            dialed += self.launch(prepared, now).await.len();
        }
    }

    /// Leases up to `n` accounts; each must be released exactly once.
    pub(super) async fn pop(&mut self, n: usize, now: Millis) -> Option<Vec<Held>> {
        let ttl = Millis::from(self.spec.lease_s) * 1000;
        match self
            .queue
            .pop_lease(n, now, ttl, self.backend.owner())
            .await
        {
            Ok(l) => Some(l.into_iter().map(|l| self.leases.hold(l)).collect()),
            Err(e) => {
                // Fail closed: no lease, no dial.
                warn!(error = %e, "queue pop failed");
                self.counters.errors += 1;
                None
            }
        }
    }

    /// Our copy of `account`, loaded on first use, with its attempt counters rebuilt (again,
    /// if the last rebuild failed). `None`: the account cannot be dialed now (the ledger, the
    /// outbox or the counters did not answer: fail closed).
    pub(super) async fn view(&mut self, account: &str) -> Option<&AccountView> {
        if !self.accounts.contains_key(account) || self.unbuilt.contains(account) {
            let backend = self.backend.clone();
            let read_at = self.clock.now_ms();
            // The outbox before the ledger, as in `load`.
            let unacked = match backend
                .outbox()
                .unacknowledged(&[account.to_string()])
                .await
            {
                Ok(u) => u,
                Err(e) => {
                    warn!(error = %e, "outbox unavailable: account not loaded");
                    self.counters.errors += 1;
                    return None;
                }
            };
            let mut v = match backend.source().load(account).await {
                Ok(v) => v,
                Err(e) => {
                    warn!(error = %e, "account load failed");
                    self.counters.errors += 1;
                    return None;
                }
            };
            self.merge_own(&mut v);
            let rows: Vec<&Unacknowledged> = unacked.iter().collect();
            let attempts = counted_attempts(&v, &rows);
            self.note_history(&v);
            self.accounts.insert(account.to_string(), v);
            self.rebuild_counters(vec![(account.to_string(), attempts)], read_at)
                .await;
            if self.unbuilt.contains(account) {
                return None;
            }
        }
        self.accounts.get(account)
    }

    /// What to do with `account` now: the first phone (from its cursor, in campaign order)
    /// the rules allow, or sleep until the earliest instant one becomes callable.
    pub(super) fn plan(&mut self, account: &str, mode: DialMode, now: Millis) -> Plan {
        let Some(v) = self.accounts.get(account) else {
            return Plan::Retire;
        };
        let debts = open_debts(v, now);
        if debts.is_empty() {
            return Plan::Retire;
        }
        // A promise to pay still pending: left alone until the day after its due date plus
        // grace (campaign policy, not a rule of law: the queue's not-before instant).
        if let Some(until) = queue::rank::deferred_until(&super::facts(v), now) {
            self.counters.refused("PROMISE_PENDING");
            return Plan::Sleep { until };
        }
        let phones = v.phones_in_order(&self.spec.recycling.phone_order);
        let start = self.cursor.get(account).copied().unwrap_or(0);
        let mut earliest: Option<Millis> = None;
        let mut reasons: Vec<&'static str> = Vec::new();
        for (i, phone) in phones.iter().enumerate().skip(start) {
            let req = v.call_request(&phone.number, &debts, ts(now), mode);
            let decision = match self
                .backend
                .compliance()
                .evaluate(&req, &self.spec.compliance)
            {
                Ok(d) => d,
                Err(e) => {
                    warn!(error = %e, "compliance input refused");
                    reasons.push("INPUT_ERROR");
                    continue;
                }
            };
            if decision.verdict == Allowed::Allow {
                return Plan::Dial {
                    number: phone.number.clone(),
                    phone_index: i,
                    debts,
                    decision: Box::new(decision),
                };
            }
            reasons.extend(decision.reasons.iter().map(|r| r.code.as_str()));
            if let Some(t) = decision.next_eligible {
                let t = t.as_millisecond();
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        }
        reasons.sort_unstable();
        reasons.dedup();
        for r in reasons {
            self.counters.refused(r);
        }
        match earliest {
            Some(until) => Plan::Sleep { until },
            None => Plan::Retire,
        }
    }

    /// Checks, plans and reserves one leased account: an attempt ready to note and dial, or
    /// `None` when it is not dialed now (the lease is released accordingly).
    pub(super) async fn prepare(
        &mut self,
        lease: Held,
        seat: Option<usize>,
        mode: DialMode,
        now: Millis,
    ) -> Option<Prepared> {
        let account = lease.account().to_string();
        let later = |at| Next::Sleep { at, rank: 0.0 };
        if self.busy_accounts.contains_key(&account) {
            // A manual call to it is in progress: look again later.
            self.release(lease.settle(later(now + 5 * MINUTE))).await;
            return None;
        }
        if self.view(&account).await.is_none() {
            self.release(lease.settle(later(now + MINUTE))).await;
            return None;
        }
        match self.plan(&account, mode, now) {
            Plan::Retire => {
                self.release(lease.settle(Next::Retire)).await;
                None
            }
            Plan::Sleep { until } => {
                let rank = self.rank(&self.accounts[&account], now);
                self.release(lease.settle(Next::Sleep { at: until, rank }))
                    .await;
                None
            }
            Plan::Dial {
                number,
                phone_index,
                debts,
                decision,
            } => {
                let target = Target {
                    account,
                    number,
                    phone_index,
                    debts,
                };
                self.reserve_call(target, Some(lease), &decision, seat, mode, now)
                    .await
            }
        }
    }

    /// Reserves the attempt (when it counts) and builds it with its provisional outcome.
    /// `None`: refused or failed (a lease is released accordingly).
    pub(super) async fn reserve_call(
        &mut self,
        t: Target,
        lease: Option<Held>,
        decision: &Decision,
        seat: Option<usize>,
        mode: DialMode,
        now: Millis,
    ) -> Option<Prepared> {
        let view = &self.accounts[&t.account];
        let key = format!("att-{}", uuid::Uuid::new_v4());
        let reservation = if decision.counted {
            let zones = decision.zones.iter().map(|z| z.zone.as_ref());
            let r = Reservation {
                account: t.account.clone(),
                attempt_id: key.clone(),
                debt_keys: debt_keys(view, &t.debts),
                phone: t.number.clone(),
                now,
                window_start: window_start(zones, ts(now), 7),
                limit: REG_F_LIMIT,
                min_gap: Millis::from(
                    self.spec
                        .compliance
                        .min_gap_same_number_minutes
                        .unwrap_or(0),
                ) * MINUTE,
            };
            let reserved = self.backend.book().reserve(&r).await;
            if let Some((from, pop_share)) = self.decision_started.take() {
                self.counters.decided(from.elapsed() + pop_share);
            }
            let retry_at = match reserved {
                Ok(ReserveOutcome::Reserved) => None,
                Ok(ReserveOutcome::DebtLimit { .. }) => {
                    // Another replica used the budget: the ledger history will tell when.
                    self.counters.refused("RESERVATION_DEBT_LIMIT");
                    Some(now + 60 * MINUTE)
                }
                Ok(ReserveOutcome::PhoneGap { until }) => {
                    self.counters.refused("RESERVATION_PHONE_GAP");
                    Some(until)
                }
                Err(e) => {
                    warn!(error = %e, "attempt reservation failed: not dialing");
                    self.counters.errors += 1;
                    Some(now + MINUTE)
                }
            };
            if let Some(at) = retry_at {
                if let Some(l) = lease {
                    self.release(l.settle(Next::Sleep { at, rank: 0.0 })).await;
                }
                return None;
            }
            Some(r)
        } else {
            None
        };
        let person = self.accounts[&t.account]
            .consumer_person()
            .map(|p| p.person_id.clone())
            .unwrap_or_default();
        let agent = seat
            .map(|s| self.seats.get(s).agent.clone())
            .unwrap_or_default();
        let (account, phone_index) = (t.account.clone(), t.phone_index);
        let record = provisional(key, &self.spec.id, person, t, mode, agent, now);
        Some(Prepared {
            id: NEXT_CALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            attempt: Attempt {
                account,
                record,
                phone_index,
                started_at: now,
                lease,
                reserved: seat,
            },
            reservation,
        })
    }

    /// The pre-dial check, for one round of prepared calls at once: asks the system of
    /// record what changed on their accounts since our copies were read, and the outbox what
    /// we wrote about them that the ledger has not acknowledged. A call goes ahead only if
    /// nothing it could not see exists: a change other than our own outcomes means the
    /// account is reloaded first; an unacknowledged hold or consent change, or an outcome our
    /// copy lacks (after a restart), means it waits until the ledger has it. Either store
    /// failing holds the whole round back (fail closed). The calls that go ahead carry the
    /// ledger seq they were confirmed against.
    pub(super) async fn confirm(&mut self, prepared: Vec<Prepared>, now: Millis) -> Vec<Prepared> {
        if prepared.is_empty() {
            return prepared;
        }
        let cursors: Vec<(String, i64)> = prepared
            .iter()
            .map(|p| {
                let account = &p.attempt.account;
                let version = self.accounts.get(account).map_or(0, |v| v.version);
                (account.clone(), version)
            })
            .collect();
        let accounts: Vec<String> = cursors.iter().map(|c| c.0.clone()).collect();
        let backend = self.backend.clone();
        let (checked, unacked) = tokio::join!(
            backend.source().check(&cursors),
            backend.outbox().unacknowledged(&accounts)
        );
        let (check, unacked) = match (checked, unacked) {
            (Ok(c), Ok(u)) => (c, u),
            (c, u) => {
                let e = c
                    .err()
                    .map(|e| e.to_string())
                    .or(u.err().map(|e| e.to_string()));
                warn!(error = ?e, "pre-dial check failed: not dialing this round");
                self.counters.errors += 1;
                for p in prepared {
                    self.hold_back(p, "PRE_DIAL_CHECK_UNAVAILABLE", now + MINUTE)
                        .await;
                }
                return Vec::new();
            }
        };
        let mut go = Vec::with_capacity(prepared.len());
        for mut p in prepared {
            let account = p.attempt.account.clone();
            let Some(view) = self.accounts.get_mut(&account) else {
                // Not expected: a prepared attempt's account was loaded to plan it.
                self.hold_back(p, "PRE_DIAL_CHANGED", now + 5_000).await;
                self.load(vec![account], None);
                continue;
            };
            let news = check.changes.iter().any(|c| {
                c.account_id == account
                    && !(c.kind == ChangeKind::Outcome
                        && view.contacts.iter().any(|o| o.idempotency_key == c.ref_id))
            });
            let waiting = unacked.iter().any(|u| {
                u.account_id == account
                    && match u.kind {
                        WriteKind::Outcome => {
                            !view.contacts.iter().any(|o| o.idempotency_key == u.key)
                        }
                        WriteKind::Hold | WriteKind::Consent => true,
                        WriteKind::Promise | WriteKind::Plan => false,
                    }
            });
            if news {
                debug!(account_id = %account, "changed in the ledger since loaded: reloading");
                self.hold_back(p, "PRE_DIAL_CHANGED", now + 5_000).await;
                self.load(vec![account], None);
            } else if waiting {
                debug!(account_id = %account, "writes not yet acknowledged by the ledger");
                self.hold_back(p, "PRE_DIAL_UNACKNOWLEDGED", now + 5_000)
                    .await;
            } else {
                // Every change up to `as_of` is in our copy now.
                view.version = view.version.max(check.as_of_seq);
                p.attempt.record.checked_seq = check.as_of_seq;
                go.push(p);
            }
        }
        go
    }

    /// A prepared attempt that is not dialed after all: its reservation released and its
    /// lease back to the queue until `retry_at` (a seat it was for hears it from the caller,
    /// which sees no call started).
    async fn hold_back(&mut self, p: Prepared, reason: &'static str, retry_at: Millis) {
        self.counters.refused(reason);
        if let Some(r) = &p.reservation
            && let Err(e) = self.backend.book().release(r).await
        {
            warn!(error = %e, "reservation release failed");
        }
        if let Some(l) = p.attempt.lease {
            let rank = self
                .accounts
                .get(&p.attempt.account)
                .map_or(0.0, |v| self.rank(v, retry_at));
            self.release(l.settle(Next::Sleep { at: retry_at, rank }))
                .await;
        }
    }

    /// Notes the prepared attempts in the outbox (all at once, so the outbox commits them
    /// together) and dials those it accepted, after the pre-dial check. Returns the calls
    /// started.
    pub(super) async fn launch(&mut self, prepared: Vec<Prepared>, now: Millis) -> Vec<CallId> {
        let asked = std::time::Instant::now();
        let prepared = self.confirm(prepared, now).await;
        if prepared.is_empty() {
            return Vec::new();
        }
        let backend = self.backend.clone();
        let noted = join_all(
            prepared
                .iter()
                .map(|p| backend.outbox().begin(&p.attempt.record)),
        )
        .await;
        let mut started = Vec::with_capacity(prepared.len());
        for (p, noted) in prepared.into_iter().zip(noted) {
            if let Err(e) = noted {
                warn!(error = %e, "outbox refused the attempt: not dialing");
                self.counters.errors += 1;
                if let Some(r) = &p.reservation {
                    let _ = self.backend.book().release(r).await;
                }
                if let Some(l) = p.attempt.lease {
                    let next = Next::Sleep {
                        at: now + MINUTE,
                        rank: 0.0,
                    };
                    self.release(l.settle(next)).await;
                }
                continue;
            }
            let Prepared {
                id,
                attempt,
                reservation,
            } = p;
            let originate = Originate {
                call: id,
                to: attempt.record.number.clone(),
                caller_id: self.spec.caller_id.clone(),
                ring_timeout: Duration::from_secs_f64(self.spec.ring_timeout_s),
            };
            self.busy_accounts.insert(attempt.account.clone(), id);
            debug!(call_id = id, account_id = %attempt.account, "dialing");
            let call = Call::dialing(attempt, reservation);
            self.counters.dialed(now);
            if let Err(e) = self.carrier.originate(originate) {
                warn!(call_id = id, error = %e, "carrier refused the call");
                self.counters.errors += 1;
                // Over before it started: recorded as failed.
                if let Step::Ended(e) = call.on(Input::End(EndCause::Failed), now) {
                    self.finish(id, *e, now).await;
                }
                continue;
            }
            self.calls.insert(id, call);
            started.push(id);
        }
        if !started.is_empty() {
            self.counters.pre_dial_lag(asked.elapsed());
        }
        started
    }

    // ------------------------------------------------------------------ preview and manual

    pub(super) async fn offer_previews(&mut self, now: Millis) {
        // Refused accounts do not count as offers; bound the pops so one second's work
        // stays short whatever the queue holds.
        let mut budget = 50 + 10 * self.seats.iter().count();
        while let Some(seat) = self.seats.longest_idle_ready() {
            if budget == 0 {
                return;
            }
            budget -= 1;
            let Some(mut leases) = self.pop(1, now).await else {
                return;
            };
            let Some(lease) = leases.pop() else {
                return;
            };
            let account = lease.account().to_string();
            if self.busy_accounts.contains_key(&account) || self.view(&account).await.is_none() {
                let next = Next::Sleep {
                    at: now + MINUTE,
                    rank: 0.0,
                };
                self.release(lease.settle(next)).await;
                continue;
            }
            match self.plan(&account, DialMode::Preview, now) {
                Plan::Retire => self.release(lease.settle(Next::Retire)).await,
                Plan::Sleep { until } => {
                    let next = Next::Sleep {
                        at: until,
                        rank: 0.0,
                    };
                    self.release(lease.settle(next)).await
                }
                Plan::Dial {
                    number,
                    phone_index,
                    debts,
                    ..
                } => {
                    let id = NEXT_CALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let pop = self.screen_pop(&account, &number, &debts, now);
                    let target = Target {
                        account: account.clone(),
                        number,
                        phone_index,
                        debts,
                    };
                    let agent = self.seats.get(seat).agent.clone();
                    let (key, person) = (String::new(), pop.person_id.clone());
                    let record = provisional(
                        key,
                        &self.spec.id,
                        person,
                        target,
                        DialMode::Preview,
                        agent,
                        now,
                    );
                    let attempt = Attempt {
                        account: account.clone(),
                        record,
                        phone_index,
                        started_at: now,
                        lease: Some(lease),
                        reserved: Some(seat),
                    };
                    self.calls.insert(id, Call::offered(attempt));
                    self.busy_accounts.insert(account, id);
                    self.seats.offer(seat, id, pop, true, now);
                }
            }
        }
    }

    /// A preview offer the agent skipped (or the campaign stopped): back to the queue.
    pub(super) async fn unoffer(&mut self, call: CallId, now: Millis) {
        if let Some(Step::Withdrawn(a)) = self.feed(call, Input::Withdraw, now) {
            self.busy_accounts.remove(&a.account);
            if let Some(l) = a.lease {
                let next = Next::Sleep {
                    at: now + 15 * MINUTE,
                    rank: 0.0,
                };
                self.release(l.settle(next)).await;
            }
            if let Some(seat) = a.reserved
                && self.seats.get(seat).state == SeatState::Reserved
            {
                self.seats.set(seat, SeatState::Ready, now);
            }
        }
    }

    pub(super) async fn accept_preview(&mut self, call: CallId, now: Millis) {
        let Some(Step::Withdrawn(a)) = self.feed(call, Input::Withdraw, now) else {
            return;
        };
        self.busy_accounts.remove(&a.account);
        let seat = a.reserved.expect("a preview is offered to a seat");
        // The rules are asked again: time has passed since the offer.
        let lease = a.lease.expect("a preview holds a lease");
        let prepared = self
            .prepare(lease, Some(seat), DialMode::Preview, now)
            .await;
        let started = match prepared {
            Some(p) => self.launch(vec![p], now).await,
            None => Vec::new(),
        };
        if let Some(id) = started.first() {
            self.seats.get_mut(seat).call = Some(*id);
        } else {
            self.seats.send(
                seat,
                AgentEvent::Refused {
                    account_id: a.account,
                    reasons: vec!["no longer callable now".into()],
                    next_eligible_ms: None,
                },
            );
            self.seats.set(seat, SeatState::Ready, now);
        }
    }

    pub(super) async fn manual_dial(
        &mut self,
        seat: usize,
        account: String,
        number: Option<String>,
        debt_ids: Vec<String>,
        now: Millis,
    ) {
        let reject = |seats: &mut Seats, rejection: Rejection| {
            seats.send(
                seat,
                AgentEvent::Rejected {
                    command: "manual_dial".into(),
                    rejection,
                },
            )
        };
        if !matches!(
            self.seats.get(seat).state,
            SeatState::Ready | SeatState::NotReady { .. }
        ) {
            return reject(
                &mut self.seats,
                Rejection::not_now("finish the current call first"),
            );
        }
        if self.busy_accounts.contains_key(&account) {
            return reject(
                &mut self.seats,
                Rejection::field("account_id", "a call to it is in progress"),
            );
        }
        if self.view(&account).await.is_none() {
            return reject(
                &mut self.seats,
                Rejection::not_found(format!("account_id: {account} not found")),
            );
        }
        let v = &self.accounts[&account];
        let debts = if debt_ids.is_empty() {
            open_debts(v, now)
        } else {
            debt_ids
        };
        if let Some(bad) = debts.iter().find(|d| !v.debt_ids().contains(d)) {
            return reject(
                &mut self.seats,
                Rejection::field("debt_ids", format_args!("{bad} is not on the account")),
            );
        }
        let phones = v.phones_in_order(&self.spec.recycling.phone_order);
        let chosen = match &number {
            Some(n) => phones.iter().position(|p| &p.number == n),
            None => (!phones.is_empty()).then_some(0),
        };
        let Some(phone_index) = chosen else {
            return reject(
                &mut self.seats,
                Rejection::field("number", "not a phone of the account"),
            );
        };
        let number = phones[phone_index].number.clone();
        let req = v.call_request(&number, &debts, ts(now), DialMode::Manual);
        let decision = match self
            .backend
            .compliance()
            .evaluate(&req, &self.spec.compliance)
        {
            Ok(d) => d,
            Err(e) => return reject(&mut self.seats, Rejection::field(e.field, e.problem)),
        };
        if decision.verdict != Allowed::Allow {
            self.seats.send(
                seat,
                AgentEvent::Refused {
                    account_id: account,
                    reasons: decision
                        .reasons
                        .iter()
                        .map(|r| r.code.as_str().to_string())
                        .collect(),
                    next_eligible_ms: decision.next_eligible.map(|t| t.as_millisecond()),
                },
            );
            return;
        }
        let pop = self.screen_pop(&account, &number, &debts, now);
        self.seats.set(seat, SeatState::Reserved, now);
        let target = Target {
            account,
            number,
            phone_index,
            debts,
        };
        let prepared = self
            .reserve_call(target, None, &decision, Some(seat), DialMode::Manual, now)
            .await;
        let started = match prepared {
            Some(p) => self.launch(vec![p], now).await,
            None => Vec::new(),
        };
        match started.first().copied() {
            Some(id) => self.seats.offer(seat, id, pop, false, now),
            None => {
                self.seats.set(seat, SeatState::Ready, now);
                reject(
                    &mut self.seats,
                    Rejection::not_now("the attempt could not be reserved now"),
                );
            }
        }
    }
}
