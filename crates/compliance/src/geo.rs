//! Where a consumer may be: lookup tables from phone-number prefix, ZIP code and region
//! (state, province, country) to IANA time zones.
//!
//! The tables are committed data files (see `docs/zone-data.md` for sources, licences and
//! refresh): libphonenumber's prefix map, the NANP area codes its metadata numbers as
//! non-geographic, a conservative ZIP table and a hand-written region table. They are parsed
//! once, on first use, into structures made for hot lookups: a digit trie for longest-prefix
//! match and a direct array indexed by the 5-digit ZIP.
//!
//! No hand-written rule may narrow what the data says (US-REGF-01, rules.md section 6): a
//! number's zones are always those of its longest table prefix, and "non-geographic" is only
//! said of a number no table prefix matches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use jiff::tz::TimeZone;

use crate::clock::{OffsetSpan, ZoneClock};

const PHONE_PREFIXES: &str = include_str!("../data/phone_prefix_zones.tsv");
const NANP_NON_GEOGRAPHIC: &str = include_str!("../data/nanp_non_geographic.tsv");
const ZIPS: &str = include_str!("../data/zip_zones.tsv");
const REGIONS: &str = include_str!("../data/region_zones.tsv");

/// Index of a zone in the tables' zone list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneId(u16);

/// Index of a distinct set of zones (tables share identical sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZoneSetId(u32);

/// What a phone number says about the consumer's location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneLocation {
    /// The number's prefix maps to these zones (several for a split rate centre).
    Zones(ZoneSetId),
    /// No table prefix matches and libphonenumber's metadata numbers the area code as
    /// toll-free, premium-rate, personal, VoIP ... (8XX, 5XX, 600, 900; the generated
    /// `nanp_non_geographic.tsv`). Gives no zone, like `Unknown`.
    NonGeographic,
    /// A prefix the map does not know: no location, never a default.
    Unknown,
}

/// A phone number that is not E.164 (`+` and 8 to 15 digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an E.164 number (expected + and 8 to 15 digits)")]
pub struct InvalidNumber;

/// The parsed tables.
#[derive(Debug)]
pub struct Geo {
    zone_names: Vec<String>,
    zone_tz: Vec<TimeZone>,
    sets: Vec<Vec<ZoneId>>,
    /// Digit trie: node -> children by digit, and the zone set ending at that node.
    trie: Vec<TrieNode>,
    /// `zip_sets[zip]` for a 5-digit ZIP as a number; `u32::MAX` when unknown.
    zip_sets: Vec<u32>,
    /// Two-letter state of each ZIP (same index), `[0, 0]` when unknown.
    zip_states: Vec<[u8; 2]>,
    /// `nanp_non_geographic[npa]`: the NANP area code is non-geographic (data, not a pattern).
    nanp_non_geographic: Vec<bool>,
    regions: HashMap<String, ZoneSetId>,
    us_zones: ZoneSetId,
    ca_zones: ZoneSetId,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    children: [u32; 10],
    set: Option<ZoneSetId>,
}

const NO_CHILD: u32 = 0; // node 0 is the root, never anyone's child

/// The tables, parsed on first use.
pub fn geo() -> &'static Geo {
    static GEO: OnceLock<Geo> = OnceLock::new();
    GEO.get_or_init(|| Geo::parse(PHONE_PREFIXES, NANP_NON_GEOGRAPHIC, ZIPS, REGIONS))
}

/// Records of a table file: `KEY<TAB>ZONE&ZONE[<TAB>EXTRA]`, `#` comments.
fn records(text: &str) -> impl Iterator<Item = (&str, &str, Option<&str>)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split('\t');
            Some((cols.next()?.trim(), cols.next()?.trim(), cols.next()))
        })
}

