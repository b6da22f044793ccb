//! `--log FILE` and `--log-format text|json`: what containerd and conmon read
//! back when corral fails.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Where and how corral logs.
pub struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

impl Logger {
    /// Opens the log file (appending) in the given format.
    pub fn new(path: Option<&Path>, format: &str, debug: bool) -> Result<Logger, String> {
        let json = match format {
            "json" => true,
            "text" => false,
            other => return Err(format!("unknown log-format {other:?}: use text or json")),
        };
        let file = match path {
            Some(p) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("open log file {p:?}: {e}"))?,
            ),
            None => None,
        };
        Ok(Logger { file, json, debug })
    }

    /// One log line at `level`, in runc's shape: logrus's text
    /// (`time="…" level=error msg="…"`) or JSON line. Without a log file
    /// the line goes to stderr (errors and warnings always, debug with
    /// `--debug`), which is where tools and test suites look for
    /// `level=error`; with one, the line goes to the file and an error is
    /// also printed plainly on stderr, as runc's `fatal` does.
    pub fn log(&mut self, level: &str, msg: &str) {
        if level == "debug" && !self.debug {
            return;
        }
        let line = self.line(level, msg);
        match &mut self.file {
            Some(f) => {
                let _ = writeln!(f, "{line}");
                if level == "error" {
                    eprintln!("{msg}");
                }
            }
            None => eprintln!("{line}"),
        }
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = libcontainer::store::now_rfc3339();
        if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        } else {
            format!("time={} level={level} msg={}", quote(&time), quote(msg))
        }
    }
}

/// A logrus text value: bare when it is empty or only letters, digits and
/// `-._/@^+`, else quoted with Go's `%q` escapes (`\"`, `\\`, `\n`, `\t`,
/// `\xNN` for other control bytes).
fn quote(v: &str) -> String {
    let bare = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if bare {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn values_quote_as_logrus_does() {
        assert_eq!(quote("error"), "error");
        assert_eq!(quote("2026-12-02T00:43:32Z"), "\"2026-12-02T00:43:32Z\"");
        assert_eq!(
            quote("container \"x\" does not exist"),
            "\"container \\\"x\\\" does not exist\""
        );
        assert_eq!(quote("a\\b\nc\u{1}"), "\"a\\\\b\\nc\\x01\"");
        assert_eq!(quote(""), "");
    }
}
