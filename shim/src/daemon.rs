//! The long-lived shim: the ttrpc server, and the `delete` action for a
//! container whose shim is gone.

use std::io::Write;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use containerd_shim_protos::api::DeleteResponse;
use containerd_shim_protos::protobuf::{Message, MessageField};

use crate::events::{now, Publisher};
use crate::service::{Service, TaskService};
use crate::Flags;

/// Where containers of namespace `ns` keep their state.
fn state_root(ns: &str) -> PathBuf {
    PathBuf::from("/run/containerd/corral").join(ns)
}

/// Serves the Task service on `listener` until Shutdown.
pub fn serve(f: &Flags, listener: OwnedFd) -> Result<(), String> {
    // One malloc arena, not one per thread: the daemon lives as long as
    // its containers and allocates little, and glibc's per-thread arenas
    // made its resident memory creep by ~13% over 500 containers (one
    // arena: under 5%, and flat after; integration/tests/shim.rs).
    // SAFETY: mallopt only sets an allocator parameter; no thread other
    // than this one exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    // Every container process is ours to reap, whoever forked it.
    libcontainer::run::become_subreaper().map_err(|e| e.to_string())?;
    let root = state_root(&f.namespace);
    std::fs::create_dir_all(&root).map_err(|e| format!("mkdir {root:?}: {e}"))?;
    let publisher = Publisher::new(&f.namespace, &f.address);
    let service = Arc::new(TaskService(Arc::new(Service::new(
        root,
        crate::socket_path(f),
        f.namespace.clone(),
        publisher,
    ))));
    service.0.sweep_orphans();
    // One implementation under both names: containerd 1.6/1.7 speak
    // containerd.task.v2, containerd 2.x containerd.task.v3 (the messages
    // are the same).
    let mut methods = containerd_shim_protos::create_task(service.clone());
    let v2: Vec<_> = containerd_shim_protos::create_task(service)
        .into_iter()
        .map(|(k, v)| (k.replace("/containerd.task.v3.", "/containerd.task.v2."), v))
        .collect();
    methods.extend(v2);
    let mut server = ttrpc::Server::new()
        .add_listener(listener.into_raw_fd())
        .map_err(|e| format!("listen: {e}"))?
        .register_service(methods);
    server.start().map_err(|e| format!("serve: {e}"))?;
    // The server runs on its own threads; Shutdown exits the process.
    loop {
        std::thread::park();
    }
}

/// `delete`: the shim of this container is gone; remove the container (kill
/// it if it still runs), unmount its rootfs and print the DeleteResponse.
pub fn delete_orphan(f: &Flags) -> Result<(), String> {
    let root = state_root(&f.namespace);
    let mut pid = 0;
    if let Ok(c) = libcontainer::Container::load(&root, &f.id) {
        pid = c.pid().unwrap_or(0) as u32;
        let _ = c.kill(libc::SIGKILL, true);
        c.delete(true).map_err(|e| e.to_string())?;
    }
    let _ = libcontainer::rootfs::unmount_all(&f.bundle.join("rootfs"));
    let _ = std::fs::remove_file(crate::socket_path(f));
    let mut r = DeleteResponse::new();
    r.pid = pid;
    r.exit_status = 128 + libc::SIGKILL as u32;
    r.exited_at = MessageField::some(now());
    let bytes = r.write_to_bytes().map_err(|e| e.to_string())?;
    let mut out = std::io::stdout();
    out.write_all(&bytes)
        .and_then(|_| out.flush())
        .map_err(|e| format!("print the response: {e}"))
}
