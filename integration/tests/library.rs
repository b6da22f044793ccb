//! The library API from a multi-threaded caller (this test harness): create
//! goes through the single-threaded helper (the corral binary), the rest
//! runs in-process. And the runnable example.

use std::os::fd::AsRawFd;
use std::time::Duration;

use integration::{assert_nothing_left, corral_bin, error_message, out, Env};
use libcontainer::{Container, ContainerBuilder, Error, ExecOptions, Status};

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

/// An exec that the helper refuses: the error comes back as the helper's
/// kind, not as `Other`.
fn exec_through_helper(c: &Container) -> Error {
    let mut p = oci_spec::runtime::Process::default();
    p.set_args(Some(vec!["true".into()]));
    p.set_cwd("/".into());
    let mut opts = ExecOptions::new(p);
    opts.helper = Some(corral_bin());
    c.exec(opts).expect_err("the exec must be refused")
}

#[test]
fn not_found_and_bad_state_keep_their_kind_through_the_helper() {
    // This caller is multi-threaded: create and exec go through the helper.
    let _t = std::thread::spawn(|| std::thread::sleep(Duration::from_secs(5)));
    assert!(libcontainer::helper::is_multithreaded());
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.id();
    let null = std::fs::File::open("/dev/null").expect("null");
    let fd = null.as_raw_fd();
    let builder = || {
        ContainerBuilder::new(&id, &env.root)
            .bundle(&env.bundle)
            .helper(corral_bin())
            .stdio([fd, fd, fd])
    };
    let mut c = builder().create().expect("create through the helper");
    match builder().create() {
        Err(Error::Exists(x)) => assert_eq!(x, id),
        other => panic!("expected Exists, got {other:?}"),
    }
    c.start().expect("start");
    c.pause().expect("pause");
    match exec_through_helper(&c) {
        Error::BadState { id: x, status, .. } => {
            assert_eq!(x, id);
            assert_eq!(status, "paused");
        }
        other => panic!("expected BadState, got {other:?}"),
    }
    c.resume().expect("resume");
    // A handle loaded before the delete: the helper finds no container.
    let stale = Container::load(&env.root, &id).expect("load");
    c.delete(true).expect("delete");
    match exec_through_helper(&stale) {
        Error::NotExist(x) => assert_eq!(x, id),
        other => panic!("expected NotExist, got {other:?}"),
    }
    assert_nothing_left(&env, &id);

    // A stopped container: not running.
    let mut env = Env::new(&["true"]);
    let id = env.id();
    let mut c = ContainerBuilder::new(&id, &env.root)
        .bundle(&env.bundle)
        .helper(corral_bin())
        .stdio([fd, fd, fd])
        .create()
        .expect("create through the helper");
    c.start().expect("start");
    for _ in 0..500 {
        if c.status() == Status::Stopped {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.status(), Status::Stopped);
    // The helper loads the record and sees the init gone.
    match exec_through_helper(&c) {
        Error::NotRunning => {}
        other => panic!("expected NotRunning, got {other:?}"),
    }
    c.delete(false).expect("delete");
    assert_nothing_left(&env, &id);
}

/// The helper path (this multi-threaded caller) and the CLI path (the
/// single-threaded `corral`, which clones directly) fail alike: the helper
/// gives back the kind the CLI meets, and the message the CLI prints ends
/// with that error's (after runc's "exec failed: " where runc has one).
#[test]
fn helper_and_cli_give_the_same_error() {
    let _t = std::thread::spawn(|| std::thread::sleep(Duration::from_secs(5)));
    assert!(libcontainer::helper::is_multithreaded());
    let same_on_the_cli = |env: &Env, args: &[&str], e: &Error| {
        let o = env.corral(args);
        assert!(!o.status.success(), "corral {args:?} succeeded");
        let cli = error_message(&out(&o.stderr));
        assert!(cli.ends_with(&e.to_string()), "CLI {cli:?}, helper {e:?}");
    };

    // Spec: a relative cwd, refused by create.
    let mut env = Env::new(&["true"]);
    env.edit(|c| c["process"]["cwd"] = serde_json::json!("relative"));
    let id = env.id();
    let e = ContainerBuilder::new(&id, &env.root)
        .bundle(&env.bundle)
        .helper(corral_bin())
        .create()
        .expect_err("bad cwd");
    assert!(
        matches!(&e, Error::Spec { path, .. } if path == "process.cwd"),
        "{e:?}"
    );
    let bundle = env.bundle.to_str().expect("utf8").to_string();
    same_on_the_cli(&env, &["create", "--bundle", &bundle, &id], &e);
    assert_nothing_left(&env, &id);

    // BadState: an exec into a paused container; NotExist: one into a
    // container deleted since its handle was loaded.
    let mut env = Env::new(&["sleep", "1000"]);
    let id = env.id();
    let null = std::fs::File::open("/dev/null").expect("null");
    let fd = null.as_raw_fd();
    let mut c = ContainerBuilder::new(&id, &env.root)
        .bundle(&env.bundle)
        .helper(corral_bin())
        .stdio([fd, fd, fd])
        .create()
        .expect("create through the helper");
    c.start().expect("start");
    c.pause().expect("pause");
    let e = exec_through_helper(&c);
    assert!(
        matches!(&e, Error::BadState { status, .. } if status == "paused"),
        "{e:?}"
    );
    same_on_the_cli(&env, &["exec", &id, "true"], &e);
    c.resume().expect("resume");
    let stale = Container::load(&env.root, &id).expect("load");
    c.delete(true).expect("delete");
    let e = exec_through_helper(&stale);
    assert!(matches!(&e, Error::NotExist(x) if *x == id), "{e:?}");
    same_on_the_cli(&env, &["exec", &id, "true"], &e);
    assert_nothing_left(&env, &id);
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
