//! Helpers for the integration tests: the fixture bundle, a private state
//! root per test, running `corral` (and runc), and checks that nothing was
//! left behind.
//!
//! These tests run real containers and need root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The workspace's top directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The `corral` binary built beside the test binary.
pub fn corral_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> → target/<profile>/corral
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("corral");
    assert!(bin.exists(), "{bin:?} missing: run `cargo build` first");
    bin
}

/// The command that runs `corral`: the binary itself, or, when
/// `CORRAL_TEST_DENY_NEWER` is `ENOSYS` or `EPERM`, the binary under
/// `deny-newer` (this crate's helper), so that every system call newer
/// than Linux 4.18 gets that answer — the test tier of older kernels and
/// of seccomp profiles that predate the calls.
pub fn corral_command() -> Command {
    command_of(&corral_bin())
}

/// The command that runs `bin` (a binary of this workspace, such as the
/// shim), under `deny-newer` as [`corral_command`] runs corral.
pub fn command_of(bin: &Path) -> Command {
    match deny_newer() {
        Some(errno) => {
            let mut c = Command::new(sibling_bin("deny-newer"));
            c.arg(errno).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

/// `corral` under `deny-newer` with only `calls` (comma-separated names,
/// as the tool takes them) answered `errno`, whatever
/// `CORRAL_TEST_DENY_NEWER` says: for the tests of one fallback.
pub fn corral_command_denying(errno: &str, calls: &str) -> Command {
    let mut c = Command::new(sibling_bin("deny-newer"));
    c.arg(errno)
        .arg(corral_bin())
        .env("CORRAL_TEST_DENY_ONLY", calls);
    c
}

/// The errno `CORRAL_TEST_DENY_NEWER` asks for, if any; any other value is
/// a mistake that fails the test rather than testing nothing.
pub fn deny_newer() -> Option<&'static str> {
    match std::env::var("CORRAL_TEST_DENY_NEWER").as_deref() {
        Err(_) | Ok("") => None,
        Ok("ENOSYS") => Some("ENOSYS"),
        Ok("EPERM") => Some("EPERM"),
        Ok(v) => panic!("CORRAL_TEST_DENY_NEWER={v:?}: want ENOSYS or EPERM"),
    }
}

/// A binary of this workspace built beside the test binary.
fn sibling_bin(name: &str) -> PathBuf {
    let bin = corral_bin().with_file_name(name);
    assert!(
        bin.exists(),
        "{bin:?} missing: run `cargo build --workspace` first"
    );
    bin
}

fn fixture(demo: bool) -> PathBuf {
    let dir = workspace()
        .join("target")
        .join(if demo { "fixture-userns" } else { "fixture" });
    let stamp = dir.join(".built");
    if !stamp.exists() {
        let mut cmd = Command::new(workspace().join("fixtures/build-bundle.sh"));
        if demo {
            cmd.arg("--demo");
        }
        let st = cmd
            .arg(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("run build-bundle.sh");
        assert!(st.success(), "fixtures/build-bundle.sh failed");
        std::fs::write(&stamp, "").expect("stamp");
    }
    dir
}

/// The fixture bundle (rootfs owned by root), built once per test run.
pub fn base_bundle() -> &'static Path {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| fixture(false))
}

/// The fixture bundle whose rootfs is owned by the mapped range
/// 100000-165535, with all eight namespaces.
pub fn userns_bundle() -> &'static Path {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| fixture(true))
}

/// Containers per load test: `CORRAL_LOAD` (the documented full run uses
/// 500), else 100 (CI).
pub fn load_size() -> usize {
    std::env::var("CORRAL_LOAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique name for this test process.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// One test's world: a state root, a bundle dir and the ids it created.
/// Dropping it deletes every container (forcefully) and the directories.
pub struct Env {
    /// `--root` for corral.
    pub root: PathBuf,
    /// The bundle directory (config.json lives here).
    pub bundle: PathBuf,
    /// The config written by [`Env::write_config`].
    pub config: Value,
    /// A scratch directory for the test.
    pub scratch: PathBuf,
    ids: Vec<String>,
}

impl Env {
    /// A new env whose config is the fixture's with `args`; the rootfs is
    /// the shared fixture rootfs (absolute path).
    pub fn new(args: &[&str]) -> Env {
        Env::from_fixture(base_bundle(), args)
    }

    /// Like [`Env::new`] but from the user-namespace fixture.
    pub fn userns(args: &[&str]) -> Env {
        Env::from_fixture(userns_bundle(), args)
    }

    fn from_fixture(fixture: &Path, args: &[&str]) -> Env {
        let base = PathBuf::from("/tmp/corral-it").join(unique("t"));
        let root = base.join("state");
        let bundle = base.join("bundle");
        let scratch = base.join("scratch");
        for d in [&root, &bundle, &scratch] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let text = std::fs::read(fixture.join("config.json")).expect("fixture config");
        let mut config: Value = serde_json::from_slice(&text).expect("fixture config json");
        config["root"]["path"] = json!(fixture.join("rootfs"));
        config["process"]["args"] = json!(args);
        let env = Env {
            root,
            bundle,
            config,
            scratch,
            ids: Vec::new(),
        };
        env.write_config();
        env
    }

    /// Writes `self.config` to the bundle.
    pub fn write_config(&self) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("json"),
        )
        .expect("write config");
    }

    /// Edits the config and writes it.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.config);
        self.write_config();
    }

    /// A fresh container id, remembered for cleanup.
    pub fn id(&mut self) -> String {
        let id = unique("c");
        self.ids.push(id.clone());
        id
    }

    /// `corral --root ROOT args…`, output captured. Output goes through
    /// files, not pipes: a created container inherits corral's stdio and
    /// would keep a pipe open.
    pub fn corral(&self, args: &[&str]) -> Output {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let (po, pe) = (
            self.scratch.join(format!(".out{n}")),
            self.scratch.join(format!(".err{n}")),
        );
        let fo = std::fs::File::create(&po).expect("stdout file");
        let fe = std::fs::File::create(&pe).expect("stderr file");
        let status = self
            .corral_cmd(args)
            .stdout(fo)
            .stderr(fe)
            .status()
            .expect("run corral");
        let o = Output {
            status,
            stdout: std::fs::read(&po).unwrap_or_default(),
            stderr: std::fs::read(&pe).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(po);
        let _ = std::fs::remove_file(pe);
        o
    }

    /// The command for `corral --root ROOT args…` (with
    /// `--systemd-cgroup` where [`systemd_cgroup`] says so).
    pub fn corral_cmd(&self, args: &[&str]) -> Command {
        let mut c = corral_command();
        c.arg("--root").arg(&self.root);
        if systemd_cgroup() {
            c.arg("--systemd-cgroup");
        }
        c.args(args).stdin(Stdio::null());
        c
    }

    /// `corral run --bundle B ID` (fresh id); returns (exit code, stdout, stderr).
    pub fn run(&mut self) -> (i32, String, String) {
        let id = self.id();
        let b = self.bundle.clone();
        let o = self.corral(&["run", "--bundle", b.to_str().expect("utf8"), &id]);
        (
            o.status.code().unwrap_or(-1),
            out(&o.stdout),
            out(&o.stderr),
        )
    }

    /// Runs and expects exit 0; returns stdout.
    pub fn run_ok(&mut self) -> String {
        let (code, o, e) = self.run();
        assert_eq!(code, 0, "corral run failed: stdout {o:?} stderr {e:?}");
        o
    }

    /// `corral create` of a fresh id; panics on failure.
    pub fn create(&mut self) -> String {
        let id = self.id();
        let b = self.bundle.clone();
        let o = self.corral(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
        assert!(o.status.success(), "create failed: {}", out(&o.stderr));
        id
    }

    /// The state JSON of `id`.
    pub fn state(&self, id: &str) -> Value {
        let o = self.corral(&["state", id]);
        assert!(o.status.success(), "state failed: {}", out(&o.stderr));
        serde_json::from_slice(&o.stdout).expect("state json")
    }
}

impl Drop for Env {
    /// Deletes every container the test made, then checks that nothing of
    /// them is left (see [`leaks`]): the leak check runs after every
    /// integration test that uses an `Env`, and fails the test on a leak.
    fn drop(&mut self) {
        let mut cgroups = Vec::new();
        for id in &self.ids {
            cgroups.extend(recorded_cgroups(&self.root, id));
            let _ = self
                .corral_cmd(&["delete", "--force", id])
                .stderr(Stdio::null())
                .status();
        }
        let found = leaks(&self.root, &self.ids, &cgroups);
        if let Some(base) = self.root.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
        if !found.is_empty() && !std::thread::panicking() {
            panic!("leak check: {}", found.join("; "));
        }
    }
}

/// The cgroup directories recorded in container `id`'s state (whatever
/// its cgroupsPath), for the leak check.
fn recorded_cgroups(root: &Path, id: &str) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read(root.join(id).join("state.json")) else {
        return Vec::new();
    };
    let Ok(st) = serde_json::from_slice::<Value>(&text) else {
        return Vec::new();
    };
    st["cgroup"]["created"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(PathBuf::from))
                .collect()
        })
        .unwrap_or_default()
}

