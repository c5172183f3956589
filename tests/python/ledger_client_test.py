"""Drives ledgerd through Python grpcio stubs generated from proto/ (not from the project's
Rust code), proving the contract works for a CRM in another language.

Usage: ledger_client_test.py STUBS_DIR LEDGERD_BINARY
Starts ledgerd on 127.0.0.1 with a free port and an SQLite file in a temp dir (or
LEDGER_DATABASE_URL if set), runs the checks, prints "N passed, N failed", exits non-zero
on failure.
"""

import collections
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback

stubs, binary = sys.argv[1], sys.argv[2]
# The stubs are the packages collections.ledger.v1 and collections.common.v1 (the proto
# packages), and `collections` is also a standard-library package, imported long before this
# line: its path is extended to the stubs' `collections` directory so both resolve.
collections.__path__.append(os.path.join(stubs, "collections"))

import grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from collections.common.v1 import common_pb2 as common  # noqa: E402
from collections.ledger.v1 import ledger_pb2 as pb  # noqa: E402
from collections.ledger.v1 import ledger_pb2_grpc as rpc  # noqa: E402

T0 = 1_767_625_200


def ts(seconds):
    return Timestamp(seconds=seconds)


def account(aid):
    return pb.Account(
        account_id=aid,
        creditor="Py Bank",
        known_zone="America/Chicago",
        persons=[
            pb.Person(
                person_id="p1",
                full_name="Pat Python",
                role=pb.PERSON_ROLE_PRIMARY,
                phones=[
                    pb.Phone(
                        number="+13125550100",
                        kind=common.PHONE_KIND_MOBILE,
                        consent_automated=True,
                        consent_source="web form",
                        consent_at=ts(T0 - 86400),
                    )
                ],
                addresses=[pb.Address(zip="60601", state="IL", country="US", current=True)],
            )
        ],
        debts=[pb.Debt(debt_id=aid + "-d1", balance_minor=99_00, currency="USD", days_past_due=40)],
    )


def outcome(key, aid, kind=common.OUTCOME_KIND_NO_ANSWER, at=T0):
    return pb.ContactOutcome(
        idempotency_key=key,
        account_id=aid,
        person_id="p1",
        debt_ids=[aid + "-d1"],
        number="+13125550100",
        direction=pb.DIRECTION_OUTBOUND,
        channel=pb.CHANNEL_CALL,
        dial_mode=common.DIAL_MODE_POWER,
        outcome=kind,
        campaign_id="py",
        started_at=ts(at),
        amd=pb.AMD_VERDICT_MACHINE,
    )


def start_ledgerd(tmp):
    env = dict(os.environ)
    env.setdefault("LEDGER_DATABASE_URL", "sqlite://%s/ledger.db?mode=rwc" % tmp)
    env["LEDGER_LISTEN"] = "127.0.0.1:0"
    env.setdefault("RUST_LOG", "warn")
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    prefix = "ledgerd listening on "
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError("ledgerd did not start: %r" % line)
    return proc, line[len(prefix):]


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def upsert_accounts_client_stream(stub):
    bad = account("PY-bad")
    bad.debts[0].currency = "usd"
    r = stub.UpsertAccounts(iter([pb.UpsertAccountRequest(account=a) for a in [account("PY-1"), bad, account("PY-2")]]))
    assert (r.created, r.rejected) == (2, 1), r
    err = r.results[1].error
    assert err.code == "INVALID_ARGUMENT" and err.field == "account.debts[0].currency", err
    r = stub.UpsertAccounts(iter([pb.UpsertAccountRequest(account=account("PY-1"))]))
    assert r.unchanged == 1, r


@check
def get_account_and_not_found(stub):
    a = stub.GetAccount(pb.GetAccountRequest(account_id="PY-1"))
    assert a.persons[0].phones[0].number == "+13125550100"
    assert a.debts[0].balance_minor == 9900 and a.debts[0].currency == "USD"
    try:
        stub.GetAccount(pb.GetAccountRequest(account_id="nope"))
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e


@check
def list_accounts_filtered_and_paged(stub):
    seen, token = [], ""
    while True:
        r = stub.ListAccounts(pb.ListAccountsRequest(page_size=1, page_token=token))
        seen += list(r.account_ids)
        token = r.next_page_token
        if not token:
            break
    assert seen == ["PY-1", "PY-2"], seen
    # proto3 optional: an explicit 0 bound filters, an absent one does not.
    f = common.AccountFilter(creditor="Py Bank", min_balance_minor=9900, max_days_past_due=40, has_phone=True)
    assert list(stub.ListAccounts(pb.ListAccountsRequest(filter=f)).account_ids) == ["PY-1", "PY-2"]
    f = common.AccountFilter(max_balance_minor=0)
    assert list(stub.ListAccounts(pb.ListAccountsRequest(filter=f)).account_ids) == []
    try:
        stub.ListAccounts(pb.ListAccountsRequest(filter=common.AccountFilter(min_days_past_due=5, max_days_past_due=4)))
        raise AssertionError("expected INVALID_ARGUMENT")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details().startswith("filter.max_days_past_due"), e


