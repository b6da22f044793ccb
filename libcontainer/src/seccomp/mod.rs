//! seccomp: the OCI `linux.seccomp` section compiled to a classic BPF
//! program and loaded with `seccomp(2)`. No libseccomp.
//!
//! Two compilers share the work. The `seccompiler` crate compiles what its
//! model expresses: for one action, a set of syscalls each with rules of
//! argument conditions (all seven operators, 64-bit or 32-bit compares).
//! Its model has one match action per filter, native tables only and no
//! NOTIFY, so corral generates the rest itself, here: the dispatch on
//! architecture, the syscalls matched by number alone (one compare and a
//! return each — seccompiler's five instructions per syscall would put
//! Docker's profile over the kernel's 4096 for three ABIs), several
//! actions in one filter (seccompiler runs spliced one after another, see
//! `seccompiler_run`), NOTIFY and any other action, and the ENOSYS stub for
//! syscalls newer than the profile.
//!
//! # Architectures
//!
//! corral compiles filters for x86_64, x86 (i386), x32, aarch64, arm
//! (EABI), ppc64le, ppc64, ppc, s390x, s390 and riscv64 — every
//! `SCMP_ARCH_*` of the runtime spec but the MIPS ones, which are refused
//! naming `linux.seccomp.architectures[i]` and the value. The syscall
//! tables (`tables`) are generated from the kernel's uapi headers by
//! `scripts/gen-seccomp-tables.py`. Every filter includes the architecture
//! corral was built for (`target_arch`; `SCMP_ARCH_NATIVE` means it too),
//! as runc's libseccomp filters do, besides those the profile lists. Per
//! ABI, as libseccomp compiles them:
//!
//! - x86, x32, arm, ppc and s390 are 32-bit: a compare looks at the low
//!   word of the argument and of the profile's value and mask.
//! - ppc64, ppc, s390x and s390 are big-endian: the low word of an argument
//!   is the second of its 8 bytes in `seccomp_data.args`.
//! - x32 shares x86_64's audit arch; its numbers carry the x32 bit
//!   (0x40000000). With both listed the bit tells them apart; x86_64 alone
//!   kills numbers from the bit up (but -1, a tracer's skipped syscall),
//!   x32 alone kills those below it.
//! - On x86, ppc64le, ppc64, ppc, s390x and s390 sockets and SysV IPC are
//!   also reached through `socketcall(2)` and `ipc(2)`: a rule for
//!   `connect` also matches `socketcall(SYS_CONNECT, …)` (its `args[0]`
//!   condition replaced by the call number), or the multiplexer would
//!   bypass the profile.
//! - ARM's private syscalls (`cacheflush`, `set_tls`… at 0x0f0000 and up)
//!   are in arm's table; the ENOSYS stub stops below them.
//!
//! The compiler is checked against libseccomp 2.5.4 on every one of these
//! ABIs, case by case, in the tests (`vs_libseccomp.rs`).
//!
//! Program layout, per audit arch of the ABIs above:
//!
//! ```text
//!   ld arch; jeq AUDIT_ARCH_X86_64 → x86_64/x32 block; jeq AUDIT_ARCH_AARCH64 → …
//!   ret KILL_PROCESS                     (an architecture the filter does not name)
//! x86_64/x32 block: ld nr; [the x32 bit splits it: x86_64 block, x32 block]
//! block: ld nr
//!   for each syscall whose first rule has no arguments: jeq nr; ret action
//!   seccompiler runs for syscalls with argument rules, one action each:
//!     a match returns the action; no match falls through to the next run
//!   ld nr; [arm: nr ≥ 0x0f0000: skip]
//!   nr > highest nr the profile names: ret ERRNO(ENOSYS)
//!                                          (when the default is not allow/log/trace)
//!   ret default
//! ```
//!
//! Rules of one syscall are tried in profile order, the first that matches
//! wins. Conditions that name one argument twice become one rule each, as
//! runc does. Syscall names unknown to an architecture's table are skipped
//! for that architecture, as runc and crun do (profiles name syscalls of
//! every architecture); a name unknown to every table (and to MIPS, SPARC
//! and the others corral has no table for) is refused.

mod arch;
pub mod tables;

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompFilterFlag,
    LinuxSeccompOperator as Op,
};

use crate::error::{Error, Result};
use arch::{audit, Abi, X32_BIT};

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;
const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K

