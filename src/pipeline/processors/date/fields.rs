//! The fields a parser found, and how they become an instant: missing
//! fields default to their minimum (java.time's `DateFormatters.from` does
//! the same), the 12-hour clock is combined with AM/PM, a zone found in the
//! text beats the processor's `timezone`, and a missing year is guessed.
//!
//! Missing year (syslog's `MMM dd HH:mm:ss`): we take the most recent year,
//! from next year down to four years back, for which the date exists and
//! the instant is at most one day after now. So `Dec 31 23:59:59` read on
//! January 1st is last year's, a `Jan 1` line read late on December 31st
//! (a sender whose clock is ahead) is next year's, and `Feb 29` is the last
//! leap year's. ES uses the current year unconditionally; Logstash moves
//! December lines read in January back a year. The one-day margin absorbs
//! clock skew and zones ahead of UTC.

use super::civil::{Instant, SECS_PER_DAY, civil_from_days, days_from_civil, days_in_month, is_leap};
use super::error::ParseError;
use super::zone::Zone;

/// Fields found in the text. Values are range-checked as they are set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fields {
    pub year: Option<i64>,
    pub month: Option<u32>,
    pub day: Option<u32>,
    pub day_of_year: Option<u32>,
    /// Hour of day, 0–23 (`H`, `k`).
    pub hour: Option<u32>,
    /// Hour of the half day, 0–11 (`h`, `K`).
    pub hour12: Option<u32>,
    pub pm: Option<bool>,
    pub minute: Option<u32>,
    pub second: Option<u32>,
    pub nanos: u32,
    /// A zone or offset written in the text.
    pub zone: Option<Zone>,
}

