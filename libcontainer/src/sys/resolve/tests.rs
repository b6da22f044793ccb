//! The userspace resolver against adversarial trees: each case is run
//! through the resolver and through openat2 on this host, which must give
//! the same inode or the same errno, and the races check that nothing
//! outside the root is ever opened.

use super::*;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT;
const BENEATH: u64 = libc::RESOLVE_BENEATH;
const NO_SYMLINKS: u64 = libc::RESOLVE_NO_SYMLINKS;
const NO_MAGIC: u64 = libc::RESOLVE_NO_MAGICLINKS;
const NO_XDEV: u64 = libc::RESOLVE_NO_XDEV;

/// A scratch directory with `root/` (the tree resolved in) and `out/`
/// beside it (what must never be reached), removed on drop.
struct Tree {
    top: PathBuf,
    root: OwnedFd,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let top =
            std::env::temp_dir().join(format!("corral-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&top);
        std::fs::create_dir_all(top.join("root/a/b")).expect("mkdir");
        std::fs::create_dir_all(top.join("root/dir")).expect("mkdir");
        std::fs::create_dir_all(top.join("out/p")).expect("mkdir");
        std::fs::write(top.join("root/a/b/c"), "inside").expect("write");
        std::fs::write(top.join("root/file"), "inside").expect("write");
        std::fs::write(top.join("out/secret"), "outside").expect("write");
        let r = |p: &str| top.join("root").join(p);
        symlink("/a", r("abs")).expect("symlink");
        symlink("/a/b/c", r("abs-file")).expect("symlink");
        symlink("../../..", r("up")).expect("symlink");
        symlink("../out/secret", r("up-secret")).expect("symlink");
        symlink("/../../out/secret", r("abs-up-secret")).expect("symlink");
        symlink("loop2", r("loop1")).expect("symlink");
        symlink("loop1", r("loop2")).expect("symlink");
        symlink(".", r("self")).expect("symlink");
        symlink("/", r("slash")).expect("symlink");
        symlink("b/c", r("a/rel")).expect("symlink");
        symlink("nothing/here", r("dangling")).expect("symlink");
        symlink("/dir/made", r("dangling-in")).expect("symlink");
        symlink("../../out/made", r("dangling-out")).expect("symlink");
        symlink("/proc/self/root/etc/passwd", r("via-proc")).expect("symlink");
        // A chain of 41 links (one past the budget) and one of 10.
        for i in 0..41 {
            let next = if i == 40 {
                "a".to_string()
            } else {
                format!("l{}", i + 1)
            };
            symlink(&next, r(&format!("l{i}"))).expect("symlink");
        }
        for i in 0..10 {
            let next = if i == 9 {
                "a".to_string()
            } else {
                format!("m{}", i + 1)
            };
            symlink(&next, r(&format!("m{i}"))).expect("symlink");
        }
        let root = openat(
            libc::AT_FDCWD,
            top.join("root").as_os_str(),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )
        .expect("open root");
        Tree { top, root }
    }

    fn fd(&self) -> RawFd {
        self.root.as_raw_fd()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.top.join("root/mnt"), nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&self.top);
    }
}

/// What an open gave, comparable across the two implementations: the
/// inode and access mode, or the errno.
fn outcome(r: Result<OwnedFd, Errno>) -> Result<(Id, i32), Errno> {
    let fd = r?;
    let (id, _) = id_of(fd.as_raw_fd())?;
    // SAFETY: F_GETFL on an fd we own.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    Ok((id, fl & (libc::O_ACCMODE | libc::O_PATH)))
}

fn kernel(root: RawFd, path: &str, flags: i32, mode: u32, resolve: u64) -> Result<OwnedFd, Errno> {
    let c = CString::new(path).expect("path");
    let mut tries = 0;
    loop {
        match super::super::openat2_raw(
            root,
            &c,
            (flags | libc::O_CLOEXEC) as u64,
            mode as u64,
            resolve,
        ) {
            Err(Errno::EAGAIN) if tries < 1000 => tries += 1,
            r => return r,
        }
    }
}

fn ours(root: RawFd, path: &str, flags: i32, resolve: u64) -> Result<OwnedFd, Errno> {
    openat_resolved(root, Path::new(path), flags, 0o644, resolve)
}