/// What containers `ids` under state root `root` left behind: state dirs,
/// cgroups in every hierarchy (by name, and the directories their records
/// named), mounts (naming an id or the state root), network namespaces
/// bound under /var/run/netns, and processes (naming an id or the root).
pub fn leaks(root: &Path, ids: &[String], cgroups: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let root_s = root.display().to_string();
    for id in ids {
        if root.join(id).exists() {
            found.push(format!("state dir {:?}", root.join(id)));
        }
        for d in cgroup_dirs_named(id) {
            found.push(format!("cgroup {d:?}"));
        }
        for l in mounts.lines() {
            if l.split(' ').any(|f| f.split('/').any(|c| c == id)) {
                found.push(format!("mount {l:?}"));
            }
        }
        if Path::new("/var/run/netns").join(id).exists() {
            found.push(format!("netns /var/run/netns/{id}"));
        }
        for p in processes_naming(id) {
            found.push(format!("process {p} naming {id}"));
        }
    }
    // A parent that now holds another container's cgroup rightly stays.
    let has_children = |d: &Path| {
        std::fs::read_dir(d)
            .map(|rd| rd.flatten().any(|e| e.path().is_dir()))
            .unwrap_or(false)
    };
    for d in cgroups.iter().filter(|d| d.exists() && !has_children(d)) {
        found.push(format!("cgroup {d:?}"));
    }
    // The test's whole directory (bundle, rootfs, scratch) next to the root.
    let base_s = root.parent().unwrap_or(root).display().to_string();
    if mounts.contains(&format!("{base_s}/")) {
        found.push(format!("a mount under {base_s}"));
    }
    for p in processes_naming(&root_s) {
        found.push(format!("process {p} of state root {root_s}"));
    }
    if systemd_cgroup() {
        // Under the systemd driver: no unit of these containers that
        // systemd still knows (a failed scope outlives its cgroup).
        for unit in systemd_units("corral-*.scope") {
            if ids.iter().any(|id| unit == format!("corral-{id}.scope")) {
                found.push(format!("systemd unit {unit}"));
            }
        }
    }
    found
}

