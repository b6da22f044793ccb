//! Commands that look at a running container: ps, events, features.

use std::path::Path;
use std::time::Duration;

use libcontainer::cgroups::Stats;
use libcontainer::{Container, Status};
use serde_json::{json, Value};

/// `corral ps`: json prints the pids; table runs `ps` and keeps the
/// container's rows, as runc does.
pub fn ps(root: &Path, format: &str, id: &str, ps_args: &[String]) -> Result<i32, String> {
    let c = Container::load(root, id).map_err(|e| e.to_string())?;
    let pids = libcontainer::cgroups::pids(c.cgroups()).map_err(|e| e.to_string())?;
    match format {
        "json" => {
            crate::output::line!(
                "{}",
                serde_json::to_string(&pids).map_err(|e| e.to_string())?
            );
            Ok(0)
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let o = libcontainer::process::spawn::portable(&mut std::process::Command::new("ps"))
                .args(&args)
                .output()
                .map_err(|e| format!("run ps: {e}"))?;
            if !o.status.success() {
                return Err(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            let text = String::from_utf8_lossy(&o.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| "couldn't find PID field in ps output".to_string())?;
            crate::output::line!("{header}");
            for l in lines {
                let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    crate::output::line!("{l}");
                }
            }
            Ok(0)
        }
        other => Err(format!(
            "invalid format option {other:?}: use table or json"
        )),
    }
}

/// Stats in runc's `events` JSON shape.
pub fn runc_stats(s: &Stats) -> Value {
    let entries = |v: &[libcontainer::cgroups::stats::BlkioEntry]| -> Value {
        v.iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect()
    };
    let hugetlb: serde_json::Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(k, h)| {
            (
                k.clone(),
                json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.failcnt}),
            )
        })
        .collect();
    json!({
        "cpu": {
            "usage": {
                "total": s.cpu.usage_total,
                "percpu": s.cpu.per_cpu,
                "kernel": s.cpu.usage_kernel,
                "user": s.cpu.usage_user
            },
            "throttling": {
                "periods": s.cpu.periods,
                "throttledPeriods": s.cpu.throttled_periods,
                "throttledTime": s.cpu.throttled_time
            }
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": {"limit": s.memory.limit, "usage": s.memory.usage, "max": s.memory.max_usage, "failcnt": s.memory.failcnt},
            "swap": {"limit": s.memory.swap_limit, "usage": s.memory.swap_usage},
            "raw": s.memory.raw
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": entries(&s.blkio.io_service_bytes),
            "ioServicedRecursive": entries(&s.blkio.io_serviced)
        },
        "hugetlb": hugetlb
    })
}

/// Parses a Go-style duration (`5s`, `100ms`, `1m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration {s:?}")),
    };
    if secs <= 0.0 {
        return Err(format!("duration {s:?} must be greater than zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `corral events`: one stats event with `--stats`, else a stats event
/// every interval and an `oom` event for each new OOM kill, until the
/// container stops.
pub fn events(root: &Path, id: &str, stats_once: bool, interval: &str) -> Result<i32, String> {
    let every = parse_duration(interval)?;
    let c = Container::load(root, id).map_err(|e| e.to_string())?;
    // false once nobody reads our output any more.
    let emit = |kind: &str, data: Value| -> bool {
        use std::io::Write;
        let mut ev = json!({"type": kind, "id": id});
        if !data.is_null() {
            ev["data"] = data;
        }
        let mut out = std::io::stdout();
        writeln!(out, "{ev}").and_then(|_| out.flush()).is_ok()
    };
    if stats_once {
        let s = c.stats().map_err(|e| e.to_string())?;
        emit("stats", runc_stats(&s));
        return Ok(0);
    }
    if c.status() == Status::Stopped {
        return Err(libcontainer::Error::NotRunning.to_string());
    }
    for ev in c.events(every) {
        let more = match ev {
            libcontainer::events::Event::Oom => emit("oom", Value::Null),
            libcontainer::events::Event::Stats(s) => emit("stats", runc_stats(&s)),
        };
        if !more {
            break;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