fn host_has_openat2() -> bool {
    kernel(libc::AT_FDCWD, "/", libc::O_PATH, 0, 0).is_ok()
}

fn id_at(p: &Path) -> Id {
    let fd = openat(libc::AT_FDCWD, p.as_os_str(), libc::O_PATH, 0).expect("open");
    id_of(fd.as_raw_fd()).expect("stat").0
}

/// Each (path, flags, resolve) gives what openat2 gives, and an expected
/// answer is checked too, so the cases hold on a host without openat2.
#[test]
fn adversarial_paths_resolve_as_openat2_does() {
    let t = Tree::new("cases");
    let inside_c = id_at(&t.top.join("root/a/b/c"));
    let a = id_at(&t.top.join("root/a"));
    let root = id_at(&t.top.join("root"));
    let rd = libc::O_RDONLY;
    let path = libc::O_PATH;
    let want_c = Ok(inside_c);
    // (path, flags, resolve, expected inode or errno)
    let cases: Vec<(&str, i32, u64, Result<Id, Errno>)> = vec![
        ("a/b/c", rd, IN_ROOT, want_c),
        ("/a/b/c", rd, IN_ROOT, want_c),
        ("/a/b/c", rd, BENEATH, Err(Errno::EXDEV)),
        ("abs/b/c", rd, IN_ROOT, want_c),
        ("abs/b/c", rd, BENEATH, Err(Errno::EXDEV)),
        ("abs-file", rd, IN_ROOT, want_c),
        ("a/rel", rd, IN_ROOT, want_c),
        ("a/rel", rd, BENEATH, want_c),
        ("up/a/b/c", rd, IN_ROOT, want_c),
        ("up/a/b/c", rd, BENEATH, Err(Errno::EXDEV)),
        ("../../../a/b/c", rd, IN_ROOT, want_c),
        ("a/../../out/secret", rd, IN_ROOT, Err(Errno::ENOENT)),
        ("a/../../out/secret", rd, BENEATH, Err(Errno::EXDEV)),
        ("a/b/../../a/b/c", rd, BENEATH, want_c),
        ("up-secret", rd, IN_ROOT, Err(Errno::ENOENT)),
        ("abs-up-secret", rd, IN_ROOT, Err(Errno::ENOENT)),
        ("loop1", rd, IN_ROOT, Err(Errno::ELOOP)),
        ("loop1/x", path, IN_ROOT, Err(Errno::ELOOP)),
        ("l0", path, IN_ROOT, Err(Errno::ELOOP)),
        ("m0/b/c", rd, IN_ROOT, want_c),
        ("self/self/a/b/c", rd, IN_ROOT, want_c),
        ("slash", path, IN_ROOT, Ok(root)),
        ("slash/..", path, IN_ROOT, Ok(root)),
        (".", path, IN_ROOT, Ok(root)),
        ("a/.", path, IN_ROOT, Ok(a)),
        ("a/b/..", path, IN_ROOT, Ok(a)),
        ("a/", path, IN_ROOT, Ok(a)),
        ("file/", rd, IN_ROOT, Err(Errno::ENOTDIR)),
        ("file/x", rd, IN_ROOT, Err(Errno::ENOTDIR)),
        (
            "file",
            path | libc::O_DIRECTORY,
            IN_ROOT,
            Err(Errno::ENOTDIR),
        ),
        ("dangling", rd, IN_ROOT, Err(Errno::ENOENT)),
        ("via-proc", rd, IN_ROOT, Err(Errno::ENOENT)),
        ("abs/b/c", rd, IN_ROOT | NO_SYMLINKS, Err(Errno::ELOOP)),
        ("a/rel", rd, BENEATH | NO_SYMLINKS, Err(Errno::ELOOP)),
        ("a/b/c", rd, IN_ROOT | NO_SYMLINKS, want_c),
        ("abs", rd | libc::O_NOFOLLOW, IN_ROOT, Err(Errno::ELOOP)),
        (
            "abs",
            path | libc::O_NOFOLLOW | libc::O_DIRECTORY,
            IN_ROOT,
            Err(Errno::ENOTDIR),
        ),
        ("self", libc::O_WRONLY, IN_ROOT, Err(Errno::EISDIR)),
    ];
    let kernel_too = host_has_openat2();
    for (p, flags, resolve, want) in cases {
        let got = outcome(ours(t.fd(), p, flags, resolve)).map(|o| o.0);
        assert_eq!(
            got, want,
            "{p:?} flags {flags:#x} resolve {resolve:#x}: resolver"
        );
        if kernel_too {
            let k = outcome(kernel(t.fd(), p, flags, 0, resolve)).map(|o| o.0);
            assert_eq!(
                got, k,
                "{p:?} flags {flags:#x} resolve {resolve:#x}: resolver vs openat2"
            );
        }
    }
    // A trailing symlink with O_PATH | O_NOFOLLOW is the link itself.
    let link = ours(
        t.fd(),
        "abs",
        path | libc::O_NOFOLLOW,
        IN_ROOT | NO_SYMLINKS,
    )
    .expect("link");
    assert_eq!(id_of(link.as_raw_fd()).expect("stat").1, libc::S_IFLNK);
    // Unscoped, both scopes, unknown flags: refused, not guessed at.
    for r in [0, IN_ROOT | BENEATH, IN_ROOT | 0x20] {
        assert_eq!(
            outcome(ours(t.fd(), "a", path, r)).map(|o| o.0),
            Err(Errno::EINVAL)
        );
    }
}

