//! Local-time arithmetic the rules share: wall-clock times of day, and a per-zone view of
//! instants as (local day number, second of day).
//!
//! Rules count calendar dates and compare times of day in each candidate zone many times
//! per evaluation, so [`ZoneClock`] caches the zone's UTC offset between two transitions:
//! converting an instant is then two integer operations, and DST stays exact because any
//! instant outside the cached span goes back to the IANA rules.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

const DAY: i64 = 86_400;

/// A wall-clock time of day, `HH:MM` or `HH:MM:SS`; `24:00` is allowed as an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u32);

impl ClockTime {
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    pub const END_OF_DAY: ClockTime = ClockTime(DAY as u32);

    pub const fn hm(hour: u32, minute: u32) -> ClockTime {
        ClockTime(hour * 3600 + minute * 60)
    }

    /// Seconds since local midnight.
    pub fn seconds(self) -> i64 {
        i64::from(self.0)
    }
}

/// A time of day that is not `HH:MM[:SS]` between 00:00 and 24:00.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time of day {0:?}: expected HH:MM or HH:MM:SS between 00:00 and 24:00")]
pub struct ClockTimeError(String);

impl FromStr for ClockTime {
    type Err = ClockTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ClockTimeError(s.to_string());
        let mut parts = s.split(':');
        let mut field = |max: u32| -> Result<u32, ClockTimeError> {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let v: u32 = p.parse().map_err(|_| bad())?;
            if v > max { Err(bad()) } else { Ok(v) }
        };
        let h = field(24)?;
        let m = field(59)?;
        let sec = if s.len() > 5 { field(59)? } else { 0 };
        if parts.next().is_some() {
            return Err(bad());
        }
        let t = h * 3600 + m * 60 + sec;
        if t > DAY as u32 {
            return Err(bad());
        }
        Ok(ClockTime(t))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if s == 0 {
            write!(f, "{h:02}:{m:02}")
        } else {
            write!(f, "{h:02}:{m:02}:{s:02}")
        }
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A local calendar date as days since 1970-01-01; cheap to compare and subtract.
pub type DayNumber = i32;

/// Monday = 0 .. Sunday = 6 of a day number (1970-01-01 was a Thursday).
pub fn weekday(day: DayNumber) -> u8 {
    (day + 3).rem_euclid(7) as u8
}

/// The civil date of a day number.
pub fn date_of(day: DayNumber) -> Date {
    Date::constant(1970, 1, 1)
        .checked_add(i64::from(day).days())
        .unwrap_or(Date::MAX)
}

/// The day number of a civil date.
pub fn day_number(date: Date) -> DayNumber {
    // Within jiff's supported range (years -9999..=9999) this always fits in i32.
    date.since(Date::constant(1970, 1, 1))
        .map(|span| span.get_days())
        .unwrap_or(i32::MAX)
}

/// A stretch of time between two transitions of a zone, with its UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSpan {
    /// The offset holds for instants (Unix seconds) in `[start, end)`.
    pub start: i64,
    pub end: i64,
    pub offset: i64,
}

impl OffsetSpan {
    /// The span of `tz` around `at`, from the IANA rules.
    pub fn around(tz: &TimeZone, at: Timestamp) -> OffsetSpan {
        let start = tz
            .preceding(at)
            .next()
            .map_or(i64::MIN, |t| t.timestamp().as_second());
        let end = tz
            .following(at)
            .next()
            .map_or(i64::MAX, |t| t.timestamp().as_second());
        OffsetSpan {
            start,
            end,
            offset: i64::from(tz.to_offset(at).seconds()),
        }
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        (self.start..self.end).contains(&at.as_second())
    }
}

/// One candidate zone seen from one evaluation: converts instants to local day and time.
#[derive(Debug, Clone)]
pub struct ZoneClock {
    tz: Cow<'static, TimeZone>,
    span: OffsetSpan,
}

