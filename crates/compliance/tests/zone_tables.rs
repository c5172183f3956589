//! The candidate zones never say less than the data (US-REGF-01, rules.md section 6).
//!
//! Each test walks a whole committed table, parsed here independently of `geo.rs`, and asserts
//! that a full evaluation keeps every zone the table gives among `Decision::zones`:
//! - every phone prefix (every NPA and NPA-NXX of the NANP, Canada, the Caribbean and the
//!   territories, the UK and its Crown dependencies, every other country);
//! - every ZIP, alone, with its own state, and with a different state;
//! - every state and territory alone (its hand-written zones plus those of all its ZIPs),
//!   every Canadian province and territory, and the UK.
//!
//! A hand-written rule that shadows table data (as the "5XX is personal" pattern once did
//! to 1-520 Tucson) fails these tests.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use compliance::geo::{PhoneLocation, geo};
use compliance::model::{Address, CallRequest, Consumer, Dial, Phone, PhoneKind};
use compliance::{Decision, Engine, Policy};
use jiff::Timestamp;
use proptest::prelude::*;

const PHONES: &str = include_str!("../data/phone_prefix_zones.tsv");
const ZIPS: &str = include_str!("../data/zip_zones.tsv");
const REGIONS: &str = include_str!("../data/region_zones.tsv");
const NON_GEOGRAPHIC: &str = include_str!("../data/nanp_non_geographic.tsv");

/// A number no table prefix matches, that gives no zone: the dialed number of address tests.
const NO_ZONE: &str = "+18005550134";

type Table = HashMap<String, (BTreeSet<String>, Option<String>)>;

static PHONE_TABLE: LazyLock<Table> = LazyLock::new(|| table(PHONES));

/// `KEY -> (zones, third column)` of a table.
fn table(text: &str) -> Table {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut cols = l.split('\t');
            let key = cols.next().expect("key").to_string();
            let zones = cols.next().expect("zones").split('&').map(String::from);
            (key, (zones.collect(), cols.next().map(String::from)))
        })
        .collect()
}

/// The longest table prefix of E.164 digits, the way libphonenumber looks it up (a NANP
/// match must reach the area code).
fn longest<'t>(phones: &'t Table, digits: &str) -> Option<&'t str> {
    let min = if digits.starts_with('1') { 4 } else { 1 };
    (min..=digits.len())
        .rev()
        .find_map(|n| phones.get_key_value(&digits[..n]).map(|(k, _)| k.as_str()))
}

fn request(phones: &[&str], addresses: Vec<Address>) -> CallRequest {
    let dial = phones.first().copied().unwrap_or(NO_ZONE);
    CallRequest {
        at: "2026-07-15T18:00:00Z"
            .parse::<Timestamp>()
            .expect("instant"),
        mode: Default::default(),
        dial: Dial {
            number: dial.to_string(),
            debt_id: "d1".to_string(),
            debt_ids: Vec::new(),
            party: Default::default(),
            third_party_id: None,
            agent_reserved: false,
        },
        consumer: Consumer {
            phones: phones
                .iter()
                .map(|n| Phone {
                    number: n.to_string(),
                    kind: PhoneKind::Mobile,
                    consent_automated: false,
                    consent_revoked_at: None,
                    employer_prohibits: false,
                    rnd: None,
                })
                .collect(),
            addresses,
            ..Consumer::default()
        },
        debts: Vec::new(),
        history: Vec::new(),
    }
}

fn zones_of(d: &Decision) -> BTreeSet<String> {
    d.zones.iter().map(|z| z.zone.to_string()).collect()
}

#[track_caller]
fn assert_keeps(req: &CallRequest, want: &BTreeSet<String>, what: &str) {
    let d = Engine::builtin()
        .evaluate(req, &Policy::default())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let got = zones_of(&d);
    let missing: Vec<&String> = want.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{what}: candidate zones {got:?} lack {missing:?}"
    );
}

fn address(zip: Option<&str>, state: Option<&str>, country: Option<&str>) -> Address {
    Address {
        zip: zip.map(String::from),
        state: state.map(String::from),
        country: country.map(String::from),
        current: true,
    }
}

