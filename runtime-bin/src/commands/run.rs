//! `corral run`: create and start in one, in the foreground (relaying
//! signals, the terminal and the exit status) or detached.

use std::path::Path;

use clap::Args;
use libcontainer::Container;

use super::create::{builder, warn_config, CreateArgs};
use super::{err, Res};
use crate::logging::Logger;

/// Flags of `run`, as runc's.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub(crate) create: CreateArgs,
    /// Detach from the container's process.
    #[arg(long, short = 'd')]
    detach: bool,
    /// Do not delete the container after it exits.
    #[arg(long)]
    keep: bool,
    /// Do not make corral the subreaper of the container's processes.
    #[arg(long = "no-subreaper")]
    no_subreaper: bool,
}

/// Runs `corral run`.
pub fn run(root: &Path, r: &RunArgs, systemd: bool, log: &mut Logger) -> Res {
    run_container(
        root,
        &r.create,
        systemd,
        r.detach,
        r.keep,
        r.no_subreaper,
        log,
    )
}

fn run_container(
    root: &Path,
    a: &CreateArgs,
    systemd: bool,
    detach: bool,
    keep: bool,
    no_subreaper: bool,
    log: &mut Logger,
) -> Res {
    if detach {
        let mut c = builder(root, a, systemd).create().map_err(err)?;
        warn_config(&c, log);
        if let Err(e) = c.start() {
            let _ = c.delete(true);
            return Err(err(e));
        }
        return Ok(0);
    }
    // As subreaper, corral can wait for an init forked by an intermediate
    // process (a joined PID namespace); --no-subreaper opts out, as in runc.
    if !no_subreaper {
        libcontainer::run::become_subreaper().map_err(err)?;
    }
    // With a terminal and no console socket, the pty comes to us and we
    // relay it to our own stdio, as runc does.
    let (mut c, console) = builder(root, a, systemd)
        .create_with_console()
        .map_err(err)?;
    warn_config(&c, log);
    // Relayed to our stdio: "\n" stays "\n", as runc's (before start, so
    // the first byte the process writes is already under it).
    if let Some(m) = &console {
        use std::os::fd::AsRawFd;
        if let Err(e) = libcontainer::tty::clear_onlcr(m.as_raw_fd()) {
            let _ = c.delete(true);
            return Err(err(e));
        }
    }
    let pid = c.pid().unwrap_or(0);
    let fwd = match libcontainer::run::Forwarder::new() {
        Ok(f) => f,
        Err(e) => {
            let _ = c.delete(true);
            return Err(err(e));
        }
    };
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(err(e));
    }
    let code = fwd.wait_with_console(pid, console).map_err(err)?;
    if !keep {
        let c = Container::load(root, &a.id).map_err(err)?;
        let report = c.delete(true).map_err(err)?;
        for w in report.warnings {
            log.log("warning", &w);
        }
    }
    Ok(code)
}
