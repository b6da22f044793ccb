//! The parent side of `create`: makes the container's record, cgroups and
//! exec fifo, clones the init with its namespaces into its cgroups, writes
//! its id maps, runs the prestart and createRuntime hooks while the init
//! makes its mounts, and returns once the init waits for `start`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType as NS};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, SysContext};
use crate::faults;
use crate::namespaces::Plan;
use crate::process::channel::{Channel, Msg};
use crate::process::init::{child_main, InitArgs};
use crate::process::{clone, pid_file};
use crate::store::{self, StateDir, StoredState};
use crate::{cgroups, hooks, spec, sys, tty};

/// The options of a create (`ContainerBuilder`'s), as the helper receives
/// them too: its own stdio are the container's, so `stdio` does not cross.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CreateOptions {
    pub(crate) id: String,
    pub(crate) root: PathBuf,
    pub(crate) bundle: PathBuf,
    pub(crate) pid_file: Option<PathBuf>,
    pub(crate) console_socket: Option<PathBuf>,
    pub(crate) no_pivot: bool,
    pub(crate) no_new_keyring: bool,
    pub(crate) preserve_fds: u32,
    #[serde(skip)]
    pub(crate) stdio: Option<[RawFd; 3]>,
    #[serde(skip)]
    pub(crate) console_to_caller: bool,
    /// The systemd cgroup driver (`--systemd-cgroup`): the container's
    /// cgroup is a transient scope.
    #[serde(default)]
    pub(crate) systemd_cgroup: bool,
}

/// A created container: its record, what the create accepted without
/// applying, and the pty master when it goes to the caller.
pub(crate) struct Created {
    pub(crate) dir: StateDir,
    pub(crate) st: StoredState,
    pub(crate) warnings: Vec<String>,
    pub(crate) console: Option<OwnedFd>,
}