/// `SECCOMP_RET_*` values.
pub mod ret {
    /// Kill the process.
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    /// Kill the thread.
    pub const KILL_THREAD: u32 = 0;
    /// SIGSYS.
    pub const TRAP: u32 = 0x0003_0000;
    /// Fail with an errno (low 16 bits).
    pub const ERRNO: u32 = 0x0005_0000;
    /// Ask the listener.
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    /// Tell the tracer.
    pub const TRACE: u32 = 0x7ff0_0000;
    /// Allow and log.
    pub const LOG: u32 = 0x7ffc_0000;
    /// Allow.
    pub const ALLOW: u32 = 0x7fff_0000;
}

const ENOSYS: u32 = 38;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19).
pub const WAIT_KILLABLE_RECV: u32 = 1 << 5;
const EPERM: u32 = 1;

// seccomp_data offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// A compiled filter and how to load it.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The program.
    pub prog: Vec<SockFilter>,
    /// `SECCOMP_FILTER_FLAG_*` bits.
    pub flags: u32,
    /// Whether a rule uses SCMP_ACT_NOTIFY (the filter is loaded with a
    /// listener).
    pub notify: bool,
}

fn action(a: Act, errno: Option<u32>, field: &str) -> Result<u32> {
    Ok(match a {
        Act::ScmpActKill | Act::ScmpActKillThread => ret::KILL_THREAD,
        Act::ScmpActKillProcess => ret::KILL_PROCESS,
        Act::ScmpActTrap => ret::TRAP,
        Act::ScmpActErrno => {
            let e = errno.unwrap_or(EPERM);
            if e > 0xffff {
                return Err(Error::spec(
                    field,
                    format!("errnoRet {e} does not fit in 16 bits"),
                ));
            }
            ret::ERRNO | e
        }
        Act::ScmpActTrace => ret::TRACE | (errno.unwrap_or(EPERM) & 0xffff),
        Act::ScmpActLog => ret::LOG,
        Act::ScmpActAllow => ret::ALLOW,
        Act::ScmpActNotify => ret::USER_NOTIF,
    })
}

/// Syscalls of architectures corral has no table for (MIPS, SPARC,
/// alpha, m68k, ARC…), which profiles written for several architectures
/// name (podman's `sysmips`, `cachectl`…): skipped here, as runc does.
/// With the prefixes below and corral's tables they cover every name
/// libseccomp 2.5.4 knows. A name that is neither one of these nor in any
/// table is a mistake, refused by name.
const FOREIGN: &[&str] = &[
    "cachectl",
    "fstatat",
    "getpagesize",
    "kern_features",
    "llseek",
    "memory_ordering",
    "perfctr",
    "syscall",
    "sysmips",
    "utrap_install",
];

/// Name prefixes of syscalls of architectures corral has no table for
/// (alpha's osf_, arc_, m68k's atomic_).
const FOREIGN_PREFIXES: &[&str] = &["osf_", "arc_", "atomic_"];

/// Whether `name` is a syscall of some Linux architecture.
fn is_syscall_name(name: &str) -> bool {
    Abi::ALL.iter().any(|a| a.number(name).is_some())
        || FOREIGN.contains(&name)
        || FOREIGN_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// One argument condition: index, operator, value, valueTwo.
type Cond = (usize, Op, u64, u64);

/// One rule: the conditions (all must hold) and the action.
#[derive(Debug, Clone)]
struct Rule {
    conds: Vec<Cond>,
    ret: u32,
}

/// The profile this process compiled last, with its filter: `create`
/// checks the profile while validating config.json and then compiles it
/// for the init, and a shim's helper compiles the same profile container
/// after container; one compile serves them all.
static LAST: std::sync::Mutex<Option<(LinuxSeccomp, Filter)>> = std::sync::Mutex::new(None);

/// Compiles `linux.seccomp` (the last profile's filter is reused).
pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    if let Ok(last) = LAST.lock() {
        if let Some((_, f)) = last.as_ref().filter(|(p, _)| p == s) {
            return Ok(f.clone());
        }
    }
    let f = compile_for(s, Abi::native())?;
    if let Ok(mut last) = LAST.lock() {
        *last = Some((s.clone(), f.clone()));
    }
    Ok(f)
}

