//! Records the git commit for `corral --version`, and for a static release
//! build (scripts/build-release.sh) hands the linker the hot-function order.
use std::path::Path;

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CORRAL_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs");
    symbol_order();
    entry_point();
}

/// On x86_64 Linux the binary starts at corral-entry's `corral_entry`,
/// which re-executes it sealed before the C library starts (see that
/// crate), and then jumps to the C library's `_start`.
fn entry_point() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "x86_64" && os == "linux" {
        println!("cargo:rustc-link-arg-bin=corral=-Wl,--entry=corral_entry");
    }
}

/// `hot-functions.txt` lists the functions `corral` runs for its common
/// commands, in the order it first runs them (bench/order.sh writes it).
/// The kernel maps a program's text 64 KiB around each page fault, so
/// gathering them at the front of `.text` keeps the resident set to what
/// the commands use: the release binary's peak RSS during `run` halves.
/// Only for the static release build, whose symbol names the list holds,
/// and only with LLD (rustc's default linker on x86_64 Linux since 1.90),
/// which reads `--symbol-ordering-file`.
fn symbol_order() {
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("hot-functions.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let static_crt = features.split(',').any(|f| f == "crt-static");
    let linux_x86_64 = std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu");
    if release && static_crt && linux_x86_64 && order.is_file() && rustc_uses_lld() {
        println!(
            "cargo:rustc-link-arg-bin=corral=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names of functions that changed since the list was made are skipped.
        println!("cargo:rustc-link-arg-bin=corral=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc is 1.90 or newer (LLD by default on x86_64-unknown-linux-gnu).
fn rustc_uses_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
