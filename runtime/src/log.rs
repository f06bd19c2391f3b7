//! The runtime's own log: runc's global `--log PATH` and `--log-format
//! text|json`.
//!
//! containerd's runc shim runs every runtime command with `--log
//! <bundle>/log.json --log-format json` and, when a command fails, reads
//! that file back for the last `"level":"error"` line and puts its `msg` in
//! the error it returns to its client (go-runc's `getLastRuntimeError`):
//! without these lines the client sees only "exit status 1". runc writes
//! its warnings and its fatal error there as logrus does (one object per
//! line, keys in order: `level`, `msg`, `time`; or logrus's text form
//! `time="…" level=… msg="…"`), and also prints the fatal error on stderr;
//! this runtime does the same. Without `--log` the lines go to stderr.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _, Result};

/// How a line is written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    /// logrus's text form: `time="…" level=… msg="…"`.
    Text,
    /// One JSON object a line: `{"level":…,"msg":…,"time":…}`.
    Json,
}

impl Format {
    /// `text` or `json`, as runc's `--log-format` takes them.
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => bail!("unknown --log-format {other:?} (text or json)"),
        }
    }
}

/// Where the runtime's own messages go.
pub struct Log {
    file: Option<std::fs::File>,
    format: Format,
}

impl Log {
    /// The log at `path` (appended to, created if missing), or stderr.
    pub fn open(path: Option<&Path>, format: Format) -> Result<Log> {
        let file = match path {
            None => None,
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(p)
                    .with_context(|| format!("opening the log {}", p.display()))?,
            ),
        };
        Ok(Log { file, format })
    }

    /// A warning: the lifecycle goes on.
    pub fn warn(&mut self, msg: &str) {
        self.line("warning", msg);
    }

    /// The error a command failed with: in the log, and always on stderr
    /// (runc's `fatal`), so a caller that reads only one of them sees it.
    pub fn error(&mut self, msg: &str) {
        if self.file.is_some() {
            self.line("error", msg);
        }
        eprintln!("cerro-runtime: {msg}");
    }

    fn line(&mut self, level: &str, msg: &str) {
        let text = render(self.format, level, msg, &rfc3339(now_unix()));
        match &mut self.file {
            // A log that cannot be written loses the line; the command's
            // own outcome (its exit status) is not changed by it.
            Some(f) => {
                let _ = f.write_all(text.as_bytes());
            }
            None => eprint!("{text}"),
        }
    }
}

/// One line in `format`, ending in a newline.
pub fn render(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        // serde_json's map is ordered by key: level, msg, time, as logrus.
        Format::Json => format!("{}\n", serde_json::json!({"level": level, "msg": msg, "time": time})),
        Format::Text => format!("time={} level={level} msg={}\n", quote(time), quote(msg)),
    }
}

/// A value quoted as logrus's text formatter quotes it (Go's `%q` for
/// the characters a message holds: `"`, `\` and control characters escaped).
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => q.push_str(&format!("\\x{:02x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Seconds since the epoch (0 for a clock before it).
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `secs` since the epoch as RFC 3339 in UTC (logrus's default
/// `time.RFC3339`), by the civil-from-days algorithm (H. Hinnant).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // date -u -d @951782400: the leap day of a century leap year.
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        // date -u -d @1798545599
        assert_eq!(rfc3339(1_798_545_599), "2026-12-29T11:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn lines_are_logrus_shaped() {
        assert_eq!(
            render(Format::Json, "error", "no \"x\"", "2026-12-05T12:00:00Z"),
            "{\"level\":\"error\",\"msg\":\"no \\\"x\\\"\",\"time\":\"2026-12-05T12:00:00Z\"}\n"
        );
        assert_eq!(
            render(Format::Text, "warning", "a\nb\\", "2026-12-05T12:00:00Z"),
            "time=\"2026-12-05T12:00:00Z\" level=warning msg=\"a\\nb\\\\\"\n"
        );
        assert_eq!(Format::parse("json").unwrap(), Format::Json);
        assert_eq!(Format::parse("text").unwrap(), Format::Text);
        assert!(Format::parse("yaml").unwrap_err().to_string().contains("text or json"));
    }

    #[test]
    fn a_log_file_is_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        Log::open(Some(&p), Format::Json).unwrap().warn("one");
        Log::open(Some(&p), Format::Json).unwrap().error("two");
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(
            (lines[0]["level"].as_str(), lines[0]["msg"].as_str()),
            (Some("warning"), Some("one"))
        );
        assert_eq!(
            (lines[1]["level"].as_str(), lines[1]["msg"].as_str()),
            (Some("error"), Some("two"))
        );
        assert!(Log::open(Some(Path::new("/nonexistent/dir/log")), Format::Text).is_err());
    }
}
