//! The request channel of a helper process: its fd, which the container's
//! init (a clone of the helper) closes first thing, so that the caller
//! sees the channel close when the helper exits.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

static FD: AtomicI32 = AtomicI32::new(-1);

/// Records `fd` as this helper's request channel.
pub(crate) fn set(fd: RawFd) {
    FD.store(fd, Ordering::SeqCst);
}

/// The helper's request channel, when this process is (a clone of) a
/// helper.
pub(crate) fn get() -> Option<RawFd> {
    let fd = FD.load(Ordering::SeqCst);
    (fd > 2).then_some(fd)
}
