//! The process's security context: rlimits, oom_score_adj, user and groups,
//! the five capability sets, no_new_privs and umask.

use std::collections::HashSet;

use caps::{CapSet, Capability};
use oci_spec::runtime::{
    Capabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType, Process, User,
};

use crate::error::{Error, Result, SysContext};
use crate::sys;

/// The kernel's resource number of an OCI rlimit type.
pub fn rlimit_resource(t: PosixRlimitType) -> u32 {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Applies `process.rlimits`.
pub fn set_rlimits(rl: &[PosixRlimit]) -> Result<()> {
    for (i, r) in rl.iter().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        sys::setrlimit(rlimit_resource(r.typ()), &lim).ctx(|| {
            format!(
                "process.rlimits[{i}]: set {} to soft {} hard {}",
                rlimit_name(r),
                r.soft(),
                r.hard()
            )
        })?;
    }
    Ok(())
}

/// The config's name of an rlimit's type (`RLIMIT_NOFILE`).
pub fn rlimit_name(r: &PosixRlimit) -> String {
    serde_json::to_value(r.typ())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", r.typ()))
}

/// Writes `/proc/PID/oom_score_adj` of a process corral made, from its
/// parent, before the process is let go: the process itself, in a user
/// namespace, could write it only after making itself dumpable, which
/// would open its fds to every uid-0 process of the host's user namespace
/// for that moment.
pub fn set_oom_score_adj(pid: i32, v: i32) -> Result<()> {
    crate::procfile::write(
        &std::path::PathBuf::from(format!("/proc/{pid}/oom_score_adj")),
        v.to_string().as_bytes(),
    )
    .map_err(|e| Error::Other(format!("process.oomScoreAdj: write {v}: {e}")))
}

/// Sets `no_new_privs`.
pub fn set_no_new_privs() -> Result<()> {
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        .map(drop)
        .ctx(|| "set no_new_privs".to_string())
}

fn to_set(c: &Option<Capabilities>) -> HashSet<Capability> {
    c.iter()
        .flatten()
        .filter_map(|cap| match serde_json::to_value(cap) {
            Ok(serde_json::Value::String(name)) => name.parse::<Capability>().ok(),
            _ => None,
        })
        .collect()
}

/// A warning for each ambient capability of `p` that is not both
/// inheritable and permitted: the kernel raises no other, and corral skips
/// it, as runc does (runc warns that it cannot raise it).
pub fn ambient_warnings(p: Option<&Process>) -> Vec<String> {
    let Some(c) = p.and_then(|p| p.capabilities().as_ref()) else {
        return Vec::new();
    };
    let (inheritable, permitted) = (to_set(c.inheritable()), to_set(c.permitted()));
    let mut missing: Vec<String> = to_set(c.ambient())
        .into_iter()
        .filter(|cap| !(inheritable.contains(cap) && permitted.contains(cap)))
        .map(|cap| cap.to_string())
        .collect();
    missing.sort();
    missing
        .into_iter()
        .map(|cap| {
            // runc's words (suites match them), then why.
            format!(
                "can't raise ambient capability {cap}: operation not permitted (process.capabilities.ambient: it is not in both the inheritable and the permitted set)"
            )
        })
        .collect()
}

/// `(uid_t)-1`, the one id the kernel cannot hold: `setresuid(2)` and
/// `setresgid(2)` take it as "leave this id unchanged", so a process asked
/// to run as 4294967295 would keep the runtime's root (crun's
/// CVE-2026-30892 is a parser that produced it).
pub const NO_ID: u32 = u32::MAX;

/// Checks `process.user`: no uid, gid or additional gid is [`NO_ID`].
/// Errors name the field and the value.
pub fn check_user(u: &User) -> Result<()> {
    let bad = |field: String, v: u32| {
        Error::spec(
            field,
            format!("{v} is (uid_t)-1, which the kernel takes as \"unchanged\": ids are 0 to 4294967294"),
        )
    };
    if u.uid() == NO_ID {
        return Err(bad("process.user.uid".into(), u.uid()));
    }
    if u.gid() == NO_ID {
        return Err(bad("process.user.gid".into(), u.gid()));
    }
    for (i, g) in u.additional_gids().iter().flatten().enumerate() {
        if *g == NO_ID {
            return Err(bad(format!("process.user.additionalGids[{i}]"), *g));
        }
    }
    Ok(())
}

/// Switches to the process's uid, gid and groups, keeping exactly the
/// capability sets the config asks for. Refuses an id the kernel would
/// leave unchanged ([`check_user`]) and checks afterwards that the real,
/// effective and saved ids are the ones asked for.
pub fn set_user_and_caps(p: &Process) -> Result<()> {
    check_user(p.user())?;
    let empty = LinuxCapabilities::default();
    let c = p.capabilities().as_ref().unwrap_or(&empty);
    let bounding = to_set(c.bounding());
    for cap in caps::all() {
        if !bounding.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| Error::Other(format!("drop {cap} from the bounding set: {e}")))?;
        }
    }
    let u = p.user();
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0).ctx(|| "set keepcaps".to_string())?;
    let groups: Vec<nix::unistd::Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups)
        .ctx(|| format!("process.user.additionalGids: setgroups {groups:?}"))?;
    let gid = nix::unistd::Gid::from_raw(u.gid());
    nix::unistd::setresgid(gid, gid, gid)
        .ctx(|| format!("process.user.gid: setresgid {}", u.gid()))?;
    let uid = nix::unistd::Uid::from_raw(u.uid());
    nix::unistd::setresuid(uid, uid, uid)
        .ctx(|| format!("process.user.uid: setresuid {}", u.uid()))?;
    let ids = nix::unistd::getresuid().ctx(|| "getresuid".to_string())?;
    let gids = nix::unistd::getresgid().ctx(|| "getresgid".to_string())?;
    if [ids.real, ids.effective, ids.saved] != [uid; 3]
        || [gids.real, gids.effective, gids.saved] != [gid; 3]
    {
        return Err(Error::Other(format!(
            "process.user: asked for uid {} gid {}, the kernel left uid {ids:?} gid {gids:?}",
            u.uid(),
            u.gid()
        )));
    }
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0).ctx(|| "clear keepcaps".to_string())?;
    let set = |which: CapSet, v: &HashSet<Capability>| {
        caps::set(None, which, v)
            .map_err(|e| Error::Other(format!("set {which:?} capabilities {v:?}: {e}")))
    };
    set(CapSet::Inheritable, &to_set(c.inheritable()))?;
    set(CapSet::Effective, &to_set(c.effective()))?;
    set(CapSet::Permitted, &to_set(c.permitted()))?;
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| Error::Other(format!("clear ambient capabilities: {e}")))?;
    // The kernel raises an ambient capability only if it is both permitted
    // and inheritable. runc's default config lists ambient capabilities
    // without inheritable ones and runc skips them; corral does the same so
    // that the same configs run, and raises every one it can.
    let inheritable = to_set(c.inheritable());
    let permitted = to_set(c.permitted());
    for cap in to_set(c.ambient())
        .into_iter()
        .filter(|c| inheritable.contains(c) && permitted.contains(c))
    {
        caps::raise(None, CapSet::Ambient, cap)
            .map_err(|e| Error::Other(format!("process.capabilities.ambient: raise {cap}: {e}")))?;
    }
    Ok(())
}

/// Applies `process.user.umask` (0022 when absent, as runc).
pub fn set_umask(p: &Process) {
    let m = p.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
}
