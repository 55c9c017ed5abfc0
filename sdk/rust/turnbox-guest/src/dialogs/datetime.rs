//! Date and time recognition for `DateTimePrompt`, a practical subset of
//! botbuilder's (Microsoft.Recognizers.Text) English recognizer, resolved
//! like it into TIMEX and a value:
//!
//! - ISO dates and times: `2018-12-05`, `2018-12-05T09:30`, `2018-12-05 09:30`;
//! - `today`, `tomorrow`, `yesterday`, relative to the activity's
//!   `localTimestamp` (else its `timestamp`, else the clock);
//! - month-name dates: `5th December 2018`, `December 5, 2018`, `Dec 5`
//!   (without a year: TIMEX `XXXX-12-05`, the value the next such day);
//! - numeric dates: `12/5/2018` (month first in `en-US`, day first elsewhere);
//! - a time alone or after a date: `9am`, `at 9:30 pm`, `14:00`, `noon`,
//!   `midnight` (TIMEX `T09`, `T21:30`).
//!
//! A date that is not in the calendar (`31 February 2018`) keeps its TIMEX
//! with the value `not resolved`, as Recognizers.Text does. Not recognised:
//! weekdays and relative phrases (`next Tuesday`, `in 3 days`, `last
//! week`), ranges and durations (`from 9 to 5`, `2 hours`), months or years
//! alone, and languages other than English.

use serde::{Deserialize, Serialize};

/// One reading of a date or time (`DateTimeResolution`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DateTimeResolution {
    /// TIMEX: `2018-12-05`, `2018-12-05T09`, `XXXX-12-05`, `T21:30`.
    pub timex: String,
    /// `2018-12-05`, `2018-12-05 09:00:00`, `09:00:00`, or `not resolved`.
    pub value: String,
}

type Date = (i64, u32, u32);

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month(word: &str) -> Option<u32> {
    let word = word.trim_end_matches('.');
    MONTHS
        .iter()
        .position(|m| *m == word || (word.len() == 3 || word == "sept") && m.starts_with(word))
        .map(|n| n as u32 + 1)
}

fn leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn valid((y, m, d): Date) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days((y, m, d): Date) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// A `YYYY-MM-DD` at the start of `text`.
fn iso_date(text: &str) -> Option<Date> {
    let mut parts = text.get(..10)?.split('-');
    let y = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let d = parts.next()?.parse().ok()?;
    (text.as_bytes().get(4) == Some(&b'-')).then_some((y, m, d))
}

/// Today in the sender's time: the date of `local_timestamp`, else of
/// `timestamp`, else of the clock.
pub(crate) fn today(local_timestamp: Option<&str>, timestamp: Option<&str>) -> Date {
    local_timestamp
        .and_then(iso_date)
        .or_else(|| timestamp.and_then(iso_date))
        .unwrap_or_else(|| {
            let now = wasip2::clocks::wall_clock::now();
            civil(now.seconds as i64 / 86_400)
        })
}

/// A time of day: hour, minutes if said, seconds if said.
type Time = (u32, Option<u32>, Option<u32>);

fn time_token(token: &str, next: Option<&str>) -> Option<(Time, bool)> {
    match token {
        "noon" | "midday" => return Some(((12, None, None), false)),
        "midnight" => return Some(((0, None, None), false)),
        _ => {}
    }
    let (clock, suffix) = match token.find(|c: char| c.is_alphabetic()) {
        Some(at) => (&token[..at], &token[at..]),
        None => (token, ""),
    };
    let (meridiem, used_next) = match (suffix, next) {
        ("am" | "a.m." | "pm" | "p.m.", _) => (Some(suffix.starts_with('p')), false),
        ("", Some(n @ ("am" | "a.m." | "pm" | "p.m."))) => (Some(n.starts_with('p')), true),
        ("", _) => (None, false),
        _ => return None,
    };
    let mut parts = clock.split(':');
    let hour: u32 = parts.next()?.parse().ok()?;
    let minute: Option<u32> = parts.next().map(str::parse).transpose().ok()?;
    let second: Option<u32> = parts.next().map(str::parse).transpose().ok()?;
    if meridiem.is_none() && minute.is_none() {
        return None; // a bare number is not a time
    }
    let hour = match meridiem {
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(true) if hour < 12 => hour + 12,
        Some(false) if hour == 12 => 0,
        _ => hour,
    };
    (hour < 24 && minute.unwrap_or(0) < 60 && second.unwrap_or(0) < 60)
        .then_some(((hour, minute, second), used_next))
}

fn day_number(token: &str) -> Option<u32> {
    let digits = token.trim_end_matches(|c: char| c.is_alphabetic());
    let suffix = &token[digits.len()..];
    if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") || digits.is_empty() || digits.len() > 2 {
        return None;
    }
    digits.parse().ok()
}

fn year_number(token: Option<&&str>) -> Option<i64> {
    let token = token?;
    (token.len() == 4).then(|| token.parse().ok()).flatten()
}

