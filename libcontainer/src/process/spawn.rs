//! Starting a helper program (`ps`, a hook) in a way that works where
//! `clone3` is refused.

use std::process::Command;

/// Prepares `cmd` so that spawning it works where this process may not
/// use clone3 ([`crate::newer::clone3`]): there it is started by fork and
/// exec (glibc's posix_spawn falls back from clone3 only on ENOSYS, not on
/// the EPERM of a seccomp profile). Where clone3 works, `cmd` is left to
/// std's faster posix_spawn. Returns `cmd` for chaining.
pub fn portable(cmd: &mut Command) -> &mut Command {
    if !crate::newer::clone3() {
        crate::sys::spawn_by_fork(cmd);
    }
    cmd
}
