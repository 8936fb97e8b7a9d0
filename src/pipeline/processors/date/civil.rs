//! Calendar arithmetic on the proleptic Gregorian calendar, done by hand
//! on plain integers because chrono's checked constructors cost more than
//! the whole parse on the hot path.
//!
//! The day/civil conversions are Howard Hinnant's `days_from_civil` and
//! `civil_from_days` algorithms, exact for every `i64` day we can reach.

/// Smallest year a parsed date may have (`uuuu` allows year 0).
pub const MIN_YEAR: i64 = 0;
/// Largest year a parsed date may have: output formats print four-digit
/// years and Elasticsearch's `date` field type rejects more.
pub const MAX_YEAR: i64 = 9999;

/// Seconds since the epoch of 0000-01-01T00:00:00Z.
pub const MIN_SECS: i64 = -62_167_219_200;
/// Seconds since the epoch of 9999-12-31T23:59:59Z.
pub const MAX_SECS: i64 = 253_402_300_799;

pub const SECS_PER_DAY: i64 = 86_400;

/// A point in time: seconds since 1970-01-01T00:00:00Z plus nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant {
    pub secs: i64,
    /// Always below 1_000_000_000.
    pub nanos: u32,
}

impl Instant {
    /// Builds an instant, rejecting anything outside years 0000–9999 (UTC).
    pub fn new(secs: i64, nanos: u32) -> Option<Instant> {
        ((MIN_SECS..=MAX_SECS).contains(&secs) && nanos < 1_000_000_000).then_some(Instant { secs, nanos })
    }

    /// Builds an instant from nanoseconds since the epoch.
    pub fn from_nanos(total: i128) -> Option<Instant> {
        let secs = i64::try_from(total.div_euclid(1_000_000_000)).ok()?;
        let nanos = u32::try_from(total.rem_euclid(1_000_000_000)).ok()?;
        Instant::new(secs, nanos)
    }
}

pub fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a valid date (month 1–12, day within month).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    // Months counted from March so that February, with its variable length,
    // comes last in the computed year.
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: `(year, month, day)`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both casts are of values proven small: day in 1..=31, month in 1..=12.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A broken-down local date and time, as printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// Days since 1970-01-01, kept for the day of week and day of year.
    pub days: i64,
}

impl Civil {
    /// Splits local seconds (UTC seconds plus the zone offset).
    pub fn from_local_secs(local: i64, nanos: u32) -> Civil {
        let days = local.div_euclid(SECS_PER_DAY);
        // In 0..86_400, so the cast cannot truncate.
        let sod = local.rem_euclid(SECS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            nanos,
            days,
        }
    }

    /// ISO day of week, Monday = 1 … Sunday = 7.
    pub fn day_of_week(&self) -> u32 {
        // 1970-01-01 was a Thursday; the result is in 1..=7.
        (self.days + 3).rem_euclid(7) as u32 + 1
    }

    /// Day of year, 1 … 366.
    pub fn day_of_year(&self) -> u32 {
        (self.days - days_from_civil(self.year, 1, 1) + 1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_days() {
        for days in (-800_000..3_000_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn bounds_match_constants() {
        assert_eq!(days_from_civil(MIN_YEAR, 1, 1) * SECS_PER_DAY, MIN_SECS);
        assert_eq!(
            days_from_civil(MAX_YEAR, 12, 31) * SECS_PER_DAY + SECS_PER_DAY - 1,
            MAX_SECS
        );
        assert!(Instant::new(MAX_SECS + 1, 0).is_none());
        assert!(Instant::new(0, 1_000_000_000).is_none());
        assert_eq!(
            Instant::from_nanos(-1),
            Some(Instant {
                secs: -1,
                nanos: 999_999_999
            })
        );
    }

    #[test]
    fn leap_years_and_weekdays() {
        assert!(is_leap(2000) && is_leap(2016) && !is_leap(1900) && !is_leap(2023));
        assert_eq!(days_in_month(2016, 2), 29);
        assert_eq!(days_in_month(2015, 2), 28);
        assert_eq!(days_in_month(2015, 13), 0);
        // 2016-12-07 was a Wednesday, day 342 of a leap year.
        let c = Civil::from_local_secs(1_481_105_107, 0);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second),
            (2016, 12, 7, 10, 5, 7)
        );
        assert_eq!(c.day_of_week(), 3);
        assert_eq!(c.day_of_year(), 342);
        let before_epoch = Civil::from_local_secs(-1, 0);
        assert_eq!(
            (before_epoch.year, before_epoch.hour, before_epoch.second),
            (1969, 23, 59)
        );
    }
}