/// O_CREAT makes the file inside the root, through a dangling symlink
/// resolved in the root too, and never outside it.
#[test]
fn create_stays_in_the_root() {
    let t = Tree::new("create");
    let w = libc::O_CREAT | libc::O_WRONLY;
    let made = ours(t.fd(), "dir/new", w, IN_ROOT).expect("create");
    assert_eq!(
        id_of(made.as_raw_fd()).expect("stat").0,
        id_at(&t.top.join("root/dir/new"))
    );
    // Through a dangling link to a path in the root: made there.
    ours(t.fd(), "dangling-in", w, IN_ROOT).expect("create through a link");
    assert!(t.top.join("root/dir/made").is_file());
    // Through a dangling link that climbs out: clamped, and root/out
    // does not exist, so nothing is made anywhere.
    assert_eq!(
        outcome(ours(t.fd(), "dangling-out", w, IN_ROOT)).map(|o| o.0),
        Err(Errno::ENOENT)
    );
    assert!(!t.top.join("out/made").exists());
    // O_EXCL on an existing name, or on a symlink: EEXIST, as open(2).
    for p in ["file", "dangling-in", "abs"] {
        assert_eq!(
            outcome(ours(t.fd(), p, w | libc::O_EXCL, IN_ROOT)).map(|o| o.0),
            Err(Errno::EEXIST),
            "{p}"
        );
    }
    // BENEATH | NO_SYMLINKS refuses to create through a link.
    assert_eq!(
        outcome(ours(t.fd(), "dangling-in", w, BENEATH | NO_SYMLINKS)).map(|o| o.0),
        Err(Errno::ELOOP)
    );
}

/// procfs magic links: ELOOP with NO_MAGICLINKS, EXDEV without (a scoped
/// walk cannot jump), while /proc's ordinary links (`self`) resolve.
#[test]
fn magic_links_are_refused() {
    let proc_ = openat(
        libc::AT_FDCWD,
        OsStr::new("/proc"),
        libc::O_PATH | libc::O_DIRECTORY,
        0,
    )
    .expect("/proc");
    let p = proc_.as_raw_fd();
    let cases: Vec<(&str, u64, Result<(), Errno>)> = vec![
        ("self/root", IN_ROOT | NO_MAGIC, Err(Errno::ELOOP)),
        ("self/root/etc", BENEATH | NO_MAGIC, Err(Errno::ELOOP)),
        ("self/fd/0", BENEATH | NO_MAGIC, Err(Errno::ELOOP)),
        ("self/exe", IN_ROOT | NO_MAGIC, Err(Errno::ELOOP)),
        (
            "self/ns/mnt",
            BENEATH | NO_MAGIC | NO_XDEV,
            Err(Errno::ELOOP),
        ),
        ("self/root/etc", IN_ROOT, Err(Errno::EXDEV)),
        ("self/status", BENEATH | NO_MAGIC | NO_XDEV, Ok(())),
        ("thread-self/status", IN_ROOT | NO_MAGIC, Ok(())),
        ("self/status", BENEATH | NO_SYMLINKS, Err(Errno::ELOOP)),
    ];
    let kernel_too = host_has_openat2();
    for (path, resolve, want) in cases {
        let got = ours(p, path, libc::O_RDONLY, resolve).map(drop);
        assert_eq!(got, want, "{path:?} resolve {resolve:#x}: resolver");
        if kernel_too {
            let k = kernel(p, path, libc::O_RDONLY, 0, resolve).map(drop);
            assert_eq!(got, k, "{path:?} resolve {resolve:#x}: resolver vs openat2");
        }
    }
}

