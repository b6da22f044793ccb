//! `corral features`: the OCI features document of this build and host.

use super::Res;

/// Runs `corral features`.
pub fn run() -> Res {
    let doc = libcontainer::features::features();
    crate::output::line!(
        "{}",
        serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?
    );
    Ok(0)
}
