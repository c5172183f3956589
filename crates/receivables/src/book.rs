//! The book: a portfolio's validated events, grouped by account in arrival order, with the
//! checks that need the events before (references, one reversal per payment, one
//! resolution per dispute, the account's currency) and id idempotence.
//!
//! It is the one place events enter, so `ledgerd`'s import RPC, `dialerctl ledger replay`
//! and the tests refuse the same things with the same messages. [`Book::import`] is
//! all-or-nothing: on the first refused event nothing of the batch stays.

use std::collections::HashMap;

use jiff::civil::Date;

use crate::event::{Event, EventError, EventKind};

/// Days since 1970-01-01 of a civil date: the derivation's clock, cheap to compare and
/// subtract (a report over a million accounts does this millions of times).
pub fn day_number(date: Date) -> i32 {
    let (y, m, d) = (
        i32::from(date.year()),
        i32::from(date.month()),
        i32::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What the book knows of one stored event beyond the event itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    /// [`day_number`] of the event's date.
    pub(crate) day: i32,
    /// Index (in the account) of the event its `applies_to`, `reverses` or `dispute` names.
    pub(crate) target: Option<u32>,
    /// Index of the reversal of this payment, or of the resolution of this dispute.
    pub(crate) answered_by: Option<u32>,
}

/// One account's events in arrival order, as imported.
#[derive(Debug, Clone)]
pub struct Account {
    pub(crate) id: String,
    pub(crate) currency: Option<String>,
    pub(crate) events: Vec<Event>,
    pub(crate) links: Vec<Link>,
}

impl Account {
    fn new(id: String) -> Account {
        Account {
            id,
            currency: None,
            events: Vec::new(),
            links: Vec::new(),
        }
    }

    /// The account id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The ISO 4217 currency of its charges, when one named it.
    pub fn currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }

    /// The events in arrival order; the `event` indices of [`crate::ledger`] point here.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The event with this id.
    pub fn event(&self, id: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.id == id)
    }
}

/// Whether [`Book::insert`] stored the event or had it already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// Same id, same content: a no-op.
    Duplicate,
}

/// How many events of a batch were new and how many already there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub new: usize,
    pub duplicates: usize,
}

/// An event of a batch refused, with its position in the batch (0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index}: {error}")]
pub struct BatchError {
    pub index: usize,
    pub error: EventError,
}

/// A portfolio's events, by account.
#[derive(Debug, Clone, Default)]
pub struct Book {
    accounts: Vec<Account>,
    by_account: HashMap<String, usize>,
    /// Event id -> (account slot, index in the account).
    ids: HashMap<String, (usize, u32)>,
    events: usize,
}

/// What to undo of one inserted event when its batch fails.
#[derive(Debug)]
struct Undo {
    slot: usize,
    new_account: bool,
    old_currency: Option<Option<String>>,
}

impl Book {
    pub fn new() -> Book {
        Book::default()
    }

    /// Number of events stored.
    pub fn len(&self) -> usize {
        self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The account with this id.
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.by_account
            .get(id)
            .and_then(|&slot| self.accounts.get(slot))
    }