#[derive(Default)]
struct Interner {
    zone_ids: HashMap<String, ZoneId>,
    zone_names: Vec<String>,
    zone_tz: Vec<TimeZone>,
    set_ids: HashMap<Vec<ZoneId>, ZoneSetId>,
    sets: Vec<Vec<ZoneId>>,
}

impl Interner {
    /// Interns `A&B&C`; zones the bundled tz database does not know are left out (a test
    /// checks that every table zone loads).
    fn set(&mut self, zones: &str) -> Option<ZoneSetId> {
        let mut ids = self.ids(zones)?;
        self.set_of(&mut ids)
    }

    fn ids(&mut self, zones: &str) -> Option<Vec<ZoneId>> {
        let ids: Vec<ZoneId> = zones
            .split('&')
            .filter_map(|name| self.zone(name.trim()))
            .collect();
        (!ids.is_empty()).then_some(ids)
    }

    fn set_of(&mut self, ids: &mut Vec<ZoneId>) -> Option<ZoneSetId> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return None;
        }
        if let Some(&id) = self.set_ids.get(ids.as_slice()) {
            return Some(id);
        }
        let id = ZoneSetId(self.sets.len() as u32);
        self.sets.push(ids.clone());
        self.set_ids.insert(ids.clone(), id);
        Some(id)
    }

    fn zone(&mut self, name: &str) -> Option<ZoneId> {
        if let Some(&id) = self.zone_ids.get(name) {
            return Some(id);
        }
        let tz = TimeZone::get(name).ok()?;
        let id = ZoneId(self.zone_names.len() as u16);
        self.zone_names.push(name.to_string());
        self.zone_tz.push(tz);
        self.zone_ids.insert(name.to_string(), id);
        Some(id)
    }
}

impl Geo {
    fn parse(phones: &str, non_geographic: &str, zips: &str, regions: &str) -> Geo {
        let mut int = Interner::default();

        let mut trie = vec![TrieNode::default()];
        for (prefix, zones, _) in records(phones) {
            let Some(set) = int.set(zones) else { continue };
            let mut node = 0usize;
            for d in prefix.bytes().filter(u8::is_ascii_digit) {
                let d = usize::from(d - b'0');
                if trie[node].children[d] == NO_CHILD {
                    trie.push(TrieNode::default());
                    trie[node].children[d] = (trie.len() - 1) as u32;
                }
                node = trie[node].children[d] as usize;
            }
            trie[node].set = Some(set);
        }

        let mut nanp_non_geographic = vec![false; 1000];
        for (npa, _types, _) in records(non_geographic) {
            if let Ok(n @ 200..=999) = npa.parse::<usize>() {
                nanp_non_geographic[n] = true;
            }
        }

        let mut zip_sets = vec![u32::MAX; 100_000];
        let mut zip_states = vec![[0u8; 2]; 100_000];
        // Every zone any ZIP of a state has, so that the state alone never says less.
        let mut state_zip_zones: HashMap<String, Vec<ZoneId>> = HashMap::new();
        for (zip, zones, state) in records(zips) {
            let (Some(z), Some(set)) = (parse_zip(zip), int.set(zones)) else {
                continue;
            };
            zip_sets[z] = set.0;
            if let Some(s) = state.map(str::trim).filter(|s| s.len() == 2) {
                zip_states[z] = [s.as_bytes()[0], s.as_bytes()[1]];
                state_zip_zones
                    .entry(format!("US-{s}"))
                    .or_default()
                    .extend_from_slice(&int.sets[set.0 as usize]);
            }
        }

        let mut region_map = HashMap::new();
        let (mut us, mut ca) = (Vec::new(), Vec::new());
        for (key, zones, _) in records(regions) {
            // A state's zones are its official ones (the hand-written table) plus every zone
            // one of its ZIPs has: places that keep a neighbour's clock in practice (Phenix
            // City AL on Eastern time) are in the state too.
            let Some(mut ids) = int.ids(zones) else {
                continue;
            };
            ids.extend(state_zip_zones.get(key).into_iter().flatten());
            let Some(set) = int.set_of(&mut ids) else {
                continue;
            };
            // The freely associated states (FM, MH, PW) use US ZIP codes but are not US
            // territory: they stay out of the `all_us` set.
            if key.starts_with("US-") && !matches!(key, "US-FM" | "US-MH" | "US-PW") {
                us.extend_from_slice(&int.sets[set.0 as usize]);
            } else if key.starts_with("CA-") {
                ca.extend_from_slice(&int.sets[set.0 as usize]);
            }
            region_map.insert(key.to_string(), set);
        }
        let empty = ZoneSetId(u32::MAX);
        let us_zones = int.set_of(&mut us).unwrap_or(empty);
        let ca_zones = int.set_of(&mut ca).unwrap_or(empty);

        Geo {
            zone_names: int.zone_names,
            zone_tz: int.zone_tz,
            sets: int.sets,
            trie,
            zip_sets,
            zip_states,
            nanp_non_geographic,
            regions: region_map,
            us_zones,
            ca_zones,
        }
    }

