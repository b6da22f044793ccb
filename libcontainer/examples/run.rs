//! Runs a container from a bundle with the libcontainer API, waits for it
//! and deletes it:
//!
//!     cargo run -p libcontainer --example run -- BUNDLE [ID]
//!
//! The program calls `helper::run_if_helper()` first, so that it can serve
//! as its own single-threaded helper if it ever creates from several
//! threads.

use libcontainer::{helper, Container, ContainerBuilder};

fn main() {
    helper::run_if_helper();
    let mut args = std::env::args().skip(1);
    let Some(bundle) = args.next() else {
        eprintln!("usage: run BUNDLE [ID]");
        std::process::exit(2);
    };
    let id = args
        .next()
        .unwrap_or_else(|| format!("example-{}", std::process::id()));
    let root = std::env::temp_dir().join("libcontainer-example");
    match run(&bundle, &id, &root) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

fn run(bundle: &str, id: &str, root: &std::path::Path) -> libcontainer::Result<i32> {
    // This process is single-threaded: the init is our own child.
    let mut c = ContainerBuilder::new(id, root).bundle(bundle).create()?;
    eprintln!(
        "created {} (pid {:?}), status {}",
        c.id(),
        c.pid(),
        c.status()
    );
    let pid = c.pid().unwrap_or(0);
    c.start()?;
    let code = libcontainer::wait_exit_code(pid)?;
    let c = Container::load(root, id)?;
    eprintln!("exited with {code}, status {}", c.status());
    c.delete(false)?;
    Ok(code)
}