    /// The accounts in first-seen order.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter()
    }

    /// The accounts sorted by id (the order of the replay report).
    pub fn accounts_by_id(&self) -> Vec<&Account> {
        let mut sorted: Vec<&Account> = self.accounts.iter().collect();
        sorted.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        sorted
    }

    /// The account owning the event with this id.
    pub fn owner_of(&self, event_id: &str) -> Option<&Account> {
        self.ids
            .get(event_id)
            .and_then(|&(slot, _)| self.accounts.get(slot))
    }

    /// Whether an event with this id is stored.
    pub fn contains_event(&self, event_id: &str) -> bool {
        self.ids.contains_key(event_id)
    }

    /// A book of whole accounts already checked (copies of another book's): nothing is
    /// re-checked. A kept book's store checks a batch in a small book of the accounts it
    /// touches and [`Book::absorb`]s it once the batch is stored.
    pub fn of_accounts(accounts: impl IntoIterator<Item = Account>) -> Book {
        let mut book = Book::new();
        for account in accounts {
            let (slot, _) = book.put_account(account);
            if let Some(a) = book.accounts.get(slot) {
                for (index, event) in a.events.iter().enumerate() {
                    book.ids.insert(event.id.clone(), (slot, index as u32));
                }
            }
        }
        book
    }

    /// Takes over `other`'s accounts, each replacing this book's account of the same id:
    /// `other` holds whole accounts (as [`Book::of_accounts`] made them, plus events checked
    /// there), so each of its accounts is a superset of this book's.
    pub fn absorb(&mut self, other: Book) {
        let Book { accounts, ids, .. } = other;
        // Where each of `other`'s slots went, and from which event index its ids are new.
        let placed: Vec<(usize, usize)> = accounts
            .into_iter()
            .map(|account| self.put_account(account))
            .collect();
        for (id, (slot, index)) in ids {
            if let Some(&(to, from)) = placed.get(slot)
                && index as usize >= from
            {
                self.ids.insert(id, (to, index));
            }
        }
    }

    /// Puts a whole account in (replacing its older copy); returns its slot and how many
    /// of its events the book had before (their ids are already indexed).
    fn put_account(&mut self, account: Account) -> (usize, usize) {
        let (slot, from) = match self.by_account.get(&account.id) {
            Some(&slot) => {
                let old = self.accounts.get(slot).map_or(0, |a| a.events.len());
                self.events -= old;
                (slot, old.min(account.events.len()))
            }
            None => {
                let slot = self.accounts.len();
                self.by_account.insert(account.id.clone(), slot);
                self.accounts.push(Account::new(account.id.clone()));
                (slot, 0)
            }
        };
        self.events += account.events.len();
        if let Some(a) = self.accounts.get_mut(slot) {
            *a = account;
        }
        (slot, from)
    }

    /// Checks one event against the book and stores it; the same id with the same content is
    /// a no-op, with a different content an error.
    pub fn insert(&mut self, event: Event) -> Result<Inserted, EventError> {
        self.insert_undoable(event).map(|(inserted, _)| inserted)
    }

    /// Inserts a batch all-or-nothing: on the first refused event the book is as before.
    pub fn import(
        &mut self,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<ImportSummary, BatchError> {
        let mut undo = Vec::new();
        let mut summary = ImportSummary::default();
        for (index, event) in events.into_iter().enumerate() {
            match self.insert_undoable(event) {
                Ok((Inserted::New, Some(u))) => {
                    summary.new += 1;
                    undo.push(u);
                }
                Ok(_) => summary.duplicates += 1,
                Err(error) => {
                    while let Some(u) = undo.pop() {
                        self.undo(u);
                    }
                    return Err(BatchError { index, error });
                }
            }
        }
        Ok(summary)
    }

    fn insert_undoable(&mut self, event: Event) -> Result<(Inserted, Option<Undo>), EventError> {
        event.validate()?;
        if let Some(&(slot, index)) = self.ids.get(&event.id) {
            let same = self
                .accounts
                .get(slot)
                .and_then(|a| a.events.get(index as usize))
                .is_some_and(|stored| *stored == event);
            return if same {
                Ok((Inserted::Duplicate, None))
            } else {
                Err(EventError::Conflict(event.id))
            };
        }
        let slot = self.by_account.get(&event.account).copied();
        let account = slot.and_then(|s| self.accounts.get(s));
        let target = match event.kind.reference() {
            None => None,
            Some((field, id)) => Some(check_reference(
                &self.ids, slot, account, &event, field, id,
            )?),
        };
        let mut new_currency = None;
        if let EventKind::Charge {
            currency: Some(c), ..
        } = &event.kind
        {
            match account.and_then(|a| a.currency.as_ref()) {
                Some(have) if have != c => {
                    return Err(EventError::CurrencyMismatch {
                        found: c.clone(),
                        account: have.clone(),
                    });
                }
                Some(_) => {}
                None => new_currency = Some(c.clone()),
            }
        }
        // Checked: from here on nothing fails.
        let (slot, new_account) = match slot {
            Some(s) => (s, false),
            None => {
                let s = self.accounts.len();
                self.accounts.push(Account::new(event.account.clone()));
                self.by_account.insert(event.account.clone(), s);
                (s, true)
            }
        };
        let Some(account) = self.accounts.get_mut(slot) else {
            return Err(EventError::UnknownType); // unreachable: the slot was just found or made
        };
        let index = account.events.len() as u32;
        let old_currency = new_currency.map(|c| account.currency.replace(c));
        if let Some(t) = target
            && let Some(link) = account.links.get_mut(t as usize)
            && matches!(
                event.kind,
                EventKind::Reversal { .. } | EventKind::DisputeResolved { .. }
            )
        {
            link.answered_by = Some(index);
        }
        account.links.push(Link {
            day: day_number(event.date),
            target,
            answered_by: None,
        });
        self.ids.insert(event.id.clone(), (slot, index));
        account.events.push(event);
        self.events += 1;
        Ok((
            Inserted::New,
            Some(Undo {
                slot,
                new_account,
                old_currency,
            }),
        ))
    }

    fn undo(&mut self, u: Undo) {
        let Some(account) = self.accounts.get_mut(u.slot) else {
            return;
        };
        let (Some(event), Some(link)) = (account.events.pop(), account.links.pop()) else {
            return;
        };
        if let Some(t) = link.target
            && let Some(target) = account.links.get_mut(t as usize)
            && target.answered_by == Some(account.events.len() as u32)
        {
            target.answered_by = None;
        }
        if let Some(old) = u.old_currency {
            account.currency = old;
        }
        self.ids.remove(&event.id);
        self.events -= 1;
        if u.new_account {
            self.accounts.pop();
            self.by_account.remove(&event.account);
        }
    }
}

