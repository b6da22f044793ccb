//! The pid file of `--pid-file`: the host pid of the init or of an exec'd
//! process, for the caller.

use std::path::Path;

use crate::error::{Error, Result};

/// Writes `pid` to `path` atomically (temp file + rename), as runc does.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io("write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("write pid file", path, e))
}