/// A number (E.164 with `+`) whose longest table prefix is exactly `key`, when one exists.
fn number_under(phones: &Table, key: &str) -> Option<String> {
    let len = if key.starts_with('1') {
        11
    } else {
        key.len().max(11) + 1
    };
    let pad = len - key.len();
    // Try fills of one digit, then every two-digit start followed by a fill: a prefix whose
    // every extension is a longer table key is fully shadowed and has no number of its own.
    let fills = (0..10u32).map(move |d| (None, d));
    let starts = (0..100u32).flat_map(move |s| (0..10u32).map(move |d| (Some(s), d)));
    fills.chain(starts).find_map(|(start, d)| {
        let mut s = String::from(key);
        if let Some(st) = start {
            s.push_str(&format!("{st:02}"));
        }
        while s.len() < len {
            s.push(char::from_digit(d, 10).expect("digit"));
        }
        s.truncate(len);
        (pad > 0 && longest(phones, &s) == Some(key)).then(|| format!("+{s}"))
    })
}

#[test]
fn every_phone_prefix_keeps_its_zones() {
    let phones = table(PHONES);
    let (mut tested, mut shadowed) = (0, Vec::new());
    let (mut nanp, mut uk, mut canada) = (0, 0, 0);
    for (key, (zones, _)) in &phones {
        let Some(number) = number_under(&phones, key) else {
            shadowed.push(key.clone());
            continue;
        };
        // The lookup itself gives exactly the table's zones ...
        let Ok(PhoneLocation::Zones(set)) = geo().phone(&number) else {
            panic!("{number} (prefix {key}): {:?}", geo().phone(&number));
        };
        let got: BTreeSet<String> = geo()
            .zones(set)
            .iter()
            .map(|&z| geo().zone_name(z).to_string())
            .collect();
        assert_eq!(&got, zones, "{number}: zones of prefix {key}");
        // ... and the evaluation keeps them all among the candidates.
        assert_keeps(&request(&[&number], Vec::new()), zones, &number);
        tested += 1;
        nanp += usize::from(key.starts_with('1'));
        uk += usize::from(key.starts_with("44"));
        canada += usize::from(["1416", "1604", "1867", "1709"].contains(&key.as_str()));
    }
    // Not vacuous: the walk reached the NANP (NPAs and NPA-NXXs), the UK and Canada.
    assert!(tested > 3000 && nanp > 1900 && uk > 20 && canada == 4);
    assert!(shadowed.len() < 50, "fully shadowed prefixes: {shadowed:?}");
}

#[test]
fn a_number_with_no_table_prefix_gives_no_zone() {
    let phones = table(PHONES);
    let listed = table(NON_GEOGRAPHIC);
    for npa in 100..1000 {
        let number = format!("+1{npa}2345678");
        let loc = geo().phone(&number).expect("valid E.164");
        let want = if longest(&phones, &number[1..]).is_some() {
            continue;
        } else if listed.contains_key(&npa.to_string()) {
            PhoneLocation::NonGeographic
        } else {
            PhoneLocation::Unknown
        };
        assert_eq!(loc, want, "{number}");
        let d = Engine::builtin()
            .evaluate(&request(&[&number], Vec::new()), &Policy::default())
            .expect("evaluates");
        assert!(d.zones.is_empty(), "{number}: {:?}", zones_of(&d));
        assert!(d.has(compliance::ReasonCode::RegfNoLocation), "{number}");
    }
}

#[test]
fn every_zip_keeps_its_zones_with_or_without_a_state() {
    let zips = table(ZIPS);
    let regions = table(REGIONS);
    assert!(zips.len() > 40_000);
    for (zip, (zones, state)) in &zips {
        let state = state.as_deref().expect("state column");
        assert_keeps(
            &request(&[], vec![address(Some(zip), None, None)]),
            zones,
            zip,
        );
        assert_keeps(
            &request(&[], vec![address(Some(zip), Some(state), None)]),
            zones,
            zip,
        );
        // A conflicting state: the ZIP's zones and the named state's (rules.md section 6).
        let other = if state == "HI" { "ME" } else { "HI" };
        let mut both = zones.clone();
        both.extend(regions[&format!("US-{other}")].0.iter().cloned());
        assert_keeps(
            &request(&[], vec![address(Some(zip), Some(other), None)]),
            &both,
            &format!("{zip} with state {other}"),
        );
    }
}

