//! The measurements: each runtime binary run on the same bundles, with a
//! state root of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{json, Value};

/// Rounds run and thrown away before the timed ones.
const WARMUP: usize = 5;

/// The bundles every runtime runs.
pub struct Bundles {
    /// The scratch directory.
    pub work: PathBuf,
    /// `/bin/true` with the default spec (every namespace but user).
    pub plain: PathBuf,
    /// The same with Docker's default seccomp profile.
    pub seccomp: PathBuf,
    /// `sleep` for exec.
    pub sleeper: PathBuf,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn build_bundle(dir: &Path, args: &str) -> Result<(), String> {
    let st = Command::new("bash")
        .arg(repo().join("fixtures/build-bundle.sh"))
        .arg(dir)
        .env("ARGS", args)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("build-bundle.sh: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("fixtures/build-bundle.sh {dir:?} failed"))
    }
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut Value)) -> Result<(), String> {
    let p = dir.join("config.json");
    let text = std::fs::read(&p).map_err(|e| format!("read {p:?}: {e}"))?;
    let mut v: Value = serde_json::from_slice(&text).map_err(|e| format!("{p:?}: {e}"))?;
    f(&mut v);
    let text = serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())?;
    std::fs::write(&p, text).map_err(|e| format!("write {p:?}: {e}"))
}