/// Compiles `linux.seccomp`, always, with `native` as the architecture
/// every filter includes (the build's, but for tests).
fn compile_for(s: &LinuxSeccomp, native: Option<Abi>) -> Result<Filter> {
    if s.default_action() == Act::ScmpActNotify {
        return Err(Error::spec(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action: the runtime's own delivery of the listener fd would wait on the listener that has not got it",
        ));
    }
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    let abis = abis(s, native)?;
    let mut flags = 0u32;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
        };
    }
    // Rules per ABI and syscall number, in profile order.
    let mut rules: BTreeMap<Abi, BTreeMap<u32, Vec<Rule>>> = BTreeMap::new();
    let mut notify = false;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        for name in sc.names() {
            if !is_syscall_name(name) {
                return Err(Error::spec(
                    format!("{field}.names"),
                    format!("{name:?} is not a syscall of any architecture"),
                ));
            }
        }
        let r = action(sc.action(), sc.errno_ret(), &field)?;
        if sc.action() == Act::ScmpActNotify {
            if let Some(name) = sc
                .names()
                .iter()
                .find(|n| DELIVERS_LISTENER.contains(&n.as_str()))
            {
                return Err(Error::spec(
                    format!("{field}.names"),
                    format!("SCMP_ACT_NOTIFY cannot be used for the {name} syscall: the runtime sends the listener fd with it after the filter is loaded, and would wait forever on the listener that has not got it"),
                ));
            }
        }
        notify |= sc.action() == Act::ScmpActNotify;
        let mut conds = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            if a.index() > 5 {
                return Err(Error::spec(
                    format!("{field}.args[{j}].index"),
                    format!("{} is not a syscall argument (0-5)", a.index()),
                ));
            }
            conds.push((a.index(), a.op(), a.value(), a.value_two().unwrap_or(0)));
        }
        if r == default && conds.is_empty() {
            continue;
        }
        // As runc: conditions that name one argument twice are not ANDed
        // but each made a rule of its own.
        let repeated = (0..6).any(|i| conds.iter().filter(|c| c.0 == i).count() > 1);
        let entries: Vec<Vec<Cond>> = if repeated {
            conds.iter().map(|c| vec![*c]).collect()
        } else {
            vec![conds]
        };
        for name in sc.names() {
            for &abi in &abis {
                let abi_rules = rules.entry(abi).or_default();
                if let Some(nr) = abi.number(name) {
                    let list = abi_rules.entry(nr).or_default();
                    for conds in &entries {
                        list.push(Rule {
                            conds: conds.clone(),
                            ret: r,
                        });
                    }
                }
                // The same call through socketcall(2)/ipc(2): args[0] is
                // the call number, whatever the rule said of args[0] (the
                // other conditions stay, as libseccomp keeps them).
                if let Some((mux, call)) = abi.multiplexer(name) {
                    let list = abi_rules.entry(mux).or_default();
                    for conds in &entries {
                        let mut conds: Vec<Cond> =
                            conds.iter().filter(|c| c.0 != 0).copied().collect();
                        conds.insert(0, (0, Op::ScmpCmpEq, call, 0));
                        list.push(Rule { conds, ret: r });
                    }
                }
            }
        }
    }
    notify |= default == ret::USER_NOTIF;
    let enosys_stub = !matches!(
        s.default_action(),
        Act::ScmpActAllow | Act::ScmpActLog | Act::ScmpActTrace
    );
    let prog = build(&abis, &rules, default, enosys_stub)?;
    if prog.len() > 4096 {
        return Err(Error::unsupported(
            "linux.seccomp",
            format!(
                "the profile compiles to {} BPF instructions; the kernel takes at most 4096",
                prog.len()
            ),
        ));
    }
    Ok(Filter {
        prog,
        flags,
        notify,
    })
}

/// The ABIs of `linux.seccomp.architectures`, with `native` added as
/// runc's libseccomp adds it, sorted. An architecture corral has no table
/// for is refused by name, never skipped.
fn abis(s: &LinuxSeccomp, native: Option<Abi>) -> Result<Vec<Abi>> {
    let mut abis = Vec::new();
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let abi = match (*a, native) {
            (Arch::ScmpArchNative, Some(n)) => n,
            (other, _) => Abi::from_oci(other).ok_or_else(|| {
                Error::unsupported(
                    format!("linux.seccomp.architectures[{i}]"),
                    format!(
                        "{other}: corral compiles seccomp filters for {} only",
                        Abi::ALL.map(Abi::oci_name).join(", ")
                    ),
                )
            })?,
        };
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }
    match native {
        Some(n) if !abis.contains(&n) => abis.push(n),
        Some(_) => {}
        None if abis.is_empty() => return Err(Error::unsupported(
            "linux.seccomp.architectures",
            "none listed, and corral has no syscall table for the architecture it was built for",
        )),
        None => {}
    }
    abis.sort();
    Ok(abis)
}

