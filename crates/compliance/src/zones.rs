//! The consumer's candidate time zones and jurisdictions (rules.md section 6): the union of
//! what every phone on file and every current address says, unless the consumer confirmed
//! where they are. Each zone remembers which inputs gave it, for the audit trail.

use std::borrow::Cow;

use jiff::tz::TimeZone;
use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::clock::ZoneClock;
use crate::error::InputError;
use crate::geo::{Geo, PhoneLocation, ZoneId};
use crate::model::CallRequest;
use crate::policy::UnknownLocation;

/// One zone the consumer may be in.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The table zone, when it is one.
    pub id: Option<ZoneId>,
    pub name: Cow<'static, str>,
    pub clock: ZoneClock,
    pub sources: Sources,
}

/// Which inputs gave a zone, as bit sets over input positions: no strings on the hot path,
/// and no personal data in the audit output, which names input fields, not their values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources {
    /// `consumer.phones[i]` (bit i); bit 31 is the dialed number when not on file.
    pub phones: u32,
    /// `consumer.addresses[i].zip`.
    pub zips: u32,
    /// `consumer.addresses[i].state` (or the country when there is no state).
    pub regions: u32,
    pub known_zone: bool,
    pub all_us: bool,
}

const DIALED: u32 = 1 << 31;

impl Serialize for Sources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for i in (0..31).filter(|i| self.phones & (1 << i) != 0) {
            seq.serialize_element(&format!("consumer.phones[{i}]"))?;
        }
        if self.phones & DIALED != 0 {
            seq.serialize_element("dial.number")?;
        }
        for i in (0..32).filter(|i| self.zips & (1 << i) != 0) {
            seq.serialize_element(&format!("consumer.addresses[{i}].zip"))?;
        }
        for i in (0..32).filter(|i| self.regions & (1 << i) != 0) {
            seq.serialize_element(&format!("consumer.addresses[{i}].state"))?;
        }
        if self.known_zone {
            seq.serialize_element("consumer.known_zone")?;
        }
        if self.all_us {
            seq.serialize_element("policy.unknown_location")?;
        }
        seq.end()
    }
}

/// A two-letter code (country or state), upper case.
pub type Code = [u8; 2];

fn code(s: &str) -> Option<Code> {
    let b = s.trim().as_bytes();
    (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic))
        .then(|| [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
}

/// A jurisdiction the consumer may be in (a pack applies when one matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub country: Code,
    pub state: Option<Code>,
    pub nyc: bool,
}

impl Region {
    fn country(country: Code) -> Region {
        Region {
            country,
            state: None,
            nyc: false,
        }
    }
}

const US: Code = *b"US";

/// Where the consumer may be.
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub zones: Vec<Candidate>,
    pub places: Vec<Region>,
    /// Only phone prefixes (a rate centre, not a residence) gave the zones.
    pub phones_only: bool,
    /// Nothing gave a zone and the policy is `deny`.
    pub unknown: bool,
}

/// Collects zones in discovery order without repeats.
struct Collector {
    geo: &'static Geo,
    at: jiff::Timestamp,
    zones: Vec<Candidate>,
}

impl Collector {
    fn add(&mut self, id: ZoneId, mark: impl Fn(&mut Sources)) {
        if let Some(z) = self.zones.iter_mut().find(|z| z.id == Some(id)) {
            mark(&mut z.sources);
            return;
        }
        let mut sources = Sources::default();
        mark(&mut sources);
        self.zones.push(Candidate {
            id: Some(id),
            name: Cow::Borrowed(self.geo.zone_name(id)),
            clock: self.geo.clock(id, self.at),
            sources,
        });
    }
}

/// New York City's five boroughs by ZIP prefix (Manhattan 100-102, Staten Island 103,
/// Bronx 104, Queens 110-114 and 116, Brooklyn 112).
fn is_nyc_zip(zip: &str) -> bool {
    matches!(
        zip.get(..3),
        Some("100" | "101" | "102" | "103" | "104" | "111" | "112" | "113" | "114" | "116")
    ) || matches!(zip.get(..5), Some("11004" | "11005"))
}

fn add_place(places: &mut Vec<Region>, p: Region) {
    if !places.contains(&p) {
        places.push(p);
    }
}

/// The country a number's zones belong to, for consumers without an address.
fn phone_country(geo: &Geo, number: &str, zones: &[ZoneId]) -> Option<Code> {
    if number.starts_with("+44") {
        Some(*b"GB")
    } else if !number.starts_with("+1") {
        None
    } else if zones.iter().any(|z| geo.us_zones().contains(z)) {
        Some(US)
    } else if zones.iter().any(|z| geo.ca_zones().contains(z)) {
        Some(*b"CA")
    } else {
        None
    }
}