impl Bundles {
    /// Builds the bundles under `work` from fixtures/.
    pub fn build(work: &Path) -> Result<Bundles, String> {
        let b = Bundles {
            work: work.to_path_buf(),
            plain: work.join("true"),
            seccomp: work.join("seccomp"),
            sleeper: work.join("sleep"),
        };
        build_bundle(&b.plain, r#"["/bin/true"]"#)?;
        build_bundle(&b.seccomp, r#"["/bin/true"]"#)?;
        build_bundle(&b.sleeper, r#"["/bin/sleep", "1000000"]"#)?;
        let profile_path = repo().join("fixtures/docker-default-seccomp.json");
        let profile: Value = serde_json::from_slice(
            &std::fs::read(&profile_path).map_err(|e| format!("{profile_path:?}: {e}"))?,
        )
        .map_err(|e| format!("{profile_path:?}: {e}"))?;
        edit_config(&b.seccomp, |c| c["linux"]["seccomp"] = profile)?;
        Ok(b)
    }
}

/// One runtime under test.
pub struct Runtime {
    /// Its name in the report.
    pub name: String,
    bin: PathBuf,
    root: PathBuf,
    /// Global flags before the command (`--systemd-cgroup`).
    global: Vec<String>,
}

impl Runtime {
    /// `bin` with a state root under `work`, and `global` flags before
    /// every command.
    pub fn new(name: &str, bin: PathBuf, work: &Path, global: &[String]) -> Runtime {
        Runtime {
            name: name.into(),
            bin,
            root: work.join(format!("root-{name}")),
            global: global.to_vec(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(&self.root)
            .args(&self.global)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn ok(&self, mut c: Command, what: &str) -> Result<(), String> {
        let st = c
            .status()
            .map_err(|e| format!("{}: {what}: {e}", self.name))?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("{}: {what} failed: {st}", self.name))
        }
    }

    fn run_cmd(&self, bundle: &Path, id: &str) -> Command {
        self.cmd(&["run", "--bundle", &bundle.to_string_lossy(), id])
    }

    /// Milliseconds of one `run` of `bundle`.
    pub fn time_run(&self, bundle: &Path, i: usize) -> Result<f64, String> {
        let t = Instant::now();
        self.ok(self.run_cmd(bundle, &format!("r{i}")), "run")?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    }

    /// Milliseconds of `create`, `start` and `delete --force`.
    pub fn time_lifecycle(&self, bundle: &Path, i: usize) -> Result<f64, String> {
        let id = format!("l{i}");
        let b = bundle.to_string_lossy();
        let t = Instant::now();
        self.ok(self.cmd(&["create", "--bundle", &b, &id]), "create")?;
        self.ok(self.cmd(&["start", &id]), "start")?;
        self.ok(self.cmd(&["delete", "--force", &id]), "delete")?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    }

    /// Creates and starts the container `exec` goes into.
    pub fn start_sleeper(&self, bundle: &Path) -> Result<(), String> {
        let b = bundle.to_string_lossy();
        self.ok(self.cmd(&["create", "--bundle", &b, "sleeper"]), "create")?;
        self.ok(self.cmd(&["start", "sleeper"]), "start")
    }

    /// Milliseconds of one `exec` of /bin/true into the sleeper.
    pub fn time_exec(&self) -> Result<f64, String> {
        let t = Instant::now();
        self.ok(self.cmd(&["exec", "sleeper", "/bin/true"]), "exec")?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    }

    /// Removes the sleeper.
    pub fn stop_sleeper(&self) {
        let _ = self.cmd(&["delete", "--force", "sleeper"]).status();
    }

    /// Runs `tool TOOL_ARGS -o FILE RUNTIME --root R run --bundle B ID` and
    /// returns what the tool wrote to FILE.
    fn run_under(
        &self,
        tool: &str,
        tool_args: &[&str],
        bundle: &Path,
        id: &str,
    ) -> Result<String, String> {
        let out = self.root.with_extension(id);
        let mut c = Command::new(tool);
        c.args(tool_args)
            .arg("-o")
            .arg(&out)
            .arg(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(&self.global)
            .args(["run", "--bundle", &bundle.to_string_lossy(), id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.ok(c, &format!("run under {tool}"))?;
        let text = std::fs::read_to_string(&out).map_err(|e| format!("{out:?}: {e}"))?;
        let _ = std::fs::remove_file(&out);
        Ok(text)
    }

    /// Peak resident memory (MiB) of the runtime process during a `run`,
    /// waited-for children included (GNU time's %M: wait4's ru_maxrss).
    pub fn peak_rss(&self, bundle: &Path, i: usize) -> Result<f64, String> {
        let text = self.run_under("/usr/bin/time", &["-f", "%M"], bundle, &format!("m{i}"))?;
        let kb: f64 = text
            .trim()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .ok_or(format!("{}: time printed {text:?}", self.name))?;
        Ok(kb / 1024.0)
    }

    /// System calls made by a `run`, the runtime's and the container's
    /// processes together (`strace -f -c`).
    pub fn syscalls(&self, bundle: &Path, i: usize) -> Result<f64, String> {
        let text = self.run_under("strace", &["-f", "-c"], bundle, &format!("s{i}"))?;
        text.lines()
            .find(|l| l.trim_end().ends_with(" total"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse().ok())
            .ok_or(format!("{}: no total in strace's summary", self.name))
    }

    /// Containers per second over `total` runs, `par` at a time.
    pub fn throughput(&self, bundle: &Path, total: usize, par: usize) -> Result<f64, String> {
        let next = AtomicUsize::new(0);
        let failed = std::sync::Mutex::new(None);
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..par {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= total {
                        break;
                    }
                    if let Err(e) = self.ok(self.run_cmd(bundle, &format!("p{par}-{k}")), "run") {
                        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(total as f64 / t.elapsed().as_secs_f64())
    }

    /// The smallest memory limit (MiB, to 64 KiB) under which a /bin/true
    /// container still runs, by bisection between 0 and 64 MiB.
    pub fn min_memory(&self, work: &Path) -> Result<f64, String> {
        const STEP: u64 = 64 << 10;
        let dir = work.join(format!("mem-{}", self.name));
        let plain = work.join("true");
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir:?}: {e}"))?;
        std::fs::copy(plain.join("config.json"), dir.join("config.json"))
            .map_err(|e| format!("copy config: {e}"))?;
        let mut probe = 0;
        let mut runs = |limit: u64| -> Result<bool, String> {
            edit_config(&dir, |c| {
                c["root"]["path"] = json!(plain.join("rootfs"));
                c["linux"]["resources"]["memory"] = json!({ "limit": limit });
            })?;
            probe += 1;
            let st = self
                .run_cmd(&dir, &format!("mem{probe}"))
                .status()
                .map_err(|e| e.to_string())?;
            Ok(st.success())
        };
        let (mut lo, mut hi) = (0u64, 64u64 << 20);
        if !runs(hi)? {
            return Err(format!("{}: /bin/true does not run in 64 MiB", self.name));
        }
        while hi - lo > STEP {
            let mid = (lo + hi) / 2 / STEP * STEP;
            let mid = mid.max(lo + STEP);
            if runs(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi as f64 / (1 << 20) as f64)
    }

    /// Deletes whatever this runtime left under its root, then the root.
    pub fn cleanup(&self) {
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.cmd(&["delete", "--force", &id]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `warm-up + iterations` rounds; each runs `f` once per runtime, the
/// order rotating by round. Returns the timed samples per runtime.
pub fn interleaved(
    rts: &[Runtime],
    iterations: usize,
    f: &dyn Fn(&Runtime, usize) -> Result<f64, String>,
) -> Result<Vec<Vec<f64>>, String> {
    let mut samples = vec![Vec::with_capacity(iterations); rts.len()];
    for round in 0..WARMUP + iterations {
        for k in 0..rts.len() {
            let r = (round + k) % rts.len();
            let v = f(&rts[r], round)?;
            if round >= WARMUP {
                samples[r].push(v);
            }
        }
    }
    Ok(samples)
}
