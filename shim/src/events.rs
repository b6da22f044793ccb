//! Task events forwarded to containerd over its ttrpc socket
//! (`containerd.services.events.ttrpc.v1.Events/Forward`), in the order
//! they happen: one sender thread, a queue in between.

use std::sync::mpsc::{channel, Sender};

use containerd_shim_protos::events::task;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::{MessageDyn, MessageField};
use containerd_shim_protos::shim::event::Envelope;
use containerd_shim_protos::shim::events::ForwardRequest;
use containerd_shim_protos::{topics, EventsClient};

/// One event, ready to send.
pub struct Event {
    topic: &'static str,
    any: Any,
}

/// Packs `m` as containerd's typeurl does: the type URL is the message's
/// full protobuf name.
fn pack(m: &dyn MessageDyn) -> Any {
    let mut a = Any::new();
    a.type_url = m.descriptor_dyn().full_name().to_string();
    a.value = m.write_to_bytes_dyn().unwrap_or_default();
    a
}

/// Now as a protobuf timestamp.
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut t = Timestamp::new();
    t.seconds = d.as_secs() as i64;
    t.nanos = d.subsec_nanos() as i32;
    t
}

impl Event {
    /// `/tasks/create`.
    pub fn create(id: &str, bundle: &str, pid: u32) -> Event {
        let mut e = task::TaskCreate::new();
        e.container_id = id.into();
        e.bundle = bundle.into();
        e.pid = pid;
        Event {
            topic: topics::TASK_CREATE_EVENT_TOPIC,
            any: pack(&e),
        }
    }
    /// `/tasks/start`.
    pub fn start(id: &str, pid: u32) -> Event {
        let mut e = task::TaskStart::new();
        e.container_id = id.into();
        e.pid = pid;
        Event {
            topic: topics::TASK_START_EVENT_TOPIC,
            any: pack(&e),
        }
    }
    /// `/tasks/exit`.
    pub fn exit(id: &str, exec_id: &str, pid: u32, status: u32, at: Timestamp) -> Event {
        let mut e = task::TaskExit::new();
        e.container_id = id.into();
        e.id = if exec_id.is_empty() {
            id.into()
        } else {
            exec_id.into()
        };
        e.pid = pid;
        e.exit_status = status;
        e.exited_at = MessageField::some(at);
        Event {
            topic: topics::TASK_EXIT_EVENT_TOPIC,
            any: pack(&e),
        }
    }
    /// `/tasks/delete`.
    pub fn delete(id: &str, pid: u32, status: u32, at: Timestamp) -> Event {
        let mut e = task::TaskDelete::new();
        e.container_id = id.into();
        e.id = id.into();
        e.pid = pid;
        e.exit_status = status;
        e.exited_at = MessageField::some(at);
        Event {
            topic: topics::TASK_DELETE_EVENT_TOPIC,
            any: pack(&e),
        }
    }
    /// `/tasks/exec-added`.
    pub fn exec_added(id: &str, exec_id: &str) -> Event {
        let mut e = task::TaskExecAdded::new();
        e.container_id = id.into();
        e.exec_id = exec_id.into();
        Event {
            topic: topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            any: pack(&e),
        }
    }
    /// `/tasks/exec-started`.
    pub fn exec_started(id: &str, exec_id: &str, pid: u32) -> Event {
        let mut e = task::TaskExecStarted::new();
        e.container_id = id.into();
        e.exec_id = exec_id.into();
        e.pid = pid;
        Event {
            topic: topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            any: pack(&e),
        }
    }
    /// `/tasks/oom`.
    pub fn oom(id: &str) -> Event {
        let mut e = task::TaskOOM::new();
        e.container_id = id.into();
        Event {
            topic: topics::TASK_OOM_EVENT_TOPIC,
            any: pack(&e),
        }
    }
    /// `/tasks/paused`.
    pub fn paused(id: &str) -> Event {
        let mut e = task::TaskPaused::new();
        e.container_id = id.into();
        Event {
            topic: topics::TASK_PAUSED_EVENT_TOPIC,
            any: pack(&e),
        }
    }
    /// `/tasks/resumed`.
    pub fn resumed(id: &str) -> Event {
        let mut e = task::TaskResumed::new();
        e.container_id = id.into();
        Event {
            topic: topics::TASK_RESUMED_EVENT_TOPIC,
            any: pack(&e),
        }
    }
}

/// A ttrpc client on the unix socket `path`. The socket is connected
/// here, not by `ttrpc::Client::connect`, which leaks its socket when the
/// connect fails (ttrpc 0.10): one fd per event while containerd is away.
fn connect(path: &str) -> Option<ttrpc::Client> {
    let sock = std::os::unix::net::UnixStream::connect(path).ok()?;
    ttrpc::Client::new(std::os::fd::IntoRawFd::into_raw_fd(sock)).ok()
}

/// Queues events for containerd.
#[derive(Clone)]
pub struct Publisher {
    tx: Sender<Event>,
}

impl Publisher {
    /// A publisher for namespace `ns`, sending to containerd's ttrpc socket
    /// (`TTRPC_ADDRESS`, else `<address>.ttrpc`).
    pub fn new(ns: &str, address: &str) -> Publisher {
        let target = std::env::var("TTRPC_ADDRESS").unwrap_or_else(|_| format!("{address}.ttrpc"));
        let ns = ns.to_string();
        let (tx, rx) = channel::<Event>();
        std::thread::spawn(move || {
            let mut client: Option<EventsClient> = None;
            for ev in rx {
                let mut req = ForwardRequest::new();
                let mut env = Envelope::new();
                env.timestamp = MessageField::some(now());
                env.namespace = ns.clone();
                env.topic = ev.topic.to_string();
                env.event = MessageField::some(ev.any);
                req.envelope = MessageField::some(env);
                // One reconnect per event if the connection broke.
                for _ in 0..2 {
                    if client.is_none() {
                        client = connect(&target).map(EventsClient::new);
                    }
                    let Some(c) = &client else { break };
                    let mut ctx = ttrpc::context::with_timeout(5_000_000_000);
                    ctx.add("containerd-namespace-ttrpc".into(), ns.clone());
                    match c.forward(ctx, &req) {
                        Ok(_) => break,
                        Err(e) => {
                            eprintln!("forward {}: {e}", req.envelope.topic);
                            client = None;
                        }
                    }
                }
            }
        });
        Publisher { tx }
    }

    /// Queues `e`.
    pub fn publish(&self, e: Event) {
        let _ = self.tx.send(e);
    }
}
