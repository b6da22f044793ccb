//! The clone of every process corral makes that enters a container, and
//! its fallbacks: `clone3` with the new namespaces and `CLONE_INTO_CGROUP`
//! in one call; without `CLONE_INTO_CGROUP` (before Linux 5.7) the child
//! joins cgroup2 by `cgroup.procs`; where clone3 is missing or refused
//! ([`crate::newer::clone3`]) it is `clone(2)` (see [`crate::sys::clone3`]).

use crate::cgroups::Entry;
use crate::error::{Result, SysContext};
use crate::sys::Forked;

/// `clone3(flags)` of the calling (single-threaded) process, the child
/// placed in `entry`'s cgroup2 directory by the clone itself; on a kernel
/// without `CLONE_INTO_CGROUP`, or where clone3 is missing or refused, the
/// child writes `cgroup.procs` in [`Entry::join_self`] instead — before it
/// runs anything of the container, so the guarantee is the same. `what`
/// names the child in the error.
pub(crate) fn into_cgroups(entry: &mut Entry, flags: u64, what: &str) -> Result<Forked> {
    if !crate::newer::clone3() {
        entry.without_clone_into()?;
    }
    let r = match crate::sys::clone3(flags, entry.clone_into()) {
        Err(nix::Error::E2BIG | nix::Error::EINVAL) if entry.clone_into().is_some() => {
            entry.without_clone_into()?;
            crate::sys::clone3(flags, None)
        }
        r => r,
    };
    r.ctx(|| match entry.clone_into_dir() {
        Some(d) => format!("{what} into cgroup {}", d.display()),
        None => what.to_string(),
    })
}
