//! Load through the CLI: `integration::load_size()` containers (100 in CI;
//! `CORRAL_LOAD=500` for the full run) created, started, waited for and
//! deleted, 8 at a time. Every one is accounted for and nothing is left;
//! the time per hundred is printed, not asserted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use integration::{leaks, out, unique, Env};

/// One container's life through the CLI; an error names the step.
fn life(env: &Env, id: &str) -> Result<(), String> {
    let b = env.bundle.to_str().expect("utf8");
    for args in [&["create", "--bundle", b, id][..], &["start", id][..]] {
        let o = env.corral(args);
        if !o.status.success() {
            return Err(format!("{args:?}: {}", out(&o.stderr)));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = env.corral(&["state", id]);
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).map_err(|e| format!("state {id}: {e}"))?;
        if v["status"] == "stopped" {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{id} did not stop: {v}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = env.corral(&["delete", id]);
    if !o.status.success() {
        return Err(format!("delete {id}: {}", out(&o.stderr)));
    }
    Ok(())
}

#[test]
fn cli_load() {
    let n = integration::load_size();
    let env = Env::new(&["true"]);
    let ids: Vec<String> = (0..n).map(|_| unique("load")).collect();
    let queue = Mutex::new(ids.clone());
    let done = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let Some(id) = queue.lock().expect("queue").pop() else {
                    break;
                };
                match life(&env, &id) {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        let _ = env.corral(&["delete", "--force", &id]);
                        failures.lock().expect("failures").push(e);
                    }
                }
            });
        }
    });
    let per_hundred = t.elapsed().as_secs_f64() * 100.0 / n as f64;
    eprintln!("cli load: {n} containers, {per_hundred:.2} s per hundred (create, start, state until stopped, delete; 8 at a time)");
    let failures = failures.into_inner().expect("failures");
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(done.into_inner(), n, "every container accounted for");
    let found = leaks(&env.root, &ids, &[]);
    assert!(found.is_empty(), "{found:?}");
    let left = std::fs::read_dir(&env.root).expect("root").count();
    assert_eq!(left, 0, "state dirs left under the root");
}
