//! `corral man`: the man pages, generated from the clap definitions.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use crate::Cli;

/// Flags of `man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Where to write them.
    dir: PathBuf,
}

/// `corral man DIR`: corral.8 and corral-COMMAND.8 for every command,
/// written to DIR; prints the files written.
pub fn run(a: &ManArgs) -> Result<i32, String> {
    let dir = a.dir.as_path();
    std::fs::create_dir_all(dir).map_err(|e| format!("create {dir:?}: {e}"))?;
    let cmd = Cli::command();
    let write = |name: &str, page: clap::Command| -> Result<(), String> {
        let path = dir.join(format!("{name}.8"));
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .section("8")
            .render(&mut text)
            .map_err(|e| format!("render {name}: {e}"))?;
        std::fs::write(&path, text).map_err(|e| format!("write {path:?}: {e}"))?;
        crate::output::line!("{}", path.display());
        Ok(())
    };
    write("corral", cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("corral-{}", sub.get_name());
        write(&name, sub.clone().name(name.clone()))?;
    }
    Ok(0)
}
