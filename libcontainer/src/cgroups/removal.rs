//! Removing what create made: the directories corral created, children
//! first, and only those.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use super::plan::CgroupState;
use crate::error::{Error, Result};

/// Removes the directories create made (`st.created`), children first,
/// retrying while the last processes finish exiting.
pub(crate) fn remove(st: &CgroupState) -> Result<()> {
    let mut first_err = None;
    for dir in st.created.iter().rev() {
        // A parent corral made may now hold another container's cgroup
        // (two containers under /pod/a and /pod/b): it stays, as with runc.
        if has_child_cgroups(dir) {
            continue;
        }
        let mut tries = 0;
        loop {
            match fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) if tries < 100 && e.raw_os_error() == Some(libc::EBUSY) => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    // Keep going: the other hierarchies are removed anyway.
                    first_err.get_or_insert(Error::io("remove cgroup", dir, e));
                    break;
                }
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn has_child_cgroups(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        })
        .unwrap_or(false)
}
