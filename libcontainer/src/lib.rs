#![warn(missing_docs)]
//! libcontainer: turns an OCI bundle into a running container.
//!
//! This is the library under the `corral` binary and the
//! `containerd-shim-corral-v2` shim. It implements the OCI runtime-spec
//! (1.3) on Linux: namespaces, cgroups v1 and v2, the root file system and
//! mounts, devices, capabilities, rlimits, seccomp, hooks and terminals.
//!
//! # A container's life
//!
//! ```
//! # // Runs for real in `cargo test` (as root, with busybox-static): a
//! # // bundle from the repository's fixtures.
//! # let dir = std::env::temp_dir().join(format!("libcontainer-doc-{}", std::process::id()));
//! # let st = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/build-bundle.sh"))
//! #     .arg(dir.join("bundle")).env("ARGS", r#"["/bin/sh", "-c", "exit 7"]"#)
//! #     .stdout(std::process::Stdio::null()).status().expect("build-bundle.sh");
//! # assert!(st.success());
//! # let bundle = dir.join("bundle");
//! # let root = dir.join("state");
//! use libcontainer::{helper, ContainerBuilder, Status};
//!
//! helper::run_if_helper(); // first thing in main (see below)
//! libcontainer::process::seal::seal_self()?; // then this (see below)
//! // create: the init is made and set up, and waits for start.
//! let mut c = ContainerBuilder::new("demo", &root).bundle(&bundle).create()?;
//! assert_eq!(c.status(), Status::Created);
//! let pid = c.pid().expect("the init's pid");
//! // start: the init execs the config's process.
//! c.start()?;
//! // Our child: wait for it as for any child.
//! assert_eq!(libcontainer::wait_exit_code(pid)?, 7);
//! assert_eq!(c.status(), Status::Stopped);
//! // delete: cgroups and state go, poststop hooks run.
//! c.delete(false)?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), libcontainer::Error>(())
//! ```
//!
//! [`ContainerBuilder::create`] loads and validates `config.json` (see
//! [`spec`]), writes the container's record under the state root (see
//! [`store`]: one directory per container, `state.json` written atomically,
//! a lock taken by every command that changes the container), makes its
//! cgroups (see [`cgroups`]), and clones the init with every new namespace
//! in one `clone3`. The init and its creator speak over a socket pair: the
//! creator writes the id maps, moves the init into its cgroups and applies
//! the resources while the init makes its mounts; the init then enters its
//! root, sets its process context (rlimits, LSM label, capabilities,
//! seccomp last) and opens the exec fifo, where it blocks until
//! [`Container::start`]. Any failure on the way undoes everything made:
//! no state directory, cgroup, mount or process is left. A creator killed
//! midway leaves a record marked as creating, which [`Container::load`]
//! recognises (see [`faults`] for the crash points the tests use).
//!
//! # What each type owns
//!
//! - [`ContainerBuilder`]: the options of a create (id, state root, bundle,
//!   console socket, pid file, preserved fds, stdio).
//! - [`Container`]: one container's record, loaded from its state
//!   directory; every method reads the kernel for the current status
//!   ([`Container::status`]), so a `Container` never goes stale in what it
//!   reports. [`Container::exec`] starts another process in it,
//!   [`Container::stats`] and [`Container::events`] read its cgroups,
//!   [`Container::update`] changes its resources, [`Container::kill`],
//!   [`Container::pause`], [`Container::resume`], [`Container::delete`].
//! - [`cgroups::CgroupState`]: the container's cgroup directories, and
//!   which of them corral made (only those are removed);
//!   [`cgroups::Manager`] (from [`Container::cgroup_manager`]): what its
//!   cgroup back end (v1 or v2) does with them.
//! - [`store::StateDir`]: the state directory and its lock.
//!
//! # Threads
//!
//! Creating a container and exec'ing into one fork the calling process, and
//! forking is only safe in a single-threaded process. From a
//! multi-threaded caller, [`ContainerBuilder::create`] and
//! [`Container::exec`] therefore go through a single-threaded helper
//! process — the caller's own executable, which must call
//! [`helper::run_if_helper`] first thing in `main` (see [`helper`]). Every
//! other operation (load, status, state, kill, pause, resume, stats,
//! events, update, delete) is safe from any thread; operations that change
//! a container take its lock, so two processes or threads never change one
//! container at once. `Container` is `Send` and `Sync`.
//!
//! # The runtime's own executable
//!
//! Whatever enters a container is a clone of the creating process, so that
//! process must not run from a file a container could reopen for writing
//! through `/proc/PID/exe` (CVE-2019-5736). A program that embeds
//! libcontainer calls [`process::seal::seal_self`] at the start of `main`,
//! after [`helper::run_if_helper`] (which seals a helper itself): it
//! re-executes the process once from a read-only detached bind of its
//! executable, or a sealed memfd copy where that cannot be made. Create
//! and exec refuse to clone from an unsealed image
//! ([`process::seal::require_sealed`]).
//!
//! # Errors
//!
//! The library never prints and never exits: every failure is an
//! [`Error`], whose message is one line naming what failed.
//! [`Error::Spec`] is invalid configuration (it names the JSON path and the
//! value); [`Error::Unsupported`] is a valid configuration this host or
//! version cannot honour (a missing cgroup controller, a foreign seccomp
//! architecture) — never silently ignored; [`Error::NotExist`],
//! [`Error::Exists`], [`Error::InvalidId`], [`Error::BadState`] and
//! [`Error::NotRunning`] are about the container's identity and status;
//! [`Error::Init`] is a failure reported by the container's init during
//! create or start (a mount, the program to exec); [`Error::Sys`] and
//! [`Error::Io`] are system calls and file operations that failed, with
//! what they were for.
//!
//! # Examples
//!
//! `libcontainer/examples/`: `run` (run a container and wait for it),
//! `exec` (run a process in it), `stats` (its cgroup statistics), `events`
//! (its statistics and OOM events as a stream).

pub mod cgroups;
pub mod check;
pub mod container;
pub mod error;
pub mod events;
pub mod exec;
pub mod faults;
pub mod features;
pub mod hooks;
pub mod idmap;
pub mod lsm;
pub mod mechanisms;
pub mod namespaces;
pub mod netdev;
pub mod netns;
pub mod newer;
pub mod passwd;
mod proc_mounts;
pub mod procattr;
pub mod process;
mod procfile;
pub mod rootfs;
pub mod run;
pub mod seccomp;
pub mod security;
pub mod spec;
pub mod store;
mod sys;
pub mod tty;

pub use container::{Container, ContainerBuilder, DeleteReport, State, Status, OCI_VERSION};
pub use error::{Error, Result};
pub use exec::{Exec, ExecOptions};
pub use process::helper;

/// Waits for a child process of the caller (the init after a direct
/// create) and returns its exit status the way a shell reports it: the exit
/// code, or 128+N when killed by signal N.
pub fn wait_exit_code(pid: i32) -> Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(format!("wait for {pid}"), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The crate guide promises this.
    #[test]
    fn container_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::Container>();
    }
}