fn ins(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Code for one ABI's syscalls: its rules, the ENOSYS stub, the default.
fn abi_block(
    abi: Abi,
    rules: &BTreeMap<u32, Vec<Rule>>,
    default: u32,
    enosys_stub: bool,
) -> Result<Vec<SockFilter>> {
    let mut code = vec![ins(LD_W_ABS, OFF_NR, 0, 0)];
    // A syscall whose first rule has no conditions: one compare and return.
    // The others go to seccompiler, one run per action (see `runs`).
    let mut conditional: BTreeMap<u32, &[Rule]> = BTreeMap::new();
    for (nr, list) in rules {
        match list.first() {
            Some(first) if first.conds.is_empty() => {
                code.push(ins(JEQ_K, *nr, 0, 1));
                code.push(ins(RET_K, first.ret, 0, 0));
            }
            Some(_) => {
                conditional.insert(*nr, list);
            }
            None => {}
        }
    }
    for (ret, chains) in runs(&conditional) {
        code.extend(seccompiler_run(abi, ret, chains)?);
    }
    if enosys_stub {
        // Numbers above the highest the profile names are syscalls newer
        // than the profile: ENOSYS, so that callers fall back. A private
        // range above them (ARM's) is not: it gets the default.
        let end = abi.stub_end();
        let below_end = |nr: &&u32| end.is_none_or(|e| **nr < e);
        if let Some(max) = rules.keys().filter(below_end).max() {
            code.push(ins(LD_W_ABS, OFF_NR, 0, 0));
            if let Some(end) = end {
                code.push(ins(JGE_K, end, 2, 0));
            }
            code.push(ins(JGT_K, *max, 0, 1));
            code.push(ins(RET_K, ret::ERRNO | ENOSYS, 0, 0));
        }
    }
    code.push(ins(RET_K, default, 0, 0));
    Ok(code)
}

/// The rules of syscalls with argument conditions, as runs of one action:
/// each syscall's rules are cut into segments of consecutive rules with the
/// same action; the k-th segments of all syscalls form the k-th group of
/// runs, one run per action. Running the runs in order tries every
/// syscall's rules in profile order, first match wins, as one chain would.
/// Rules after one without conditions can never match and are dropped.
#[allow(clippy::type_complexity)]
fn runs(rules: &BTreeMap<u32, &[Rule]>) -> Vec<(u32, BTreeMap<u32, Vec<Vec<Cond>>>)> {
    // segments[nr] = [(action, [conditions of each rule; empty = always])]
    let mut segments: BTreeMap<u32, Vec<(u32, Vec<Vec<Cond>>)>> = BTreeMap::new();
    for (nr, list) in rules {
        let segs = segments.entry(*nr).or_default();
        for r in list.iter() {
            match segs.last_mut() {
                Some((ret, chains)) if *ret == r.ret => chains.push(r.conds.clone()),
                _ => segs.push((r.ret, vec![r.conds.clone()])),
            }
            if r.conds.is_empty() {
                break;
            }
        }
    }
    let depth = segments.values().map(Vec::len).max().unwrap_or(0);
    let mut out: Vec<(u32, BTreeMap<u32, Vec<Vec<Cond>>>)> = Vec::new();
    for k in 0..depth {
        let mut by_action: BTreeMap<u32, BTreeMap<u32, Vec<Vec<Cond>>>> = BTreeMap::new();
        for (nr, segs) in &segments {
            if let Some((ret, chains)) = segs.get(k) {
                by_action
                    .entry(*ret)
                    .or_default()
                    .insert(*nr, chains.clone());
            }
        }
        out.extend(by_action);
    }
    out
}

/// Marks seccompiler's two returns so they can be told apart and replaced.
const MATCH_MARK: u32 = 0x0c0d;
const MISMATCH_MARK: u32 = 0x0c0e;

/// One run compiled by seccompiler: its match returns `ret`, its mismatch
/// falls through to the code after the run. seccompiler builds a whole
/// filter for one action and the native architecture; corral strips its
/// architecture check (the dispatch is corral's), sets the real action
/// (any, NOTIFY included) in place of a marker and turns the mismatch
/// returns into jumps past the run.
///
/// For a 32-bit ABI the compares are seccompiler's 32-bit ones (the low
/// word of the argument against the low word of the value and mask, as
/// libseccomp compiles them there); for a big-endian ABI each argument
/// load is moved to the other half of the argument, where that word is.
fn seccompiler_run(
    abi: Abi,
    ret: u32,
    chains: BTreeMap<u32, Vec<Vec<Cond>>>,
) -> Result<Vec<SockFilter>> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCondition, SeccompFilter, SeccompRule,
        TargetArch,
    };
    let bug = |what: String| Error::unsupported("linux.seccomp", format!("seccompiler: {what}"));
    let mut map = BTreeMap::new();
    for (nr, rules) in chains {
        let mut list = Vec::new();
        for conds in rules {
            if conds.is_empty() {
                // Matches whatever the arguments: seccompiler's empty chain.
                list.clear();
                break;
            }
            let mut c = Vec::new();
            let word = if abi.args_32bit() {
                u64::from(u32::MAX)
            } else {
                u64::MAX
            };
            let len = || {
                if abi.args_32bit() {
                    SeccompCmpArgLen::Dword
                } else {
                    SeccompCmpArgLen::Qword
                }
            };
            for (i, op, a, b) in conds {
                let (a, b) = (a & word, b & word);
                let (op, value) = match op {
                    Op::ScmpCmpEq => (seccompiler::SeccompCmpOp::Eq, a),
                    Op::ScmpCmpNe => (seccompiler::SeccompCmpOp::Ne, a),
                    Op::ScmpCmpLt => (seccompiler::SeccompCmpOp::Lt, a),
                    Op::ScmpCmpLe => (seccompiler::SeccompCmpOp::Le, a),
                    Op::ScmpCmpGt => (seccompiler::SeccompCmpOp::Gt, a),
                    Op::ScmpCmpGe => (seccompiler::SeccompCmpOp::Ge, a),
                    Op::ScmpCmpMaskedEq => (seccompiler::SeccompCmpOp::MaskedEq(a), b),
                };
                let cond = SeccompCondition::new(i as u8, len(), op, value)
                    .map_err(|e| bug(e.to_string()))?;
                c.push(cond);
            }
            list.push(SeccompRule::new(c).map_err(|e| bug(e.to_string()))?);
        }
        map.insert(i64::from(nr), list);
    }
    let filter = SeccompFilter::new(
        map,
        SeccompAction::Trace(MISMATCH_MARK),
        SeccompAction::Trace(MATCH_MARK),
        TargetArch::x86_64,
    )
    .map_err(|e| bug(e.to_string()))?;
    let prog = BpfProgram::try_from(filter).map_err(|e| bug(e.to_string()))?;
    // seccompiler's program: its 3-instruction architecture check, then the
    // body. Anything else means its output changed shape: refuse.
    let expect_head = [
        (LD_W_ABS, OFF_ARCH),
        (JEQ_K, audit::X86_64),
        (RET_K, ret::KILL_PROCESS),
    ];
    let head_ok = prog.len() > 3
        && prog
            .iter()
            .zip(expect_head)
            .all(|(i, (code, k))| i.code == code && i.k == k);
    if !head_ok {
        return Err(bug("unexpected program head".into()));
    }
    let body = &prog[3..];
    let len = body.len();
    let mut out = Vec::with_capacity(len);
    for (at, i) in body.iter().enumerate() {
        let mut i = SockFilter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        };
        if i.code == LD_W_ABS && i.k >= OFF_ARGS && abi.big_endian() {
            // The other word of the same argument: +4 for a low word,
            // -4 for a high one.
            i.k ^= 4;
        }
        if i.code == RET_K {
            if i.k == ret::TRACE | MATCH_MARK {
                i.k = ret;
            } else if i.k == ret::TRACE | MISMATCH_MARK {
                i = ins(JA, (len - at - 1) as u32, 0, 0);
            } else {
                return Err(bug(format!("unexpected return {:#x}", i.k)));
            }
        }
        out.push(i);
    }
    Ok(out)
}