impl Fields {
    /// The instant these fields denote. `default_zone` applies when the
    /// text has no zone; `now` (UTC seconds) is asked only when the year
    /// is missing.
    pub fn resolve(&self, default_zone: &Zone, now: &mut dyn FnMut() -> i64) -> Result<Instant, ParseError<'static>> {
        let hour = match (self.hour, self.hour12) {
            (Some(h), _) => h,
            // Without `a`, Joda reads a 12-hour clock as AM.
            (None, Some(h)) => h + if self.pm == Some(true) { 12 } else { 0 },
            (None, None) => 0,
        };
        let second_of_day = i64::from(hour * 3600 + self.minute.unwrap_or(0) * 60 + self.second.unwrap_or(0));
        let zone = self.zone.as_ref().unwrap_or(default_zone);
        let utc = match self.year {
            Some(year) => zone.local_to_utc(self.local_days(year)? * SECS_PER_DAY + second_of_day),
            None => {
                let now = now();
                let (this_year, _, _) = civil_from_days(now.div_euclid(SECS_PER_DAY));
                let mut error = ParseError::OutOfRange;
                let mut found = None;
                for year in (this_year - 4..=this_year + 1).rev() {
                    match self.local_days(year) {
                        Ok(days) => {
                            let utc = zone.local_to_utc(days * SECS_PER_DAY + second_of_day);
                            if utc <= now + SECS_PER_DAY {
                                found = Some(utc);
                                break;
                            }
                        }
                        Err(e) if year == this_year => error = e,
                        Err(_) => {}
                    }
                }
                found.ok_or(error)?
            }
        };
        Instant::new(utc, self.nanos).ok_or(ParseError::OutOfRange)
    }

    /// Days since the epoch of the local date in `year`.
    fn local_days(&self, year: i64) -> Result<i64, ParseError<'static>> {
        if let (None, Some(doy)) = (self.month, self.day_of_year) {
            if doy > if is_leap(year) { 366 } else { 365 } {
                return Err(ParseError::Range {
                    field: "day of year",
                    value: i64::from(doy),
                });
            }
            return Ok(days_from_civil(year, 1, 1) + i64::from(doy) - 1);
        }
        let month = self.month.unwrap_or(1);
        let day = self.day.unwrap_or(1);
        if day > days_in_month(year, month) {
            return Err(ParseError::NoSuchDate { year, month, day });
        }
        Ok(days_from_civil(year, month, day))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2016-12-07T10:05:07Z.
    const NOW: i64 = 1_481_105_107;

    fn at(year: Option<i64>, month: u32, day: u32) -> Fields {
        Fields {
            year,
            month: Some(month),
            day: Some(day),
            hour: Some(12),
            ..Fields::default()
        }
    }

    fn resolve(f: Fields, zone: Zone, now: i64) -> Result<i64, ParseError<'static>> {
        f.resolve(&zone, &mut || now).map(|i| i.secs)
    }

    fn ymd(secs: i64) -> (i64, u32, u32) {
        civil_from_days(secs.div_euclid(SECS_PER_DAY))
    }

    #[test]
    fn defaults_missing_fields() {
        let f = Fields {
            year: Some(2016),
            ..Fields::default()
        };
        assert_eq!(resolve(f, Zone::Utc, NOW), Ok(1_451_606_400));
        let f = Fields {
            year: Some(2016),
            day_of_year: Some(60),
            ..Fields::default()
        };
        assert_eq!(ymd(resolve(f, Zone::Utc, NOW).unwrap()), (2016, 2, 29));
        let f = Fields {
            year: Some(2015),
            day_of_year: Some(366),
            ..Fields::default()
        };
        assert!(resolve(f, Zone::Utc, NOW).is_err());
    }

    #[test]
    fn combines_twelve_hour_clock() {
        let base = Fields {
            year: Some(1970),
            hour12: Some(0),
            ..Fields::default()
        };
        assert_eq!(resolve(base, Zone::Utc, NOW), Ok(0));
        let pm = Fields { pm: Some(true), ..base };
        assert_eq!(resolve(pm, Zone::Utc, NOW), Ok(12 * 3600));
        let eleven_pm = Fields { hour12: Some(11), ..pm };
        assert_eq!(resolve(eleven_pm, Zone::Utc, NOW), Ok(23 * 3600));
    }

    #[test]
    fn zone_in_text_wins() {
        let f = Fields {
            zone: Some(Zone::Fixed(3600)),
            ..at(Some(1970), 1, 1)
        };
        assert_eq!(resolve(f, Zone::Fixed(-7200), NOW), Ok(11 * 3600));
        assert_eq!(resolve(at(Some(1970), 1, 1), Zone::Fixed(-7200), NOW), Ok(14 * 3600));
    }

    #[test]
    fn rejects_impossible_dates() {
        assert_eq!(
            resolve(at(Some(2015), 2, 29), Zone::Utc, NOW),
            Err(ParseError::NoSuchDate {
                year: 2015,
                month: 2,
                day: 29
            })
        );
        assert!(resolve(at(Some(2016), 4, 31), Zone::Utc, NOW).is_err());
        // Year 9999 in a zone west of UTC ends after the last instant we
        // accept.
        let late = Fields {
            hour: Some(23),
            ..at(Some(9999), 12, 31)
        };
        assert_eq!(resolve(late, Zone::Fixed(-3600), NOW), Err(ParseError::OutOfRange));
    }

    #[test]
    fn guesses_missing_year() {
        assert_eq!(ymd(resolve(at(None, 3, 1), Zone::Utc, NOW).unwrap()), (2016, 3, 1));
        // Tomorrow is fine (clock skew), a week ahead belongs to last year.
        let tomorrow_morning = Fields {
            hour: Some(9),
            ..at(None, 12, 8)
        };
        assert_eq!(ymd(resolve(tomorrow_morning, Zone::Utc, NOW).unwrap()), (2016, 12, 8));
        assert_eq!(ymd(resolve(at(None, 12, 8), Zone::Utc, NOW).unwrap()), (2015, 12, 8));
        assert_eq!(ymd(resolve(at(None, 12, 14), Zone::Utc, NOW).unwrap()), (2015, 12, 14));
        // Read on 2017-01-01T00:00:30Z, a December 31st line is from 2016.
        let new_year = 1_483_228_830;
        assert_eq!(
            ymd(resolve(at(None, 12, 31), Zone::Utc, new_year).unwrap()),
            (2016, 12, 31)
        );
        // Read on 2016-12-31T23:00Z, a January 1st line is from 2017.
        let eve = 1_483_225_200;
        assert_eq!(ymd(resolve(at(None, 1, 1), Zone::Utc, eve).unwrap()), (2017, 1, 1));
        // February 29th goes back to the last leap year.
        let in_2019 = 1_560_000_000;
        assert_eq!(
            ymd(resolve(at(None, 2, 29), Zone::Utc, in_2019).unwrap()),
            (2016, 2, 29)
        );
        assert_eq!(
            resolve(at(None, 2, 30), Zone::Utc, NOW),
            Err(ParseError::NoSuchDate {
                year: 2016,
                month: 2,
                day: 30
            })
        );
    }

    #[test]
    fn asks_for_now_only_without_year() {
        let mut asked = false;
        let _ = at(Some(2016), 1, 1).resolve(&Zone::Utc, &mut || {
            asked = true;
            0
        });
        assert!(!asked);
    }
}
