//! RFC 3339 timestamps of the stats payload (`read`, `preread`), e.g.
//! `2024-05-14T10:00:00.010736214Z`. Rates use the payload's own read times: Fargate refreshes
//! stats about every 10 s and EC2 about every second, so the sleep is never the interval.

/// Nanoseconds since the Unix epoch (i128: docker's zero time `0001-01-01T00:00:00Z` is
/// before 1970 and beyond i64 nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i128);

const NANOS_PER_SEC: i128 = 1_000_000_000;

impl Timestamp {
    /// Parse `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. `None` for anything else, and for
    /// docker's zero time (year 1), which means "never read".
    pub fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let s = text.get(range)?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if year <= 1 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut rest = &text[19..];
        let mut nanos: i128 = 0;
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            for (i, c) in fraction[..digits].bytes().enumerate() {
                if i < 9 {
                    nanos += i128::from(c - b'0') * 10i128.pow(8 - i as u32);
                }
            }
            rest = &fraction[digits..];
        }
        let offset_secs: i64 = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
                let sign = match rest.as_bytes()[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let h: i64 = rest[1..3].parse().ok()?;
                let m: i64 = rest[4..6].parse().ok()?;
                sign * (h * 3600 + m * 60)
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
        Some(Timestamp(i128::from(secs) * NANOS_PER_SEC + nanos))
    }

    /// Seconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / NANOS_PER_SEC as f64
    }

    /// Whole seconds since the Unix epoch (for DogStatsD `|T`).
    pub fn unix_seconds(self) -> i64 {
        (self.0.div_euclid(NANOS_PER_SEC)) as i64
    }

    /// Milliseconds since the Unix epoch (for CloudWatch EMF).
    pub fn unix_millis(self) -> i64 {
        (self.0.div_euclid(1_000_000)) as i64
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_read_times() {
        let t = Timestamp::parse("2024-05-14T10:00:00.010736214Z").unwrap();
        // date -d 2024-05-14T10:00:00Z +%s
        assert_eq!(t.unix_seconds(), 1_715_680_800);
        assert_eq!(t.0 % 1_000_000_000, 10_736_214);
        let later = Timestamp::parse("2024-05-14T10:01:00.510736214Z").unwrap();
        assert_eq!(later.seconds_since(t), 60.5);
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
        assert_eq!(
            Timestamp::parse("2024-05-14T12:00:00+02:00"),
            Timestamp::parse("2024-05-14T10:00:00Z")
        );
        assert_eq!(
            Timestamp::parse("2020-02-29T00:00:00.5Z")
                .unwrap()
                .unix_millis(),
            1_582_934_400_500
        );
    }

    #[test]
    fn rejects_zero_time_and_garbage() {
        for bad in [
            "0001-01-01T00:00:00Z",
            "",
            "2024-05-14",
            "2024-13-01T00:00:00Z",
            "2024-05-14T10:00:00",
            "2024-05-14T10:00:00.Z",
            "２０２４-05-14T10:00:00Z",
            "2024-05-14T10:00:00.1234567890123Zjunk",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
