--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Consumer payments ({{dialect}}, issue 12): one payment a consumer made for several of
-- their debts, split by `ApplyConsumerPayment` into one `payment` money event per debt
-- (`<payment_id>/<debt_id>`, in money_events). Append-only, written in the same
-- transaction as its events: a re-send finds its row and answers the same split.

-- `body` is the request as `receivables::ConsumerPayment` serialises it (debt ids sorted),
-- `split` the `receivables::PaymentSplit` it got; `unapplied_minor` is what no undisputed
-- debt could take, held for the consumer (never put on a disputed debt, Reg F
-- 1006.30(c)).
CREATE TABLE consumer_payments (
    payment_id      TEXT PRIMARY KEY,
    payment_date    TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL,
    unapplied_minor BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    body            TEXT NOT NULL,
    split           TEXT NOT NULL,
    recorded_by     TEXT NOT NULL,
    recorded_at     BIGINT NOT NULL
);