/// Creates the container in this (single-threaded) process: loads and
/// checks the bundle, writes the record, then makes the rest
/// (`create_in`); on error undoes whatever was made.
pub(crate) fn create(o: &CreateOptions) -> Result<Created> {
    super::preserved_fds::reserve(o.preserve_fds)?;
    // The init is a clone of this process: never of a writable image.
    crate::process::seal::require_sealed()?;
    let bundle = spec::load(&o.bundle)?;
    let process = bundle
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::spec("process", "missing"))?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && o.console_socket.is_none() && !o.console_to_caller {
        return Err(Error::spec(
            "process.terminal",
            "true, but no console socket was given to receive the terminal",
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::spec(
            "process.terminal",
            "false, but a console socket was given: there is no terminal to send",
        ));
    }
    let publish_netns =
        crate::netns::requested(&bundle.spec.annotations().clone().unwrap_or_default())?;
    let plan = Plan::from_spec(&bundle.spec);
    if publish_netns && !plan.creates(NS::Network) {
        return Err(Error::spec(
            format!("annotations.{}", crate::netns::ANNOTATION),
            "the container has no network namespace of its own to publish",
        ));
    }
    if !plan.owns(NS::Mount) {
        return Err(Error::spec(
            "linux.namespaces",
            "a mount namespace is required",
        ));
    }
    let linux = bundle.spec.linux().clone().unwrap_or_default();
    let cg = if o.systemd_cgroup {
        cgroups::plan_systemd(&bundle.hierarchies, linux.cgroups_path().as_deref(), &o.id)?
    } else {
        cgroups::plan_with(&bundle.hierarchies, linux.cgroups_path().as_deref(), &o.id)?
    };
    let mut st = StoredState {
        id: o.id.clone(),
        oci_version: bundle.spec.version().clone(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        pid: 0,
        pid_start: 0,
        created: store::now_rfc3339(),
        owner: owner_name(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        cgroup: cg,
        started: false,
        config: bundle.spec.clone(),
        extra_seccomp_flags: bundle.extras.seccomp_flags,
        creating: true,
    };
    let dir = StateDir::create(&o.root, &o.id)?;
    let lock = dir.lock()?;
    // The record comes first: whatever is made after it, a creation
    // killed at any point leaves a record naming it (see `Container::load`).
    if let Err(e) = dir.save(&st) {
        let _ = dir.remove();
        return Err(e);
    }
    faults::crash_point("state-dir");
    let mut made = Made::default();
    let lock_fd = lock.as_raw_fd();
    match create_in(o, &dir, &bundle, &plan, lock_fd, &mut st, &mut made) {
        Ok(c) => Ok(c),
        Err(e) => {
            made.undo();
            let _ = dir.remove();
            Err(e)
        }
    }
}

fn create_in(
    o: &CreateOptions,
    dir: &StateDir,
    bundle: &spec::Bundle,
    plan: &Plan,
    lock: RawFd,
    st: &mut StoredState,
    made: &mut Made,
) -> Result<Created> {
    let spec = &bundle.spec;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let linux = spec.linux().clone().unwrap_or_default();
    let cg = st.cgroup.clone();
    made.cgroups = Some(cg.clone());
    let cgm = cgroups::manager(&cg);
    cgm.create()?;
    cgm.check_joinable()?;
    faults::crash_point("cgroup");
    let fifo = dir.fifo();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {fifo:?}"))?;
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622))
        .map_err(|e| Error::io("chmod", &fifo, e))?;
    let fifo_fd: OwnedFd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {fifo:?}"))?;
    // The init sends the pty master to the console socket, or to us.
    let (console, to_caller) = match &o.console_socket {
        Some(p) => (Some(tty::connect(p)?), None),
        None if terminal && o.console_to_caller => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| Error::Other(format!("socketpair: {e}")))?;
            (Some(theirs), Some(ours))
        }
        None => (None, None),
    };
    let state_for_hooks = {
        let st = st.clone();
        move |status: &str, pid: i32| st.hook_state_json(status, pid)
    };
    let seccomp = match linux.seccomp() {
        Some(sc) => Some(crate::seccomp::Prepared::new(
            sc,
            bundle.extras.seccomp_flags,
        )?),
        None => None,
    };
    // Idmapped mounts are made here, with the host's privileges; the
    // init inherits the detached mounts.
    let idmapped = crate::idmap::prepare(spec, &bundle.extras)?;
    let idmapped_fds = idmapped.fds();
    let (mut parent, child) = Channel::pair()?;
    // One clone does it all unless namespaces are joined or a time
    // namespace is made: then an intermediate process forks the init.
    let fast = plan.join.is_empty() && !plan.creates(NS::Time);
    let clone_flags = if fast {
        (plan.create & !(libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME)) as u64
    } else {
        0
    };
    let args = InitArgs {
        id: &o.id,
        spec,
        rootfs: &bundle.rootfs,
        plan,
        cgroups: &cg,
        hierarchies: &bundle.hierarchies,
        fifo: fifo_fd.as_raw_fd(),
        console: console.as_ref().map(|c| c.as_raw_fd()),
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        preserve_fds: o.preserve_fds,
        stdio: o.stdio,
        state_json: &state_for_hooks,
        seccomp: seccomp.as_ref(),
        idmapped: &idmapped_fds,
        lock,
    };
    // The init enters its cgroups itself (cgroups::Entry, clone::into_cgroups): a cgroup2
    // directory by the clone, v1 hierarchies by writing 0 to `tasks`.
    let mut entry = cgm.entry()?;
    let first = match clone::into_cgroups(&mut entry, clone_flags, "clone the container init")? {
        sys::Forked::Child => {
            drop(parent);
            super::seal::release_mount_fd();
            child_main(child, &args, entry, fast)
        }
        sys::Forked::Parent(pid) => pid,
    };
    drop(entry);
    drop(child);
    made.pids.push(first);
    cgm.joined();
    let maps = |pid: i32| write_id_maps(pid, linux.uid_mappings(), linux.gid_mappings());
    let pid = if fast {
        if plan.creates(NS::User) {
            maps(first)?;
        }
        first
    } else {
        let mut init_pid = None;
        while init_pid.is_none() {
            match parent.recv()? {
                Some(Msg::NeedMaps(p)) => {
                    maps(p)?;
                    parent.send(&Msg::MapsDone)?;
                }
                Some(Msg::Pid(p)) => init_pid = Some(p),
                Some(Msg::Error(e)) => return Err(Error::Init(e)),
                other => {
                    return Err(Error::Init(format!(
                        "unexpected {other:?} from the intermediate process"
                    )))
                }
            }
        }
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(first), None);
        let p = init_pid.unwrap_or(0);
        made.pids.push(p);
        p
    };
    let (start, _) = store::proc_start_time(pid)
        .ok_or_else(|| Error::Init("the init exited during create".into()))?;
    st.pid = pid;
    st.pid_start = start;
    dir.save(st)?;
    faults::crash_point("clone");
    // The init is in its cgroups already (cgroups::Entry) and makes its
    // mounts while the resources are written here; it waits for the
    // hooks only.
    let limits = linux
        .resources()
        .as_ref()
        .map(|r| cgroups::split_devices(r).0);
    let joined = (|| {
        if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
            crate::security::set_oom_score_adj(pid, adj)?;
        }
        parent.send(&Msg::Go)?;
        parent.send(&Msg::Pid(pid))?;
        crate::netdev::move_all(spec, pid)?;
        cgm.apply_resources(limits.as_ref(), false)
    })();
    if let Err(e) = joined {
        // The init may have failed first (a mount): its reason wins.
        return Err(parent.pending_error().map(Error::Init).unwrap_or(e));
    }
    // The init makes its mounts now: the unmount of our image's detached
    // mount waits out its grace period meanwhile.
    super::seal::release_mount_fd();
    loop {
        match parent.recv()? {
            Some(Msg::RunHooks) => {
                faults::crash_point("mounts");
                let json = st.hook_state_json("creating", pid);
                hooks::run(spec.hooks(), "prestart", &json)?;
                hooks::run(spec.hooks(), "createRuntime", &json)?;
                parent.send(&Msg::HooksDone)?;
            }
            Some(Msg::Ready) => {
                // The device policy applies with or without rules in
                // the config (a container never gets every host device).
                let rules = linux
                    .resources()
                    .as_ref()
                    .and_then(|r| r.devices().clone())
                    .unwrap_or_default();
                let nodes = linux.devices().clone().unwrap_or_default();
                cgm.apply_devices(&rules, &nodes)?;
                if cgm.rewrites_files_on_devices() {
                    cgm.apply_resources(limits.as_ref(), false)?;
                }
                if crate::netns::requested(&st.annotations)? {
                    made.netns = Some((o.root.clone(), o.id.clone()));
                    crate::netns::publish(&o.root, &o.id, pid)?;
                }
                faults::crash_point("ready");
                break;
            }
            Some(Msg::Error(e)) => return Err(Error::Init(e)),
            Some(m) => return Err(Error::Init(format!("unexpected message {m:?}"))),
            None => return Err(Error::Init("the init exited during create".into())),
        }
    }
    st.creating = false;
    dir.save(st)?;
    if let Some(pf) = &o.pid_file {
        pid_file::write_pid_file(pf, pid)?;
    }
    let master = match to_caller {
        Some(sock) => Some(tty::recv_fd(sock.as_raw_fd())?.0),
        None => None,
    };
    Ok(Created {
        dir: dir.clone(),
        st: st.clone(),
        warnings: bundle.warnings.clone(),
        console: master,
    })
}

