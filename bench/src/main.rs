//! corral-bench: times corral beside runc and crun (Debian's packages) on
//! the same bundles in one run, interleaved (each round runs every runtime
//! once, in a rotating order) after a warm-up, and reports medians, p90,
//! p99 and corral's ratio to each peer, as a table (Markdown) and a chart
//! (SVG, drawn here).
//!
//! ```text
//! corral-bench [--iterations N] [--total N] [--out DIR] [--corral BIN]
//! ```
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
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        iterations: 100,
        total: 200,
        out: PathBuf::from("bench/results"),
        corral: PathBuf::from("target/x86_64-unknown-linux-gnu/release/corral"),
        baseline: None,
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
            "-h" | "--help" => {
                println!(
                    "corral-bench [--iterations N] [--total N] [--out DIR] [--corral BIN] [--baseline BIN]"
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
    let mut runtimes = vec![
        Runtime::new("corral", corral, &work),
        Runtime::new("runc", which("runc")?, &work),
        Runtime::new("crun", which("crun")?, &work),
    ];
    if let Some(b) = &o.baseline {
        let b = b
            .canonicalize()
            .map_err(|e| format!("--baseline {b:?}: {e}"))?;
        runtimes.push(Runtime::new("corral-before", b, &work));
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
        "{} timed rounds after 5 warm-up rounds; throughput over {} containers",
        o.iterations, o.total
    )
}

fn measure_all(o: &Options, b: &Bundles, rts: &[Runtime]) -> Result<Vec<Metric>, String> {
    let mut out = Vec::new();
    let timed = |name: &str, f: &dyn Fn(&Runtime, usize) -> Result<f64, String>| {
        eprintln!("measuring: {name}");
        measure::interleaved(rts, o.iterations, f)
            .map(|samples| Metric::new(name, Unit::Ms, samples, true))
    };
    out.push(timed("run /bin/true", &|rt, i| rt.time_run(&b.plain, i))?);
    out.push(timed("run /bin/true + Docker seccomp", &|rt, i| {
        rt.time_run(&b.seccomp, i)
    })?);
    out.push(timed("create + start + delete", &|rt, i| {
        rt.time_lifecycle(&b.plain, i)
    })?);
    for rt in rts {
        rt.start_sleeper(&b.sleeper)?;
    }
    let exec = timed("exec /bin/true", &|rt, _| rt.time_exec());
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
    eprintln!("measuring: peak RSS");
    out.push(Metric::new(
        "peak RSS of the runtime during run",
        Unit::MiB,
        measure::interleaved(rts, o.iterations.min(20), &|rt, i| rt.peak_rss(&b.plain, i))?,
        true,
    ));
    eprintln!("measuring: syscalls");
    out.push(Metric::new(
        "syscalls per run (strace -f)",
        Unit::Count,
        measure::interleaved(rts, 3, &|rt, i| rt.syscalls(&b.plain, i))?,
        true,
    ));
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
    Ok(out)
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
