//! Starts a container and streams its events (statistics each interval, an
//! OOM event when the OOM killer strikes) until it stops or COUNT events
//! were printed; then removes it.
//!
//! ```text
//! cargo run -p libcontainer --example events -- BUNDLE STATE_ROOT [COUNT]
//! ```

use std::time::Duration;

use libcontainer::events::Event;
use libcontainer::{helper, ContainerBuilder};

fn main() -> Result<(), libcontainer::Error> {
    helper::run_if_helper();
    // Then from a sealed image of this binary: what enters a container is
    // a clone of this process (CVE-2019-5736).
    libcontainer::process::seal::seal_self()?;
    let mut args = std::env::args().skip(1);
    let bundle = args
        .next()
        .expect("usage: events BUNDLE STATE_ROOT [COUNT]");
    let root = args
        .next()
        .expect("usage: events BUNDLE STATE_ROOT [COUNT]");
    let count: usize = args.next().map_or(5, |n| n.parse().expect("COUNT"));
    let id = format!("example-events-{}", std::process::id());

    let mut c = ContainerBuilder::new(&id, &root).bundle(&bundle).create()?;
    c.start()?;
    for ev in c.events(Duration::from_millis(200)).take(count) {
        match ev {
            Event::Oom => println!("oom"),
            Event::Stats(s) => println!(
                "stats: pids {}, memory usage {} bytes, cpu {} ns",
                s.pids.current, s.memory.usage, s.cpu.usage_total
            ),
        }
    }
    c.delete(true)?;
    Ok(())
}
