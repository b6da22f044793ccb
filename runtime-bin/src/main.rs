//! `corral`: a runc-compatible OCI container runtime.

mod commands;
mod logging;
mod output;
mod signals;

use std::path::PathBuf;

use clap::Parser;

use commands::Cmd;

const VERSION: &str = concat!(
    "corral version ",
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("CORRAL_COMMIT"),
    "\nspec: ",
    "1.3.0"
);

/// corral: an OCI container runtime, a drop-in for runc.
#[derive(Parser, Debug)]
#[command(
    name = "corral",
    about,
    disable_version_flag = true,
    subcommand_required = false
)]
pub struct Cli {
    /// Print the version (corral version, commit, spec).
    #[arg(long, short = 'v')]
    version: bool,
    /// Root directory for storage of container state (this should be located in tmpfs)
    /// [default: /run/corral]
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Set the log file to write corral logs to (default is stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Set the log format ('text' or 'json').
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Enable debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name" for e.g. "system.slice:runc:434234".
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (corral runs as root; true is an error until rootless lands).
    /// Given before the command, as runc's (`spec --rootless` is spec's own flag).
    #[arg(long = "rootless", id = "global_rootless")]
    rootless: Option<String>,
    /// Path to the criu binary used for checkpoint and restore (not supported yet: an error).
    #[arg(long, global = true)]
    criu: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

/// Where state lives when `--root` is not given.
const DEFAULT_ROOT: &str = "/run/corral";

impl Cli {
    /// The state root: `--root`, else [`DEFAULT_ROOT`].
    fn root(&self) -> &std::path::Path {
        self.root
            .as_deref()
            .unwrap_or(std::path::Path::new(DEFAULT_ROOT))
    }
}

fn main() {
    corral_entry::linked();
    libcontainer::helper::run_if_helper();
    // A command that makes processes inside a container runs from a sealed
    // image of this binary, so that none of them has the host's file as
    // its executable (CVE-2019-5736): this re-executes it once, before
    // anything else is done twice. On x86_64 the entry point before the C
    // library (corral-entry) has usually done it already, and this only
    // checks and adopts its mount. The other commands make nothing a
    // container can see and skip the exec. The test is on the raw
    // arguments (parsing them first would be paid twice): a container id
    // or program argument that reads "run" only costs a needless seal,
    // and a create, run or exec that were not caught would be refused by
    // the library (`require_sealed`), never run unsealed.
    if std::env::args_os()
        .skip(1)
        .any(|a| a == "create" || a == "run" || a == "exec")
    {
        if let Err(e) = libcontainer::process::seal::seal_self() {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help (and clap's own version output): not an error.
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            // A usage error is one line and exit status 1, as with runc.
            // clap's message is the lines before the first blank one.
            let text = e.to_string();
            let msg: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("{} (see corral --help)", msg.join(" "));
            std::process::exit(1);
        }
    };
    if cli.version {
        println!("{VERSION}");
        return;
    }

    // The fds the container is to get are the caller's or nothing: none
    // of ours (the log file first) may take a number among them.
    if let Some(n) = cli.cmd.as_ref().map(commands::Cmd::preserve_fds) {
        if let Err(e) = libcontainer::process::preserved_fds::reserve(n) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    let mut log = match logging::Logger::new(cli.log.as_deref(), &cli.log_format, cli.debug) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let code = match commands::dispatch(&cli, &mut log) {
        Ok(code) => code,
        Err(e) => {
            log.log("error", &e.msg);
            e.code
        }
    };
    std::process::exit(code);
}
