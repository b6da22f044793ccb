//! `exec` pins the container's init: when the init dies and its pid goes
//! to another process between the load of the container and the opening of
//! its namespaces, exec refuses ("container not running") instead of
//! joining the other process's namespaces.
//!
//! Deterministic: exec stops at a debug-build stall point
//! (`CORRAL_TEST_EXEC_STALL`, see libcontainer's process/exec.rs); the test kills
//! the init there, gives its pid to an impostor (`clone3` with `set_tid`)
//! in a UTS namespace of its own named "impostor", and lets exec go on.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use integration::{assert_nothing_left, out, Env};

/// A process holding a given pid, in its own UTS namespace whose hostname
/// is "impostor"; killed and reaped on drop.
struct Impostor(i32);

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

impl Impostor {
    /// Takes `pid` (free now); Err when the kernel will not give it.
    fn take(pid: i32) -> Result<Impostor, nix::errno::Errno> {
        let (r, w) = nix::unistd::pipe()?;
        let tid: libc::pid_t = pid;
        let args = CloneArgs {
            flags: libc::CLONE_NEWUTS as u64,
            exit_signal: libc::SIGCHLD as u64,
            set_tid: &tid as *const libc::pid_t as u64,
            set_tid_size: 1,
            ..Default::default()
        };
        let wfd = w.as_raw_fd();
        // SAFETY: clone3 without a stack forks; the child (of this
        // multi-threaded test process) makes only raw system calls —
        // sethostname, write, pause — and never returns into Rust code.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if ret == 0 {
            // SAFETY: see above; static buffers, raw syscalls only.
            unsafe {
                libc::sethostname(c"impostor".as_ptr(), 8);
                libc::write(wfd, c"x".as_ptr().cast(), 1);
                loop {
                    libc::pause();
                }
            }
        }
        if ret < 0 {
            return Err(nix::errno::Errno::last());
        }
        let imp = Impostor(ret as i32);
        drop(w);
        // Ready once its hostname is set (5 s at most).
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&r),
            nix::poll::PollFlags::POLLIN,
        )];
        let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap_or(0);
        assert_eq!(n, 1, "the impostor did not get ready");
        assert_eq!(imp.0, pid);
        Ok(imp)
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let p = nix::unistd::Pid::from_raw(self.0);
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(p, None);
    }
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn gone(pid: i32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Kills the process on drop (an exec stuck at its stall point).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn reused_pid_at(stage: &str) {
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.create();
    assert!(env.corral(&["start", &id]).status.success());
    let pid = env.state(&id)["pid"].as_i64().expect("pid") as i32;
    let stall = env.scratch.join(format!("stall-{stage}"));
    std::fs::create_dir_all(&stall).expect("mkdir");
    let (o, e) = (env.scratch.join("exec.out"), env.scratch.join("exec.err"));
    let mut cmd = env.corral_cmd(&["exec", &id, "hostname"]);
    cmd.env(
        "CORRAL_TEST_EXEC_STALL",
        format!("{stage}:{}", stall.display()),
    )
    .stdout(std::fs::File::create(&o).expect("out"))
    .stderr(std::fs::File::create(&e).expect("err"));
    let mut exec = KillOnDrop(cmd.spawn().expect("spawn exec"));
    wait_for(
        &format!("exec reaching {stage}"),
        Duration::from_secs(20),
        || stall.join("stalled").exists(),
    );

    // The init dies (reaped by its parent, pid 1) and its pid goes to the
    // impostor.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the init");
    wait_for("the init reaped", Duration::from_secs(10), || gone(pid));
    let impostor = match Impostor::take(pid) {
        Ok(i) => Some(i),
        // Another process got the pid first: exec must refuse all the same.
        Err(err) => {
            eprintln!("{stage}: pid {pid} not taken over ({err}); exec must still refuse");
            None
        }
    };
    std::fs::write(stall.join("go"), "").expect("go");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = exec.0.try_wait().expect("wait exec") {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "exec did not end");
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (
        std::fs::read_to_string(&o).unwrap_or_default(),
        std::fs::read_to_string(&e).unwrap_or_default(),
    );
    assert!(
        !stdout.contains("impostor"),
        "{stage}: exec joined the namespaces of the process that reused the init's pid: {stdout:?}"
    );
    assert!(!status.success(), "{stage}: exec succeeded: {stdout:?}");
    assert!(
        stderr.contains("container not running"),
        "{stage}: {stderr:?}"
    );
    drop(impostor);
    let d = env.corral(&["delete", "--force", &id]);
    assert!(d.status.success(), "{}", out(&d.stderr));
    assert_nothing_left(&env, &id);
}

#[test]
fn exec_refuses_a_reused_pid_before_the_pidfd() {
    reused_pid_at("exec-loaded");
}

#[test]
fn exec_refuses_a_reused_pid_after_the_pidfd() {
    reused_pid_at("exec-pinned");
}

#[test]
fn impostor_sanity() {
    // The test's own tool works: an impostor is where it claims to be.
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let pid = child.id() as i32;
    child.wait().expect("wait");
    let imp = Impostor::take(pid).expect("take a freed pid");
    let uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).expect("uts");
    assert_ne!(
        uts,
        std::fs::read_link("/proc/self/ns/uts").expect("own uts")
    );
    drop(imp);
}
