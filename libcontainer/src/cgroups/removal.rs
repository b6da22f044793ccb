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
        // The container's own cgroup goes with whatever was made below it
        // (an `exec --cgroup` target, the sub-cgroups of a systemd or a
        // nested runtime in the container), children first, as runc does.
        if st.paths.values().any(|p| p == dir) {
            remove_below(dir, 0, &mut first_err);
        }
        // A parent corral made may now hold another container's cgroup
        // (two containers under /pod/a and /pod/b): it stays, as with runc.
        if has_child_cgroups(dir) {
            continue;
        }
        remove_one(dir, &mut first_err);
    }
    first_err.map_or(Ok(()), Err)
}

/// Removes every cgroup below `dir`, deepest first.
fn remove_below(dir: &Path, depth: usize, first_err: &mut Option<Error>) {
    if depth >= super::manager::MAX_DEPTH {
        return;
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let sub = e.path();
            remove_below(&sub, depth + 1, first_err);
            remove_one(&sub, first_err);
        }
    }
}

/// rmdir of one cgroup, retrying while its last processes finish exiting
/// (EBUSY); the first error is kept and the walk goes on.
fn remove_one(dir: &Path, first_err: &mut Option<Error>) {
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

fn has_child_cgroups(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        })
        .unwrap_or(false)
}
