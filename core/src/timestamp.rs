//! RFC 3339 date-times as unix seconds.
//!
//! Trust stores keep times as unix seconds (exact, sortable, no time zone
//! to misread); people and SLSA provenance write RFC 3339. These two
//! functions are the only conversion between them, so a policy date, a key's
//! validity window and a provenance `finishedOn` are read alike everywhere.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses an RFC 3339 date-time (`2026-01-01T00:00:00Z`, or with an offset
/// such as `+02:00`) into unix seconds; fractional seconds are dropped.
/// `None` for anything else, including dates before 1970 (no bundle, key or
/// policy predates the epoch, so such a value is a mistake, not a time).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// Formats unix seconds as RFC 3339 in UTC (`2026-01-01T00:00:00Z`). Values
/// past year 9999, which RFC 3339 cannot write, come out as `@SECONDS`.
pub fn format_rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{secs}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(parse_rfc3339("2026-01-01T02:00:00+02:00"), Some(1_767_225_600));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00.999Z"), Some(1_767_225_600));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        for bad in [
            "",
            "2026-01-01",
            "2026-01-01 00:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "1767225600",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(u64::MAX), format!("@{}", u64::MAX));
    }
}