/// A reference must name an earlier event of the same account, of the right kind, dated no
/// later than the referring event; a payment is reversed and a dispute resolved once.
fn check_reference(
    ids: &HashMap<String, (usize, u32)>,
    slot: Option<usize>,
    account: Option<&Account>,
    event: &Event,
    field: &'static str,
    id: &str,
) -> Result<u32, EventError> {
    let unknown = || EventError::UnknownReference {
        field,
        id: id.to_owned(),
        account: event.account.clone(),
    };
    let account = account.ok_or_else(unknown)?;
    let index = match ids.get(id) {
        Some(&(s, i)) if Some(s) == slot => i,
        _ => return Err(unknown()),
    };
    let (Some(target), Some(link)) = (
        account.events.get(index as usize),
        account.links.get(index as usize),
    ) else {
        return Err(unknown());
    };
    let expected = match event.kind {
        EventKind::Reversal { .. } => "payment",
        EventKind::DisputeResolved { .. } => "dispute",
        _ => "charge",
    };
    if target.kind.type_name() != expected {
        return Err(EventError::WrongReference {
            field,
            id: id.to_owned(),
            found: target.kind.type_name(),
            expected,
        });
    }
    if target.date > event.date {
        return Err(EventError::ReferenceLater {
            field,
            id: id.to_owned(),
        });
    }
    if link.answered_by.is_some() {
        return Err(match event.kind {
            EventKind::Reversal { .. } => EventError::AlreadyReversed(id.to_owned()),
            _ => EventError::AlreadyResolved(id.to_owned()),
        });
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The derivation's day arithmetic agrees with jiff's calendar.
        #[test]
        fn day_number_counts_days_like_jiff(a in -1_000_000i64..2_900_000, b in -1_000_000i64..2_900_000) {
            let base = Date::constant(2000, 1, 1);
            let x = base.checked_add(jiff::Span::new().days(a)).unwrap();
            let y = base.checked_add(jiff::Span::new().days(b)).unwrap();
            prop_assert_eq!(i64::from(day_number(x) - day_number(y)), a - b);
        }
    }

    fn ev(text: &str) -> Event {
        Event::from_value(&serde_json::from_str(text).unwrap()).unwrap()
    }

    /// A batch checked in a book of copied accounts and absorbed gives the book that
    /// importing the batch directly gives.
    #[test]
    fn absorbing_a_checked_copy_equals_importing() {
        let c1 = ev(
            r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"fee"}"#,
        );
        let c2 = ev(
            r#"{"type":"charge","id":"c2","account":"b","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"fee"}"#,
        );
        let p1 = ev(
            r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-01","amount_minor":40,"applies_to":"c1"}"#,
        );
        let r1 = ev(
            r#"{"type":"reversal","id":"r1","account":"a","date":"2024-02-02","reverses":"p1"}"#,
        );
        let c3 = ev(
            r#"{"type":"charge","id":"c3","account":"c","date":"2024-01-01","amount_minor":9,"due":"2024-01-31","category":"fee"}"#,
        );
        let mut kept = Book::new();
        kept.import([c1.clone(), c2.clone(), p1.clone()]).unwrap();
        let batch = [r1.clone(), c3.clone(), p1.clone()];
        let mut checked = Book::of_accounts(kept.account("a").cloned());
        assert!(checked.contains_event("p1"));
        assert_eq!(checked.import(batch.clone()).unwrap().new, 2);
        // A second reversal of p1 is refused in the copy: the link came along.
        let r2 = ev(
            r#"{"type":"reversal","id":"r2","account":"a","date":"2024-02-03","reverses":"p1"}"#,
        );
        assert!(checked.clone().insert(r2.clone()).is_err());
        kept.absorb(checked);
        let mut direct = Book::new();
        direct.import([c1, c2, p1]).unwrap();
        direct.import(batch).unwrap();
        assert_eq!(kept.len(), direct.len());
        assert_eq!(kept.owner_of("c3").map(Account::id), Some("c"));
        assert_eq!(kept.owner_of("r1").map(Account::id), Some("a"));
        for id in ["a", "b", "c"] {
            assert_eq!(
                kept.account(id).map(|a| a.events().to_vec()),
                direct.account(id).map(|a| a.events().to_vec())
            );
        }
        assert!(kept.insert(r2).is_err());
    }

    #[test]
    fn day_number_epoch() {
        assert_eq!(day_number(Date::constant(1970, 1, 1)), 0);
        assert_eq!(day_number(Date::constant(2000, 3, 1)), 11_017);
        assert_eq!(day_number(Date::constant(0, 1, 1)), -719_528);
    }
}
