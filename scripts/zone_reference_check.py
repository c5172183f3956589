#!/usr/bin/env python3
"""Independent reference check of the compliance engine's calling hours (US-REGF-01).

Draws random consumers (phones from libphonenumber's time-zone map and beyond it, US
addresses from the ZIP source) and random instants, asks `dialerctl compliance check`
(JSON lines, docs/compliance.md section 8) for a verdict, and judges every answer against
the SOURCE data, not the engine's committed tables:

  * a number's zones: the longest prefix of its E.164 digits in phonenumbers' own
    TIMEZONE_DATA (a NANP match must reach the area code; "Etc/Unknown" and the bare
    country-code entry "1" give nothing), plus whatever phonenumbers'
    time_zones_for_number() gives outside the NANP (not its NANP-wide list for toll-free);
  * an address's zones: the zipcodes package's zone of the ZIP; a state alone, or a ZIP
    of another state, adds every zone zipcodes gives a ZIP of that state.

An ALLOW is unlawful when the local time in ANY of those zones is outside 08:00-21:00, or
when none of the inputs gives a zone. Among lawful calls (some zone, every zone inside
the window) it reports how many the engine refuses, by reason code, and how many of those
are over-blocked: refused without a Reg F frequency reason (US-REGF-08/09, which the
history makes lawful refusals). It also reports
"coverage misses": source zones whose UTC offset at the instant matches no candidate
zone the engine reports (allowed or not); there should be none.

Usage (from the repository root; needs Python 3.11+ and PyPI):
  python3 scripts/zone_reference_check.py [--cases 100000] [--seed 1]
      [--dialerctl target/release/dialerctl] [--json]

Without --dialerctl it runs `cargo run --release -q -p dialerctl --`. It uses the
virtualenv and the pins of scripts/gen_zone_tables.py ($ZONEGEN_VENV to choose another).
Exit status: 0 = no unlawful allow and no coverage miss; 1 = some; 2 = error.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))
import gen_zone_tables as gen  # noqa: E402  (pins and venv shared with the generator)

_ENV_FLAG = "ZONECHECK_IN_VENV"


def _bootstrap() -> None:
    """Re-run inside the generator's virtualenv with exactly the pinned packages."""
    if os.environ.get(_ENV_FLAG) == "1":
        got = gen._installed_versions()
        if got != gen.PINS:
            sys.exit(f"error: venv has {got}, expected {gen.PINS}")
        return
    tag = "-".join(f"{k}{v}" for k, v in sorted(gen.PINS.items()))
    venv = Path(os.environ.get("ZONEGEN_VENV") or f"/tmp/zonegen-venv-{tag}")
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    reqs = [f"{k}=={v}" for k, v in sorted(gen.PINS.items())]
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *reqs],
        check=True,
    )
    # zoneinfo reads the pinned tzdata package (jiff's tzdb release), not the machine's files.
    env = dict(os.environ, **{_ENV_FLAG: "1", "PYTHONHASHSEED": "0", "PYTHONTZPATH": ""})
    os.execve(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]], env)


# Reason codes by cause, for the over-blocking report (docs/compliance.md section 5).
CAUSES = {
    "US_REGF_NO_LOCATION": "no location",
    "US_REGF_HOURS": "hours in an extra zone",
    "US_REGF_HOURS_MULTIZONE": "hours in an extra zone",
    "POLICY_PACING": "policy deferral (US-REGF-12 pacing)",
    "US_REGF_7IN7": "Reg F frequency (US-REGF-08/09)",
    "US_REGF_POSTCONV": "Reg F frequency (US-REGF-08/09)",
}
STATE_OVERLAY = "state or provincial overlay"
REGF_FREQUENCY = {"US_REGF_7IN7", "US_REGF_POSTCONV"}


