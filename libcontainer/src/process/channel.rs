//! The parent ↔ init channel: a stream socketpair carrying
//! length-prefixed, length-checked JSON messages.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest message either side accepts.
const MAX_MSG: usize = 1 << 20;

/// A message between the runtime and the container's init.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    /// Parent → init: id maps written and cgroups joined; go on.
    Go,
    /// Intermediate → parent: a new user namespace wants its id maps
    /// (written for this pid).
    NeedMaps(i32),
    /// Parent → intermediate: maps written.
    MapsDone,
    /// Intermediate → parent: the pid of the container's init.
    Pid(i32),
    /// Init → parent: mounts are made; run prestart and createRuntime hooks.
    RunHooks,
    /// Parent → init: hooks done.
    HooksDone,
    /// Init → parent: set up, waiting for start.
    Ready,
    /// Either side: failed, with the reason.
    Error(String),
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    sock: UnixStream,
}

impl From<UnixStream> for Channel {
    fn from(sock: UnixStream) -> Channel {
        Channel { sock }
    }
}

impl Channel {
    /// A connected pair, both ends close-on-exec.
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair().map_err(|e| Error::Other(format!("socketpair: {e}")))?;
        Ok((Channel { sock: a }, Channel { sock: b }))
    }

    /// Sends one message: a 4-byte little-endian length, then JSON.
    pub fn send(&mut self, m: &Msg) -> Result<()> {
        let body = serde_json::to_vec(m).map_err(|e| Error::Other(e.to_string()))?;
        let mut buf = (body.len() as u32).to_le_bytes().to_vec();
        buf.extend_from_slice(&body);
        self.sock
            .write_all(&buf)
            .map_err(|e| Error::Other(format!("send {m:?} to the other side: {e}")))
    }

    /// Receives one message; `None` when the other side closed its end.
    pub fn recv(&mut self) -> Result<Option<Msg>> {
        let mut len = [0u8; 4];
        match self.sock.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::Other(format!("receive: {e}"))),
        }
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_MSG {
            return Err(Error::Other(format!(
                "message of {n} bytes is over the limit"
            )));
        }
        let mut body = vec![0u8; n];
        self.sock
            .read_exact(&mut body)
            .map_err(|e| Error::Other(format!("receive: {e}")))?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| Error::Other(format!("bad message: {e}")))
    }

    /// The error the other side has already sent, if a message is waiting
    /// and it is one (never blocks): when a step of ours fails because the
    /// other side failed first, its reason is the one to report.
    pub fn pending_error(&mut self) -> Option<String> {
        let mut fds = [nix::poll::PollFd::new(
            self.sock.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
        match self.recv() {
            Ok(Some(Msg::Error(e))) => Some(e),
            _ => None,
        }
    }

    /// Receives and expects exactly `want`; an `Error` message becomes an
    /// [`Error::Init`].
    pub fn expect(&mut self, want: &Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if &m == want => Ok(()),
            Some(Msg::Error(e)) => Err(Error::Init(e)),
            Some(m) => Err(Error::Other(format!("expected {want:?}, got {m:?}"))),
            None => Err(Error::Init(format!(
                "the other side exited while corral waited for {want:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_eof() {
        let (mut a, mut b) = Channel::pair().expect("pair");
        a.send(&Msg::Pid(42)).expect("send");
        a.send(&Msg::Error("boom".into())).expect("send");
        assert_eq!(b.recv().expect("recv"), Some(Msg::Pid(42)));
        assert!(matches!(b.expect(&Msg::Go), Err(Error::Init(e)) if e == "boom"));
        drop(a);
        assert_eq!(b.recv().expect("recv"), None);
    }

    #[test]
    fn oversized_length_is_refused() {
        let (a, mut b) = Channel::pair().expect("pair");
        let mut s = a.sock;
        s.write_all(&(u32::MAX).to_le_bytes()).expect("write");
        assert!(b.recv().is_err());
    }
}
