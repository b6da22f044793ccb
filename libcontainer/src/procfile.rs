//! Writes to `/proc` files that are verified to be on procfs: a container
//! image (or a mount over /proc) cannot redirect them to another file.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::sys;

/// The magic number of procfs.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Writes `data` to the procfs file `path` in one `write`, refusing a path
/// that is a symlink or not on procfs.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let magic = sys::fs_magic(f.as_raw_fd()).map_err(std::io::Error::from)?;
    if magic != PROC_SUPER_MAGIC {
        return Err(std::io::Error::other(format!("{path:?} is not on procfs")));
    }
    (&f).write_all(data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn refuses_files_off_procfs() {
        let p = std::env::temp_dir().join(format!("corral-procfile-{}", std::process::id()));
        std::fs::write(&p, "").expect("write");
        let e = super::write(&p, b"1").expect_err("not procfs");
        assert!(e.to_string().contains("not on procfs"));
        std::fs::remove_file(&p).expect("rm");
    }
}
