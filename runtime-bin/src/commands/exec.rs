//! `corral exec`: builds the process from `--process` or from the
//! container's own process and the flags, then runs it.

use std::path::Path;

use std::path::PathBuf;

use clap::Args;
use libcontainer::{Container, ExecOptions};

use crate::logging::Logger;
use oci_spec::runtime::{Capabilities, Capability, Process};

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
          value_parser = parse_gid_arg)]
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
    /// Add a capability to the bounding, effective and permitted sets (and
    /// to the ambient set where the process has an inheritable set).
    #[arg(long, short = 'c')]
    cap: Vec<String>,
    /// Pass N additional file descriptors to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub(crate) preserve_fds: u32,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Run the process in an existing sub-cgroup of the container's:
    /// `PATH` (every hierarchy) or `CONTROLLER[,CONTROLLER…]:PATH`.
    #[arg(long = "cgroup")]
    cgroup: Vec<String>,
    /// Container id.
    id: String,
    /// Command and arguments (unless --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

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
        let (uid, gid) = parse_user(u)?;
        let user = p.user_mut();
        user.set_uid(uid);
        if let Some(g) = gid {
            user.set_gid(g);
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
            // runc 1.2+: ambient too, where the process has an inheritable
            // set (the kernel raises no ambient capability that is not
            // inheritable, and --cap adds none there).
            if caps.inheritable().is_some() {
                caps.set_ambient(add(caps.ambient()));
            }
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

/// One id of a flag: decimal (`1`, `01`, `+1`, as runc's `strconv.Atoi`
/// reads them) from 0 to 4294967294. Not 4294967295: that is `(uid_t)-1`,
/// which the kernel takes as "leave unchanged" (a process would stay root).
/// Names are not looked up, as with runc.
fn parse_id(part: &str) -> Option<u32> {
    part.parse::<u32>()
        .ok()
        .filter(|v| *v != libcontainer::security::NO_ID)
}

/// `--user UID[:GID]`: the uid, and the gid when given (else the
/// container's process keeps its own gid, as with runc). An empty part, a
/// name, a sign other than `+`, a number out of range or a third part is
/// an error naming the flag and the value, never a default of 0.
pub(crate) fn parse_user(u: &str) -> Result<(u32, Option<u32>), String> {
    let range = "a number from 0 to 4294967294";
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid = parse_id(uid).ok_or_else(|| format!("--user {u:?}: uid {uid:?} is not {range}"))?;
    let gid = match gid {
        Some(g) => {
            Some(parse_id(g).ok_or_else(|| format!("--user {u:?}: gid {g:?} is not {range}"))?)
        }
        None => None,
    };
    Ok((uid, gid))
}

/// clap's parser of one `--additional-gids` value (clap names the flag and
/// the value in its error).
pub(crate) fn parse_gid_arg(g: &str) -> Result<u32, String> {
    parse_id(g).ok_or_else(|| "a gid is a number from 0 to 4294967294".to_string())
}

/// The process of `--process FILE`. A file without `user` runs as the
/// container's own process user (its uid, gid and groups), not as root.
fn process_from_file(c: &Container, path: &Path) -> Result<Process, String> {
    let text = std::fs::read(path).map_err(|e| format!("read {path:?}: {e}"))?;
    let mut v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(obj) = v.as_object_mut() {
        if !obj.contains_key("user") {
            let user = c
                .spec()
                .process()
                .as_ref()
                .map(|p| p.user().clone())
                .unwrap_or_default();
            let user = serde_json::to_value(user).map_err(|e| e.to_string())?;
            obj.insert("user".into(), user);
        }
    }
    serde_path_to_error::deserialize(v)
        .map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))
}

/// Runs `corral exec`; returns the exit code of the process (foreground)
/// or 0 (detached).
pub fn run(root: &Path, a: &ExecArgs, log: &mut Logger) -> Result<i32, String> {
    let c = Container::load(root, &a.id).map_err(|e| e.to_string())?;
    let process = match &a.process {
        Some(f) => process_from_file(&c, f)?,
        None => process_from_flags(&c, a)?,
    };
    for w in libcontainer::security::ambient_warnings(Some(&process)) {
        log.log("warning", &w);
    }
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
    opts.sub_cgroups = libcontainer::cgroups::sub::parse(&a.cgroup).map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_forms_give_exactly_their_ids() {
        for (form, want) in [
            ("0", (0, None)),
            ("1", (1, None)),
            ("1:1", (1, Some(1))),
            ("0:1", (0, Some(1))),
            ("65534:65534", (65534, Some(65534))),
            ("01", (1, None)),
            ("+1", (1, None)),
            ("4294967294:4294967294", (4294967294, Some(4294967294))),
        ] {
            assert_eq!(parse_user(form), Ok(want), "{form:?}");
        }
    }

    #[test]
    fn malformed_users_are_refused_naming_flag_and_value() {
        for form in [
            "",
            ":",
            "abc",
            "daemon",
            "1:",
            ":1",
            "-1",
            "1:-1",
            "4294967295",
            "1:4294967295",
            "4294967296",
            "1:2:3",
            " 1",
            "0x1",
        ] {
            let e = parse_user(form).expect_err(form);
            assert!(
                e.starts_with(&format!("--user {form:?}: ")),
                "{form:?}: {e}"
            );
        }
        for g in ["-1", "", "4294967295", "4294967296", "users"] {
            assert!(parse_gid_arg(g).is_err(), "{g:?}");
        }
        assert_eq!(parse_gid_arg("100"), Ok(100));
    }
}
