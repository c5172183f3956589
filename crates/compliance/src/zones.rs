//! The consumer's candidate time zones and jurisdictions (rules.md section 6): the union of
//! what every phone on file and every current address says, unless the consumer confirmed
//! where they are. Each zone remembers where it came from, for the audit trail.

use std::borrow::Cow;

use jiff::tz::TimeZone;

use crate::clock::ZoneClock;
use crate::error::InputError;
use crate::geo::{Geo, PhoneLocation, ZoneId};
use crate::model::{CallRequest, Phone};
use crate::policy::UnknownLocation;
use crate::redact::redact_number;

/// One zone the consumer may be in.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: Cow<'static, str>,
    pub clock: ZoneClock,
    pub sources: Vec<Source>,
}

/// Why a zone is a candidate. Kept as indexes so the hot path does not format strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `consumer.phones[i]`, or the dialed number when `i` is past the list.
    Phone(usize),
    /// The ZIP of `consumer.addresses[i]`.
    Zip(usize),
    /// The state (or country) of `consumer.addresses[i]`.
    Region(usize),
    KnownZone,
    PolicyAllUs,
}

impl Source {
    /// e.g. `phone:+1404***34`, `zip:94103`, `state:US-TN`.
    pub fn render(self, req: &CallRequest) -> String {
        let addr = |i: usize| req.consumer.addresses.get(i);
        match self {
            Source::Phone(i) => {
                let n = req
                    .consumer
                    .phones
                    .get(i)
                    .map_or(req.dial.number.as_str(), |p| &p.number);
                format!("phone:{}", redact_number(n))
            }
            Source::Zip(i) => {
                let zip = addr(i).and_then(|a| a.zip.as_deref()).unwrap_or("");
                format!("zip:{}", &zip.trim()[..zip.trim().len().min(5)])
            }
            Source::Region(i) => {
                let a = addr(i);
                let country = a
                    .and_then(|a| a.country.as_deref())
                    .unwrap_or("US")
                    .to_ascii_uppercase();
                match a.and_then(|a| a.state.as_deref()) {
                    Some(s) => format!("state:{country}-{}", s.trim().to_ascii_uppercase()),
                    None => format!("country:{country}"),
                }
            }
            Source::KnownZone => "known_zone".to_string(),
            Source::PolicyAllUs => "policy:all_us".to_string(),
        }
    }
}

/// A jurisdiction the consumer may be in (a pack applies when one matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub country: String,
    pub state: Option<String>,
    pub nyc: bool,
}

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
    zones: Vec<(Option<ZoneId>, Candidate)>,
}