/// The date (year if said) in `tokens`.
fn find_date(tokens: &[&str], today: Date, locale: &str) -> Option<(Option<i64>, u32, u32)> {
    for (i, token) in tokens.iter().enumerate() {
        match *token {
            "today" | "tonight" => return Some((Some(today.0), today.1, today.2)),
            "tomorrow" => {
                let (y, m, d) = civil(days(today) + 1);
                return Some((Some(y), m, d));
            }
            "yesterday" => {
                let (y, m, d) = civil(days(today) - 1);
                return Some((Some(y), m, d));
            }
            _ => {}
        }
        if let Some((y, m, d)) = iso_date(token) {
            return Some((Some(y), m, d));
        }
        let slashes: Vec<&str> = token.split('/').collect();
        if let [a, b, c] = slashes.as_slice()
            && let (Ok(a), Ok(b), Ok(y)) = (a.parse::<u32>(), b.parse::<u32>(), c.parse::<i64>())
        {
            let y = if c.len() == 2 { 2000 + y } else { y };
            let us = locale.eq_ignore_ascii_case("en-us") || locale.is_empty();
            let (m, d) = if us { (a, b) } else { (b, a) };
            return Some((Some(y), m, d));
        }
        if let Some(m) = month(token) {
            // "5th December 2018" or "December 5th, 2018".
            let before = i
                .checked_sub(1)
                .and_then(|j| tokens.get(j))
                .and_then(|t| day_number(t));
            let before = before.or_else(|| {
                (tokens.get(i.wrapping_sub(1)) == Some(&"of"))
                    .then(|| {
                        i.checked_sub(2)
                            .and_then(|j| tokens.get(j))
                            .and_then(|t| day_number(t))
                    })
                    .flatten()
            });
            if let Some(d) = before {
                return Some((year_number(tokens.get(i + 1)), m, d));
            }
            if let Some(d) = tokens.get(i + 1).and_then(|t| day_number(t)) {
                return Some((year_number(tokens.get(i + 2)), m, d));
            }
        }
    }
    None
}

fn find_time(tokens: &[&str]) -> Option<Time> {
    tokens
        .iter()
        .enumerate()
        .find_map(|(i, t)| time_token(t, tokens.get(i + 1).copied()).map(|(time, _)| time))
        .or_else(|| {
            // "2018-12-05T09:30": the ISO time after the date.
            tokens.iter().find_map(|t| {
                let (date, time) = t.split_once('t')?;
                iso_date(date)?;
                time_token(time, None).map(|(time, _)| time)
            })
        })
}

/// The dates and times in `text`; empty when there are none.
pub(crate) fn recognize_datetime(text: &str, today: Date, locale: &str) -> Vec<DateTimeResolution> {
    let lower = text.to_lowercase().replace(',', " ");
    let tokens: Vec<&str> = lower
        .split_whitespace()
        .map(|t| t.trim_end_matches(['.', '!', '?']))
        .filter(|t| !t.is_empty())
        .collect();
    let date = find_date(&tokens, today, locale);
    let time = find_time(&tokens);
    let time_timex = time.map(|(h, m, s)| match (m, s) {
        (None, _) => format!("T{h:02}"),
        (Some(m), None) => format!("T{h:02}:{m:02}"),
        (Some(m), Some(s)) => format!("T{h:02}:{m:02}:{s:02}"),
    });
    let time_value =
        time.map(|(h, m, s)| format!("{h:02}:{:02}:{:02}", m.unwrap_or(0), s.unwrap_or(0)));
    let resolution = match date {
        Some((year, m, d)) => {
            let (timex_year, resolved) = match year {
                Some(y) => (format!("{y:04}"), valid((y, m, d)).then_some((y, m, d))),
                None => {
                    // The next such day, today included.
                    let this = (today.0, m, d);
                    let next = (today.0 + 1, m, d);
                    let pick = if valid(this) && days(this) >= days(today) {
                        Some(this)
                    } else {
                        [
                            next,
                            (today.0 + 2, m, d),
                            (today.0 + 3, m, d),
                            (today.0 + 4, m, d),
                        ]
                        .into_iter()
                        .find(|x| valid(*x))
                    };
                    ("XXXX".to_owned(), pick)
                }
            };
            let timex = format!(
                "{timex_year}-{m:02}-{d:02}{}",
                time_timex.unwrap_or_default()
            );
            let value = match resolved {
                Some((y, m, d)) => match &time_value {
                    Some(t) => format!("{y:04}-{m:02}-{d:02} {t}"),
                    None => format!("{y:04}-{m:02}-{d:02}"),
                },
                None => "not resolved".to_owned(),
            };
            DateTimeResolution { timex, value }
        }
        None => match (time_timex, time_value) {
            (Some(timex), Some(value)) => DateTimeResolution { timex, value },
            _ => return Vec::new(),
        },
    };
    vec![resolution]
}
