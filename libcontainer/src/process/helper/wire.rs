//! What crosses the helper's request channel: the request, the reply, and
//! every [`Error`] as it was in the helper.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::process::create::CreateOptions;
use crate::process::exec::ExecOptions;

/// Environment variable that marks a helper process; its value is the fd of
/// the request channel.
pub const HELPER_ENV: &str = "_LIBCONTAINER_HELPER_FD";

/// What a helper is asked to do.
#[derive(Serialize, Deserialize)]
pub(crate) enum Request {
    /// Create a container.
    Create(CreateOptions),
    /// Start a process in container `id` under `root`.
    Exec {
        root: std::path::PathBuf,
        id: String,
        opts: Box<ExecOptions>,
    },
}

/// What a helper answers.
#[derive(Serialize, Deserialize)]
pub(crate) enum Reply {
    /// Done (a create).
    Ok,
    /// An exec'd process's host pid.
    Pid(i32),
    /// Failed, with the error as the helper had it.
    Err(WireError),
}

/// [`Error`] as it crosses the helper boundary: one variant per kind, so
/// the caller gets back the variant the helper had (the shim maps them to
/// NotFound, FailedPrecondition, AlreadyExists…). The matches below have
/// no wildcard arm: a new kind of [`Error`] does not compile until it is
/// carried here.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum WireError {
    Spec {
        path: String,
        msg: String,
    },
    Unsupported {
        path: String,
        msg: String,
    },
    NotExist(String),
    Exists(String),
    InvalidId(String),
    BadState {
        id: String,
        status: String,
        msg: String,
    },
    NotRunning,
    Sys {
        op: String,
        errno: i32,
    },
    /// An I/O error: by its errno when it has one, else by its message.
    Io {
        op: String,
        path: std::path::PathBuf,
        errno: Option<i32>,
        msg: String,
    },
    Init(String),
    Hook {
        kind: String,
        index: usize,
        path: std::path::PathBuf,
        msg: String,
    },
    Other(String),
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> WireError {
        match e {
            Error::Spec { path, msg } => WireError::Spec {
                path: path.clone(),
                msg: msg.clone(),
            },
            Error::Unsupported { path, msg } => WireError::Unsupported {
                path: path.clone(),
                msg: msg.clone(),
            },
            Error::NotExist(id) => WireError::NotExist(id.clone()),
            Error::Exists(id) => WireError::Exists(id.clone()),
            Error::InvalidId(id) => WireError::InvalidId(id.clone()),
            Error::BadState { id, status, msg } => WireError::BadState {
                id: id.clone(),
                status: status.clone(),
                msg: msg.clone(),
            },
            Error::NotRunning => WireError::NotRunning,
            Error::Sys { op, errno } => WireError::Sys {
                op: op.clone(),
                errno: *errno as i32,
            },
            Error::Io { op, path, source } => WireError::Io {
                op: op.to_string(),
                path: path.clone(),
                errno: source.raw_os_error(),
                msg: source.to_string(),
            },
            Error::Init(m) => WireError::Init(m.clone()),
            Error::Hook {
                kind,
                index,
                path,
                msg,
            } => WireError::Hook {
                kind: kind.clone(),
                index: *index,
                path: path.clone(),
                msg: msg.clone(),
            },
            Error::Other(m) => WireError::Other(m.clone()),
        }
    }
}

impl From<WireError> for Error {
    fn from(w: WireError) -> Error {
        match w {
            WireError::Spec { path, msg } => Error::Spec { path, msg },
            WireError::Unsupported { path, msg } => Error::Unsupported { path, msg },
            WireError::NotExist(id) => Error::NotExist(id),
            WireError::Exists(id) => Error::Exists(id),
            WireError::InvalidId(id) => Error::InvalidId(id),
            WireError::BadState { id, status, msg } => Error::BadState { id, status, msg },
            WireError::NotRunning => Error::NotRunning,
            WireError::Sys { op, errno } => Error::Sys {
                op,
                errno: nix::errno::Errno::from_raw(errno),
            },
            WireError::Io {
                op,
                path,
                errno,
                msg,
            } => Error::Io {
                op: op.into(),
                path,
                source: match errno {
                    Some(n) => std::io::Error::from_raw_os_error(n),
                    None => std::io::Error::other(msg),
                },
            },
            WireError::Init(m) => Error::Init(m),
            WireError::Hook {
                kind,
                index,
                path,
                msg,
            } => Error::Hook {
                kind,
                index,
                path,
                msg,
            },
            WireError::Other(m) => Error::Other(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of error, as the helper would send it.
    fn every_kind() -> Vec<Error> {
        vec![
            Error::spec("process.cwd", "\"relative\" is not an absolute path"),
            Error::unsupported("linux.timeOffsets", "no time namespace"),
            Error::NotExist("c1".into()),
            Error::Exists("c2".into()),
            Error::InvalidId("../x".into()),
            Error::BadState {
                id: "c3".into(),
                status: "paused".into(),
                msg: "cannot exec in a paused container".into(),
            },
            Error::NotRunning,
            Error::sys("setns", nix::errno::Errno::EPERM),
            Error::io(
                "open",
                "/run/x",
                std::io::Error::from_raw_os_error(libc::ENOENT),
            ),
            Error::io("read", "/run/y", std::io::Error::other("short read")),
            Error::Init("mount /proc: EPERM".into()),
            Error::Hook {
                kind: "prestart".into(),
                index: 2,
                path: "/bin/hook".into(),
                msg: "exit status: 3".into(),
            },
            Error::Other("something else".into()),
        ]
    }

    #[test]
    fn every_error_kind_survives_the_helper_reply() {
        for e in every_kind() {
            let text = serde_json::to_vec(&Reply::Err(WireError::from(&e))).expect("serialize");
            let back = match serde_json::from_slice::<Reply>(&text).expect("deserialize") {
                Reply::Err(w) => Error::from(w),
                _ => panic!("not an error reply"),
            };
            // Same variant, same fields, same message.
            assert_eq!(format!("{back:?}"), format!("{e:?}"));
            assert_eq!(back.to_string(), e.to_string());
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&e),
                "{e:?}"
            );
        }
    }
    /// The place of `e`'s variant in [`Error`]: no wildcard arm, so a new
    /// variant does not compile here until it is counted (and listed in
    /// `every_kind`, which the test below checks).
    fn variant(e: &Error) -> usize {
        match e {
            Error::Spec { .. } => 0,
            Error::Unsupported { .. } => 1,
            Error::NotExist(_) => 2,
            Error::Exists(_) => 3,
            Error::InvalidId(_) => 4,
            Error::BadState { .. } => 5,
            Error::NotRunning => 6,
            Error::Sys { .. } => 7,
            Error::Io { .. } => 8,
            Error::Init(_) => 9,
            Error::Hook { .. } => 10,
            Error::Other(_) => 11,
        }
    }

    #[test]
    fn every_kind_lists_every_variant() {
        let mut seen: Vec<usize> = every_kind().iter().map(variant).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..12).collect::<Vec<_>>());
    }

    #[test]
    fn errno_values_survive() {
        let back = |e: &Error| {
            let text = serde_json::to_vec(&WireError::from(e)).expect("serialize");
            Error::from(serde_json::from_slice::<WireError>(&text).expect("deserialize"))
        };
        match back(&Error::sys("setns", nix::errno::Errno::EPERM)) {
            Error::Sys { errno, .. } => assert_eq!(errno, nix::errno::Errno::EPERM),
            other => panic!("{other:?}"),
        }
        let io = Error::io(
            "open",
            "/run/x",
            std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        match back(&io) {
            Error::Io { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
    }
}