impl ZoneClock {
    /// A clock for `tz`, with its cache centred on `around` (the evaluation instant).
    pub fn new(tz: TimeZone, around: Timestamp) -> ZoneClock {
        let span = OffsetSpan::around(&tz, around);
        ZoneClock {
            tz: Cow::Owned(tz),
            span,
        }
    }

    /// A clock for a zone that lives for the whole process, with a span already known.
    pub fn from_span(tz: &'static TimeZone, span: OffsetSpan) -> ZoneClock {
        ZoneClock {
            tz: Cow::Borrowed(tz),
            span,
        }
    }

    pub fn span(&self) -> OffsetSpan {
        self.span
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    fn offset_at(&self, secs: i64) -> i64 {
        if secs >= self.span.start && secs < self.span.end {
            self.span.offset
        } else {
            let ts = Timestamp::from_second(secs).unwrap_or(Timestamp::MAX);
            i64::from(self.tz.to_offset(ts).seconds())
        }
    }

    /// Local (day number, second of day) of an instant.
    pub fn local(&self, at: Timestamp) -> (DayNumber, i64) {
        let secs = at.as_second();
        let local = secs + self.offset_at(secs);
        (local.div_euclid(DAY) as DayNumber, local.rem_euclid(DAY))
    }

    /// Local day number of an instant.
    pub fn day(&self, at: Timestamp) -> DayNumber {
        self.local(at).0
    }

    /// The first instant at which the local wall clock shows `time` on `day`, or the
    /// instant just after a DST gap that skips it. `24:00` means the next midnight.
    pub fn instant(&self, day: DayNumber, time: ClockTime) -> Timestamp {
        let (day, secs) = if time == ClockTime::END_OF_DAY {
            (day + 1, 0)
        } else {
            (day, time.seconds())
        };
        let t = Time::constant(0, 0, 0, 0)
            .checked_add((secs as i32).seconds())
            .unwrap_or(Time::MIN);
        let dt = DateTime::from_parts(date_of(day), t);
        self.tz
            .to_ambiguous_timestamp(dt)
            .later()
            .unwrap_or(Timestamp::MAX)
    }

    /// The local wall-clock date and time of an instant.
    pub fn datetime(&self, at: Timestamp) -> DateTime {
        let secs = at.as_second();
        let offset = Offset::from_seconds(self.offset_at(secs) as i32).unwrap_or(Offset::UTC);
        offset.to_datetime(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_times() {
        assert_eq!("08:00".parse::<ClockTime>(), Ok(ClockTime::hm(8, 0)));
        assert_eq!(
            "21:00:30".parse::<ClockTime>().map(|t| t.seconds()),
            Ok(75_630)
        );
        assert_eq!("24:00".parse::<ClockTime>(), Ok(ClockTime::END_OF_DAY));
        for bad in ["8:00", "24:01", "12:60", "12:00:", "ab:cd", "", "12"] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
        assert_eq!(ClockTime::hm(7, 30).to_string(), "07:30");
    }

    #[test]
    fn weekdays_and_days() {
        let d = Date::constant(2026, 7, 15); // a Wednesday
        assert_eq!(weekday(day_number(d)), 2);
        assert_eq!(date_of(day_number(d)), d);
    }

    #[test]
    fn local_time_follows_dst() {
        let tz = TimeZone::get("America/New_York").expect("zone");
        // 2026-03-08 12:30Z is 08:30 EDT (DST began at 07:00Z).
        let at: Timestamp = "2026-03-08T12:30:00Z".parse().expect("ts");
        let clock = ZoneClock::new(tz, at);
        assert_eq!(clock.local(at).1, 8 * 3600 + 30 * 60);
        // Far outside the cached span the clock still asks the zone rules.
        let winter: Timestamp = "2026-01-15T13:00:00Z".parse().expect("ts");
        assert_eq!(clock.local(winter).1, 8 * 3600);
        let open = clock.instant(day_number(Date::constant(2026, 11, 1)), ClockTime::hm(8, 0));
        assert_eq!(open.to_string(), "2026-11-01T13:00:00Z");
    }
}
