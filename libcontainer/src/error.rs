//! The one error type of the library.

use std::path::PathBuf;

/// Every way a libcontainer operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json is malformed or asks for something invalid; `path` is the
    /// JSON path of the offending field.
    #[error("config.json: {path}: {msg}")]
    Spec {
        /// JSON path, e.g. `linux.namespaces[2].type`.
        path: String,
        /// What is wrong, naming the value.
        msg: String,
    },
    /// The config asks for something this host cannot do.
    #[error("config.json: {path}: {msg}")]
    Unsupported {
        /// JSON path of the field.
        path: String,
        /// Why the host cannot honour it.
        msg: String,
    },
    /// No container with this id.
    #[error("container \"{0}\" does not exist")]
    NotExist(String),
    /// A container with this id already exists.
    #[error("container with id \"{0}\" already exists")]
    Exists(String),
    /// The id has characters outside `[A-Za-z0-9_+.-]` or is too long.
    #[error("invalid container id {0:?}: ids are 1-1024 characters of [A-Za-z0-9_+.-] and may not be \".\" or \"..\"")]
    InvalidId(String),
    /// The operation is not allowed in the container's current status.
    #[error("container \"{id}\" is {status}: {msg}")]
    BadState {
        /// Container id.
        id: String,
        /// Its status.
        status: String,
        /// What could not be done.
        msg: String,
    },
    /// The container is not running (runc's wording, which containerd matches).
    #[error("container not running")]
    NotRunning,
    /// A system call failed.
    #[error("{op}: {errno}")]
    Sys {
        /// What was being done.
        op: String,
        /// The kernel's answer.
        errno: nix::errno::Errno,
    },
    /// File I/O failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: std::borrow::Cow<'static, str>,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The container's init reported an error while setting up.
    #[error("container init: {0}")]
    Init(String),
    /// A hook failed or timed out.
    #[error("{kind} hook {path} (hooks.{kind}[{index}]): {msg}")]
    Hook {
        /// Which hook list.
        kind: String,
        /// Its place in the list.
        index: usize,
        /// The hook's path.
        path: PathBuf,
        /// What happened.
        msg: String,
    },
    /// Anything else, with its description.
    #[error("{0}")]
    Other(String),
}

/// Shorthand result.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A failed system call described by `op`.
    pub fn sys(op: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Sys {
            op: op.into(),
            errno,
        }
    }

    /// A failed I/O operation on `path`.
    pub fn io(
        op: impl Into<std::borrow::Cow<'static, str>>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            op: op.into(),
            path: path.into(),
            source,
        }
    }

    /// An invalid config field.
    pub fn spec(path: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Spec {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// A config field the host cannot honour.
    pub fn unsupported(path: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Unsupported {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Adds context to `nix` results.
pub trait SysContext<T> {
    /// Maps an errno to [`Error::Sys`] with `op` computed lazily.
    fn ctx<S: Into<String>>(self, op: impl FnOnce() -> S) -> Result<T>;
}

impl<T> SysContext<T> for std::result::Result<T, nix::errno::Errno> {
    fn ctx<S: Into<String>>(self, op: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::sys(op(), e))
    }
}
