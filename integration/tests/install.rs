//! The install command of README.md (scripts/install.sh), staged under a
//! scratch directory with the binaries of this build: binaries, bash, zsh
//! and fish completions and man pages, all generated from the clap
//! definitions and usable.

use std::process::Command;

use integration::{out, workspace, Env};

#[test]
fn install_puts_binaries_completions_and_man_pages_in_place() {
    let env = Env::new(&["true"]);
    let dest = env.scratch.join("dest");
    let from = integration::corral_bin()
        .parent()
        .expect("target dir")
        .to_path_buf();
    let o = Command::new("bash")
        .arg(workspace().join("scripts/install.sh"))
        .arg("--destdir")
        .arg(&dest)
        .arg("--from")
        .arg(&from)
        .output()
        .expect("install.sh");
    assert!(o.status.success(), "{}", out(&o.stderr));
    let root = dest.join("usr/local");
    for f in [
        "bin/corral",
        "bin/containerd-shim-corral-v2",
        "share/zsh/site-functions/_corral",
        "share/fish/vendor_completions.d/corral.fish",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    // bash: the completion loads and completes corral's commands.
    let bash = root.join("share/bash-completion/completions/corral");
    let script = format!(
        "source {}; COMP_WORDS=(corral che); COMP_CWORD=1; _corral corral che corral; echo \"${{COMPREPLY[@]}}\"",
        bash.display()
    );
    let o = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash");
    assert!(o.status.success(), "{}", out(&o.stderr));
    assert_eq!(out(&o.stdout).trim(), "check");
    // zsh and fish scripts name every command.
    let zsh = std::fs::read_to_string(root.join("share/zsh/site-functions/_corral")).expect("zsh");
    let fish = std::fs::read_to_string(root.join("share/fish/vendor_completions.d/corral.fish"))
        .expect("fish");
    for cmd in ["create", "start", "exec", "netns", "check"] {
        assert!(zsh.contains(cmd) && fish.contains(cmd), "{cmd}");
    }
    // Man pages: one per command, valid roff with a NAME section.
    let man = root.join("share/man/man8");
    let pages: Vec<String> = std::fs::read_dir(&man)
        .expect("man8")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for p in [
        "corral.8",
        "corral-run.8",
        "corral-exec.8",
        "corral-check.8",
    ] {
        assert!(pages.iter().any(|x| x == p), "{p} missing in {pages:?}");
    }
    let run = std::fs::read_to_string(man.join("corral-run.8")).expect("page");
    assert!(
        run.starts_with(".ie") || run.contains(".TH corral-run 8"),
        "{}",
        &run[..run.len().min(200)]
    );
    assert!(
        run.contains(".SH NAME") && run.contains(r"\-\-bundle"),
        "{run}"
    );
}