/// The whole program: the dispatch on `seccomp_data.arch`, then one block
/// per audit arch. x86_64 and x32 share one audit arch, told apart by the
/// x32 bit of the number; a number of the other kind is killed as a wrong
/// architecture would be.
fn build(
    abis: &[Abi],
    rules: &BTreeMap<Abi, BTreeMap<u32, Vec<Rule>>>,
    default: u32,
    enosys_stub: bool,
) -> Result<Vec<SockFilter>> {
    let empty = BTreeMap::new();
    let block = |abi: Abi| abi_block(abi, rules.get(&abi).unwrap_or(&empty), default, enosys_stub);
    let mut arches: Vec<u32> = abis.iter().map(|a| a.audit_arch()).collect();
    arches.dedup();
    let mut code = vec![ins(LD_W_ABS, OFF_ARCH, 0, 0)];
    let mut dispatch = Vec::new();
    for arch in &arches {
        code.push(ins(JEQ_K, *arch, 0, 1));
        dispatch.push(code.len());
        code.push(ins(JA, 0, 0, 0));
    }
    code.push(ins(RET_K, ret::KILL_PROCESS, 0, 0));
    for (arch, at) in arches.iter().zip(dispatch) {
        code[at].k = (code.len() - at - 1) as u32;
        let of_arch: Vec<Abi> = abis
            .iter()
            .copied()
            .filter(|a| a.audit_arch() == *arch)
            .collect();
        match of_arch[..] {
            [abi] if *arch != audit::X86_64 => code.extend(block(abi)?),
            _ => {
                // x86_64, x32 or both: a number with the x32 bit is an x32
                // call, as the kernel tells them apart. One of the two
                // alone, as libseccomp: x86_64 kills numbers from the x32
                // bit up but -1 (a tracer's skipped syscall), x32 kills
                // those below it.
                code.push(ins(LD_W_ABS, OFF_NR, 0, 0));
                match (of_arch.contains(&Abi::X86_64), of_arch.contains(&Abi::X32)) {
                    (true, true) => {
                        code.push(ins(JSET_K, X32_BIT, 0, 1));
                        let to_x32 = code.len();
                        code.push(ins(JA, 0, 0, 0));
                        code.extend(block(Abi::X86_64)?);
                        code[to_x32].k = (code.len() - to_x32 - 1) as u32;
                        code.extend(block(Abi::X32)?);
                    }
                    (true, false) => {
                        code.push(ins(JGE_K, X32_BIT, 0, 2));
                        code.push(ins(JEQ_K, u32::MAX, 1, 0));
                        code.push(ins(RET_K, ret::KILL_PROCESS, 0, 0));
                        code.extend(block(Abi::X86_64)?);
                    }
                    _ => {
                        code.push(ins(JGE_K, X32_BIT, 1, 0));
                        code.push(ins(RET_K, ret::KILL_PROCESS, 0, 0));
                        code.extend(block(Abi::X32)?);
                    }
                }
            }
        }
    }
    Ok(code)
}