/// The units systemd has loaded whose names match `pattern` (any state).
pub fn systemd_units(pattern: &str) -> Vec<String> {
    let o = Command::new("systemctl")
        .args([
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
            pattern,
        ])
        .output()
        .expect("systemctl");
    out(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Bytes to a String.
pub fn out(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether `runc` is installed (the comparison tests need it).
pub fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether the tests drive corral with its systemd cgroup driver
/// (`CORRAL_TEST_SYSTEMD_CGROUP=1`, set by the systemd tier, which runs the
/// enforcement tests again under systemd).
pub fn systemd_cgroup() -> bool {
    std::env::var("CORRAL_TEST_SYSTEMD_CGROUP").as_deref() == Ok("1")
}

/// Every cgroup directory named `name` anywhere under /sys/fs/cgroup, or
/// named for it as a systemd scope (`PREFIX-NAME.scope`).
pub fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let scope = format!("-{name}.scope");
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let p = e.path();
                let n = e.file_name();
                if n == name || n.to_str().is_some_and(|n| n.ends_with(&scope)) {
                    found.push(p.clone());
                }
                stack.push(p);
            }
        }
    }
    found
}

/// Asserts that container `id` left nothing: no state dir, no cgroup, no
/// process whose environment or cgroup names it.
pub fn assert_nothing_left(env: &Env, id: &str) {
    assert!(!env.root.join(id).exists(), "state dir of {id} left behind");
    let cgs = cgroup_dirs_named(id);
    assert!(cgs.is_empty(), "cgroups of {id} left behind: {cgs:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(id), "a mount names {id}");
    let procs = processes_naming(id);
    assert!(procs.is_empty(), "processes of {id} left behind: {procs:?}");
    if systemd_cgroup() {
        // A scope can outlive its cgroup (a failed one, after an OOM
        // kill): systemd must not know the unit any more.
        let o = Command::new("systemctl")
            .args(["show", "-p", "LoadState,ActiveState"])
            .arg(format!("corral-{id}.scope"))
            .output()
            .expect("systemctl");
        let text = out(&o.stdout);
        assert!(
            text.contains("LoadState=not-found") || text.contains("ActiveState=inactive"),
            "the scope of {id} is left: {text}"
        );
    }
}

/// Pids whose command line names `needle` (a container's init is a fork of
/// `corral create … ID` until it execs).
pub fn processes_naming(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            continue;
        }
        if String::from_utf8_lossy(&cmd)
            .split('\0')
            .any(|a| a == needle)
        {
            out.push(pid);
        }
    }
    out
}

