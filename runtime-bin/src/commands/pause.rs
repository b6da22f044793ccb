//! `corral pause`: freezes every process of the container.

use std::path::Path;

use clap::Args;
use libcontainer::Container;

use super::{err, Res};

/// Flags of `pause`.
#[derive(Args, Debug)]
pub struct PauseArgs {
    /// Container id.
    id: String,
}

/// Runs `corral pause`.
pub fn run(root: &Path, a: &PauseArgs) -> Res {
    Container::load(root, &a.id)
        .map_err(err)?
        .pause()
        .map_err(err)?;
    Ok(0)
}
