//! corral-bench: times corral beside runc and crun (Debian's packages) on
//! the same bundles in one run, interleaved (each round runs every runtime
//! once, in a rotating order) after a warm-up, and reports medians, p90,
//! p99 and corral's ratio to each peer, as a table (Markdown) and a chart
//! (SVG, drawn here).
//!
//! ```text
//! corral-bench [--iterations N] [--total N] [--out DIR] [--corral BIN]
//!              [--baseline BIN] [--systemd-cgroup] [--metrics LIST]
//! ```
//!
//! `--systemd-cgroup` runs every runtime with its systemd cgroup driver (a
//! transient scope per container; needs systemd as the host's init, as in
//! the systemd tier's VM). `--metrics` picks metrics by name (`run`,
//! `seccomp`, `lifecycle`, `exec`, `rss`, `syscalls`, `throughput`,
//! `memory`; all by default).
//!
//! Needs root, runc, crun, strace and GNU time. `bash bench/run.sh` builds
//! the release binary and runs it with the documented sizes.

mod chart;
mod measure;
mod report;

use std::path::PathBuf;
use std::process::Command;

use measure::{Bundles, Runtime};
use report::{Metric, Unit};

/// Command-line options.
struct Options {
    iterations: usize,
    total: usize,
    out: PathBuf,
    corral: PathBuf,
    /// Another corral build measured in the same run (the figures before a
    /// change), shown as the column `corral-before`.
    baseline: Option<PathBuf>,
    /// Every runtime with its systemd cgroup driver.
    systemd: bool,
    /// The metrics to measure (`None`: all).
    metrics: Option<Vec<String>>,
}

/// The metric names `--metrics` takes.
const METRICS: [&str; 8] = [
    "run",
    "seccomp",
    "lifecycle",
    "exec",
    "rss",
    "syscalls",
    "throughput",
    "memory",
];

impl Options {
    fn wants(&self, metric: &str) -> bool {
        self.metrics
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == metric))
    }
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        iterations: 100,
        total: 200,
        out: PathBuf::from("bench/results"),
        corral: PathBuf::from("target/x86_64-unknown-linux-gnu/release/corral"),
        baseline: None,
        systemd: false,
        metrics: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--iterations" => {
                o.iterations = val("--iterations")?
                    .parse()
                    .map_err(|e| format!("--iterations: {e}"))?
            }
            "--total" => {
                o.total = val("--total")?
                    .parse()
                    .map_err(|e| format!("--total: {e}"))?
            }
            "--out" => o.out = PathBuf::from(val("--out")?),
            "--corral" => o.corral = PathBuf::from(val("--corral")?),
            "--baseline" => o.baseline = Some(PathBuf::from(val("--baseline")?)),
            "--systemd-cgroup" => o.systemd = true,
            "--metrics" => {
                let list: Vec<String> = val("--metrics")?.split(',').map(str::to_string).collect();
                if let Some(bad) = list.iter().find(|m| !METRICS.contains(&m.as_str())) {
                    return Err(format!(
                        "--metrics: unknown metric {bad:?} (one of {})",
                        METRICS.join(", ")
                    ));
                }
                o.metrics = Some(list);
            }
            "-h" | "--help" => {
                println!(
                    "corral-bench [--iterations N] [--total N] [--out DIR] [--corral BIN] [--baseline BIN] [--systemd-cgroup] [--metrics {}]",
                    METRICS.join(",")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.iterations == 0 || o.total == 0 {
        return Err("--iterations and --total must be above 0".into());
    }
    Ok(o)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("corral-bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let o = parse_args()?;
    let corral = o
        .corral
        .canonicalize()
        .map_err(|e| format!("{:?}: {e} (cargo build --release -p corral)", o.corral))?;
    for tool in ["runc", "crun", "strace"] {
        which(tool)?;
    }
    if !std::path::Path::new("/usr/bin/time").exists() {
        return Err("/usr/bin/time missing: apt-get install time".into());
    }
    let work = std::env::temp_dir().join(format!("corral-bench-{}", std::process::id()));
    let bundles = Bundles::build(&work)?;
    let global: Vec<String> = if o.systemd {
        vec!["--systemd-cgroup".into()]
    } else {
        Vec::new()
    };
    let mut runtimes = vec![
        Runtime::new("corral", corral, &work, &global),
        Runtime::new("runc", which("runc")?, &work, &global),
        Runtime::new("crun", which("crun")?, &work, &global),
    ];
    if let Some(b) = &o.baseline {
        let b = b
            .canonicalize()
            .map_err(|e| format!("--baseline {b:?}: {e}"))?;
        runtimes.push(Runtime::new("corral-before", b, &work, &global));
    }
    let result = measure_all(&o, &bundles, &runtimes);
    for rt in &runtimes {
        rt.cleanup();
    }
    let _ = std::fs::remove_dir_all(&work);
    let metrics = result?;
    let machine = machine();
    let table = report::table(&metrics, &runtimes, &machine, &o_summary(&o));
    println!("{table}");
    std::fs::create_dir_all(&o.out).map_err(|e| format!("mkdir {:?}: {e}", o.out))?;
    let md = o.out.join("latest.md");
    let svg = o.out.join("latest.svg");
    std::fs::write(&md, &table).map_err(|e| format!("write {md:?}: {e}"))?;
    std::fs::write(&svg, chart::draw(&metrics, &runtimes, &machine))
        .map_err(|e| format!("write {svg:?}: {e}"))?;
    eprintln!("wrote {md:?} and {svg:?}");
    Ok(())
}

fn o_summary(o: &Options) -> String {
    format!(
        "{} timed rounds after 5 warm-up rounds; throughput over {} containers; {}",
        o.iterations,
        o.total,
        if o.systemd {
            "every runtime with its systemd cgroup driver (--systemd-cgroup)"
        } else {
            "cgroupfs driver"
        }
    )
}

fn measure_all(o: &Options, b: &Bundles, rts: &[Runtime]) -> Result<Vec<Metric>, String> {
    let mut out = Vec::new();
    let timed = |name: &str, f: &Sample| timed(o, rts, name, f);
    if o.wants("run") {
        out.push(timed("run /bin/true", &|rt, i| rt.time_run(&b.plain, i))?);
    }
    if o.wants("seccomp") {
        out.push(timed("run /bin/true + Docker seccomp", &|rt, i| {
            rt.time_run(&b.seccomp, i)
        })?);
    }
    if o.wants("lifecycle") {
        out.push(timed("create + start + delete", &|rt, i| {
            rt.time_lifecycle(&b.plain, i)
        })?);
    }
    if o.wants("exec") {
        measure_exec(o, b, rts, &mut out)?;
    }
    if o.wants("rss") {
        eprintln!("measuring: peak RSS");
        out.push(Metric::new(
            "peak RSS of the runtime during run",
            Unit::MiB,
            measure::interleaved(rts, o.iterations.min(20), &|rt, i| rt.peak_rss(&b.plain, i))?,
            true,
        ));
    }
    if o.wants("syscalls") {
        eprintln!("measuring: syscalls");
        out.push(Metric::new(
            "syscalls per run (strace -f)",
            Unit::Count,
            measure::interleaved(rts, 3, &|rt, i| rt.syscalls(&b.plain, i))?,
            true,
        ));
    }
    if o.wants("throughput") {
        for par in [1, 2, 8] {
            eprintln!("measuring: throughput x{par}");
            let samples = rts
                .iter()
                .map(|rt| rt.throughput(&b.plain, o.total, par).map(|v| vec![v]))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Metric::new(
                &format!("containers/s, {par} in parallel"),
                Unit::PerSec,
                samples,
                false,
            ));
        }
    }
    if o.wants("memory") {
        eprintln!("measuring: smallest memory limit");
        let samples = rts
            .iter()
            .map(|rt| rt.min_memory(&b.work).map(|v| vec![v]))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Metric::new(
            "smallest memory limit for /bin/true",
            Unit::MiB,
            samples,
            true,
        ));
    }
    Ok(out)
}

