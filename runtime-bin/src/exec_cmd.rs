//! `corral exec`: builds the process from `--process` or from the
//! container's own process and the flags, then runs it.

use std::path::Path;

use libcontainer::{Container, ExecOptions};
use oci_spec::runtime::{Capabilities, Capability, Process};

use crate::ExecArgs;

fn process_from_flags(c: &Container, a: &ExecArgs) -> Result<Process, String> {
    if a.command.is_empty() {
        return Err("exec: no command given (and no --process)".into());
    }
    let mut p = c.spec().process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let user = p.user_mut();
        user.set_uid(
            uid.parse()
                .map_err(|_| format!("--user {u:?}: uid must be a number"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .map_err(|_| format!("--user {u:?}: gid must be a number"))?,
            );
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let full = if name.to_ascii_uppercase().starts_with("CAP_") {
                name.to_ascii_uppercase()
            } else {
                format!("CAP_{}", name.to_ascii_uppercase())
            };
            let cap: Capability = serde_json::from_value(serde_json::Value::String(full.clone()))
                .map_err(|_| format!("--cap {name:?}: unknown capability"))?;
            let add = |set: &Option<Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

fn process_from_file(path: &Path) -> Result<Process, String> {
    let text = std::fs::read(path).map_err(|e| format!("read {path:?}: {e}"))?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))
}

/// Runs `corral exec`; returns the exit code of the process (foreground)
/// or 0 (detached).
pub fn exec(root: &Path, a: &ExecArgs) -> Result<i32, String> {
    let c = Container::load(root, &a.id).map_err(|e| e.to_string())?;
    let process = match &a.process {
        Some(f) => process_from_file(f)?,
        None => process_from_flags(&c, a)?,
    };
    let terminal = process.terminal().unwrap_or(false);
    if terminal && a.detach && a.console_socket.is_none() {
        return Err(
            "cannot allocate tty if corral will detach without setting console socket".into(),
        );
    }
    let mut opts = ExecOptions::new(process);
    opts.console_socket = a.console_socket.clone();
    opts.console_to_caller = terminal && a.console_socket.is_none();
    opts.pid_file = a.pid_file.clone();
    opts.preserve_fds = a.preserve_fds;
    opts.ignore_paused = a.ignore_paused;
    if a.detach {
        c.exec(opts).map_err(|e| e.to_string())?;
        return Ok(0);
    }
    libcontainer::run::become_subreaper().map_err(|e| e.to_string())?;
    let fwd = libcontainer::run::Forwarder::new().map_err(|e| e.to_string())?;
    let started = c.exec(opts).map_err(|e| e.to_string())?;
    fwd.wait_with_console(started.pid, started.console)
        .map_err(|e| e.to_string())
}
