//! `corral netns`: publishes the container's network namespace for
//! `ip netns`.

use std::path::Path;

use clap::Args;
use libcontainer::Container;

use super::{err, Res};

/// Flags of `netns`.
#[derive(Args, Debug)]
pub struct NetnsArgs {
    /// Container id.
    id: String,
}

/// Runs `corral netns`.
pub fn run(root: &Path, a: &NetnsArgs) -> Res {
    let path = Container::load(root, &a.id)
        .map_err(err)?
        .publish_netns()
        .map_err(err)?;
    crate::output::line!("{}", path.display());
    Ok(0)
}
