//! hot-functions: lists the functions a program runs, in the order it first
//! runs them, for the linker's `--symbol-ordering-file`.
//!
//! ```text
//! hot-functions SYMBOLS OUT -- PROGRAM ARGS...
//! ```
//!
//! SYMBOLS is `nm --defined-only -S PROGRAM` (PROGRAM must be a static PIE,
//! as the release `corral` is). Every function entry gets a one-shot
//! breakpoint (`int3`); PROGRAM and every process it forks or clones are
//! traced until they exec another program (the container's process, a
//! hook). A breakpoint that fires appends its symbol names to OUT (names
//! already there are not repeated) and is put back to the original byte.
//! When PROGRAM exits, processes it left behind (a created container's init
//! waiting for `start`) get their text back whole and are let go. The
//! program's exit status is this tool's.
//!
//! Why: the kernel maps a program's text in 64 KiB windows around each page
//! fault, so a process's resident memory is the number of windows its code
//! touches. Hot functions gathered at the front of `.text` touch few.

// int3 breakpoints and x86_64's registers: the tool traces x86_64 only
// (the release build it orders is x86_64's); elsewhere it says so.
#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("hot-functions: traces x86_64 programs only");
    std::process::exit(2);
}

#[cfg(target_arch = "x86_64")]
use std::collections::{BTreeMap, HashSet};
#[cfg(target_arch = "x86_64")]
use std::ffi::CString;
#[cfg(target_arch = "x86_64")]
use std::fs::OpenOptions;
#[cfg(target_arch = "x86_64")]
use std::io::{BufRead, Write};
#[cfg(target_arch = "x86_64")]
use std::os::unix::fs::FileExt;

#[cfg(target_arch = "x86_64")]
/// A breakpoint: the byte it replaced and the symbols at its address.
struct Point {
    orig: u8,
    names: Vec<String>,
}

#[cfg(target_arch = "x86_64")]
fn fail(msg: String) -> ! {
    eprintln!("hot-functions: {msg}");
    std::process::exit(2)
}

#[cfg(target_arch = "x86_64")]
/// Function symbols (`t`/`T` with a size) by address, from `nm -S` output.
fn read_symbols(path: &str) -> BTreeMap<u64, Vec<String>> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let mut map: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
        let p: Vec<&str> = line.split_whitespace().collect();
        if p.len() != 4 || !matches!(p[2], "t" | "T") {
            continue;
        }
        let (Ok(addr), Ok(size)) = (u64::from_str_radix(p[0], 16), u64::from_str_radix(p[1], 16))
        else {
            continue;
        };
        if size > 0 {
            map.entry(addr).or_default().push(p[3].to_string());
        }
    }
    map
}

#[cfg(target_arch = "x86_64")]
/// The load address of `exe` in process `pid` (its mapping at offset 0).
fn load_base(pid: i32, exe: &str) -> u64 {
    // A non-PIE executable (ELF type ET_EXEC) is linked at the addresses
    // its symbols name: nothing to add.
    const ET_EXEC: u16 = 2;
    let mut header = [0u8; 18];
    let read = std::fs::File::open(exe).and_then(|f| f.read_exact_at(&mut header, 0));
    if read.is_ok() && u16::from_le_bytes([header[16], header[17]]) == ET_EXEC {
        return 0;
    }
    let real = std::fs::canonicalize(exe).unwrap_or_else(|e| fail(format!("{exe}: {e}")));
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_else(|e| fail(format!("maps: {e}")));
    for l in maps.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 6 && f[2].trim_start_matches('0').is_empty() && real.to_str() == Some(f[5]) {
            let start = f[0].split('-').next().unwrap_or("0");
            return u64::from_str_radix(start, 16).unwrap_or(0);
        }
    }
    fail(format!("{exe} is not mapped in process {pid}"))
}

#[cfg(target_arch = "x86_64")]
fn ptrace(req: libc::c_uint, pid: i32, addr: u64, data: u64) -> i64 {
    // SAFETY: plain ptrace requests on a tracee of ours; addr and data are
    // addresses in the tracee or integers, never pointers into this process,
    // except GETREGS/SETREGS whose callers pass a valid user_regs_struct.
    unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    }
}

#[cfg(target_arch = "x86_64")]
fn regs(pid: i32) -> Option<libc::user_regs_struct> {
    // SAFETY: user_regs_struct is plain data; zeroed is a valid value.
    let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    let rc = ptrace(libc::PTRACE_GETREGS, pid, 0, &mut r as *mut _ as u64);
    (rc == 0).then_some(r)
}

