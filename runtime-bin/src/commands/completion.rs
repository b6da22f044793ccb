//! `corral completion`: the shell completion script, generated from the
//! clap definitions.

use clap::{Args, CommandFactory};

use crate::Cli;

/// Flags of `completion`.
#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

/// `corral completion SHELL`: the completion script on stdout.
pub fn run(a: &CompletionArgs) -> Result<i32, String> {
    let shell = a.shell;
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
