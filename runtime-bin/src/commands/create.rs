//! `corral create`: a container made from a bundle, its process waiting
//! for `start`.

use std::path::{Path, PathBuf};

use clap::Args;
use libcontainer::{Container, ContainerBuilder};

use super::{err, Res};
use crate::logging::Logger;

/// Flags shared by create and run.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the root of the bundle directory.
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive the pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Specify the file to write the process id to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot root to jail process inside rootfs.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total).
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

/// The library's builder for these flags (`systemd`: the global
/// `--systemd-cgroup`).
pub fn builder(root: &Path, a: &CreateArgs, systemd: bool) -> ContainerBuilder {
    ContainerBuilder::new(&a.id, root)
        .systemd_cgroup(systemd)
        .bundle(&a.bundle)
        .pid_file(a.pid_file.clone())
        .console_socket(a.console_socket.clone())
        .no_pivot(a.no_pivot)
        .no_new_keyring(a.no_new_keyring)
        .preserve_fds(a.preserve_fds)
}

/// Logs a warning for each field of the container's config that corral
/// accepted without applying it (runc warns and runs).
pub fn warn_config(c: &Container, log: &mut Logger) {
    for w in c.warnings() {
        log.log("warning", w);
    }
}

/// Runs `corral create`.
pub fn run(root: &Path, a: &CreateArgs, systemd: bool, log: &mut Logger) -> Res {
    let c = builder(root, a, systemd).create().map_err(err)?;
    warn_config(&c, log);
    log.log(
        "debug",
        &format!("created {} with init pid {:?}", c.id(), c.pid()),
    );
    Ok(0)
}
