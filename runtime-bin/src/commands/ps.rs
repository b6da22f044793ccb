//! `corral ps`: the container's processes, as pids (json) or `ps` rows.

use std::path::Path;

use clap::Args;
use libcontainer::Container;

/// Flags of `ps`, as runc's.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Select one of: table or json.
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// Container id.
    id: String,
    /// Options passed to ps (table format).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// `corral ps`: json prints the pids; table runs `ps` and keeps the
/// container's rows, as runc does.
pub fn run(root: &Path, a: &PsArgs) -> Result<i32, String> {
    let (format, ps_args) = (a.format.as_str(), &a.ps_args);
    let c = Container::load(root, &a.id).map_err(|e| e.to_string())?;
    let pids = c.cgroup_manager().pids().map_err(|e| e.to_string())?;
    match format {
        "json" => {
            crate::output::line!(
                "{}",
                serde_json::to_string(&pids).map_err(|e| e.to_string())?
            );
            Ok(0)
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            // By fork and exec where clone3 is refused (glibc's posix_spawn
            // would fail there).
            let o = libcontainer::process::spawn::portable(&mut std::process::Command::new("ps"))
                .args(&args)
                .output()
                .map_err(|e| format!("run ps: {e}"))?;
            if !o.status.success() {
                return Err(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            let text = String::from_utf8_lossy(&o.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| "couldn't find PID field in ps output".to_string())?;
            crate::output::line!("{header}");
            for l in lines {
                let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    crate::output::line!("{l}");
                }
            }
            Ok(0)
        }
        other => Err(format!(
            "invalid format option {other:?}: use table or json"
        )),
    }
}