/// The namespace link of `pid` for namespace `ns` (`/proc/PID/ns/NS`).
pub fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{ns}: {e}"))
}

impl Env {
    /// A private copy of the fixture rootfs in the scratch dir, made the
    /// config's root: for tests that change the image.
    pub fn private_rootfs(&mut self) -> PathBuf {
        let rootfs = self.scratch.join("rootfs");
        // Other tests running at the same time make and remove mountpoints
        // in the shared fixture: a file that vanishes mid-copy fails cp,
        // and the copy is made again.
        let mut last = String::new();
        let copied = (0..5).any(|_| {
            let _ = std::fs::remove_dir_all(&rootfs);
            let o = Command::new("cp")
                .arg("-a")
                .arg(base_bundle().join("rootfs"))
                .arg(&rootfs)
                .output()
                .expect("cp");
            last = out(&o.stderr);
            o.status.success()
        });
        assert!(copied, "copy the fixture rootfs: {last}");
        self.edit(|c| c["root"]["path"] = json!(rootfs));
        rootfs
    }

    /// `runc run` of this env's bundle under a private `--root` (for tests
    /// that compare corral with runc); panics when runc is not installed.
    pub fn runc_run(&self) -> Output {
        assert!(have("runc"), "runc is not installed: apt-get install runc");
        Command::new("runc")
            .arg("--root")
            .arg(self.scratch.join("runc"))
            .args(["run", "--bundle", self.bundle.to_str().expect("utf8")])
            .arg(unique("runc"))
            .stdin(Stdio::null())
            .output()
            .expect("run runc")
    }

