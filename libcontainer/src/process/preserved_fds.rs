//! `--preserve-fds N`: fds 3 to 3+N-1 of the caller go to the container's
//! process as they are. A number in that range the caller left closed must
//! not be taken by one of corral's own fds (the state directory, the exec
//! fifo, a namespace file, the channel), or the container would get it:
//! [`reserve`] fills each with `/dev/null` first, and moves the sealed
//! image's mount fd out of the range.

use std::os::fd::{AsRawFd, IntoRawFd, RawFd};

use nix::errno::Errno;

use crate::error::{Error, Result};

/// The most fds a process may be handed (the kernel's own `NR_OPEN`).
const MAX: u32 = 1 << 20;

/// Makes every fd in `3..3+n` either the caller's or `/dev/null`. Call it
/// before opening anything else (create and exec do, and the `corral` CLI
/// does it before its log file).
pub fn reserve(n: u32) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    if n > MAX {
        return Err(Error::Other(format!(
            "--preserve-fds {n}: more than the {MAX} fds a process can have"
        )));
    }
    let end = 3 + n as RawFd;
    super::seal::move_mount_fd_from(3..end)?;
    for fd in 3..end {
        // SAFETY: fcntl with integer arguments: only asks whether fd is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 || Errno::last() != Errno::EBADF {
            continue;
        }
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| Error::io("open", "/dev/null", e))?;
        if null.as_raw_fd() != fd {
            crate::sys::dup2(null.as_raw_fd(), fd)
                .map_err(|e| Error::sys(format!("keep preserved fd {fd} free"), e))?;
        } else {
            // It is the fd: it stays open, owned by nothing.
            let _ = null.into_raw_fd();
        }
    }
    Ok(())
}
