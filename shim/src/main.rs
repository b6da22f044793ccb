//! `containerd-shim-corral-v2`: containerd's shim v2 for corral.
//!
//! containerd runs `containerd-shim-corral-v2 [-namespace NS] [-address A]
//! [-publish-binary B] [-id ID] [-bundle DIR] [-debug] start|delete` with the
//! bundle as working directory:
//!
//! - `start` makes a unix socket in a 0700 directory, starts the long-lived
//!   shim daemon (this binary again, with no action, the listening socket on
//!   fd 3, in its own session), writes the bundle's `address` file, prints
//!   the address and exits;
//! - `delete` cleans up a container whose shim is gone and prints the
//!   `DeleteResponse`;
//! - with no action it is the daemon: the ttrpc Task service (task v2 for
//!   containerd 1.6/1.7 and v3 for 2.x), over libcontainer.

mod daemon;
mod events;
mod metrics;
mod service;

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use containerd_shim_protos::bootstrap_api;
use containerd_shim_protos::protobuf::Message;

/// The fd the daemon finds its listening socket on.
const LISTEN_FD: i32 = 3;
/// Marks the daemon process (its value is the listening fd).
const DAEMON_ENV: &str = "CORRAL_SHIM_LISTEN_FD";

/// The shim's flags, as containerd passes them (Go flag syntax).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// containerd namespace.
    pub namespace: String,
    /// containerd's gRPC address.
    pub address: String,
    /// The `containerd` binary (events by `publish` in old containerds).
    pub publish_binary: String,
    /// Container id.
    pub id: String,
    /// Bundle directory (default: the working directory).
    pub bundle: PathBuf,
    /// Debug logging.
    pub debug: bool,
    /// `start`, `delete`, or empty for the daemon.
    pub action: String,
}

fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags {
        namespace: std::env::var("NAMESPACE").unwrap_or_default(),
        ..Default::default()
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].trim_start_matches('-');
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a, None),
        };
        let is_flag = args[i].starts_with('-');
        let value = |i: &mut usize| -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            *i += 1;
            args.get(*i)
                .cloned()
                .ok_or_else(|| format!("flag -{name} needs a value"))
        };
        match (is_flag, name) {
            (true, "namespace") => f.namespace = value(&mut i)?,
            (true, "address") => f.address = value(&mut i)?,
            (true, "publish-binary") => f.publish_binary = value(&mut i)?,
            (true, "id") => f.id = value(&mut i)?,
            (true, "bundle") => f.bundle = PathBuf::from(value(&mut i)?),
            (true, "debug") => f.debug = true,
            (true, "v") | (true, "version") => f.action = "version".into(),
            (true, other) => return Err(format!("unknown flag -{other}")),
            (false, action) => f.action = action.to_string(),
        }
        i += 1;
    }
    if f.bundle.as_os_str().is_empty() {
        f.bundle = std::env::current_dir().map_err(|e| format!("working directory: {e}"))?;
    }
    Ok(f)
}

/// The socket of the shim for this namespace and id: a name hashed from
/// them (FNV-1a), in /run/containerd/s (0700), never abstract.
pub fn socket_path(f: &Flags) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}/{}/{}", f.address, f.namespace, f.id).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    PathBuf::from(format!("/run/containerd/s/corral-{h:016x}"))
}

/// What `start` read on stdin: containerd 2.3+ sends `BootstrapParams`;
/// older ones send the runtime options (a protobuf `Any` whose type URL
/// names the options type) or nothing.
#[derive(Debug, PartialEq)]
enum StartInput {
    /// Runtime options or nothing (containerd 1.6, 1.7, 2.0-2.2).
    Options,
    /// containerd 2.3+'s bootstrap parameters.
    Bootstrap(Box<bootstrap_api::BootstrapParams>),
}

fn read_start_input(bytes: &[u8]) -> StartInput {
    if bytes.is_empty() {
        return StartInput::Options;
    }
    // An Any has two fields: a type URL ("type.googleapis.com/…" or
    // "containerd.runc.v1.Options") and a value. BootstrapParams shares the
    // first two field numbers (instance id, namespace) but containerd always
    // sets more (version, addresses): fields an Any does not have.
    if let Ok(any) =
        containerd_shim_protos::protobuf::well_known_types::any::Any::parse_from_bytes(bytes)
    {
        let more_fields = any.special_fields.unknown_fields().iter().next().is_some();
        if !more_fields && (any.type_url.contains('/') || any.type_url.ends_with("Options")) {
            return StartInput::Options;
        }
    }
    match bootstrap_api::BootstrapParams::parse_from_bytes(bytes) {
        Ok(p) if !p.instance_id.is_empty() && !p.namespace.is_empty() => {
            StartInput::Bootstrap(Box::new(p))
        }
        _ => StartInput::Options,
    }
}

/// The bootstrap result for containerd 2.x, in protobuf's JSON mapping.
fn bootstrap_result(address: &str) -> String {
    serde_json::json!({"version": 3, "address": address, "protocol": "ttrpc"}).to_string()
}

