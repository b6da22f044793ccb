//! `corral state`: the container's OCI state, as JSON.

use std::path::Path;

use clap::Args;
use libcontainer::Container;

use super::{err, Res};

/// Flags of `state`.
#[derive(Args, Debug)]
pub struct StateArgs {
    /// Container id.
    id: String,
}

/// Runs `corral state`.
pub fn run(root: &Path, a: &StateArgs) -> Res {
    let mut st = Container::load(root, &a.id).map_err(err)?.state();
    // runc's `state` leaves owner empty; only `list` fills it in.
    st.owner = String::new();
    crate::output::line!(
        "{}",
        serde_json::to_string_pretty(&st).map_err(|e| e.to_string())?
    );
    Ok(0)
}