    pub fn zone_name(&self, id: ZoneId) -> &str {
        &self.zone_names[usize::from(id.0)]
    }

    pub fn time_zone(&self, id: ZoneId) -> &TimeZone {
        &self.zone_tz[usize::from(id.0)]
    }

    /// A clock for a table zone at `at`. The zone's offset span is cached per thread, so
    /// evaluations within the same DST period skip the IANA rule lookups.
    pub fn clock(&'static self, id: ZoneId, at: jiff::Timestamp) -> ZoneClock {
        thread_local! {
            static SPANS: RefCell<Vec<Option<OffsetSpan>>> = const { RefCell::new(Vec::new()) };
        }
        let tz = self.time_zone(id);
        let i = usize::from(id.0);
        SPANS.with(|spans| {
            let mut spans = spans.borrow_mut();
            if spans.len() <= i {
                spans.resize(self.zone_names.len().max(i + 1), None);
            }
            let span = match spans[i] {
                Some(span) if span.contains(at) => span,
                _ => {
                    let span = OffsetSpan::around(tz, at);
                    spans[i] = Some(span);
                    span
                }
            };
            ZoneClock::from_span(tz, span)
        })
    }

    pub fn zone_id(&self, name: &str) -> Option<ZoneId> {
        self.zone_names
            .iter()
            .position(|n| n == name)
            .map(|i| ZoneId(i as u16))
    }

    pub fn zones(&self, set: ZoneSetId) -> &[ZoneId] {
        self.sets.get(set.0 as usize).map_or(&[], Vec::as_slice)
    }

    /// Every zone of the US, its states and territories (policy `all_us`).
    pub fn us_zones(&self) -> &[ZoneId] {
        self.zones(self.us_zones)
    }

    /// Every zone of the Canadian provinces and territories.
    pub fn ca_zones(&self) -> &[ZoneId] {
        self.zones(self.ca_zones)
    }