#[test]
fn every_region_alone_keeps_its_zones_and_those_of_its_zips() {
    let zips = table(ZIPS);
    let regions = table(REGIONS);
    let mut of_state: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (zones, state) in zips.values() {
        let state = state.clone().expect("state column");
        of_state
            .entry(state)
            .or_default()
            .extend(zones.iter().cloned());
    }
    let mut seen = 0;
    for (key, (zones, _)) in &regions {
        let (country, state) = key
            .split_once('-')
            .map_or((key.as_str(), None), |(c, s)| (c, Some(s)));
        let mut want = zones.clone();
        if country == "US" {
            // Every US state and territory in the table has ZIPs.
            let of_zips = of_state
                .get(state.expect("state"))
                .expect("ZIPs of the state");
            want.extend(of_zips.iter().cloned());
        }
        let req = request(&[], vec![address(None, state, Some(country))]);
        assert_keeps(&req, &want, key);
        // An unknown ZIP falls back to the same zones.
        if country == "US" {
            let req = request(&[], vec![address(Some("00000"), state, None)]);
            assert_keeps(&req, &want, &format!("{key} with ZIP 00000"));
        }
        seen += 1;
    }
    // 50 states, DC, 8 territories and associated states, 13 provinces and territories, GB.
    assert!(seen == 73 && regions.contains_key("GB") && regions.contains_key("CA-ON"));
}

fn digits(len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0..10u32, len).prop_map(|v| {
        v.into_iter()
            .map(|d| char::from_digit(d, 10).expect("digit"))
            .collect()
    })
}

/// E.164 digits: a table prefix or a NANP area code extended at random, or a random NANP or
/// other number.
fn number() -> impl Strategy<Value = String> {
    let keys: Vec<String> = PHONE_TABLE.keys().cloned().collect();
    let n = keys.len();
    let npas: Vec<String> = keys
        .iter()
        .filter(|k| k.len() == 4 && k.starts_with('1'))
        .cloned()
        .collect();
    let m = npas.len();
    prop_oneof![
        2 => (0..m, digits(7)).prop_map(move |(i, d)| format!("{}{d}", npas[i])),
        3 => (0..n, digits(14)).prop_map(move |(i, tail)| {
            let key = &keys[i];
            let len = if key.starts_with('1') { 11 } else { (key.len() + 1).clamp(10, 15) };
            let mut s = key.clone();
            s.push_str(&tail);
            s.truncate(len.max(key.len()));
            s
        }),
        1 => digits(10).prop_map(|d| format!("1{d}")),
        1 => (2..10u32, digits(11)).prop_map(|(cc, d)| format!("{cc}{d}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// US-REGF-01: the candidate zones of any number contain the zones of its longest table
    /// prefix, whatever else the consumer has on file.
    #[test]
    fn candidate_zones_contain_those_of_the_longest_table_prefix(
        numbers in prop::collection::vec(number(), 1..4),
        zip in prop::option::of(0..100_000u32),
    ) {
        let phones = &*PHONE_TABLE;
        let mut want = BTreeSet::new();
        let mut e164 = Vec::new();
        for n in &numbers {
            if let Some(key) = longest(phones, n) {
                want.extend(phones[key].0.iter().cloned());
            }
            e164.push(format!("+{n}"));
        }
        let refs: Vec<&str> = e164.iter().map(String::as_str).collect();
        let addresses = zip
            .map(|z| vec![address(Some(&format!("{z:05}")), None, None)])
            .unwrap_or_default();
        let req = request(&refs, addresses);
        let d = Engine::builtin().evaluate(&req, &Policy::default());
        let d = d.map_err(|e| TestCaseError::fail(format!("{numbers:?}: {e}")))?;
        let got = zones_of(&d);
        prop_assert!(want.is_subset(&got), "{numbers:?}: {got:?} lacks {:?}", want.difference(&got).collect::<Vec<_>>());
    }
}
