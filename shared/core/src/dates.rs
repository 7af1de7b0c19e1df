//! Appwrite's wire date format (`Y-m-d\TH:i:s.vP`, always UTC) and cookie dates.

use crate::clock::Millis;
use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};

const APPWRITE: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00");
const COOKIE: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day]-[month repr:short]-[year] [hour]:[minute]:[second] GMT"
);

fn to_datetime(ms: Millis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2020-10-15T06:38:00.000+00:00`
pub fn format(ms: Millis) -> String {
    to_datetime(ms).format(APPWRITE).unwrap_or_default()
}

/// `""` when unset, as Appwrite renders empty datetimes.
pub fn format_opt(ms: Option<Millis>) -> String {
    ms.map(format).unwrap_or_default()
}

/// `Thu, 01-Jan-1970 00:00:01 GMT`, the form Swoole writes in `Set-Cookie`.
pub fn cookie(ms: Millis) -> String {
    to_datetime(ms).format(COOKIE).unwrap_or_default()
}

/// The fixed window of `period_secs` containing `now`: `(start, end)` in Unix seconds.
pub fn window(now: Millis, period_secs: u32) -> (i64, i64) {
    let now_s = now.div_euclid(1000);
    let period = i64::from(period_secs.max(1));
    let start = now_s - now_s.rem_euclid(period);
    (start, start + period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appwrite_format() {
        assert_eq!(format(1_602_743_880_000), "2020-10-15T06:38:00.000+00:00");
        assert_eq!(format(1_602_743_880_123), "2020-10-15T06:38:00.123+00:00");
        assert_eq!(format_opt(None), "");
    }

    #[test]
    fn cookie_format() {
        assert_eq!(cookie(1000), "Thu, 01-Jan-1970 00:00:01 GMT");
    }
}