    /// Where an E.164 number points: the zones of its longest table prefix. Only a number
    /// that no prefix matches can be non-geographic (US-REGF-01: the table is never
    /// overridden, so 1-520 Tucson keeps America/Phoenix).
    pub fn phone(&self, e164: &str) -> Result<PhoneLocation, InvalidNumber> {
        let digits = e164.strip_prefix('+').ok_or(InvalidNumber)?;
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidNumber);
        }
        let d = digits.as_bytes();
        let nanp = d[0] == b'1';
        if nanp && d.len() != 11 {
            return Err(InvalidNumber);
        }
        // A NANP match must reach at least the area code: country code 1 alone is no place.
        let min_len = if nanp { 4 } else { 1 };
        let mut node = 0usize;
        let mut best = None;
        for (i, &b) in d.iter().enumerate() {
            let next = self.trie[node].children[usize::from(b - b'0')];
            if next == NO_CHILD {
                break;
            }
            node = next as usize;
            if i + 1 >= min_len
                && let Some(set) = self.trie[node].set
            {
                best = Some(set);
            }
        }
        Ok(match best {
            Some(set) => PhoneLocation::Zones(set),
            None if nanp && self.nanp_non_geographic[npa(d)] => PhoneLocation::NonGeographic,
            None => PhoneLocation::Unknown,
        })
    }

    /// NANP area codes that libphonenumber's metadata numbers as non-geographic and the zone
    /// table does not map, for tests and docs.
    pub fn nanp_non_geographic(&self) -> impl Iterator<Item = u16> + '_ {
        (0u16..)
            .zip(&self.nanp_non_geographic)
            .filter(|&(_, &ng)| ng)
            .map(|(n, _)| n)
    }

    /// Zones of a US ZIP (the first five digits of ZIP or ZIP+4).
    pub fn zip(&self, zip: &str) -> Option<ZoneSetId> {
        let z = parse_zip(zip)?;
        let set = self.zip_sets[z];
        (set != u32::MAX).then_some(ZoneSetId(set))
    }

    /// Two-letter state of a US ZIP, when the table knows it.
    pub fn zip_state(&self, zip: &str) -> Option<&str> {
        let s = self.zip_states.get(parse_zip(zip)?)?;
        (s[0] != 0).then(|| std::str::from_utf8(s).ok()).flatten()
    }

    /// Zones of a region: `("US", Some("TN"))` gives every zone of Tennessee, `("GB", None)`
    /// the United Kingdom's.
    pub fn region(&self, country: &str, state: Option<&str>) -> Option<ZoneSetId> {
        let key = match state {
            Some(s) => format!(
                "{}-{}",
                country.to_ascii_uppercase(),
                s.to_ascii_uppercase()
            ),
            None => country.to_ascii_uppercase(),
        };
        self.regions.get(&key).copied()
    }

    /// All zone names, for tests and docs.
    pub fn zone_names(&self) -> &[String] {
        &self.zone_names
    }
}

fn parse_zip(zip: &str) -> Option<usize> {
    let five = zip.get(..5)?;
    let rest = &zip[5..];
    let rest_ok = rest.is_empty()
        || (rest.len() == 5
            && rest.starts_with('-')
            && rest[1..].bytes().all(|b| b.is_ascii_digit()))
        || (rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_digit()));
    if !rest_ok || !five.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    five.parse().ok()
}

