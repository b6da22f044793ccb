//! `/etc/passwd` and `/etc/group` as runc reads them (no NSS: a static
//! corral has no shared libraries to load): a user's name, the home
//! directory a process gets as `HOME` when its config gives none, and the
//! `tty` group a terminal is given.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The most of a passwd file that is read: a bigger one (or a FIFO, a
/// device, anything but a regular file) is not a passwd file corral trusts
/// an image with, and a read must never hang or fill memory.
const MAX_PASSWD: u64 = 4 << 20;

/// One entry's fields that corral uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The login name.
    pub name: String,
    /// The home directory.
    pub home: String,
}

/// The entry of `uid` in the text of a passwd file (the first, as libc's
/// getpwuid).
pub fn entry(text: &str, uid: u32) -> Option<Entry> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0].is_empty() || f[0].starts_with('#') {
            return None;
        }
        let id: u32 = f[2].parse().ok()?;
        (id == uid).then(|| Entry {
            name: f[0].to_string(),
            home: f[5].to_string(),
        })
    })
}

/// The gid of group `name` in the text of a group file
/// (`name:password:gid:members`).
pub fn group_gid(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 || f[0] != name {
            return None;
        }
        f[2].parse().ok()
    })
}

/// Reads the passwd (or group) file at `path` (a regular file, at most 4 MiB, opened
/// without blocking and without following a final symlink out of what the
/// caller resolved); None when it is missing or not such a file.
pub fn read(path: &Path) -> Option<String> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    let ft = m.file_type();
    if !ft.is_file() || ft.is_fifo() || ft.is_char_device() || m.len() > MAX_PASSWD {
        return None;
    }
    let mut text = String::new();
    f.take(MAX_PASSWD).read_to_string(&mut text).ok()?;
    Some(text)
}

/// `env` with `HOME` set as runc sets it when the config gives none, or
/// gives it empty: the home of `uid` in `passwd` (the container's
/// /etc/passwd), else `/`.
pub fn with_home(
    mut env: Vec<String>,
    uid: u32,
    passwd: impl FnOnce() -> Option<String>,
) -> Vec<String> {
    let set = env
        .iter()
        .any(|kv| kv.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()));
    if set {
        return env;
    }
    env.retain(|kv| !kv.starts_with("HOME="));
    let home = passwd()
        .and_then(|text| entry(&text, uid))
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    env.push(format!("HOME={home}"));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "root:x:0:0:root:/root:/bin/sh\n\
                        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                        broken:x:notanumber:1::/nowhere:/bin/sh\n\
                        short:x:7\n\
                        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                        dup:x:1:1::/second:/bin/sh\n";

    #[test]
    fn comments_and_nameless_lines_are_no_entries() {
        let text = "# root:x:0:0::/c:/bin/sh\n:x:7:7::/:\nroot:x:0:0:root:/root:/bin/bash\n";
        assert_eq!(entry(text, 0).map(|e| e.home).as_deref(), Some("/root"));
        assert_eq!(entry(text, 7), None);
    }

    #[test]
    fn groups_by_name() {
        let text = "root:x:0:\ntty:x:5:\nbroken:x:no:\nusers:x:100:a,b\n";
        assert_eq!(group_gid(text, "tty"), Some(5));
        assert_eq!(group_gid(text, "users"), Some(100));
        assert_eq!(group_gid(text, "broken"), None);
        assert_eq!(group_gid(text, "wheel"), None);
    }

    #[test]
    fn entries_by_uid() {
        assert_eq!(
            entry(TEXT, 0),
            Some(Entry {
                name: "root".into(),
                home: "/root".into()
            })
        );
        assert_eq!(entry(TEXT, 1).map(|e| e.home).as_deref(), Some("/usr/sbin"));
        assert_eq!(
            entry(TEXT, 65534).map(|e| e.name).as_deref(),
            Some("nobody")
        );
        assert_eq!(entry(TEXT, 7), None, "a short line is no entry");
        assert_eq!(entry(TEXT, 1000), None);
    }

    #[test]
    fn home_comes_from_passwd_when_the_config_has_none_or_an_empty_one() {
        let pw = || Some(TEXT.to_string());
        let env = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_home(env(&["PATH=/bin"]), 0, pw),
            env(&["PATH=/bin", "HOME=/root"])
        );
        assert_eq!(
            with_home(env(&["HOME=", "A=b"]), 1, pw),
            env(&["A=b", "HOME=/usr/sbin"])
        );
        assert_eq!(
            with_home(env(&["HOME=/mine"]), 0, || panic!("not read when set")),
            env(&["HOME=/mine"])
        );
        assert_eq!(with_home(env(&[]), 4242, pw), env(&["HOME=/"]));
        assert_eq!(with_home(env(&[]), 0, || None), env(&["HOME=/"]));
    }

    #[test]
    fn only_a_regular_file_is_read() {
        assert!(read(Path::new("/dev/null")).is_none(), "a device");
        assert!(read(Path::new("/no/such/passwd")).is_none());
        let dir = std::env::temp_dir().join(format!("corral-passwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        assert!(read(&fifo).is_none(), "a FIFO (and no hang)");
        let f = dir.join("passwd");
        std::fs::write(&f, TEXT).expect("write");
        assert_eq!(read(&f).as_deref(), Some(TEXT));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