/// Loads `f` into the calling thread (all threads with TSYNC); returns the
/// notify listener fd when the filter has one.
pub fn load(f: &Filter) -> Result<Option<OwnedFd>> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const SockFilter,
    }
    let prog = SockFprog {
        len: f.prog.len() as u16,
        filter: f.prog.as_ptr(),
    };
    const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
    const NEW_LISTENER: u32 = 8;
    let flags = f.flags | if f.notify { NEW_LISTENER } else { 0 };
    // SAFETY: `prog` points at `f.prog`, which outlives the call; the
    // kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const SockFprog,
        )
    };
    let r = nix::errno::Errno::result(r).map_err(|e| {
        Error::unsupported(
            "linux.seccomp",
            format!("the kernel refused the filter (flags {flags:#x}): {e}"),
        )
    })?;
    if f.notify {
        // SAFETY: with NEW_LISTENER the kernel returned a new fd for us.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(r as RawFd) }))
    } else {
        Ok(None)
    }
}

/// The `SCMP_ARCH_*` values corral compiles filters for (`features`'
/// `seccomp.archs`).
pub fn architectures() -> Vec<&'static str> {
    Abi::ALL.iter().map(|a| a.oci_name()).collect()
}

/// `seccomp_data.arch` of the architecture corral was built for (the one
/// every filter includes), or `None` where corral has no syscall table.
pub fn native_audit_arch() -> Option<u32> {
    Abi::native().map(Abi::audit_arch)
}

