//! `exec`: a new process in a running container. [`Container::exec`]
//! checks the container's status and the options, then runs the process
//! through the helper (from a multi-threaded caller) or here (see
//! `process::exec`).

use std::path::PathBuf;

use crate::container::{Container, Status};
use crate::error::{Error, Result};
use crate::process::helper::client as helper;

pub use crate::process::exec::{Exec, ExecOptions};

impl Container {
    /// Starts `opts.process` in this container and returns once it has
    /// exec'd (or failed, with the reason). The caller must be
    /// single-threaded (the `corral` CLI is); it waits for the process
    /// itself, as its parent or, when a PID namespace needs an extra fork,
    /// as a subreaper.
    pub fn exec(&self, opts: ExecOptions) -> Result<Exec> {
        if helper::is_multithreaded() {
            // Forking here is unsafe: a single-threaded helper does it, and
            // the process is reparented to the caller (make it a subreaper
            // to wait for it).
            if opts.console_to_caller {
                return Err(Error::Other(
                    "a multi-threaded caller gets an exec's terminal through a console socket"
                        .into(),
                ));
            }
            let helper = opts
                .helper
                .clone()
                .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
            let pid = helper::exec(&helper, self.root(), self.id(), &opts, opts.stdio)?;
            return Ok(Exec { pid, console: None });
        }
        // The process is a clone of this one: never of a writable image.
        crate::process::seal::require_sealed()?;
        match self.status() {
            Status::Stopped => return Err(Error::NotRunning),
            // Its init may not have entered its root yet.
            Status::Creating => {
                return Err(Error::BadState {
                    id: self.id().to_string(),
                    status: "creating".into(),
                    msg: "cannot exec in a container that is being created".into(),
                })
            }
            Status::Paused if !opts.ignore_paused => {
                return Err(Error::BadState {
                    id: self.id().to_string(),
                    status: "paused".into(),
                    msg: "cannot exec in a paused container (use --ignore-paused)".into(),
                })
            }
            _ => {}
        }
        let p = &opts.process;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::spec("process.args", "empty: nothing to execute"));
        }
        if !p.cwd().is_absolute() {
            return Err(Error::spec(
                "process.cwd",
                format!("{:?} is not an absolute path", p.cwd()),
            ));
        }
        let terminal = p.terminal().unwrap_or(false);
        if terminal && opts.console_socket.is_none() && !opts.console_to_caller {
            return Err(Error::spec(
                "process.terminal",
                "true, but no console socket was given",
            ));
        }
        let init_pid = self.pid().ok_or(Error::NotRunning)?;
        let alive = || self.status() != Status::Stopped;
        crate::process::exec::run(
            &crate::process::exec::Target {
                init_pid,
                cgroups: self.cgroups(),
                spec: self.spec(),
                extra_seccomp_flags: self.extra_seccomp_flags(),
                alive: &alive,
            },
            opts,
        )
    }
}
