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

    /// One log line at `level`; errors and warnings also go to stderr when
    /// there is no log file, and errors always (as runc does).
    pub fn log(&mut self, level: &str, msg: &str) {
        if level == "debug" && !self.debug {
            return;
        }
        let time = libcontainer::store::now_rfc3339();
        let line = if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        } else {
            format!("time={time:?} level={level} msg={msg:?}")
        };
        match &mut self.file {
            Some(f) => {
                let _ = writeln!(f, "{line}");
                if level == "error" {
                    eprintln!("{msg}");
                }
            }
            None => {
                if level != "debug" || self.debug {
                    eprintln!(
                        "{}",
                        if level == "error" {
                            msg.to_string()
                        } else {
                            line
                        }
                    );
                }
            }
        }
    }
}