/// What a failed create must undo.
#[derive(Default)]
struct Made {
    pids: Vec<i32>,
    cgroups: Option<cgroups::CgroupState>,
    /// (state root, id) of a published network namespace.
    netns: Option<(PathBuf, String)>,
}

impl Made {
    fn undo(&mut self) {
        if let Some((root, id)) = self.netns.take() {
            let _ = crate::netns::unpublish(&root, &id);
        }
        for p in self.pids.drain(..) {
            let pid = nix::unistd::Pid::from_raw(p);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cg) = self.cgroups.take() {
            let cgm = cgroups::manager(&cg);
            let _ = cgm.signal_all(libc::SIGKILL);
            let _ = cgm.remove();
        }
    }
}

fn write_id_maps(
    pid: i32,
    uid: &Option<Vec<LinuxIdMapping>>,
    gid: &Option<Vec<LinuxIdMapping>>,
) -> Result<()> {
    for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
        let text: String = maps
            .iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, &text).map_err(|e| {
            Error::spec(
                if file == "uid_map" {
                    "linux.uidMappings"
                } else {
                    "linux.gidMappings"
                },
                format!("write {text:?} to {path}: {e}"),
            )
        })?;
    }
    Ok(())
}

/// The name of the effective user, from the host's /etc/passwd (as runc
/// reads it: no NSS, so that a static corral needs no shared libraries),
/// or the uid as a number.
fn owner_name() -> String {
    let uid = nix::unistd::geteuid().as_raw();
    crate::passwd::read(Path::new("/etc/passwd"))
        .and_then(|text| crate::passwd::entry(&text, uid))
        .map(|e| e.name)
        .unwrap_or_else(|| uid.to_string())
}
