//! AppArmor and SELinux: detecting them and labelling the container process.

use std::path::Path;

use crate::error::{Error, Result};

/// Whether AppArmor is enabled on this host.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
        && Path::new("/sys/kernel/security/apparmor").exists()
}

/// Whether SELinux is enabled on this host (selinuxfs mounted).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Asks the kernel to switch to AppArmor `profile` at the next exec.
pub fn apply_apparmor(profile: &str) -> Result<()> {
    let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    crate::procfile::write(Path::new(attr), format!("exec {profile}").as_bytes())
        .map_err(|e| Error::Other(format!("apply AppArmor profile {profile:?}: {e}")))
}

/// Asks the kernel to switch to SELinux `label` at the next exec.
pub fn apply_selinux(label: &str) -> Result<()> {
    crate::procfile::write(Path::new("/proc/self/attr/exec"), label.as_bytes())
        .map_err(|e| Error::Other(format!("apply SELinux label {label:?}: {e}")))
}
