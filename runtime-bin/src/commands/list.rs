//! `corral list`: the containers under `--root`, as a table or JSON.

use clap::Args;
use libcontainer::{Container, State};

use super::{err, Res};
use crate::Cli;

/// Flags of `list`, as runc's.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Select one of: table or json.
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// Display only container IDs.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Runs `corral list`.
///
/// A `--root` the user named must exist (runc 1.2: "report a non-existent
/// custom --root"); the default one may not yet, before the first
/// container, and lists nothing.
pub fn run(cli: &Cli, a: &ListArgs) -> Res {
    let root = cli.root();
    if cli.root.is_some() {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("--root {}: not a directory", root.display())),
            Err(e) => return Err(format!("--root {}: {e}", root.display())),
        }
    }
    list(root, &a.format, a.quiet)
}

fn list(root: &std::path::Path, format: &str, quiet: bool) -> Res {
    let states: Vec<State> = Container::list(root)
        .map_err(err)?
        .iter()
        .map(|c| c.state())
        .collect();
    if quiet {
        for s in &states {
            crate::output::line!("{}", s.id);
        }
        return Ok(0);
    }
    match format {
        "json" => {
            // runc prints null for no containers.
            // The states as their struct orders the fields (ociVersion,
            // id, pid, status, bundle, rootfs, created, owner), as runc's.
            let v = if states.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&states).map_err(|e| e.to_string())?
            };
            crate::output::line!("{v}");
        }
        "table" => {
            let mut rows =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
            for s in &states {
                rows.push([
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.to_string(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            print!("{}", table(&rows));
        }
        other => {
            return Err(format!(
                "invalid format option {other:?}: use table or json"
            ))
        }
    }
    Ok(0)
}

/// Lays out rows as Go's tabwriter (minwidth 12, padding 3) does for runc.
fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len() + 3).max(12);
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}
