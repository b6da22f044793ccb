//! `linux.netDevices` (runtime-spec 1.3): host network interfaces moved
//! into the container's network namespace, renamed as asked.
//!
//! The move is one rtnetlink `RTM_NEWLINK` with `IFLA_NET_NS_FD` (and
//! `IFLA_IFNAME` for the new name), sent by the parent once the init's
//! network namespace exists. Nothing moves them back: when the namespace
//! dies the kernel returns a physical device to the host and destroys a
//! virtual one (a veth end takes its peer with it).

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use oci_spec::runtime::{LinuxNamespaceType, LinuxNetDevice, Spec};

use crate::error::{Error, Result};

const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;

/// Whether `name` can name a network interface (the kernel's
/// dev_valid_name).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace)
}

fn devices(spec: &Spec) -> Option<&HashMap<String, LinuxNetDevice>> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .filter(|m| !m.is_empty())
}

/// Checks `linux.netDevices`: valid names, present on the host, a network
/// namespace to move them into, no two with one name inside.
pub fn check(spec: &Spec) -> Result<()> {
    let Some(devs) = devices(spec) else {
        return Ok(());
    };
    let has_netns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
    if !has_netns {
        return Err(Error::spec(
            "linux.netDevices",
            "moving devices needs a network namespace in linux.namespaces",
        ));
    }
    let mut inside = HashMap::new();
    let mut names: Vec<&String> = devs.keys().collect();
    names.sort();
    for host in names {
        let field = format!("linux.netDevices.{host}");
        if !valid_ifname(host) {
            return Err(Error::spec(
                &field,
                format!("{host:?} is not an interface name"),
            ));
        }
        let new = devs[host].name().clone().unwrap_or_else(|| host.clone());
        if !valid_ifname(&new) {
            return Err(Error::spec(
                format!("{field}.name"),
                format!("{new:?} is not an interface name"),
            ));
        }
        if let Some(other) = inside.insert(new.clone(), host.clone()) {
            return Err(Error::spec(
                format!("{field}.name"),
                format!("{new:?} is also the name given to {other:?}"),
            ));
        }
        if nix::net::if_::if_nametoindex(host.as_str()).is_err() {
            return Err(Error::spec(
                &field,
                format!("no network interface {host:?} on the host"),
            ));
        }
    }
    Ok(())
}

/// Moves every device of `linux.netDevices` into the network namespace of
/// process `pid`, renamed as asked.
pub fn move_all(spec: &Spec, pid: i32) -> Result<()> {
    let Some(devs) = devices(spec) else {
        return Ok(());
    };
    let ns_path = format!("/proc/{pid}/ns/net");
    let ns: OwnedFd = std::fs::File::open(&ns_path)
        .map_err(|e| Error::io("open", &ns_path, e))?
        .into();
    let sock = route_socket().map_err(|e| Error::sys("linux.netDevices: netlink socket", e))?;
    let mut names: Vec<&String> = devs.keys().collect();
    names.sort();
    for (seq, host) in names.into_iter().enumerate() {
        let new = devs[host].name().clone().unwrap_or_else(|| host.clone());
        let field = format!("linux.netDevices.{host}");
        let index = nix::net::if_::if_nametoindex(host.as_str())
            .map_err(|e| Error::sys(format!("{field}: find {host:?}"), e))?;
        let msg = setlink_message(seq as u32 + 1, index as i32, ns.as_raw_fd() as u32, &new)?;
        request(&sock, &msg).map_err(|e| {
            Error::sys(
                format!("{field}: move {host:?} into the container as {new:?}"),
                e,
            )
        })?;
    }
    Ok(())
}

fn route_socket() -> std::result::Result<OwnedFd, Errno> {
    // SAFETY: plain socket(2) call; the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An `RTM_NEWLINK` for interface `index`: into the namespace `ns_fd`,
/// named `name`.
fn setlink_message(seq: u32, index: i32, ns_fd: u32, name: &str) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    // struct ifinfomsg: family, pad, type, index, flags, change.
    body.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    body.extend_from_slice(&0u16.to_ne_bytes());
    body.extend_from_slice(&index.to_ne_bytes());
    body.extend_from_slice(&0u32.to_ne_bytes());
    body.extend_from_slice(&0u32.to_ne_bytes());
    attr(&mut body, IFLA_NET_NS_FD, &ns_fd.to_ne_bytes());
    let cname = CString::new(name).map_err(|_| Error::Other(format!("NUL in {name:?}")))?;
    attr(&mut body, IFLA_IFNAME, cname.as_bytes_with_nul());
    let mut msg = Vec::with_capacity(16 + body.len());
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&body);
    Ok(msg)
}

/// Appends a route attribute, padded to 4 bytes.
fn attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    buf.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// Sends `msg` to the kernel and reads its acknowledgement.
fn request(sock: &OwnedFd, msg: &[u8]) -> std::result::Result<(), Errno> {
    // SAFETY: `msg` is a valid buffer of its length for the call; the
    // destination is the kernel (a zeroed sockaddr_nl with family set).
    let sent = unsafe {
        let mut to: libc::sockaddr_nl = std::mem::zeroed();
        to.nl_family = libc::AF_NETLINK as u16;
        libc::sendto(
            sock.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&to as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    Errno::result(sent)?;
    let mut buf = [0u8; 4096];
    // SAFETY: `buf` is writable for its length during the call.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    let n = Errno::result(n)? as usize;
    parse_ack(&buf[..n])
}

/// The kernel's answer: an `NLMSG_ERROR` whose error is 0 for success.
fn parse_ack(buf: &[u8]) -> std::result::Result<(), Errno> {
    if buf.len() < 20 {
        return Err(Errno::EPROTO);
    }
    let kind = u16::from_ne_bytes([buf[4], buf[5]]);
    if kind != NLMSG_ERROR {
        return Err(Errno::EPROTO);
    }
    let err = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
    if err == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(-err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        let m = setlink_message(7, 42, 9, "eth1").expect("msg");
        // nlmsghdr 16 + ifinfomsg 16 + fd attr 8 + name attr 4+5 padded to 12.
        assert_eq!(m.len(), 52);
        assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]), 52);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWLINK);
        assert_eq!(i32::from_ne_bytes([m[20], m[21], m[22], m[23]]), 42);
        assert_eq!(u16::from_ne_bytes([m[34], m[35]]), IFLA_NET_NS_FD);
        assert_eq!(u32::from_ne_bytes([m[36], m[37], m[38], m[39]]), 9);
        assert_eq!(u16::from_ne_bytes([m[42], m[43]]), IFLA_IFNAME);
        assert_eq!(&m[44..49], b"eth1\0");
    }

    #[test]
    fn names_and_acks() {
        for ok in ["eth0", "a", "veth-x.1"] {
            assert!(valid_ifname(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "a:b", "sixteen-chars-xx"] {
            assert!(!valid_ifname(bad), "{bad}");
        }
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(parse_ack(&ack), Ok(()));
        ack[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(parse_ack(&ack), Err(Errno::EEXIST));
        assert_eq!(parse_ack(&ack[..8]), Err(Errno::EPROTO));
    }
}
