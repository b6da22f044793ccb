//! The subcommands: argument handling and output only; the work is
//! libcontainer's.

use std::path::Path;

use libcontainer::{Container, ContainerBuilder, Error, State};

use crate::logging::Logger;
use crate::{signals, spec_cmd, Cli, Cmd, CreateArgs};

type Res = Result<i32, String>;

fn err(e: Error) -> String {
    e.to_string()
}

/// Runs the command of `cli`; returns the exit code.
pub fn dispatch(cli: &Cli, log: &mut Logger) -> Res {
    match cli.rootless.as_deref() {
        None | Some("false") | Some("auto") if nix::unistd::geteuid().is_root() => {}
        None | Some("false") => {}
        Some(v) => {
            return Err(format!(
                "--rootless {v}: rootless containers are not supported by this version of corral"
            ))
        }
    }
    if cli.criu.is_some() {
        return Err(
            "--criu: checkpoint and restore are not supported by this version of corral".into(),
        );
    }
    if cli.systemd_cgroup {
        return Err("--systemd-cgroup: the systemd cgroup driver is not supported by this version of corral".into());
    }
    let root = cli.root.as_path();
    let Some(cmd) = &cli.cmd else {
        return Err("no command given: see corral --help".into());
    };
    log.log("debug", &format!("root {root:?}, command {cmd:?}"));
    // Published network namespaces whose container is gone (a delete or
    // create that crashed) go first, whatever the command.
    for id in libcontainer::netns::sweep(root) {
        log.log("warning", &format!("removed the stale /var/run/netns/{id}"));
    }
    match cmd {
        Cmd::Create(a) => {
            let c = builder(root, a).create().map_err(err)?;
            log.log(
                "debug",
                &format!("created {} with init pid {:?}", c.id(), c.pid()),
            );
            Ok(0)
        }
        Cmd::Start { id } => {
            Container::load(root, id)
                .map_err(err)?
                .start()
                .map_err(err)?;
            Ok(0)
        }
        Cmd::State { id } => {
            let mut st = Container::load(root, id).map_err(err)?.state();
            // runc's `state` leaves owner empty; only `list` fills it in.
            st.owner = String::new();
            crate::output::line!(
                "{}",
                serde_json::to_string_pretty(&st).map_err(|e| e.to_string())?
            );
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = signals::parse(signal.as_deref().unwrap_or("SIGTERM"))?;
            Container::load(root, id)
                .map_err(err)?
                .kill(sig, *all)
                .map_err(err)?;
            Ok(0)
        }
        Cmd::Delete { force, id } => delete(root, id, *force, log),
        Cmd::Exec(a) => crate::exec_cmd::exec(root, a),
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => crate::inspect_cmds::ps(root, format, id, ps_args),
        Cmd::Events {
            stats,
            interval,
            id,
        } => crate::inspect_cmds::events(root, id, *stats, interval),
        Cmd::Update(a) => crate::update_cmd::update(root, a),
        Cmd::Features => {
            let doc = libcontainer::features::features();
            crate::output::line!(
                "{}",
                serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?
            );
            Ok(0)
        }
        Cmd::Netns { id } => {
            let path = Container::load(root, id)
                .map_err(err)?
                .publish_netns()
                .map_err(err)?;
            crate::output::line!("{}", path.display());
            Ok(0)
        }
        Cmd::Completion { shell } => crate::docs_cmd::completion(*shell),
        Cmd::Man { dir } => crate::docs_cmd::man(dir),
        Cmd::Check { format } => {
            let r = libcontainer::check::check();
            if format == "json" {
                crate::output::line!(
                    "{}",
                    serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
                );
            } else {
                crate::output::line!("{}", r.table());
            }
            Ok(if r.ok { 0 } else { 1 })
        }
        Cmd::Pause { id } => {
            Container::load(root, id)
                .map_err(err)?
                .pause()
                .map_err(err)?;
            Ok(0)
        }
        Cmd::Resume { id } => {
            Container::load(root, id)
                .map_err(err)?
                .resume()
                .map_err(err)?;
            Ok(0)
        }
        Cmd::Run {
            create,
            detach,
            keep,
            no_subreaper,
        } => run(root, create, *detach, *keep, *no_subreaper, log),
        Cmd::List { format, quiet } => list(root, format, *quiet),
        Cmd::Spec { bundle, rootless } => {
            let dir = bundle.clone().unwrap_or_else(|| ".".into());
            let path = dir.join("config.json");
            if path.exists() {
                return Err(format!("File {} exists. Remove it first", path.display()));
            }
            let text = spec_cmd::render(&spec_cmd::default_spec(*rootless))?;
            std::fs::write(&path, text).map_err(|e| format!("write {path:?}: {e}"))?;
            Ok(0)
        }
    }
}

fn builder(root: &Path, a: &CreateArgs) -> ContainerBuilder {
    ContainerBuilder::new(&a.id, root)
        .bundle(&a.bundle)
        .pid_file(a.pid_file.clone())
        .console_socket(a.console_socket.clone())
        .no_pivot(a.no_pivot)
        .no_new_keyring(a.no_new_keyring)
        .preserve_fds(a.preserve_fds)
}

fn delete(root: &Path, id: &str, force: bool, log: &mut Logger) -> Res {
    let c = match Container::load(root, id) {
        Ok(c) => c,
        // runc: deleting a missing container with --force succeeds; a
        // state dir left by a create killed before its first record goes.
        Err(Error::NotExist(_)) if force => {
            libcontainer::store::StateDir::remove_unrecorded(root, id).map_err(err)?;
            return Ok(0);
        }
        Err(e) => return Err(err(e)),
    };
    let report = match c.delete(force) {
        Err(Error::NotExist(_)) if force => return Ok(0),
        r => r.map_err(err)?,
    };
    for w in report.warnings {
        log.log("warning", &w);
    }
    Ok(0)
}

fn run(
    root: &Path,
    a: &CreateArgs,
    detach: bool,
    keep: bool,
    no_subreaper: bool,
    log: &mut Logger,
) -> Res {
    if detach {
        let mut c = builder(root, a).create().map_err(err)?;
        if let Err(e) = c.start() {
            let _ = c.delete(true);
            return Err(err(e));
        }
        return Ok(0);
    }
    // As subreaper, corral can wait for an init forked by an intermediate
    // process (a joined PID namespace); --no-subreaper opts out, as in runc.
    if !no_subreaper {
        libcontainer::run::become_subreaper().map_err(err)?;
    }
    // With a terminal and no console socket, the pty comes to us and we
    // relay it to our own stdio, as runc does.
    let (mut c, console) = builder(root, a).create_with_console().map_err(err)?;
    let pid = c.pid().unwrap_or(0);
    let fwd = match libcontainer::run::Forwarder::new() {
        Ok(f) => f,
        Err(e) => {
            let _ = c.delete(true);
            return Err(err(e));
        }
    };
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(err(e));
    }
    let code = fwd.wait_with_console(pid, console).map_err(err)?;
    if !keep {
        let c = Container::load(root, &a.id).map_err(err)?;
        let report = c.delete(true).map_err(err)?;
        for w in report.warnings {
            log.log("warning", &w);
        }
    }
    Ok(code)
}

fn list(root: &Path, format: &str, quiet: bool) -> Res {
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
            let v = if states.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::to_value(&states).map_err(|e| e.to_string())?
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
