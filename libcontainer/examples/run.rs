//! Runs a container and waits for it, as `corral run` does.
//!
//! ```text
//! cargo run -p libcontainer --example run -- BUNDLE [STATE_ROOT]
//! ```
//!
//! Exits with the container's exit status.

use libcontainer::{helper, ContainerBuilder};

fn main() -> Result<(), libcontainer::Error> {
    // First thing: a multi-threaded caller's creates go through this
    // binary as a helper process.
    helper::run_if_helper();
    // Then from a sealed image of this binary: what enters a container is
    // a clone of this process (CVE-2019-5736).
    libcontainer::process::seal::seal_self()?;
    let mut args = std::env::args().skip(1);
    let bundle = args.next().expect("usage: run BUNDLE [STATE_ROOT]");
    let root = args.next().unwrap_or_else(|| "/run/corral-examples".into());
    let id = format!("example-run-{}", std::process::id());

    let mut c = ContainerBuilder::new(&id, &root).bundle(&bundle).create()?;
    let pid = c.pid().expect("a created container has an init");
    c.start()?;
    // The init is our child: wait for it as for any child.
    let code = libcontainer::wait_exit_code(pid)?;
    c.delete(false)?;
    println!("container {id} exited with status {code}");
    std::process::exit(code);
}