/// The area code of an 11-digit `1NPANXXXXXX` number.
fn npa(d: &[u8]) -> usize {
    d[1..4]
        .iter()
        .fold(0, |n, &b| n * 10 + usize::from(b - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: ZoneSetId) -> Vec<&'static str> {
        geo()
            .zones(set)
            .iter()
            .map(|&z| geo().zone_name(z))
            .collect()
    }

    fn phone(n: &str) -> Vec<&'static str> {
        match geo().phone(n) {
            Ok(PhoneLocation::Zones(s)) => names(s),
            other => panic!("{n}: {other:?}"),
        }
    }

    #[test]
    fn every_table_zone_loads_from_the_bundled_tzdb() {
        for (text, what) in [
            (PHONE_PREFIXES, "phone"),
            (ZIPS, "zip"),
            (REGIONS, "region"),
        ] {
            for (key, zones, _) in records(text) {
                for z in zones.split('&') {
                    assert!(TimeZone::get(z).is_ok(), "{what} {key}: unknown zone {z}");
                }
            }
        }
    }

    #[test]
    fn split_area_codes_resolve_by_exchange() {
        // rules.md section 6: 850-432 (Pensacola) is Central while 850 is Eastern.
        assert_eq!(phone("+18504320134"), ["America/Chicago"]);
        assert_eq!(phone("+18505550134"), ["America/New_York"]);
        let navajo = phone("+19288710134");
        assert!(navajo.contains(&"America/Denver") && navajo.contains(&"America/Phoenix"));
        assert_eq!(phone("+16715550134"), ["Pacific/Guam"]);
    }

    #[test]
    fn non_geographic_and_unknown_numbers_give_no_zone() {
        assert_eq!(
            geo().phone("+18005550134"),
            Ok(PhoneLocation::NonGeographic)
        );
        assert_eq!(
            geo().phone("+18885550134"),
            Ok(PhoneLocation::NonGeographic)
        );
        assert_eq!(
            geo().phone("+15005550134"),
            Ok(PhoneLocation::NonGeographic)
        );
        assert_eq!(
            geo().phone("+19005550134"),
            Ok(PhoneLocation::NonGeographic)
        );
        assert_eq!(
            geo().phone("+16005550134"),
            Ok(PhoneLocation::NonGeographic)
        );
        // Not in libphonenumber's metadata nor in the zone table: unknown, no zone either.
        assert_eq!(geo().phone("+17005550134"), Ok(PhoneLocation::Unknown));
        assert_eq!(geo().phone("+19115550134"), Ok(PhoneLocation::Unknown));
        assert_eq!(geo().phone("+16245550134"), Ok(PhoneLocation::Unknown));
        assert_eq!(geo().phone("+10125550134"), Ok(PhoneLocation::Unknown));
        assert_eq!(geo().phone("12125550134"), Err(InvalidNumber));
        assert_eq!(geo().phone("+1212555013"), Err(InvalidNumber));
        assert_eq!(geo().phone("+1212555013x"), Err(InvalidNumber));
    }

    #[test]
    fn a_table_prefix_is_never_non_geographic() {
        // US-REGF-01: 520 (Tucson) once matched a hand-written "5XX is personal" pattern
        // that overrode the table, so 1-520 numbers lost America/Phoenix.
        assert_eq!(phone("+15205550134"), ["America/Phoenix"]);
        assert_eq!(phone("+15206240134"), ["America/Phoenix"]);
        // Caribbean area codes whose metadata has VoIP or personal numbers keep their zone.
        assert_eq!(phone("+12425550134"), ["America/Nassau"]);
        let listed: Vec<u16> = geo().nanp_non_geographic().collect();
        assert!(listed.contains(&800) && listed.contains(&500) && !listed.contains(&520));
        for (prefix, _, _) in records(PHONE_PREFIXES) {
            if let Some(npa) = prefix.strip_prefix('1').and_then(|p| p.get(..3)) {
                let npa: u16 = npa.parse().expect("digits");
                assert!(
                    !listed.contains(&npa),
                    "NPA {npa} is mapped and listed non-geographic"
                );
            }
        }
    }

    #[test]
    fn a_state_alone_covers_every_zone_of_its_zips() {
        // Phenix City AL keeps Eastern time (zip_zones.tsv rule d2); the state alone must too.
        let al = names(geo().region("US", Some("AL")).expect("AL"));
        assert!(al.contains(&"America/Chicago") && al.contains(&"America/New_York"));
    }

    #[test]
    fn zips_and_regions() {
        let z = |zip: &str| names(geo().zip(zip).expect(zip));
        assert_eq!(z("10001"), ["America/New_York"]);
        assert_eq!(z("94103-1234"), ["America/Los_Angeles"]);
        assert_eq!(z("85004"), ["America/Phoenix"]);
        let window_rock = z("86515");
        assert!(
            window_rock.contains(&"America/Denver") && window_rock.contains(&"America/Phoenix")
        );
        assert_eq!(geo().zip_state("02108"), Some("MA"));
        assert!(geo().zip("1234").is_none());
        let tn = names(geo().region("us", Some("tn")).expect("TN"));
        assert!(tn.contains(&"America/Chicago") && tn.contains(&"America/New_York"));
        assert!(geo().us_zones().len() > 10);
    }
}
