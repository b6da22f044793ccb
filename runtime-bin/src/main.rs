//! `corral`: a runc-compatible OCI container runtime.

mod commands;
mod docs_cmd;
mod exec_cmd;
mod inspect_cmds;
mod logging;
mod output;
mod signals;
mod spec_cmd;
mod update_cmd;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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

/// Flags of `exec`, as runc's.
#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// Path to an AF_UNIX socket which will receive the pty master.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Current working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Set environment variables (KEY=VALUE).
    #[arg(long, short = 'e')]
    env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(long, short = 't')]
    tty: bool,
    /// UID (format: <uid>[:<gid>]).
    // Hyphen values reach the parser, which names the flag in its refusal
    // of `-u -1` (clap would call it an unknown argument).
    #[arg(long, short = 'u', allow_hyphen_values = true)]
    user: Option<String>,
    /// Additional gids.
    #[arg(long = "additional-gids", short = 'g', allow_hyphen_values = true,
          value_parser = exec_cmd::parse_gid_arg)]
    additional_gids: Vec<u32>,
    /// Path to the process.json.
    #[arg(long, short = 'p')]
    process: Option<PathBuf>,
    /// Detach from the container's process.
    #[arg(long, short = 'd')]
    detach: bool,
    /// Specify the file to write the process id to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Set the SELinux label of the process.
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// Set the AppArmor profile of the process.
    #[arg(long)]
    apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Add a capability to the bounding, effective and permitted sets.
    #[arg(long, short = 'c')]
    cap: Vec<String>,
    /// Pass N additional file descriptors to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Container id.
    id: String,
    /// Command and arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Flags of `update`, as runc's.
#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    /// Path to a file with the resources to update (JSON, as linux.resources); "-" reads stdin.
    #[arg(long, short = 'r')]
    resources: Option<PathBuf>,
    /// Specifies per cgroup weight, range is from 10 to 1000.
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU CFS period to be used for hardcapping (in usecs).
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight vs. other containers).
    #[arg(long = "cpu-share")]
    cpu_share: Option<u64>,
    /// CPU realtime period to be used for hardcapping (in usecs).
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// CPU realtime hardcap limit (in usecs).
    #[arg(long = "cpu-rt-runtime")]
    cpu_rt_runtime: Option<i64>,
    /// CPU(s) to use.
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory node(s) to use.
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Kernel memory limit (refused: kernels since 5.16 ignore it).
    #[arg(long = "kernel-memory")]
    kernel_memory: Option<String>,
    /// Kernel memory limit for TCP buffers (in bytes).
    #[arg(long = "kernel-memory-tcp")]
    kernel_memory_tcp: Option<String>,
    /// Memory limit (in bytes, or with k, m, g).
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes).
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); -1 for unlimited swap.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container.
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// The string of Intel RDT/CAT L3 cache schema (refused: no RDT support).
    #[arg(long = "l3-cache-schema")]
    l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema (refused: no RDT support).
    #[arg(long = "mem-bw-schema")]
    mem_bw_schema: Option<String>,
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
        /// Do not make corral the subreaper of the container's processes.
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Display the processes running inside a container.
    Ps {
        /// Select one of: table or json.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Container id.
        id: String,
        /// Options passed to ps (table format).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Display container events such as OOM notifications and resource usage statistics.
    Events {
        /// Display the container's stats then exit.
        #[arg(long)]
        stats: bool,
        /// Set the stats collection interval.
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Container id.
        id: String,
    },
    /// Update container resource constraints.
    Update(UpdateArgs),
    /// Show the enabled features (the OCI features document).
    Features,
    /// Publish the container's network namespace as /var/run/netns/ID, for
    /// `ip netns exec ID …`; removed when the container is deleted.
    Netns {
        /// Container id.
        id: String,
    },
    /// Print the shell completion script for bash, zsh, fish, elvish or
    /// powershell.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (corral.8 and corral-COMMAND.8) to a directory.
    Man {
        /// Where to write them.
        dir: std::path::PathBuf,
    },
    /// Diagnose this host: kernel features, cgroup controllers, namespaces
    /// and LSMs; exit status 1 when something corral needs is missing.
    Check {
        /// Output format: table or json.
        #[arg(long, short = 'f', default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Execute new process inside the container.
    Exec(ExecArgs),
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
    // A command that makes processes inside a container runs from a sealed
    // image of this binary, so that none of them has the host's file as
    // its executable (CVE-2019-5736): this re-executes it once, before
    // anything else is done twice. The other commands make nothing a
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
