//! `corral check`: what this host gives corral, and which mechanism each
//! feature uses.

use clap::Args;

use super::Res;

/// Flags of `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Output format: table or json.
    #[arg(long, short = 'f', default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

/// Runs `corral check`; exit status 1 when something corral needs is
/// missing.
pub fn run(a: &CheckArgs) -> Res {
    let r = libcontainer::check::check();
    if a.format == "json" {
        crate::output::line!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
        );
    } else {
        crate::output::line!("{}", r.table());
    }
    Ok(if r.ok { 0 } else { 1 })
}
