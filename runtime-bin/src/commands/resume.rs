//! `corral resume`: thaws a paused container.

use std::path::Path;

use clap::Args;
use libcontainer::Container;

use super::{err, Res};

/// Flags of `resume`.
#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// Container id.
    id: String,
}

/// Runs `corral resume`.
pub fn run(root: &Path, a: &ResumeArgs) -> Res {
    Container::load(root, &a.id)
        .map_err(err)?
        .resume()
        .map_err(err)?;
    Ok(0)
}
