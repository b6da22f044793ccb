//! OCI hooks: each run with the container state as JSON on stdin, its own
//! args and env, and a timeout.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};

/// Every hook list of a config, by its JSON name.
#[allow(deprecated)]
pub fn all_lists(h: &Hooks) -> Vec<(&'static str, &Vec<Hook>)> {
    let mut out = Vec::new();
    for (name, list) in [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ] {
        if let Some(l) = list {
            out.push((name, l));
        }
    }
    out
}

/// The hooks of one kind from a config (empty when absent).
pub fn list<'a>(hooks: &'a Option<Hooks>, kind: &str) -> Vec<&'a Hook> {
    hooks
        .as_ref()
        .map(|h| {
            all_lists(h)
                .into_iter()
                .filter(|(k, _)| *k == kind)
                .flat_map(|(_, l)| l.iter())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the hooks of `kind` in order; the first failure stops the list.
pub fn run(hooks: &Option<Hooks>, kind: &str, state_json: &str) -> Result<()> {
    for (i, h) in list(hooks, kind).into_iter().enumerate() {
        run_one(kind, i, h, state_json)?;
    }
    Ok(())
}

/// Runs one hook, the `index`th of its list: `args[0]` is its `argv[0]`, env is exactly `env`, the state
/// is written to stdin, and it is killed at `timeout` seconds.
pub fn run_one(kind: &str, index: usize, h: &Hook, state_json: &str) -> Result<()> {
    let fail = |msg: String| Error::Hook {
        kind: kind.to_string(),
        index,
        path: h.path().clone(),
        msg,
    };
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = h
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait().map_err(|e| fail(format!("wait: {e}")))? {
            Some(st) => break st,
            None => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "timed out after {}s",
                        h.timeout().unwrap_or(0)
                    )));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    if !status.success() {
        let mut out = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        return Err(fail(format!("{status}; output: {:?}", out.trim())));
    }
    Ok(())
}