impl Collector {
    fn add(&mut self, id: ZoneId, source: Source) {
        if let Some((_, c)) = self.zones.iter_mut().find(|(z, _)| *z == Some(id)) {
            if !c.sources.contains(&source) {
                c.sources.push(source);
            }
            return;
        }
        let tz = self.geo.time_zone(id).clone();
        self.zones.push((
            Some(id),
            Candidate {
                name: Cow::Borrowed(self.geo.zone_name(id)),
                clock: ZoneClock::new(tz, self.at),
                sources: vec![source],
            },
        ));
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
    fn add_place(places: &mut Vec<Region>, p: Region) {
        if !places.contains(&p) {
            places.push(p);
        }
    }

    // Phones: every number on file, and the dialed one even when it is not on file.
    let dialed_on_file = req
        .consumer
        .phones
        .iter()
        .any(|p| p.number == req.dial.number);
    let dialed = (!dialed_on_file).then_some(req.dial.number.as_str());
    let numbers = req
        .consumer
        .phones
        .iter()
        .map(|p: &Phone| p.number.as_str())
        .chain(dialed);
    let mut phone_countries: Vec<&'static str> = Vec::new();
    for (i, number) in numbers.enumerate() {
        let loc = geo.phone(number).map_err(|_| {
            let field = if i < req.consumer.phones.len() {
                format!("consumer.phones[{i}].number")
            } else {
                "dial.number".to_string()
            };
            InputError::field(field, "not an E.164 number")
        })?;
        if let PhoneLocation::Zones(set) = loc {
            let zones = geo.zones(set);
            for &z in zones {
                c.add(z, Source::Phone(i));
            }
            let country = if number.starts_with("+1") {
                if zones.iter().any(|z| geo.us_zones().contains(z)) {
                    "US"
                } else if zones.iter().any(|z| geo.ca_zones().contains(z)) {
                    "CA"
                } else {
                    "NANP"
                }
            } else if number.starts_with("+44") {
                "GB"
            } else {
                "OTHER"
            };
            if !phone_countries.contains(&country) {
                phone_countries.push(country);
            }
        }
    }
    let after_phones = c.zones.len();

    // Current addresses: ZIP when known, else the whole state.
    for (i, a) in req
        .consumer
        .addresses
        .iter()
        .enumerate()
        .filter(|(_, a)| a.current)
    {
        let country = a.country.as_deref().unwrap_or("US").to_ascii_uppercase();
        let zip = a.zip.as_deref().map(str::trim).filter(|z| !z.is_empty());
        let mut state = a.state.as_deref().map(|s| s.trim().to_ascii_uppercase());
        let mut found = false;
        if country == "US" {
            if let Some(zip) = zip {
                match geo.zip(zip) {
                    Some(set) => {
                        for &z in geo.zones(set) {
                            c.add(z, Source::Zip(i));
                        }
                        found = true;
                        if state.is_none() {
                            state = geo.zip_state(zip).map(str::to_string);
                        }
                    }
                    None if zip.len() < 5 || !zip[..5].bytes().all(|b| b.is_ascii_digit()) => {
                        return Err(InputError::field(
                            format!("consumer.addresses[{i}].zip"),
                            "not a 5-digit ZIP or ZIP+4",
                        ));
                    }
                    None => {}
                }
            }
        }
        if !found && let Some(set) = geo.region(&country, state.as_deref()) {
            for &z in geo.zones(set) {
                c.add(z, Source::Region(i));
            }
        }
        let nyc = country == "US" && zip.is_some_and(is_nyc_zip);
        add_place(
            &mut places,
            Region {
                country,
                state,
                nyc,
            },
        );
    }
    let from_addresses = c.zones.len() > after_phones || !req.consumer.addresses.is_empty();
    if places.is_empty() {
        for country in phone_countries {
            add_place(
                &mut places,
                Region {
                    country: country.to_string(),
                    state: None,
                    nyc: false,
                },
            );
        }
    }

    // A confirmed location overrides the union.
    if let Some(name) = req.consumer.known_zone.as_deref().filter(|z| !z.is_empty()) {
        let tz = TimeZone::get(name)
            .map_err(|_| InputError::field("consumer.known_zone", "not an IANA time zone"))?;
        let clock = ZoneClock::new(tz, req.at);
        return Ok(Location {
            zones: vec![Candidate {
                name: Cow::Owned(name.to_string()),
                clock,
                sources: vec![Source::KnownZone],
            }],
            places: if places.is_empty() {
                vec![Region {
                    country: "US".to_string(),
                    state: None,
                    nyc: false,
                }]
            } else {
                places
            },
            phones_only: false,
            unknown: false,
        });
    }

    if c.zones.is_empty() {
        let mut loc = Location {
            places,
            ..Location::default()
        };
        if loc.places.is_empty() {
            loc.places.push(Region {
                country: "US".to_string(),
                state: None,
                nyc: false,
            });
        }
        match policy {
            UnknownLocation::Deny => loc.unknown = true,
            UnknownLocation::AllUs => {
                for &z in geo.us_zones() {
                    c.add(z, Source::PolicyAllUs);
                }
                loc.zones = c.zones.into_iter().map(|(_, c)| c).collect();
            }
        }
        return Ok(loc);
    }

    Ok(Location {
        zones: c.zones.into_iter().map(|(_, c)| c).collect(),
        places,
        phones_only: !from_addresses,
        unknown: false,
    })
}