@check
def record_outcomes_bidi_stream_idempotent(stub):
    outs = [outcome("py-%d" % i, "PY-1", at=T0 + i) for i in range(20)]
    reqs = [pb.RecordOutcomesRequest(outcomes=outs[:10]), pb.RecordOutcomesRequest(outcomes=outs[10:] + outs[:2])]
    acks = [a for r in stub.RecordOutcomes(iter(reqs)) for a in r.acks]
    assert len(acks) == 22, len(acks)
    assert sum(a.status == pb.ACK_STATUS_RECORDED for a in acks) == 20
    assert sum(a.duplicate for a in acks) == 2
    again = [a for r in stub.RecordOutcomes(iter([pb.RecordOutcomesRequest(outcomes=outs)])) for a in r.acks]
    assert all(a.status == pb.ACK_STATUS_DUPLICATE for a in again)
    bad = outcome("py-bad", "PY-1")
    bad.ClearField("started_at")
    acks = [a for r in stub.RecordOutcomes(iter([pb.RecordOutcomesRequest(outcomes=[bad])])) for a in r.acks]
    assert acks[0].status == pb.ACK_STATUS_REJECTED and acks[0].error.field == "started_at", acks


@check
def list_outcomes_paged(stub):
    seen, token = [], ""
    while True:
        r = stub.ListOutcomes(pb.ListOutcomesRequest(account_id="PY-1", page_size=6, page_token=token))
        seen += [o.idempotency_key for o in r.outcomes]
        token = r.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted("py-%d" % i for i in range(20)), seen
    one = stub.ListOutcomes(pb.ListOutcomesRequest(idempotency_key="py-3")).outcomes
    assert len(one) == 1 and one[0].counts_for_regf and one[0].amd == pb.AMD_VERDICT_MACHINE


@check
def contact_history_for_compliance(stub):
    h = stub.GetContactHistory(pb.GetContactHistoryRequest(account_id="PY-1", debt_id="PY-1-d1", since=ts(T0 + 15)))
    assert [c.idempotency_key for c in h.contacts] == ["py-%d" % i for i in range(15, 20)]
    assert h.known_zone == "America/Chicago" and h.persons[0].phones[0].consent_automated


@check
def holds_consents_promises(stub):
    hold = pb.Hold(account_id="PY-2", kind=pb.HOLD_KIND_DISPUTE, since=ts(T0), set_by="crm", reason="letter")
    h1 = stub.SetHold(pb.SetHoldRequest(hold=hold))
    h2 = stub.SetHold(pb.SetHoldRequest(hold=hold))
    assert h1.hold_id and h1.hold_id == h2.hold_id
    try:
        stub.SetHold(pb.SetHoldRequest(hold=pb.Hold(account_id="PY-2", since=ts(T0))))
        raise AssertionError("expected INVALID_ARGUMENT")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "hold.kind" in e.details(), e
    p = stub.SetConsent(pb.SetConsentRequest(account_id="PY-2", person_id="p1", number="+13125550100", consent=False, at=ts(T0 + 5)))
    assert p.consent_revoked_at.seconds == T0 + 5
    pr = stub.RecordPromise(pb.RecordPromiseRequest(promise=pb.Promise(
        promise_id="py-pr", account_id="PY-2", debt_id="PY-2-d1", amount_minor=5000, currency="USD", due_date="2026-03-01")))
    assert pr.status == pb.PROMISE_STATUS_PENDING
    pr.status = pb.PROMISE_STATUS_BROKEN
    stub.RecordPromise(pb.RecordPromiseRequest(promise=pr))
    lst = stub.ListPromises(pb.ListPromisesRequest(account_id="PY-2")).promises
    assert len(lst) == 1 and lst[0].status == pb.PROMISE_STATUS_BROKEN


@check
def watch_changes_resume(stub):
    def collect(after, n):
        q = queue.Queue()
        call = stub.WatchChanges(pb.WatchChangesRequest(after_seq=after, account_id="PY-2"))

        def run():
            try:
                for c in call:
                    # Money events (the opening balance) are RECEIVABLES changes; this
                    # check is about the others.
                    if c.WhichOneof("payload") != "receivables":
                        q.put(c)
            except grpc.RpcError:
                pass

        threading.Thread(target=run, daemon=True).start()
        out = [q.get(timeout=20) for _ in range(n)]
        call.cancel()
        return out

    # PY-2: account upsert, hold, consent, promise, promise update.
    first = collect(0, 5)
    kinds = [c.WhichOneof("payload") for c in first]
    assert kinds == ["account_changed", "hold", "consent", "promise", "promise"], kinds
    assert all(a.seq < b.seq for a, b in zip(first, first[1:]))
    stub.SetHold(pb.SetHoldRequest(hold=pb.Hold(account_id="PY-2", kind=pb.HOLD_KIND_CEASE, since=ts(T0 + 9))))
    nxt = collect(first[-1].seq, 1)
    assert nxt[0].hold.kind == pb.HOLD_KIND_CEASE and nxt[0].seq > first[-1].seq


def main():
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        proc, addr = start_ledgerd(tmp)
        try:
            channel = grpc.insecure_channel(addr)
            grpc.channel_ready_future(channel).result(timeout=20)
            stub = rpc.LedgerServiceStub(channel)
            for fn in CHECKS:
                try:
                    fn(stub)
                    passed += 1
                    print("ok   %s" % fn.__name__)
                except Exception:
                    failed += 1
                    print("FAIL %s" % fn.__name__)
                    traceback.print_exc()
            channel.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