pub fn locate(
    geo: &'static Geo,
    req: &CallRequest,
    policy: UnknownLocation,
) -> Result<Location, InputError> {
    let mut c = Collector {
        geo,
        at: req.at,
        zones: Vec::with_capacity(4),
    };
    let mut places: Vec<Region> = Vec::with_capacity(2);
    // Countries of the phones, used only when there is no address (no allocation).
    let mut phone_countries: [Option<Code>; 4] = [None; 4];

    // Phones: every number on file, and the dialed one even when it is not on file.
    let phones = &req.consumer.phones;
    if phones.len() > 31 {
        return Err(InputError::field("consumer.phones", "at most 31 numbers"));
    }
    let dialed_on_file = phones.iter().any(|p| p.number == req.dial.number);
    let numbers = phones
        .iter()
        .map(|p| p.number.as_str())
        .chain((!dialed_on_file).then_some(req.dial.number.as_str()));
    for (i, number) in numbers.enumerate() {
        let bit = if i < phones.len() { 1 << i } else { DIALED };
        let loc = geo.phone(number).map_err(|_| {
            let field = if i < phones.len() {
                format!("consumer.phones[{i}].number")
            } else {
                "dial.number".to_string()
            };
            InputError::field(field, "not an E.164 number")
        })?;
        if let PhoneLocation::Zones(set) = loc {
            let zones = geo.zones(set);
            for &z in zones {
                c.add(z, |s| s.phones |= bit);
            }
            if let Some(country) = phone_country(geo, number, zones)
                && !phone_countries.contains(&Some(country))
                && let Some(slot) = phone_countries.iter_mut().find(|c| c.is_none())
            {
                *slot = Some(country);
            }
        }
    }
    let after_phones = c.zones.len();

    // Current addresses: ZIP when known, else the whole state (or country).
    let addresses = &req.consumer.addresses;
    if addresses.len() > 32 {
        return Err(InputError::field(
            "consumer.addresses",
            "at most 32 addresses",
        ));
    }
    for (i, a) in addresses.iter().enumerate().filter(|(_, a)| a.current) {
        let bit = 1u32 << i;
        let country = match a.country.as_deref() {
            None => US,
            Some(s) => code(s).ok_or_else(|| {
                InputError::field(
                    format!("consumer.addresses[{i}].country"),
                    "not an ISO 3166 alpha-2 code",
                )
            })?,
        };
        let mut state = match a.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(code(s).ok_or_else(|| {
                InputError::field(
                    format!("consumer.addresses[{i}].state"),
                    "not a two-letter code",
                )
            })?),
        };
        let zip = a.zip.as_deref().map(str::trim).filter(|z| !z.is_empty());
        let mut found = false;
        // The ZIP's own state when the address names a different one.
        let mut other_state = None;
        if country == US
            && let Some(zip) = zip
        {
            match geo.zip(zip) {
                Some(set) => {
                    for &z in geo.zones(set) {
                        c.add(z, |s| s.zips |= bit);
                    }
                    let zip_state = geo.zip_state(zip).and_then(code);
                    // A ZIP refines its own state only: when the address names another state,
                    // the information conflicts and both places count (US-REGF-01).
                    found = state.is_none() || zip_state == state;
                    if state.is_none() {
                        state = zip_state;
                    } else if !found {
                        other_state = zip_state;
                    }
                }
                None if zip.len() < 5 || !zip.as_bytes()[..5].iter().all(u8::is_ascii_digit) => {
                    return Err(InputError::field(
                        format!("consumer.addresses[{i}].zip"),
                        "not a 5-digit ZIP or ZIP+4",
                    ));
                }
                None => {}
            }
        }
        if !found {
            let country_s = std::str::from_utf8(&country).unwrap_or("");
            let state_s = state.as_ref().and_then(|s| std::str::from_utf8(s).ok());
            if let Some(set) = geo.region(country_s, state_s) {
                for &z in geo.zones(set) {
                    c.add(z, |s| s.regions |= bit);
                }
            }
        }
        let nyc = country == US && zip.is_some_and(is_nyc_zip);
        for state in [Some(state), other_state.map(Some)].into_iter().flatten() {
            add_place(
                &mut places,
                Region {
                    country,
                    state,
                    nyc,
                },
            );
        }
    }
    let from_addresses = c.zones.len() > after_phones || addresses.iter().any(|a| a.current);
    if places.is_empty() {
        places.extend(
            phone_countries
                .iter()
                .flatten()
                .map(|&c| Region::country(c)),
        );
        // A NANP number says where it was assigned, not which country its owner lives in
        // (phones travel): without an address, a Canadian number's owner may be a US
        // consumer, so US-REGF-01 applies too (fail closed; no province is known either).
        if places.iter().any(|p| p.country == *b"CA") {
            add_place(&mut places, Region::country(US));
        }
    }
    if places.is_empty() {
        places.push(Region::country(US));
    }

    // A confirmed location overrides the union.
    if let Some(name) = req.consumer.known_zone.as_deref().filter(|z| !z.is_empty()) {
        let clock = match geo.zone_id(name) {
            Some(id) => geo.clock(id, req.at),
            None => ZoneClock::new(
                TimeZone::get(name).map_err(|_| {
                    InputError::field("consumer.known_zone", "not an IANA time zone")
                })?,
                req.at,
            ),
        };
        return Ok(Location {
            zones: vec![Candidate {
                id: geo.zone_id(name),
                name: Cow::Owned(name.to_string()),
                clock,
                sources: Sources {
                    known_zone: true,
                    ..Sources::default()
                },
            }],
            places,
            phones_only: false,
            unknown: false,
        });
    }

    if c.zones.is_empty() {
        return Ok(match policy {
            UnknownLocation::Deny => Location {
                places,
                unknown: true,
                ..Location::default()
            },
            UnknownLocation::AllUs => {
                for &z in geo.us_zones() {
                    c.add(z, |s| s.all_us = true);
                }
                Location {
                    zones: c.zones,
                    places,
                    phones_only: false,
                    unknown: false,
                }
            }
        });
    }

    Ok(Location {
        zones: c.zones,
        places,
        phones_only: !from_addresses,
        unknown: false,
    })
}