    /// `corral create` of a fresh id that must fail with exit status 1, an
    /// error naming every string of `want`, and nothing left behind.
    pub fn create_fails(&mut self, want: &[&str]) {
        let id = self.id();
        let b = self.bundle.clone();
        let o = self.corral(&["create", "--bundle", b.to_str().expect("utf8"), &id]);
        let err = error_message(&out(&o.stderr));
        assert_eq!(o.status.code(), Some(1), "{err}");
        for w in want {
            assert!(err.contains(w), "{w:?} missing in {err:?}");
        }
        assert_nothing_left(self, &id);
    }

    /// `corral create` of a fresh id with the container's stdout (and
    /// stderr) going to a file; returns the id and the file's path.
    pub fn create_logged(&mut self) -> (String, PathBuf) {
        let id = self.id();
        let log = self.scratch.join(format!("{id}.log"));
        let f = std::fs::File::create(&log).expect("log file");
        let b = self.bundle.clone();
        let st = self
            .corral_cmd(&["create", "--bundle", b.to_str().expect("utf8"), &id])
            .stdout(f)
            .status()
            .expect("create");
        assert!(st.success(), "create failed");
        (id, log)
    }
}

/// A thread that exchanges each pair of paths (RENAME_EXCHANGE, atomic)
/// there and back in a tight loop until finished or dropped.
pub struct Swapper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Swapper {
    /// Starts the thread on `pairs`.
    pub fn start(pairs: Vec<(PathBuf, PathBuf)>) -> Swapper {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for (a, b) in &pairs {
                    for _ in 0..2 {
                        nix::fcntl::renameat2(
                            nix::fcntl::AT_FDCWD,
                            a,
                            nix::fcntl::AT_FDCWD,
                            b,
                            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                        )
                        .expect("exchange");
                        n += 1;
                    }
                }
            }
            n
        });
        Swapper {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread; the number of exchanges it made.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().expect("swapper"))
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether this host is unified cgroup v2 (the VM tier) rather than v1 or
/// hybrid.
pub fn unified_cgroup() -> bool {
    use libcontainer::cgroups;
    cgroups::mode(&cgroups::hierarchies().expect("hierarchies")) == cgroups::Mode::Unified
}

/// Process `pid`'s directory in the hierarchy that has `ctrl` (on v2: its
/// one cgroup; `unified` names the cgroup2 directory in both modes).
pub fn cgroup_dir(pid: &str, ctrl: &str) -> PathBuf {
    use libcontainer::cgroups;
    let hs = cgroups::hierarchies().expect("hierarchies");
    let own = cgroups::parse_proc_cgroup(
        &std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup"),
    );
    let ctrl = if unified_cgroup() { "unified" } else { ctrl };
    let h = hs
        .iter()
        .find(|h| h.key.split(',').any(|c| c == ctrl))
        .unwrap_or_else(|| panic!("{ctrl} not mounted"));
    let p = own
        .iter()
        .find(|(k, _)| k.split(',').any(|c| c == ctrl))
        .expect("in hierarchy")
        .1;
    h.mountpoint.join(p.strip_prefix("/").expect("abs"))
}

/// The message of corral's (or runc's) error line on stderr: the `msg`
/// value of a logrus text line (`time="…" level=error msg="…"`), its Go
/// quoting undone; text that is not such a line comes back as it is.
pub fn error_message(stderr: &str) -> String {
    let line = stderr.trim_end();
    let Some(at) = line.find(" level=error msg=") else {
        return line.to_string();
    };
    let v = &line[at + " level=error msg=".len()..];
    let Some(q) = v.strip_prefix('"') else {
        return v.to_string();
    };
    let mut msg = String::new();
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => msg.push('\n'),
                Some('t') => msg.push('\t'),
                Some('r') => msg.push('\r'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    msg.push(u8::from_str_radix(&hex, 16).map_or('?', char::from));
                }
                Some(other) => msg.push(other),
                None => break,
            },
            c => msg.push(c),
        }
    }
    msg
}
