//! The subcommands, one file each: a command's flags (its clap `Args`)
//! and its argument handling and output. The work is libcontainer's.

mod check;
mod completion;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod man;
mod netns;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use clap::Subcommand;

use crate::logging::Logger;
use crate::Cli;

/// A command's result: its exit code, or the message of its failure.
pub type Res = Result<i32, String>;

/// How a command failed: the message, and the exit status (1, but 255
/// when `exec` fails before its process runs, as runc's).
#[derive(Debug)]
pub struct Failure {
    /// What failed.
    pub msg: String,
    /// The exit status.
    pub code: i32,
}

impl From<String> for Failure {
    fn from(msg: String) -> Failure {
        Failure { msg, code: 1 }
    }
}

/// A library error as the message the command fails with.
pub fn err(e: libcontainer::Error) -> String {
    e.to_string()
}

/// The commands, as runc's (and corral's own: check, netns, completion, man).
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a container.
    Create(create::CreateArgs),
    /// Execute the user defined process in a created container.
    Start(start::StartArgs),
    /// Output the state of a container.
    State(state::StateArgs),
    /// Send the specified signal (default: SIGTERM) to the container's init process.
    Kill(kill::KillArgs),
    /// Delete any resources held by the container.
    Delete(delete::DeleteArgs),
    /// Create and run a container.
    Run(run::RunArgs),
    /// Display the processes running inside a container.
    Ps(ps::PsArgs),
    /// Display container events such as OOM notifications and resource usage statistics.
    Events(events::EventsArgs),
    /// Update container resource constraints.
    Update(update::UpdateArgs),
    /// Show the enabled features (the OCI features document).
    Features,
    /// Publish the container's network namespace as /var/run/netns/ID, for
    /// `ip netns exec ID …`; removed when the container is deleted.
    Netns(netns::NetnsArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or
    /// powershell.
    Completion(completion::CompletionArgs),
    /// Write the man pages (corral.8 and corral-COMMAND.8) to a directory.
    Man(man::ManArgs),
    /// Diagnose this host: kernel features, cgroup controllers, namespaces
    /// and LSMs; exit status 1 when something corral needs is missing.
    Check(check::CheckArgs),
    /// Execute new process inside the container.
    Exec(exec::ExecArgs),
    /// Suspend all processes inside the container.
    Pause(pause::PauseArgs),
    /// Resume all processes that have been previously paused.
    Resume(resume::ResumeArgs),
    /// List containers started by corral with the given root.
    List(list::ListArgs),
    /// Create a new specification file.
    Spec(spec::SpecArgs),
}

impl Cmd {
    /// The `--preserve-fds` of a command that hands fds to a container.
    pub fn preserve_fds(&self) -> u32 {
        match self {
            Cmd::Create(a) => a.preserve_fds,
            Cmd::Run(a) => a.create.preserve_fds,
            Cmd::Exec(a) => a.preserve_fds,
            _ => 0,
        }
    }
}

/// Runs the command of `cli`; returns the exit code.
pub fn dispatch(cli: &Cli, log: &mut Logger) -> Result<i32, Failure> {
    match cli.rootless.as_deref() {
        None | Some("false") | Some("auto") if nix::unistd::geteuid().is_root() => {}
        None | Some("false") => {}
        Some(v) => {
            return Err(format!(
                "--rootless {v}: rootless containers are not supported by this version of corral"
            )
            .into())
        }
    }
    if cli.criu.is_some() {
        return Err(
            "--criu: checkpoint and restore are not supported by this version of corral"
                .to_string()
                .into(),
        );
    }
    let root = cli.root();
    let Some(cmd) = &cli.cmd else {
        return Err("no command given: see corral --help".to_string().into());
    };
    log.log("debug", &format!("root {root:?}, command {cmd:?}"));
    // Published network namespaces whose container is gone (a delete or
    // create that crashed) go first, whatever the command.
    for id in libcontainer::netns::sweep(root) {
        log.log("warning", &format!("removed the stale /var/run/netns/{id}"));
    }
    let r = match cmd {
        // The process never ran: 255, which containerd and runc's tests
        // tell from the process's own exit status (runc: "exec failed: …").
        Cmd::Exec(a) => {
            return exec::run(root, a, log).map_err(|m| Failure {
                msg: format!("exec failed: {m}"),
                code: 255,
            })
        }
        Cmd::Create(a) => create::run(root, a, cli.systemd_cgroup, log),
        Cmd::Start(a) => start::run(root, a),
        Cmd::State(a) => state::run(root, a),
        Cmd::Kill(a) => kill::run(root, a),
        Cmd::Delete(a) => delete::run(root, a, log),
        Cmd::Run(a) => run::run(root, a, cli.systemd_cgroup, log),
        Cmd::Ps(a) => ps::run(root, a),
        Cmd::Events(a) => events::run(root, a),
        Cmd::Update(a) => update::run(root, a),
        Cmd::Features => features::run(),
        Cmd::Netns(a) => netns::run(root, a),
        Cmd::Completion(a) => completion::run(a),
        Cmd::Man(a) => man::run(a),
        Cmd::Check(a) => check::run(a),
        Cmd::Pause(a) => pause::run(root, a),
        Cmd::Resume(a) => resume::run(root, a),
        Cmd::List(a) => list::run(cli, a),
        Cmd::Spec(a) => spec::run(a),
    };
    Ok(r?)
}