fn start(f: &Flags) -> Result<(), String> {
    let mut input = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut input);
    let mut f = f.clone();
    let bootstrap = match read_start_input(&input) {
        StartInput::Bootstrap(p) => {
            f.namespace = p.namespace.clone();
            f.id = p.instance_id.clone();
            if !p.containerd_ttrpc_address.is_empty() {
                std::env::set_var(
                    "TTRPC_ADDRESS",
                    p.containerd_ttrpc_address.trim_start_matches("unix://"),
                );
            }
            if !p.containerd_grpc_address.is_empty() {
                f.address = p
                    .containerd_grpc_address
                    .trim_start_matches("unix://")
                    .to_string();
            }
            true
        }
        StartInput::Options => false,
    };
    let f = &f;
    let path = socket_path(f);
    let address = format!("unix://{}", path.display());
    let dir = path.parent().unwrap_or(Path::new("/run/containerd/s"));
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {dir:?}: {e}"))?;
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(|e| format!("chmod {dir:?}: {e}"))?;
    // A shim already serving this id (containerd retried start): reuse it.
    if UnixStream::connect(&path).is_ok() {
        return finish_start(f, &address, bootstrap);
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| format!("listen on {path:?}: {e}"))?;
    let fd = listener.as_raw_fd();
    // Our sealed image, not the path it was read from.
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    cmd.args([
        "-namespace",
        &f.namespace,
        "-id",
        &f.id,
        "-address",
        &f.address,
        "-publish-binary",
        &f.publish_binary,
    ])
    .arg("-bundle")
    .arg(&f.bundle)
    .current_dir(&f.bundle)
    .env(DAEMON_ENV, LISTEN_FD.to_string())
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(daemon_log(&f.bundle));
    // SAFETY: between fork and exec only async-signal-safe calls (setsid,
    // dup2); `start` is single-threaded.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            // dup2 onto itself would keep close-on-exec: clear it instead.
            let r = if fd == LISTEN_FD {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, LISTEN_FD)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("start the shim daemon: {e}"))?;
    drop(listener);
    finish_start(f, &address, bootstrap)
}

/// The daemon's stderr: the bundle's `log` fifo that containerd reads, when
/// there is one.
fn daemon_log(bundle: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(bundle.join("log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn finish_start(f: &Flags, address: &str, bootstrap: bool) -> Result<(), String> {
    std::fs::write(f.bundle.join("address"), address)
        .map_err(|e| format!("write the address file: {e}"))?;
    let text = if bootstrap {
        bootstrap_result(address)
    } else {
        address.to_string()
    };
    let mut out = std::io::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| format!("print the address: {e}"))
}

fn main() {
    // A multi-threaded embedder of libcontainer creates containers through
    // a helper process: this binary, started again in helper mode.
    libcontainer::helper::run_if_helper();
    // The shim, its daemon and its helpers run from a sealed image of this
    // binary (CVE-2019-5736): re-executes once when it does not.
    if let Err(e) = libcontainer::process::seal::seal_self() {
        eprintln!("containerd-shim-corral-v2: {e}");
        std::process::exit(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags = match parse_flags(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("containerd-shim-corral-v2: {e}");
            std::process::exit(2);
        }
    };
    let result = match flags.action.as_str() {
        "start" => start(&flags),
        "delete" => daemon::delete_orphan(&flags),
        "version" => {
            println!(
                "containerd-shim-corral-v2:\n  Version: {}\n  Runtime: corral",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        "" => match std::env::var(DAEMON_ENV) {
            Ok(fd) => {
                let fd: i32 = fd.parse().unwrap_or(LISTEN_FD);
                // SAFETY: `start` put the listening socket on this fd for us
                // and nothing else in this process owns it.
                let listener = unsafe { OwnedFd::from_raw_fd(fd) };
                daemon::serve(&flags, listener)
            }
            Err(_) => Err("no action: start or delete".into()),
        },
        other => Err(format!("unknown action {other:?}")),
    };
    if let Err(e) = result {
        eprintln!("containerd-shim-corral-v2: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_style_flags() {
        let f = parse_flags(&args(&[
            "-namespace",
            "default",
            "-address",
            "/run/containerd/containerd.sock",
            "-publish-binary=/usr/bin/containerd",
            "-id",
            "c1",
            "--bundle",
            "/b",
            "-debug",
            "start",
        ]))
        .expect("flags");
        assert_eq!(f.namespace, "default");
        assert_eq!(f.publish_binary, "/usr/bin/containerd");
        assert_eq!(f.id, "c1");
        assert_eq!(f.bundle, PathBuf::from("/b"));
        assert!(f.debug);
        assert_eq!(f.action, "start");
        assert!(parse_flags(&args(&["-bogus", "x"])).is_err());
        assert!(parse_flags(&args(&["-id"])).is_err());
        let p = socket_path(&f);
        assert!(p.starts_with("/run/containerd/s/"));
        assert!(p.as_os_str().len() < 100, "fits sun_path");
    }

    #[test]
    fn start_input_tells_bootstrap_params_from_runtime_options() {
        assert_eq!(read_start_input(b""), StartInput::Options);
        // containerd 1.6/1.7: the runc-style options as an Any.
        let mut any = containerd_shim_protos::protobuf::well_known_types::any::Any::new();
        any.type_url = "containerd.runc.v1.Options".into();
        any.value = vec![8, 1];
        let bytes = any.write_to_bytes().expect("any");
        assert_eq!(read_start_input(&bytes), StartInput::Options);
        // containerd 2.3+: BootstrapParams, built from containerd's types.
        let mut p = bootstrap_api::BootstrapParams::new();
        p.instance_id = "pod.c1".into();
        p.namespace = "k8s.io".into();
        p.containerd_ttrpc_address = "unix:///run/containerd/containerd.sock.ttrpc".into();
        p.containerd_version = "2.3.0".into();
        let bytes = p.write_to_bytes().expect("params");
        match read_start_input(&bytes) {
            StartInput::Bootstrap(got) => {
                assert_eq!(got.instance_id, "pod.c1");
                assert_eq!(got.namespace, "k8s.io");
            }
            other => panic!("{other:?}"),
        }
        let r: serde_json::Value =
            serde_json::from_str(&bootstrap_result("unix:///run/containerd/s/x")).expect("json");
        assert_eq!(r["version"], 3);
        assert_eq!(r["protocol"], "ttrpc");
        assert_eq!(r["address"], "unix:///run/containerd/s/x");
    }
}
