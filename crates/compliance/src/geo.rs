//! Where a consumer may be: lookup tables from phone-number prefix, ZIP code and region
//! (state, province, country) to IANA time zones.
//!
//! The tables are committed data files (see `docs/zone-data.md` for sources, licences and
//! refresh): libphonenumber's prefix map, a conservative ZIP table and a hand-written region
//! table. They are parsed once, on first use, into structures made for hot lookups: a digit
//! trie for longest-prefix match and a direct array indexed by the 5-digit ZIP.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use jiff::tz::TimeZone;

use crate::clock::{OffsetSpan, ZoneClock};

const PHONE_PREFIXES: &str = include_str!("../data/phone_prefix_zones.tsv");
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
    /// Toll-free, personal-communications and other numbers tied to no place (8XX, 5XX,
    /// 700, 900 ...).
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
    GEO.get_or_init(|| Geo::parse(PHONE_PREFIXES, ZIPS, REGIONS))
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
        let mut ids: Vec<ZoneId> = zones
            .split('&')
            .filter_map(|name| self.zone(name.trim()))
            .collect();
        self.set_of(&mut ids)
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
    fn parse(phones: &str, zips: &str, regions: &str) -> Geo {
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

        let mut zip_sets = vec![u32::MAX; 100_000];
        let mut zip_states = vec![[0u8; 2]; 100_000];
        for (zip, zones, state) in records(zips) {
            let (Some(z), Some(set)) = (parse_zip(zip), int.set(zones)) else {
                continue;
            };
            zip_sets[z] = set.0;
            if let Some(s) = state.map(str::trim).filter(|s| s.len() == 2) {
                zip_states[z] = [s.as_bytes()[0], s.as_bytes()[1]];
            }
        }

        let mut region_map = HashMap::new();
        let (mut us, mut ca) = (Vec::new(), Vec::new());
        for (key, zones, _) in records(regions) {
            let Some(set) = int.set(zones) else { continue };
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

    /// Where an E.164 number points, by longest prefix.
    pub fn phone(&self, e164: &str) -> Result<PhoneLocation, InvalidNumber> {
        let digits = e164.strip_prefix('+').ok_or(InvalidNumber)?;
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidNumber);
        }
        let d = digits.as_bytes();
        let nanp = d[0] == b'1';
        if nanp && (d.len() != 11 || is_nanp_non_geographic(&d[1..4])) {
            return if d.len() == 11 {
                Ok(PhoneLocation::NonGeographic)
            } else {
                Err(InvalidNumber)
            };
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
        Ok(best.map_or(PhoneLocation::Unknown, PhoneLocation::Zones))
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

/// NANP area codes that are not tied to a place: toll-free 8XX, personal communications
/// 5XX, 600, 700, 900, and N11 service codes.
fn is_nanp_non_geographic(npa: &[u8]) -> bool {
    match npa {
        [b'8', a, b] if a == b => true, // 800, 833, 844, 855, 866, 877, 888 (and 811/822: N11-like or reserved)
        [b'5', a, b] if a == b => true, // 500, 522, 533, 544, 566, 577, 588 ...
        [b'5', b'2', _] | [b'5', b'3', b'3'] => true, // 521-529 personal communications
        b"600" | b"700" | b"710" | b"900" => true,
        [_, b'1', b'1'] => true,     // N11
        [b'0' | b'1', _, _] => true, // not a valid NPA
        _ => false,
    }
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
        assert_eq!(geo().phone("12125550134"), Err(InvalidNumber));
        assert_eq!(geo().phone("+1212555013"), Err(InvalidNumber));
        assert_eq!(geo().phone("+1212555013x"), Err(InvalidNumber));
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