/// One sample of one runtime in one round.
type Sample<'a> = dyn Fn(&Runtime, usize) -> Result<f64, String> + 'a;

/// A time metric (ms): `f` for every runtime, interleaved.
fn timed(o: &Options, rts: &[Runtime], name: &str, f: &Sample) -> Result<Metric, String> {
    eprintln!("measuring: {name}");
    measure::interleaved(rts, o.iterations, f)
        .map(|samples| Metric::new(name, Unit::Ms, samples, true))
}

/// `exec` into a running sleeper, back to back and after a quiet spell.
fn measure_exec(
    o: &Options,
    b: &Bundles,
    rts: &[Runtime],
    out: &mut Vec<Metric>,
) -> Result<(), String> {
    for rt in rts {
        rt.start_sleeper(&b.sleeper)?;
    }
    let exec = timed(o, rts, "exec /bin/true", &|rt, _| rt.time_exec());
    // An exec after a quiet spell, as health checks and `kubectl exec`
    // come: whatever the kernel does lazily (an RCU grace period for a
    // cgroup move) is paid in full here, and hidden by back-to-back runs.
    let idle = exec.and_then(|e| {
        eprintln!("measuring: exec after 200 ms idle");
        let samples = measure::interleaved(rts, o.iterations.min(20), &|rt, _| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            rt.time_exec()
        })?;
        Ok((
            e,
            Metric::new("exec /bin/true after 200 ms idle", Unit::Ms, samples, true),
        ))
    });
    for rt in rts {
        rt.stop_sleeper();
    }
    let (exec, idle) = idle?;
    out.push(exec);
    out.push(idle);
    Ok(())
}

/// The machine the figures come from.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let version = |bin: &str| {
        Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    format!(
        "{cpu}, {cores} cores, Linux {}; {}; {}",
        kernel.trim(),
        version("runc"),
        version("crun")
    )
}

fn which(tool: &str) -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(format!("{tool} not found: apt-get install {tool}"))
}
