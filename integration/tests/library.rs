//! The library API from a multi-threaded caller (this test harness): create
//! goes through the single-threaded helper (the corral binary), the rest
//! runs in-process. And the runnable example.

use std::os::fd::AsRawFd;
use std::time::Duration;

use integration::{assert_nothing_left, corral_bin, Env};
use libcontainer::{Container, ContainerBuilder, Error, Status};

#[test]
fn lifecycle_from_a_multithreaded_caller() {
    assert!(libcontainer::helper::is_multithreaded() || std::thread::spawn(|| ()).join().is_ok());
    let mut env = Env::new(&["sh", "-c", "echo hello from $(hostname); sleep 1000"]);
    let id = env.id();
    let outp = env.scratch.join("out");
    let f = std::fs::File::create(&outp).expect("out");
    let null = std::fs::File::open("/dev/null").expect("null");
    let mut c = ContainerBuilder::new(&id, &env.root)
        .bundle(&env.bundle)
        .helper(corral_bin())
        .stdio([null.as_raw_fd(), f.as_raw_fd(), f.as_raw_fd()])
        .create()
        .expect("create through the helper");
    assert_eq!(c.status(), Status::Created);
    assert_eq!(c.state().id, id);
    c.start().expect("start");
    assert_eq!(c.status(), Status::Running);
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&outp).unwrap_or_default();
        if text.contains("hello") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(text, "hello from corral\n");
    let loaded = Container::load(&env.root, &id).expect("load");
    assert_eq!(loaded.pid(), c.pid());
    loaded.kill(libc::SIGKILL, false).expect("kill");
    for _ in 0..200 {
        if c.status() == Status::Stopped {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.status(), Status::Stopped);
    assert!(matches!(
        c.kill(libc::SIGTERM, false),
        Err(Error::NotRunning)
    ));
    c.delete(false).expect("delete");
    assert_nothing_left(&env, &id);
}

#[test]
fn errors_keep_their_kind_through_the_helper() {
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["process"]["cwd"] = serde_json::json!("relative"));
    let id = env.id();
    let e = ContainerBuilder::new(&id, &env.root)
        .bundle(&env.bundle)
        .helper(corral_bin())
        .create()
        .expect_err("bad cwd");
    match e {
        Error::Spec { path, .. } => assert_eq!(path, "process.cwd"),
        other => panic!("expected a spec error, got {other:?}"),
    }
    assert_nothing_left(&env, &id);
    assert!(matches!(
        Container::load(&env.root, &id),
        Err(Error::NotExist(_))
    ));
}

#[test]
fn example_runs_a_bundle() {
    let mut env = Env::new(&["sh", "-c", "exit 3"]);
    let id = env.id();
    let example = corral_bin().parent().expect("dir").join("examples/run");
    assert!(
        example.exists(),
        "{example:?}: cargo build --examples first"
    );
    let st = std::process::Command::new(example)
        .arg(&env.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("example");
    assert_eq!(st.code(), Some(3));
}
