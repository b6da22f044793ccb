//! `corral`: a runc-compatible OCI container runtime.

mod commands;
mod logging;
mod signals;
mod spec_cmd;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const VERSION: &str = concat!(
    "corral version ",
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("CORRAL_COMMIT"),
    "\nspec: ",
    "1.0.2"
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
    /// Root directory for storage of container state (this should be located in tmpfs).
    #[arg(long, global = true, default_value = "/run/corral")]
    root: PathBuf,
    /// Set the log file to write corral logs to (default is stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Set the log format ('text' or 'json').
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Enable debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Enable systemd cgroup support (not supported yet: an error).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

/// Flags shared by create and run.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the root of the bundle directory.
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive the pty master.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Specify the file to write the process id to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Do not use pivot root to jail process inside rootfs.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring for the container.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total).
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Container id.
    id: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container.
    Create(CreateArgs),
    /// Execute the user defined process in a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// Output the state of a container.
    State {
        /// Container id.
        id: String,
    },
    /// Send the specified signal (default: SIGTERM) to the container's init process.
    Kill {
        /// Send the signal to all processes in the container.
        #[arg(long, short = 'a')]
        all: bool,
        /// Container id.
        id: String,
        /// Signal name or number.
        signal: Option<String>,
    },
    /// Delete any resources held by the container.
    Delete {
        /// Forcibly delete the container if it is still running (uses SIGKILL).
        #[arg(long, short = 'f')]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Create and run a container.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container's process.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Do not delete the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Suspend all processes inside the container.
    Pause {
        /// Container id.
        id: String,
    },
    /// Resume all processes that have been previously paused.
    Resume {
        /// Container id.
        id: String,
    },
    /// List containers started by corral with the given root.
    List {
        /// Select one of: table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Display only container IDs.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Create a new specification file.
    Spec {
        /// Path to the root of the bundle directory.
        #[arg(long, short = 'b')]
        bundle: Option<PathBuf>,
        /// Generate a configuration for a rootless container.
        #[arg(long)]
        rootless: bool,
    },
}

fn main() {
    libcontainer::helper::run_if_helper();
    let cli = Cli::parse();
    if cli.version {
        println!("{VERSION}");
        return;
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
            log.log("error", &e);
            1
        }
    };
    std::process::exit(code);
}
