//! Public-holiday calendars for the packs that forbid calls on holidays (CA-ON-01,
//! CA-QC-01). Computed, not listed, so they never run out.

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};

use crate::packs::HolidayCalendar;

/// Easter Sunday (Gregorian), by the anonymous Meeus/Jones/Butcher algorithm.
pub fn easter(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, month as i8, day as i8).unwrap_or(Date::MIN)
}

/// The `nth` (1-based) `weekday` of a month.
fn nth(year: i16, month: i8, weekday: Weekday, nth: i8) -> Date {
    Date::new(year, month, 1)
        .and_then(|d| d.nth_weekday_of_month(nth, weekday))
        .unwrap_or(Date::MIN)
}

/// Victoria Day: the Monday before May 25.
fn victoria_day(year: i16) -> Date {
    Date::new(year, 5, 24)
        .and_then(|d| d.nth_weekday(-1, Weekday::Monday))
        .unwrap_or(Date::MIN)
}

fn offset(date: Date, days: i32) -> Date {
    date.checked_add(days.days()).unwrap_or(Date::MIN)
}

/// Whether `date` is a holiday of the calendar.
pub fn is_holiday(calendar: HolidayCalendar, date: Date) -> bool {
    let y = date.year();
    let md = |m: i8, d: i8| Date::new(y, m, d).ok() == Some(date);
    let easter = easter(y);
    let common = md(1, 1)
        || date == offset(easter, -2) // Good Friday
        || date == victoria_day(y)
        || date == nth(y, 9, Weekday::Monday, 1) // Labour Day
        || date == nth(y, 10, Weekday::Monday, 2) // Thanksgiving
        || md(12, 25);
    match calendar {
        HolidayCalendar::Quebec => {
            let canada_day = match Date::new(y, 7, 1) {
                // July 1 falling on a Sunday is observed on July 2.
                Ok(d) if d.weekday() == Weekday::Sunday => offset(d, 1),
                Ok(d) => d,
                Err(_) => Date::MIN,
            };
            common
                || date == offset(easter, 1) // Easter Monday
                || md(6, 24) // Fete nationale
                || date == canada_day
        }
        HolidayCalendar::Ontario => {
            common
                || date == nth(y, 2, Weekday::Monday, 3) // Family Day
                || md(7, 1)
                || md(12, 26) // Boxing Day
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2026), Date::constant(2026, 4, 5));
        assert_eq!(easter(2027), Date::constant(2027, 3, 28));
        assert_eq!(easter(2024), Date::constant(2024, 3, 31));
    }

    #[test]
    fn quebec_and_ontario_2026() {
        let qc = |m, d| is_holiday(HolidayCalendar::Quebec, Date::constant(2026, m, d));
        let on = |m, d| is_holiday(HolidayCalendar::Ontario, Date::constant(2026, m, d));
        assert!(qc(12, 25) && qc(4, 3) && qc(4, 6) && qc(5, 18) && qc(6, 24) && qc(7, 1));
        assert!(qc(9, 7) && qc(10, 12) && qc(1, 1));
        assert!(!qc(12, 26) && !qc(2, 16) && !qc(7, 2));
        assert!(on(2, 16) && on(12, 26) && on(4, 3) && !on(4, 6) && !on(6, 24));
    }
}
