//! `corral delete`: removes a stopped container (any, with --force).

use std::path::Path;

use clap::Args;
use libcontainer::{Container, Error};

use super::{err, Res};
use crate::logging::Logger;

/// Flags of `delete`, as runc's.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Forcibly delete the container if it is still running (uses SIGKILL).
    #[arg(long, short = 'f')]
    force: bool,
    /// Container id.
    id: String,
}

/// Runs `corral delete`.
pub fn run(root: &Path, a: &DeleteArgs, log: &mut Logger) -> Res {
    delete(root, &a.id, a.force, log)
}

fn delete(root: &Path, id: &str, force: bool, log: &mut Logger) -> Res {
    let c = match Container::load(root, id) {
        Ok(c) => c,
        // runc: deleting a missing container with --force succeeds; a
        // state dir left by a create killed before its first record goes.
        Err(Error::NotExist(_)) if force => {
            libcontainer::store::StateDir::remove_unrecorded(root, id).map_err(err)?;
            return Ok(0);
        }
        Err(e) => return Err(err(e)),
    };
    let report = match c.delete(force) {
        Err(Error::NotExist(_)) if force => return Ok(0),
        r => r.map_err(err)?,
    };
    for w in report.warnings {
        log.log("warning", &w);
    }
    Ok(0)
}