class Source:
    """The source data, loaded once: libphonenumber's map and the ZIP database."""

    def __init__(self) -> None:
        import phonenumbers
        import zipcodes
        from phonenumbers import timezone as pn_timezone
        from phonenumbers.tzdata import TIMEZONE_DATA

        self.pn = phonenumbers
        self.time_zones_for_number = pn_timezone.time_zones_for_number
        self.map = {str(k): tuple(v) for k, v in TIMEZONE_DATA.items()}
        self.longest = max(len(k) for k in self.map)
        self.keys_nanp = sorted(k for k in self.map if k.startswith("1") and len(k) >= 4)
        self.keys_uk = sorted(k for k in self.map if k.startswith("44"))
        self.keys_other = sorted(k for k in self.map if not k.startswith(("1", "44")))
        self.zips: dict[str, tuple[str, str]] = {}
        self.state_zones: dict[str, set[str]] = {}
        for r in zipcodes.list_all():
            zone, state = (r.get("timezone") or "").strip(), (r.get("state") or "").strip()
            self.zips[r["zip_code"]] = (zone, state)
            if zone and state:
                self.state_zones.setdefault(state, set()).add(zone)
        self.zip_list = sorted(self.zips)
        self.states = sorted(self.state_zones)
        self._tz: dict[str, object] = {}

    def tz(self, name: str):
        from zoneinfo import ZoneInfo

        if name not in self._tz:
            try:
                self._tz[name] = ZoneInfo(name)
            except Exception:  # a zone field that is no zone (e.g. 'Napakiak')
                self._tz[name] = None
        return self._tz[name]

    def phone_zones(self, e164: str) -> set[str]:
        digits = e164[1:]
        lo = 4 if digits.startswith("1") else 1
        out: set[str] = set()
        for n in range(min(len(digits), self.longest), lo - 1, -1):
            if digits[:n] in self.map:
                out |= set(self.map[digits[:n]])
                break
        # For a NANP number the library's answer is the same prefix look-up (or Etc/Unknown),
        # or, for toll-free and other non-geographic numbers, every NANP zone: not asked.
        # Elsewhere it may add country-wide zones (a UK mobile gets the Crown dependencies').
        if not digits.startswith("1"):
            try:
                out |= set(self.time_zones_for_number(self.pn.parse(e164)))
            except self.pn.NumberParseException:
                pass
        out.discard(gen.UNKNOWN_ZONE)
        return out

    def address_zones(self, a: dict) -> set[str]:
        out: set[str] = set()
        zip_, state = a.get("zip"), a.get("state")
        if zip_ and zip_ in self.zips:
            zone, zstate = self.zips[zip_]
            if zone:
                out.add(zone)
            if state and state != zstate:
                out |= self.state_zones.get(state, set())
        elif state:
            out |= self.state_zones.get(state, set())
        return {z for z in out if self.tz(z) is not None}


def fill(rng: random.Random, prefix: str, length: int) -> str:
    return prefix + "".join(rng.choice("0123456789") for _ in range(max(0, length - len(prefix))))


def draw_phone(rng: random.Random, src: Source) -> str:
    r = rng.random()
    if r < 0.50:
        return "+" + fill(rng, rng.choice(src.keys_nanp), 11)[:11]
    if r < 0.70:  # any NANP area code: unknown, non-geographic and new ones included
        return "+1" + str(rng.randint(200, 999)) + str(rng.randint(200, 999)) + fill(rng, "", 4)
    if r < 0.75:
        npa = rng.choice(["800", "833", "844", "855", "866", "877", "888", "900", "500", "533", "600"])
        return "+1" + npa + str(rng.randint(200, 999)) + fill(rng, "", 4)
    if r < 0.85:
        key = rng.choice(src.keys_uk)
        return "+" + fill(rng, key, max(12, len(key) + 1))
    key = rng.choice(src.keys_other)
    return "+" + fill(rng, key, min(15, max(11, len(key) + 2)))


def draw_address(rng: random.Random, src: Source) -> dict:
    r = rng.random()
    zip_ = rng.choice(src.zip_list)
    zstate = src.zips[zip_][1]
    if r < 0.60:
        return {"zip": zip_, "state": zstate}
    if r < 0.75:
        return {"zip": zip_}
    if r < 0.95:
        return {"state": rng.choice(src.states)}
    return {"zip": zip_, "state": rng.choice(src.states)}


