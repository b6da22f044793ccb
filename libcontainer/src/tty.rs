//! Terminals: the console socket protocol (the pty master sent with
//! SCM_RIGHTS, as runc does) and window sizing.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use crate::error::{Error, Result, SysContext};

/// Connects to the console socket given with `--console-socket`.
pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(|e| Error::io("connect to console socket", path, e))
}

/// Sends `fd` over `sock` with `name` as the message body.
pub fn send_fd(sock: RawFd, name: &str, fd: RawFd) -> Result<()> {
    let iov = [IoSlice::new(name.as_bytes())];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .map(drop)
        .ctx(|| "send pty master over the console socket".to_string())
}

/// Receives one fd (and the name sent with it) from `sock`.
pub fn recv_fd(sock: RawFd) -> Result<(OwnedFd, String)> {
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .ctx(|| "receive fd".to_string())?;
    let mut got = None;
    for c in msg.cmsgs().ctx(|| "read control message".to_string())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: SCM_RIGHTS just installed this fd in our table;
                // nothing else owns it.
                got = Some(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    let n = msg.bytes;
    let name = String::from_utf8_lossy(&buf[..n]).into_owned();
    got.map(|fd| (fd, name))
        .ok_or_else(|| Error::Other("no fd in console socket message".into()))
}

/// Makes `slave` the controlling terminal and stdio of the calling process,
/// which must be a session leader.
pub fn become_terminal(slave: &OwnedFd) -> Result<()> {
    let fd = slave.as_raw_fd();
    for n in 0..3 {
        crate::sys::dup2(fd, n).ctx(|| format!("dup pty onto fd {n}"))?;
    }
    crate::sys::ioctl_int(0, libc::TIOCSCTTY, 0).ctx(|| "TIOCSCTTY".to_string())
}

/// Sets the window size of the terminal `fd` (a pty master or slave).
pub fn set_size(fd: RawFd, rows: u16, cols: u16) -> Result<()> {
    crate::sys::set_winsize(fd, rows, cols).map_err(|e| Error::sys("set the terminal size", e))
}

/// Clears `ONLCR` on the terminal `fd` (a pty master acts on its slave):
/// the program's `\n` reaches the reader as `\n`, not `\r\n`. runc does
/// this on the pty whose master it relays to its own stdio (`run -t`,
/// `exec -t` in the foreground); a console socket's receiver sets its own
/// modes.
pub fn clear_onlcr(fd: RawFd) -> Result<()> {
    use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};
    // SAFETY: `fd` is an open terminal the caller holds for this call.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let mut t = tcgetattr(bfd).map_err(|e| Error::sys("tcgetattr the pty", e))?;
    t.output_flags.remove(OutputFlags::ONLCR);
    tcsetattr(bfd, SetArg::TCSANOW, &t)
        .map_err(|e| Error::sys("tcsetattr the pty (clear ONLCR)", e))
}

/// Gives the terminal `slave` to the process's user, as runc does: owner
/// `uid`, and group `tty` of the container's /etc/group where it has one
/// (else the group devpts gave it, `gid=5` in the usual mount options).
/// Called inside the container's root.
pub fn give_to(slave: &OwnedFd, uid: u32) -> Result<()> {
    let tty_gid = crate::passwd::read(Path::new("/etc/group"))
        .and_then(|text| crate::passwd::group_gid(&text, "tty"));
    nix::unistd::fchown(
        slave,
        Some(nix::unistd::Uid::from_raw(uid)),
        tty_gid.map(nix::unistd::Gid::from_raw),
    )
    .ctx(|| format!("chown the terminal to uid {uid}"))
}