/// NO_XDEV: a mount inside the root (a tmpfs) is EXDEV, the root's own
/// mount is not.
#[test]
fn no_xdev_refuses_a_mount_crossing() {
    let t = Tree::new("xdev");
    let mnt = t.top.join("root/mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    nix::mount::mount(
        Some("tmpfs"),
        &mnt,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=16k"),
    )
    .expect("mount tmpfs");
    std::fs::write(mnt.join("x"), "x").expect("write");
    let r = |p: &str, res: u64| ours(t.fd(), p, libc::O_RDONLY, res).map(drop);
    assert_eq!(r("mnt/x", BENEATH | NO_XDEV), Err(Errno::EXDEV));
    assert_eq!(r("mnt", IN_ROOT | NO_XDEV), Err(Errno::EXDEV));
    assert_eq!(r("mnt/x", BENEATH), Ok(()));
    assert_eq!(r("a/b/c", BENEATH | NO_XDEV), Ok(()));
    if host_has_openat2() {
        for (p, res) in [
            ("mnt/x", BENEATH | NO_XDEV),
            ("mnt/x", BENEATH),
            ("a/b/c", BENEATH | NO_XDEV),
        ] {
            assert_eq!(
                r(p, res),
                kernel(t.fd(), p, libc::O_RDONLY, 0, res).map(drop),
                "{p}"
            );
        }
    }
}

/// `RENAME_EXCHANGE` of two names in a loop until `stop`.
fn swapper(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            if nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &a,
                nix::fcntl::AT_FDCWD,
                &b,
                nix::fcntl::RenameFlags::RENAME_EXCHANGE,
            )
            .is_ok()
            {
                n += 1;
            }
        }
        n
    })
}

