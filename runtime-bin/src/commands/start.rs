//! `corral start`: runs the user process of a created container.

use std::path::Path;

use clap::Args;
use libcontainer::Container;

use super::{err, Res};

/// Flags of `start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Container id.
    id: String,
}

/// Runs `corral start`.
pub fn run(root: &Path, a: &StartArgs) -> Res {
    Container::load(root, &a.id)
        .map_err(err)?
        .start()
        .map_err(err)?;
    Ok(0)
}