START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DST_DAYS = [datetime(2026, 3, 8, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc),
            datetime(2026, 3, 29, tzinfo=timezone.utc), datetime(2026, 10, 25, tzinfo=timezone.utc)]
# Outcomes with rough real-life weights: conversations are the rare ones.
OUTCOMES = ["no_answer"] * 4 + ["voicemail", "busy", "machine"] * 2 + ["answered", "conversation", "lcm"]


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def draw_case(i: int, rng: random.Random, src: Source) -> tuple[dict, datetime, set[str], bool]:
    if rng.random() < 0.1:
        at = rng.choice(DST_DAYS) + timedelta(seconds=rng.randrange(2 * 86_400))
    else:
        at = START + timedelta(seconds=rng.randrange(366 * 86_400))
    phones = [draw_phone(rng, src) for _ in range(rng.choice([1, 1, 2, 2, 3]))]
    phones = list(dict.fromkeys(phones))
    n_addr = rng.choice([0, 1, 1, 1, 2])
    addresses = [draw_address(rng, src) for _ in range(n_addr)]
    history = []
    for _ in range(rng.choice([0, 0, 0, 1, 2, 4, 8])):
        # Mostly the past ten days; one entry in twenty "later" than `at` (a clock behind).
        ago = rng.randrange(-86_400, 0) if rng.random() < 0.05 else rng.randrange(600, 10 * 86_400)
        history.append({"at": iso(at - timedelta(seconds=ago)), "number": rng.choice(phones),
                        "debt_ids": ["d1"], "outcome": rng.choice(OUTCOMES)})
    case = {
        "id": i,
        "at": iso(at),
        "mode": "manual",
        "dial": {"number": phones[0], "debt_id": "d1"},
        "consumer": {
            "phones": [{"number": p, "kind": rng.choice(["mobile", "landline", "unknown"])} for p in phones],
            "addresses": addresses,
        },
        "debts": [{"id": "d1"}],
        "history": history,
    }
    zones: set[str] = set()
    for p in phones:
        zones |= src.phone_zones(p)
    for a in addresses:
        zones |= src.address_zones(a)
    zones = {z for z in zones if src.tz(z) is not None}
    inside = bool(zones) and all(8 <= at.astimezone(src.tz(z)).hour < 21 for z in zones)
    return case, at, zones, inside


