//! Starts a container, prints its statistics (cgroup CPU, memory, pids and
//! block I/O) as JSON, then removes it.
//!
//! ```text
//! cargo run -p libcontainer --example stats -- BUNDLE [STATE_ROOT]
//! ```

use libcontainer::{helper, ContainerBuilder};

fn main() -> Result<(), libcontainer::Error> {
    helper::run_if_helper();
    // Then from a sealed image of this binary: what enters a container is
    // a clone of this process (CVE-2019-5736).
    libcontainer::process::seal::seal_self()?;
    let mut args = std::env::args().skip(1);
    let bundle = args.next().expect("usage: stats BUNDLE [STATE_ROOT]");
    let root = args.next().unwrap_or_else(|| "/run/corral-examples".into());
    let id = format!("example-stats-{}", std::process::id());

    let mut c = ContainerBuilder::new(&id, &root).bundle(&bundle).create()?;
    c.start()?;
    let stats = c.stats();
    // Remove the container whatever the stats call said.
    c.delete(true)?;
    let stats = stats?;
    println!(
        "{}",
        serde_json::to_string_pretty(&stats).expect("stats serialize")
    );
    Ok(())
}