/// A directory on the path swapped for a symlink that climbs out, by a
/// racing thread, during at least 3000 walks: each gives the inside file
/// or an error, never the outside one, and some get through.
#[test]
fn directory_swapped_for_a_symlink_mid_walk() {
    let t = Tree::new("swap");
    std::fs::create_dir(t.top.join("root/sw")).expect("mkdir");
    std::fs::write(t.top.join("root/sw/secret"), "inside").expect("write");
    symlink("../../out", t.top.join("root/sw-evil")).expect("symlink");
    symlink("/../../../out", t.top.join("root/sw-evil2")).expect("symlink");
    let inside = id_at(&t.top.join("root/sw/secret"));
    let outside = id_at(&t.top.join("out/secret"));
    let stop = Arc::new(AtomicBool::new(false));
    let s1 = swapper(
        t.top.join("root/sw"),
        t.top.join("root/sw-evil"),
        stop.clone(),
    );
    let s2 = swapper(
        t.top.join("root/sw-evil"),
        t.top.join("root/sw-evil2"),
        stop.clone(),
    );
    let (mut hit, mut missed) = (0, 0);
    // At least 3000 walks, and on until one got through: a loaded machine
    // can starve a swapper with the directory away from `sw` for a whole
    // batch. Bounded, so a resolver that never gets through fails.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut i = 0u32;
    while i < 3000 || (hit == 0 && std::time::Instant::now() < deadline) {
        i += 1;
        let res = if i.is_multiple_of(2) {
            IN_ROOT
        } else {
            IN_ROOT | NO_SYMLINKS
        };
        match outcome(ours(t.fd(), "sw/secret", libc::O_RDONLY, res)) {
            Ok((id, _)) => {
                assert_ne!(id, outside, "walk {i} opened the file outside the root");
                assert_eq!(id, inside, "walk {i} opened some other file");
                hit += 1;
            }
            Err(_) => missed += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = s1.join().expect("swapper") + s2.join().expect("swapper");
    assert!(swaps > 0, "the swapper never swapped");
    assert!(hit > 0, "no walk got through ({missed} failed)");
}

/// The directory the walk stands in moved out of the root by a racing
/// rename, so that its `..` leads outside: the walk must notice at the
/// `..` and never open the outside file. (A resolver that opened `..` of
/// the directory it holds and went on from there loses within a few
/// hundred walks.)
#[test]
fn dotdot_after_a_rename_out_of_the_root_is_caught() {
    let t = Tree::new("dotdot");
    // root/a/b/../secret is root/a/secret (absent); with b exchanged with
    // out/p/b, b's ".." is out/p, which holds a secret.
    std::fs::write(t.top.join("out/p/secret"), "outside").expect("write");
    let outside = id_at(&t.top.join("out/p/secret"));
    let stop = Arc::new(AtomicBool::new(false));
    std::fs::create_dir(t.top.join("out/p/b")).expect("mkdir");
    let s = swapper(t.top.join("root/a/b"), t.top.join("out/p/b"), stop.clone());
    let mut errs = std::collections::BTreeMap::new();
    for i in 0..5000 {
        match outcome(ours(t.fd(), "a/b/../secret", libc::O_RDONLY, IN_ROOT)) {
            Ok((id, _)) => {
                stop.store(true, Ordering::Relaxed);
                assert_ne!(id, outside, "walk {i} escaped the root through '..'");
                panic!("walk {i} opened {id:?}, where there is no file");
            }
            Err(e) => *errs.entry(e as i32).or_insert(0) += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(s.join().expect("swapper") > 0, "the swapper never swapped");
    for e in errs.keys() {
        assert!(
            *e == Errno::ENOENT as i32 || *e == Errno::EAGAIN as i32,
            "unexpected answers {errs:?}"
        );
    }
}

/// The probe: the first answer of openat2 decides,
/// and openat_resolve gives the resolver's answers either way.
#[test]
fn openat_resolve_falls_back_to_the_same_answers() {
    let t = Tree::new("dispatch");
    let via_sys =
        super::super::openat_resolve(t.fd(), Path::new("abs/b/c"), libc::O_RDONLY, 0, IN_ROOT)
            .expect("openat_resolve");
    let direct = ours(t.fd(), "abs/b/c", libc::O_RDONLY, IN_ROOT).expect("resolver");
    assert_eq!(
        id_of(via_sys.as_raw_fd()).expect("stat").0,
        id_of(direct.as_raw_fd()).expect("stat").0
    );
    assert!(!openat2_refused(Errno::ENOENT));
    assert!(!openat2_refused(Errno::EACCES));
    if host_has_openat2() {
        // An EPERM of a real openat2 (a file's own refusal) is not taken
        // for a missing syscall: the probe answers.
        assert!(!openat2_refused(Errno::EPERM));
        assert!(openat2_in_use());
    }
}

/// An image's long ".." chains cost a walk linear in their length (the
/// held chain is checked once, at the end), and a path over PATH_MAX is
/// ENAMETOOLONG at once, as with openat2: neither may stall a create.
#[test]
fn long_dot_dot_chains_and_long_paths_are_bounded() {
    let t = Tree::new("bounded");
    let root = t.top.join("root");
    // deep/d/…(1000 levels), reached by one link and climbed back by
    // links of 1001 ".." each: 15 of them (31 links, within the budget),
    // walked from the bottom.
    let mut deep = root.join("deep");
    for _ in 0..1000 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).expect("mkdir deep");
    symlink(format!("/deep/{}", "d/".repeat(1000)), root.join("bottom")).expect("symlink");
    for i in 0..15 {
        let back = format!("{}bottom", "../".repeat(1001));
        symlink(back, deep.join(format!("up{i}"))).expect("symlink");
    }
    let path = format!(
        "/bottom/{}",
        (0..15).map(|i| format!("up{i}/")).collect::<String>()
    );
    let start = std::time::Instant::now();
    let r = ours(t.root.as_raw_fd(), &path, libc::O_PATH, IN_ROOT);
    assert!(r.is_ok(), "{r:?}");
    let long = format!("/{}", "a/".repeat(2100));
    assert_eq!(
        ours(t.root.as_raw_fd(), &long, libc::O_PATH, IN_ROOT).err(),
        Some(Errno::ENAMETOOLONG)
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