/// Runs the program on one syscall, as the kernel would: the action it
/// returns. For tests and for checking profiles without loading them.
pub fn evaluate(prog: &[SockFilter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u32; 16];
    data[0] = nr;
    data[1] = arch;
    // The low word first on a little-endian ABI, second on a big-endian
    // one (`__AUDIT_ARCH_LE` in the audit arch tells which).
    let low = usize::from(arch & audit::LE == 0);
    for (i, a) in args.iter().enumerate() {
        data[4 + 2 * i + low] = *a as u32;
        data[5 + 2 * i - low] = (*a >> 32) as u32;
    }
    let mut acc = 0u32;
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let mut next = pc + 1;
        match i.code {
            LD_W_ABS => acc = data[(i.k / 4) as usize],
            AND_K => acc &= i.k,
            JA => next = pc + 1 + i.k as usize,
            JEQ_K | JGT_K | JGE_K | JSET_K => {
                let t = match i.code {
                    JEQ_K => acc == i.k,
                    JGT_K => acc > i.k,
                    JGE_K => acc >= i.k,
                    _ => acc & i.k != 0,
                };
                next = pc + 1 + if t { i.jt } else { i.jf } as usize;
            }
            RET_K => return i.k,
            c => panic!("opcode {c:#x} not produced by the compiler"),
        }
        pc = next;
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vs_libseccomp;

/// A filter ready to load in a container process, with the connection to
/// `listenerPath` made while the host's files were still reachable.
#[derive(Debug)]
pub struct Prepared {
    /// The compiled filter.
    pub filter: Filter,
    /// Connected to `linux.seccomp.listenerPath` when the filter notifies.
    pub listener: Option<std::os::unix::net::UnixStream>,
    /// `listenerMetadata`.
    pub metadata: String,
}

/// The system calls corral makes between loading a notifying filter and
/// the listener holding its fd (`Prepared::load`: one `sendmsg` on the
/// listener socket; `write` and the other send calls as runc refuses them,
/// so that a profile refused by runc is refused here too). Under
/// SCMP_ACT_NOTIFY any of them would wait for a listener that cannot
/// answer yet.
const DELIVERS_LISTENER: [&str; 5] = ["write", "sendmsg", "sendto", "sendmmsg", "socketcall"];

impl Prepared {
    /// Compiles `s` and, for a notifying filter, connects to its listener.
    /// `extra_flags`: `SECCOMP_FILTER_FLAG_*` bits of `linux.seccomp.flags`
    /// that oci-spec has no variant for (see `spec::Extras`).
    pub fn new(s: &LinuxSeccomp, extra_flags: u32) -> Result<Prepared> {
        let mut filter = compile(s)?;
        if extra_flags & WAIT_KILLABLE_RECV != 0 && !filter.notify {
            return Err(Error::spec(
                "linux.seccomp.flags",
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies to notify filters: no rule is SCMP_ACT_NOTIFY",
            ));
        }
        filter.flags |= extra_flags;
        let listener = if filter.notify {
            let path = s.listener_path().as_ref().ok_or_else(|| {
                Error::spec(
                    "linux.seccomp.listenerPath",
                    "required when an action is SCMP_ACT_NOTIFY",
                )
            })?;
            Some(
                std::os::unix::net::UnixStream::connect(path)
                    .map_err(|e| Error::io("connect to seccomp listener", path, e))?,
            )
        } else {
            None
        };
        Ok(Prepared {
            filter,
            listener,
            metadata: s.listener_metadata().clone().unwrap_or_default(),
        })
    }

    /// Loads the filter; a listener fd goes to `listenerPath` with the
    /// container process state (`state` is the OCI state as JSON, `pid` the
    /// process's host pid), as runtime-spec's seccomp notify section says.
    pub fn load(&self, pid: i32, state: &str) -> Result<()> {
        // The message is made before the filter is loaded: after it, only
        // the sendmsg of DELIVERS_LISTENER runs until the listener has
        // the fd (no allocation a profile could trap on the way).
        let msg = self.listener.as_ref().map(|_| {
            let state: serde_json::Value =
                serde_json::from_str(state).unwrap_or(serde_json::Value::Null);
            serde_json::json!({
                "ociVersion": crate::OCI_VERSION,
                "fds": ["seccompFd"],
                "pid": pid,
                "metadata": self.metadata,
                "state": state,
            })
            .to_string()
        });
        let fd = load(&self.filter)?;
        if let (Some(fd), Some(sock), Some(msg)) = (fd, &self.listener, msg) {
            use std::os::fd::AsRawFd;
            crate::tty::send_fd(sock.as_raw_fd(), &msg, fd.as_raw_fd())?;
        }
        Ok(())
    }
}