#[cfg(target_arch = "x86_64")]
/// Puts back the byte a breakpoint at `addr` replaced, in `pid`'s memory.
fn restore(pid: i32, addr: u64, orig: u8) {
    let word_addr = addr & !7;
    // SAFETY: errno is thread-local; PEEKDATA returns -1 for data too.
    unsafe { *libc::__errno_location() = 0 };
    let word = ptrace(libc::PTRACE_PEEKDATA, pid, word_addr, 0) as u64;
    if word == u64::MAX && std::io::Error::last_os_error().raw_os_error() != Some(0) {
        return;
    }
    let shift = (addr - word_addr) * 8;
    let new = (word & !(0xff << shift)) | (u64::from(orig) << shift);
    ptrace(libc::PTRACE_POKEDATA, pid, word_addr, new);
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 || args[3] != "--" {
        fail("usage: hot-functions SYMBOLS OUT -- PROGRAM ARGS...".into());
    }
    let symbols = read_symbols(&args[1]);
    let out_path = &args[2];
    let prog = &args[4];
    let mut seen: HashSet<String> = std::fs::read_to_string(out_path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(out_path)
        .unwrap_or_else(|e| fail(format!("{out_path}: {e}")));

    let cargs: Vec<CString> = args[4..]
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap_or_else(|_| fail("NUL in an argument".into())))
        .collect();
    let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: fork in a single-threaded program; the child only calls
    // async-signal-safe functions (ptrace, execv, _exit).
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: argv is a NULL-terminated array of C strings that outlive the call.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::execv(argv[0], argv.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: waitpid with a valid status pointer.
    unsafe { libc::waitpid(child, &mut status, 0) };
    if !libc::WIFSTOPPED(status) {
        fail(format!("{prog} did not start"));
    }
    let opts = libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACEEXEC;
    ptrace(libc::PTRACE_SETOPTIONS, child, 0, opts as u64);

    // One-shot breakpoints at every function entry, written in one go.
    let base = load_base(child, prog);
    let mem = OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{child}/mem"))
        .unwrap_or_else(|e| fail(format!("mem: {e}")));
    let (Some((&lo, _)), Some((&hi, _))) = (symbols.first_key_value(), symbols.last_key_value())
    else {
        fail("no function symbols".into())
    };
    let mut text = vec![0u8; (hi - lo + 1) as usize];
    mem.read_exact_at(&mut text, base + lo)
        .unwrap_or_else(|e| fail(format!("read text: {e}")));
    let clean = text.clone();
    let mut points: BTreeMap<u64, Point> = BTreeMap::new();
    for (addr, names) in &symbols {
        let i = (addr - lo) as usize;
        points.insert(
            base + addr,
            Point {
                orig: text[i],
                names: names.clone(),
            },
        );
        text[i] = 0xcc;
    }
    mem.write_all_at(&text, base + lo)
        .unwrap_or_else(|e| fail(format!("write text: {e}")));
    drop(mem);

    let mut traced: HashSet<i32> = HashSet::from([child]);
    let mut started: HashSet<i32> = HashSet::from([child]);
    let mut exit_code = 1;
    ptrace(libc::PTRACE_CONT, child, 0, 0);
    while traced.contains(&child) {
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        if pid < 0 {
            break;
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            traced.remove(&pid);
            if pid == child {
                exit_code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
            }
            continue;
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        traced.insert(pid);
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        if event == libc::PTRACE_EVENT_EXEC {
            // Another program now: nothing of ours is in it.
            ptrace(libc::PTRACE_DETACH, pid, 0, 0);
            traced.remove(&pid);
            continue;
        }
        if event != 0 {
            // fork/clone/vfork: the new process stops with SIGSTOP by itself.
            ptrace(libc::PTRACE_CONT, pid, 0, 0);
            continue;
        }
        if sig == libc::SIGSTOP && started.insert(pid) {
            ptrace(libc::PTRACE_CONT, pid, 0, 0);
            continue;
        }
        if sig == libc::SIGTRAP {
            if let Some(mut r) = regs(pid) {
                if let Some(p) = points.get(&(r.rip - 1)) {
                    restore(pid, r.rip - 1, p.orig);
                    r.rip -= 1;
                    ptrace(libc::PTRACE_SETREGS, pid, 0, &r as *const _ as u64);
                    for n in &p.names {
                        if seen.insert(n.clone()) {
                            let _ = writeln!(out, "{n}");
                        }
                    }
                    ptrace(libc::PTRACE_CONT, pid, 0, 0);
                    continue;
                }
            }
        }
        // Any other signal goes on to the process.
        ptrace(libc::PTRACE_CONT, pid, 0, sig as u64);
    }
    for pid in traced {
        release(pid, &clean, base + lo);
    }
    std::process::exit(exit_code);
}

#[cfg(target_arch = "x86_64")]
/// Stops `pid`, writes its clean text back and detaches from it.
fn release(pid: i32, clean: &[u8], at: u64) {
    // SAFETY: kill and waitpid on a tracee of ours, with a valid status pointer.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
        let mut status = 0;
        while libc::waitpid(pid, &mut status, libc::__WALL) == pid {
            if !libc::WIFSTOPPED(status) {
                return;
            }
            if libc::WSTOPSIG(status) == libc::SIGSTOP {
                break;
            }
            ptrace(libc::PTRACE_CONT, pid, 0, libc::WSTOPSIG(status) as u64);
        }
    }
    if let Ok(mem) = OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/mem"))
    {
        if let Err(e) = mem.write_all_at(clean, at) {
            eprintln!("hot-functions: process {pid}: text not restored: {e}");
        }
    }
    // Detaching from the SIGSTOP stop with no signal lets it run on.
    ptrace(libc::PTRACE_DETACH, pid, 0, 0);
}
