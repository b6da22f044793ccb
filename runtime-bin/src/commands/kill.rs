//! `corral kill`: a signal to the container's init, or to all its
//! processes.

use std::path::Path;

use clap::Args;
use libcontainer::Container;

use super::{err, Res};
use crate::signals;

/// Flags of `kill`, as runc's.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Send the signal to all processes in the container.
    #[arg(long, short = 'a')]
    all: bool,
    /// Container id.
    id: String,
    /// Signal name or number.
    signal: Option<String>,
}

/// Runs `corral kill`.
pub fn run(root: &Path, a: &KillArgs) -> Res {
    let sig = signals::parse(a.signal.as_deref().unwrap_or("SIGTERM"))?;
    Container::load(root, &a.id)
        .map_err(err)?
        .kill(sig, a.all)
        .map_err(err)?;
    Ok(0)
}
