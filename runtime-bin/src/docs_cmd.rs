//! Shell completions and man pages, generated from the clap definitions.

use std::path::Path;

use clap::CommandFactory;

use crate::Cli;

/// `corral completion SHELL`: the completion script on stdout.
pub fn completion(shell: clap_complete::Shell) -> Result<i32, String> {
    use std::io::Write;
    let mut cmd = Cli::command();
    // Into a buffer: clap_complete panics on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "corral", &mut script);
    let mut out = std::io::stdout();
    out.write_all(&script)
        .and_then(|_| out.flush())
        .map_err(|e| format!("write the completion script: {e}"))?;
    Ok(0)
}

/// `corral man DIR`: corral.8 and corral-COMMAND.8 for every command,
/// written to DIR; prints the files written.
pub fn man(dir: &Path) -> Result<i32, String> {
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
