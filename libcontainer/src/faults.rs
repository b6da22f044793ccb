//! Crash points for the reliability tests.
//!
//! In debug builds — the builds the integration tests run — a process whose
//! environment has `CORRAL_TEST_CRASH_AT=<stage>` kills itself with SIGKILL
//! when it reaches [`crash_point`]`(<stage>)`: no destructor, no clean-up,
//! as an OOM kill or `kill -9` would. Release builds compile the calls to
//! nothing, so no user can make a production corral crash this way.
//!
//! The stages of `create`: `state-dir` (the state record written, before
//! any cgroup), `cgroup` (cgroups made), `clone` (the init cloned and
//! recorded), `mounts` (the init has made its mounts), `ready` (the init
//! waits for start, the record still says creating). Of `exec`:
//! `exec-forked`, `exec-cgroup` (joined, not yet released), `exec-started`
//! (the process runs). Of `delete`: `delete-netns` (the record removed, the
//! published network namespace not yet). The shim adds its own (see the
//! shim's service).

/// The environment variable naming the stage to crash at.
pub const CRASH_ENV: &str = "CORRAL_TEST_CRASH_AT";

/// Kills this process with SIGKILL if [`CRASH_ENV`] names `stage` (debug
/// builds only).
#[cfg(debug_assertions)]
pub fn crash_point(stage: &str) {
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == stage) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Kills this process with SIGKILL if [`CRASH_ENV`] names `stage` (debug
/// builds only; this release build has no crash points).
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn crash_point(_stage: &str) {}