def run(args) -> int:
    src = Source()
    rng = random.Random(args.seed)
    cases = [draw_case(i, rng, src) for i in range(args.cases)]
    stdin = "".join(json.dumps(c, separators=(",", ":")) + "\n" for c, *_ in cases)
    cmd = [args.dialerctl] if args.dialerctl else ["cargo", "run", "--release", "-q", "-p", "dialerctl", "--"]
    cmd += ["compliance", "check"]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 2
    answers = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if len(answers) != len(cases):
        print(f"error: {len(answers)} answers for {len(cases)} cases", file=sys.stderr)
        return 2

    stats = Counter()
    reasons: Counter = Counter()
    causes: Counter = Counter()
    over: Counter = Counter()
    over_causes: Counter = Counter()
    examples: list[str] = []
    for (case, at, zones, inside), ans in zip(cases, answers):
        if "error" in ans:
            stats["errors"] += 1
            examples.append(f"error {ans['error']}: {json.dumps(case)}")
            continue
        verdict = ans["verdict"]
        stats[verdict] += 1
        stats["with a source zone" if zones else "without any source zone"] += 1
        offsets = {at.astimezone(src.tz(z)).utcoffset() for z in ans["zones"] if src.tz(z)}
        missed = sorted(z for z in zones if at.astimezone(src.tz(z)).utcoffset() not in offsets)
        if missed:
            stats["coverage misses"] += 1
            examples.append(f"coverage miss {missed} not among {ans['zones']}: {json.dumps(case)}")
        if verdict == "allow" and not inside:
            stats["unlawful allows"] += 1
            examples.append(f"unlawful allow (zones {sorted(zones)}): {json.dumps(case)}")
        if inside:
            stats["lawful"] += 1
            if verdict != "allow":
                stats["lawful refused"] += 1
                stats[f"lawful {verdict}"] += 1
                for r in ans["reasons"]:
                    reasons[r] += 1
                for c in sorted({CAUSES.get(r, STATE_OVERLAY) for r in ans["reasons"]}):
                    causes[c] += 1
                if not REGF_FREQUENCY & set(ans["reasons"]):
                    stats["over-blocked"] += 1
                    for r in ans["reasons"]:
                        over[r] += 1
                    for c in sorted({CAUSES.get(r, STATE_OVERLAY) for r in ans["reasons"]}):
                        over_causes[c] += 1

    lawful = stats["lawful"] or 1
    report = {
        "cases": args.cases,
        "seed": args.seed,
        "pins": gen.PINS,
        "verdicts": {k: stats[k] for k in ("allow", "defer", "deny")},
        "errors": stats["errors"],
        "with_source_zone": stats["with a source zone"],
        "without_source_zone": stats["without any source zone"],
        "unlawful_allows": stats["unlawful allows"],
        "coverage_misses": stats["coverage misses"],
        "lawful": stats["lawful"],
        "lawful_refused": stats["lawful refused"],
        "lawful_refused_share": round(stats["lawful refused"] / lawful, 5),
        "lawful_refused_by_cause": {k: [n, round(n / lawful, 5)] for k, n in causes.most_common()},
        "lawful_refused_by_reason": {k: [n, round(n / lawful, 5)] for k, n in reasons.most_common()},
        "over_blocked": stats["over-blocked"],
        "over_blocked_share": round(stats["over-blocked"] / lawful, 5),
        "over_blocked_by_cause": {k: [n, round(n / lawful, 5)] for k, n in over_causes.most_common()},
        "over_blocked_by_reason": {k: [n, round(n / lawful, 5)] for k, n in over.most_common()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.cases} cases (seed {args.seed}, phonenumbers {gen.PINS['phonenumbers']}, "
              f"zipcodes {gen.PINS['zipcodes']}): allow {stats['allow']}, defer {stats['defer']}, "
              f"deny {stats['deny']}, errors {stats['errors']}")
        print(f"  with a source zone {report['with_source_zone']}, without {report['without_source_zone']}")
        print(f"  unlawful allows: {report['unlawful_allows']}")
        print(f"  coverage misses: {report['coverage_misses']}")
        print(f"  lawful calls: {stats['lawful']}, refused {stats['lawful refused']} "
              f"({100 * stats['lawful refused'] / lawful:.2f} %; defer {stats['lawful defer']}, "
              f"deny {stats['lawful deny']})")
        print("  by cause (a call may have several):")
        for k, (n, share) in report["lawful_refused_by_cause"].items():
            print(f"    {k}: {n} ({100 * share:.2f} %)")
        print("  by reason code:")
        for k, (n, share) in report["lawful_refused_by_reason"].items():
            print(f"    {k}: {n} ({100 * share:.2f} %)")
        print(f"  over-blocked (refused, no US-REGF-08/09 reason): {stats['over-blocked']} "
              f"({100 * report['over_blocked_share']:.2f} % of lawful calls)")
        for k, (n, share) in report["over_blocked_by_cause"].items():
            print(f"    {k}: {n} ({100 * share:.2f} %)")
        for k, (n, share) in report["over_blocked_by_reason"].items():
            print(f"      {k}: {n} ({100 * share:.2f} %)")
    for e in examples[:10]:
        print(e, file=sys.stderr)
    bad = stats["unlawful allows"] + stats["coverage misses"] + stats["errors"]
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dialerctl", help="path of a built dialerctl (default: cargo run --release)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()
    _bootstrap()
    if args.dialerctl:
        args.dialerctl = str(Path(args.dialerctl).resolve())
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
