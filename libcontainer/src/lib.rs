//! libcontainer: turns an OCI bundle into a running container.
//!
//! ```no_run
//! use libcontainer::{helper, Container, ContainerBuilder};
//! helper::run_if_helper(); // first thing in main
//! let mut c = ContainerBuilder::new("demo", "/run/corral").bundle("/path/to/bundle").create()?;
//! c.start()?;
//! println!("{:?}", c.state());
//! # Ok::<(), libcontainer::Error>(())
//! ```
//!
//! The library never prints and never exits; every failure is an [`Error`].
//! It is synchronous. From a multi-threaded caller, create goes through a
//! single-threaded helper process (see [`helper`]).

pub mod cgroups;
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod channel;
#[cfg(not(feature = "fuzz"))]
mod channel;
pub mod check;
pub mod container;
pub mod error;
pub mod exec;
pub mod faults;
pub mod features;
pub mod helper;
pub mod hooks;
pub mod idmap;
mod init;
pub mod lsm;
pub mod namespaces;
pub mod netdev;
pub mod netns;
pub mod procattr;
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
