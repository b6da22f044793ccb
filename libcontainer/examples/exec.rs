//! Starts a container (its config's process should keep running, e.g.
//! `sleep 100`), runs another process in it, waits for that process, then
//! removes the container.
//!
//! ```text
//! cargo run -p libcontainer --example exec -- BUNDLE STATE_ROOT PROGRAM [ARGS...]
//! ```

use libcontainer::{helper, ContainerBuilder, ExecOptions};

fn main() -> Result<(), libcontainer::Error> {
    helper::run_if_helper();
    // Then from a sealed image of this binary: what enters a container is
    // a clone of this process (CVE-2019-5736).
    libcontainer::process::seal::seal_self()?;
    let mut args = std::env::args().skip(1);
    let bundle = args
        .next()
        .expect("usage: exec BUNDLE STATE_ROOT PROGRAM [ARGS...]");
    let root = args
        .next()
        .expect("usage: exec BUNDLE STATE_ROOT PROGRAM [ARGS...]");
    let argv: Vec<String> = args.collect();
    assert!(
        !argv.is_empty(),
        "usage: exec BUNDLE STATE_ROOT PROGRAM [ARGS...]"
    );
    let id = format!("example-exec-{}", std::process::id());

    let mut c = ContainerBuilder::new(&id, &root).bundle(&bundle).create()?;
    c.start()?;
    // The exec'd process is forked into the container's PID namespace by
    // an intermediate child: as a subreaper we get to wait for it.
    libcontainer::run::become_subreaper()?;
    // The container's own process settings (user, env, capabilities…) with
    // other arguments.
    let mut process = c.spec().process().clone().expect("a process");
    process.set_args(Some(argv));
    process.set_terminal(Some(false));
    let e = c.exec(ExecOptions::new(process))?;
    let code = libcontainer::run::wait_exit(e.pid)?;
    println!("exec'd process {} exited with status {code}", e.pid);
    c.delete(true)?;
    std::process::exit(code);
}
