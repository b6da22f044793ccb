//! `corral events`: the container's OOM notices and resource statistics,
//! in runc's JSON shape.

use std::path::Path;
use std::time::Duration;

use clap::Args;
use libcontainer::cgroups::Stats;
use libcontainer::{Container, Status};
use serde_json::{json, Value};

/// Flags of `events`, as runc's.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Display the container's stats then exit.
    #[arg(long)]
    stats: bool,
    /// Set the stats collection interval.
    #[arg(long, default_value = "5s")]
    interval: String,
    /// Container id.
    id: String,
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
    let mut v = json!({
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
    });
    // runc (1.2 and later) adds `psi` to cpu, memory and blkio where the
    // kernel gives pressure files (cgroup v2), and leaves it out elsewhere.
    for (key, p) in [
        ("cpu", &s.cpu.psi),
        ("memory", &s.memory.psi),
        ("blkio", &s.blkio.psi),
    ] {
        if let Some(p) = p {
            let line = |d: &libcontainer::cgroups::stats::PsiData| json!({"avg10": d.avg10, "avg60": d.avg60, "avg300": d.avg300, "total": d.total});
            v[key]["psi"] = json!({"some": line(&p.some), "full": line(&p.full)});
        }
    }
    v
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
pub fn run(root: &Path, a: &EventsArgs) -> Result<i32, String> {
    let (id, stats_once) = (a.id.as_str(), a.stats);
    let every = parse_duration(&a.interval)?;
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
