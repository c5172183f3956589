//! The screen pop: what an agent sees when a call arrives.

use compliance::model::Direction;
use ledger_api::domain::{ContactOutcome, PromiseStatus};
use queue::Millis;

use super::{DAY, REG_F_LIMIT, Runtime};
use crate::engine::Backend;
use crate::session::{ContactLine, DebtLine, PromiseLine, ScreenPop, StatementLine};

impl<B: Backend> Runtime<B> {
    // ------------------------------------------------------------------ screen pop

    pub(super) fn screen_pop(
        &self,
        account: &str,
        number: &str,
        debts: &[String],
        now: Millis,
    ) -> ScreenPop {
        let Some(v) = self.accounts.get(account) else {
            return ScreenPop::default();
        };
        let person = v.consumer_person();
        let phone = person.and_then(|p| p.phones.iter().find(|ph| ph.number == number));
        let mut notes = Vec::new();
        match phone {
            Some(ph) if ph.consent_automated && ph.consent_revoked_at.is_none() => {
                notes.push("consent for automated calls: yes".to_string())
            }
            Some(_) => notes.push("consent for automated calls: none".to_string()),
            None => {}
        }
        for h in &v.account.holds {
            if h.until.is_none_or(|u| u.as_millisecond() > now) {
                notes.push(format!(
                    "hold {:?}{}",
                    h.kind,
                    if h.debt_id.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", h.debt_id)
                    }
                ));
            }
        }
        let week_ago = now - 7 * DAY;
        let calls_on = |debt: &str| {
            v.contacts
                .iter()
                .filter(|c| {
                    c.direction == Direction::Outbound
                        && c.outcome.counts_for_regf()
                        && c.started_at.as_millisecond() >= week_ago
                        && c.debt_ids.first().is_some_and(|d| d == debt)
                })
                .count() as u32
        };
        let debt_lines: Vec<DebtLine> = v
            .account
            .debts
            .iter()
            .map(|d| DebtLine {
                debt_id: d.debt_id.clone(),
                balance_minor: d.balance_minor,
                currency: d.currency.clone(),
                days_past_due: d.days_past_due,
                original_creditor: d.original_creditor.clone(),
                regf_calls_left: REG_F_LIMIT.saturating_sub(calls_on(&d.debt_id)),
                statement: d
                    .receivables
                    .as_ref()
                    .map(StatementLine::of)
                    .unwrap_or_default(),
            })
            .collect();
        for d in &debt_lines {
            if debts.contains(&d.debt_id) {
                notes.push(format!(
                    "Reg F: {} of {REG_F_LIMIT} calls left on {} this week",
                    d.regf_calls_left, d.debt_id
                ));
            }
        }
        let mut last: Vec<&ContactOutcome> = v.contacts.iter().collect();
        last.sort_by_key(|c| std::cmp::Reverse(c.started_at));
        ScreenPop {
            account_id: account.to_string(),
            person_id: person.map(|p| p.person_id.clone()).unwrap_or_default(),
            name: person.map(|p| p.full_name.clone()).unwrap_or_default(),
            number: number.to_string(),
            creditor: v.account.creditor.clone(),
            debts: debt_lines,
            call_debt_ids: debts.to_vec(),
            last_contacts: last
                .into_iter()
                .take(10)
                .map(|c| ContactLine {
                    at_ms: c.started_at.as_millisecond(),
                    outcome: c.outcome,
                    disposition: c.disposition.clone(),
                    agent_id: c.agent_id.clone(),
                })
                .collect(),
            promises: v
                .promises
                .iter()
                .filter(|p| p.status == PromiseStatus::Pending)
                .map(|p| PromiseLine {
                    debt_id: p.debt_id.clone(),
                    amount_minor: p.amount_minor,
                    currency: p.currency.clone(),
                    due_date: p.due_date.clone(),
                    status: "pending".into(),
                })
                .collect(),
            compliance_notes: notes,
            script: self.spec.script.clone(),
            mini_miranda: self.spec.mini_miranda.clone(),
        }
    }
}
