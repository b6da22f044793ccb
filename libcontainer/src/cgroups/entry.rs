//! The cgroup entry of a new process (the container's init, an exec'd
//! process): the files and the cgroup2 directory fd it enters by.

use std::fs;
use std::path::{Path, PathBuf};

use super::plan::CgroupState;
use crate::error::{Error, Result};

/// How a new process enters the container's cgroups without the cost of
/// moving it from outside.
///
/// Writing another process's pid to `cgroup.procs` write-locks the kernel's
/// global threadgroup rwsem, which waits for an RCU grace period (8-15 ms on
/// the development VM: the largest single cost of a `run`). A
/// single-threaded process that moves itself, by writing `0` to a v1
/// hierarchy's `tasks` file, skips that lock (Linux 6.0, "cgroup: Optimize
/// single thread migration"); a cgroup2 directory is entered by the clone
/// itself (`CLONE_INTO_CGROUP`, Linux 5.7), which takes no write lock
/// either. The files are opened here, by the creator: the kernel checks the
/// opener's credentials, so a process already in a new user namespace may
/// still write them. The clone that uses them is the process module's
/// (`process::clone`): this type only holds the fds and paths.
#[derive(Debug, Default)]
pub struct Entry {
    /// The cgroup2 directory, for `CLONE_INTO_CGROUP`.
    into: Option<(PathBuf, std::os::fd::OwnedFd)>,
    /// Files the new process writes `0` to (v1 `tasks`; a cgroup2
    /// `cgroup.procs` where the clone could not place it), with their paths.
    own: Vec<(PathBuf, std::os::fd::OwnedFd)>,
}

impl Entry {
    /// Opens what a process needs to enter every cgroup of `st`.
    pub(crate) fn open(st: &CgroupState) -> Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut e = Entry::default();
        for (key, dir) in &st.paths {
            if key == "unified" {
                let d = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .open(dir)
                    .map_err(|err| Error::io("open the cgroup", dir, err))?;
                e.into = Some((dir.clone(), d.into()));
            } else {
                e.own_file(dir.join("tasks"))?;
            }
        }
        Ok(e)
    }

    /// Opens `f` for the new process to write `0` to.
    fn own_file(&mut self, f: PathBuf) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let fd = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&f)
            .map_err(|err| Error::io("open", &f, err))?;
        self.own.push((f, fd.into()));
        Ok(())
    }

    /// The cgroup2 directory fd for `clone3` with `CLONE_INTO_CGROUP`, if
    /// the clone is to place the process there (see
    /// `process::clone::into_cgroups`, which clones).
    pub fn clone_into(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.into.as_ref().map(|(_, d)| d.as_raw_fd())
    }

    /// For a kernel without `CLONE_INTO_CGROUP`: the process joins the
    /// cgroup2 directory by `cgroup.procs` too (with the slow lock).
    pub fn without_clone_into(&mut self) -> Result<()> {
        match self.into.take() {
            Some((dir, _)) => self.own_file(dir.join("cgroup.procs")),
            None => Ok(()),
        }
    }

    /// The cgroup2 directory the clone places the process in, if any.
    pub fn clone_into_dir(&self) -> Option<&Path> {
        self.into.as_ref().map(|(p, _)| p.as_path())
    }

    /// In the new, still single-threaded process: moves it into the v1
    /// hierarchies (and cgroup2 where the clone did not), then closes the
    /// files (dropping `self`) so that nothing of them reaches the container.
    pub fn join_self(self) -> Result<()> {
        for (path, fd) in &self.own {
            nix::unistd::write(fd, b"0").map_err(|e| {
                Error::io(
                    "join the cgroup (write 0 to)",
                    path,
                    std::io::Error::from(e),
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn entry_writes_zero_to_each_v1_tasks_file_and_clones_into_cgroup2() {
        let root = std::env::temp_dir().join(format!("corral-entry-test-{}", std::process::id()));
        let mut paths = BTreeMap::new();
        for key in ["cpu", "memory", "name=systemd"] {
            let d = root.join(key);
            fs::create_dir_all(&d).expect("mkdir");
            fs::write(d.join("tasks"), "").expect("tasks");
            paths.insert(key.to_string(), d);
        }
        let unified = root.join("unified");
        fs::create_dir_all(&unified).expect("mkdir");
        fs::write(unified.join("cgroup.procs"), "").expect("procs");
        paths.insert("unified".to_string(), unified.clone());
        let st = CgroupState {
            paths,
            created: Vec::new(),
            v2: false,
            systemd: None,
        };

        let e = Entry::open(&st).expect("open");
        assert_eq!(e.clone_into_dir(), Some(unified.as_path()));
        assert!(e.clone_into().is_some());
        e.join_self().expect("join");
        for key in ["cpu", "memory", "name=systemd"] {
            assert_eq!(
                fs::read_to_string(root.join(key).join("tasks")).expect("read"),
                "0"
            );
        }
        // cgroup2 is the clone's: nothing written there.
        assert_eq!(
            fs::read_to_string(unified.join("cgroup.procs")).expect("read"),
            ""
        );

        // Without CLONE_INTO_CGROUP the process writes cgroup.procs itself.
        let mut e = Entry::open(&st).expect("open");
        e.without_clone_into().expect("fallback");
        assert!(e.clone_into().is_none());
        e.join_self().expect("join");
        assert_eq!(
            fs::read_to_string(unified.join("cgroup.procs")).expect("read"),
            "0"
        );

        // A hierarchy without its control file is an error naming it.
        fs::remove_file(root.join("memory").join("tasks")).expect("rm");
        let err = Entry::open(&st).expect_err("missing tasks").to_string();
        assert!(err.contains("memory/tasks"), "{err}");
        fs::remove_dir_all(&root).expect("cleanup");
    }
}
