//! seccomp: the OCI `linux.seccomp` section compiled to a classic BPF
//! program and loaded with `seccomp(2)`.
//!
//! The compiler is corral's own: the OCI section needs several actions in
//! one filter, the x86 and x32 compat tables beside x86_64, NOTIFY and
//! ENOSYS stubs, none of which the `seccompiler` crate's model (one match
//! action per filter, native tables only, no notify) expresses. No libseccomp.
//!
//! Program layout, per architecture in `architectures` (native x86_64 when
//! none is given):
//!
//! ```text
//!   ld arch; jeq AUDIT_ARCH_X86_64 → x86_64 block; jeq AUDIT_ARCH_I386 → x86 block
//!   ret KILL_PROCESS                     (an architecture the profile does not allow)
//! block: ld nr
//!   [x86_64 with x32 listed: nr ≥ 0x40000000 → x32 block; not listed: ret KILL_PROCESS]
//!   for each syscall without arguments: jeq nr; ret action
//!   for each syscall with arguments:    jeq nr; ja → its argument chain
//!   nr > highest nr the profile names:  ret ERRNO(ENOSYS)   (when the default is not allow/log)
//!   ret default
//! argument chains: each rule's conditions in turn (64-bit compares on two
//!   32-bit words), first full match returns its action; else ret default
//! ```
//!
//! Syscall names unknown to an architecture's table are skipped for that
//! architecture, as runc and crun do (profiles name syscalls of every
//! architecture); a name unknown to every table is skipped too.

pub mod tables;

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompFilterFlag,
    LinuxSeccompOperator as Op,
};

use crate::error::{Error, Result};

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

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_BIT: u32 = 0x4000_0000;
const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

// seccomp_data offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_lo(i: usize) -> u32 {
    16 + 8 * i as u32
}

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

/// Which table and audit arch an OCI architecture means on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Abi {
    X86_64,
    X86,
    X32,
}

impl Abi {
    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Abi::X86_64 => tables::X86_64,
            Abi::X86 => tables::X86,
            Abi::X32 => tables::X32,
        }
    }
    fn number(self, name: &str) -> Option<u32> {
        let t = self.table();
        t.binary_search_by(|(n, _)| n.cmp(&name))
            .ok()
            .map(|i| t[i].1)
    }
}

/// One rule: the conditions (all must hold) and the action.
#[derive(Debug, Clone)]
struct Rule {
    conds: Vec<(usize, Op, u64, u64)>,
    ret: u32,
}

/// Compiles `linux.seccomp`.
pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    let mut abis = Vec::new();
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let abi = match a {
            Arch::ScmpArchNative | Arch::ScmpArchX86_64 => Abi::X86_64,
            Arch::ScmpArchX86 => Abi::X86,
            Arch::ScmpArchX32 => Abi::X32,
            other => {
                return Err(Error::unsupported(
                    format!("linux.seccomp.architectures[{i}]"),
                    format!("{other} cannot run on this x86_64 host"),
                ))
            }
        };
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }
    if !abis.contains(&Abi::X86_64) {
        abis.insert(0, Abi::X86_64);
    }
    abis.sort();
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
        let r = action(sc.action(), sc.errno_ret(), &field)?;
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
        for name in sc.names() {
            for &abi in &abis {
                if let Some(nr) = abi.number(name) {
                    rules
                        .entry(abi)
                        .or_default()
                        .entry(nr)
                        .or_default()
                        .push(Rule {
                            conds: conds.clone(),
                            ret: r,
                        });
                }
            }
        }
    }
    notify |= default == ret::USER_NOTIF;
    let enosys_stub = !matches!(
        s.default_action(),
        Act::ScmpActAllow | Act::ScmpActLog | Act::ScmpActTrace
    );
    let prog = build(&abis, &rules, default, enosys_stub);
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

fn ins(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Code for one ABI's syscalls (relative jumps only; the argument chains
/// sit after the block's default return).
fn abi_block(
    rules: &BTreeMap<u32, Vec<Rule>>,
    default: u32,
    enosys_stub: bool,
    x32_gate: Option<Option<usize>>,
) -> (Vec<SockFilter>, Vec<(usize, usize)>) {
    // Returns the code and, for x32 gating, the positions of `ja` whose
    // target is filled in by the caller.
    let mut code = vec![ins(LD_W_ABS, OFF_NR, 0, 0)];
    let mut fixups = Vec::new();
    if let Some(gate) = x32_gate {
        // nr >= X32 bit: x32 syscalls through the x86_64 entry point.
        code.push(ins(JGE_K, X32_BIT, 0, 1));
        match gate {
            Some(_) => {
                fixups.push((code.len(), 0));
                code.push(ins(JA, 0, 0, 0));
            }
            None => code.push(ins(RET_K, ret::KILL_PROCESS, 0, 0)),
        }
    }
    let mut chains: Vec<(usize, &Vec<Rule>)> = Vec::new();
    for (nr, list) in rules {
        if list.len() == 1 && list[0].conds.is_empty() {
            code.push(ins(JEQ_K, *nr, 0, 1));
            code.push(ins(RET_K, list[0].ret, 0, 0));
        } else {
            code.push(ins(JEQ_K, *nr, 0, 1));
            chains.push((code.len(), list));
            code.push(ins(JA, 0, 0, 0));
        }
    }
    if enosys_stub {
        if let Some(max) = rules.keys().max() {
            code.push(ins(JGT_K, *max, 0, 1));
            code.push(ins(RET_K, ret::ERRNO | ENOSYS, 0, 0));
        }
    }
    code.push(ins(RET_K, default, 0, 0));
    for (at, list) in chains {
        let start = code.len();
        code[at].k = (start - at - 1) as u32;
        for r in list {
            let body = cond_code(r);
            code.extend(body);
        }
        code.push(ins(RET_K, default, 0, 0));
    }
    (code, fixups)
}

/// One rule: its conditions, each jumping past the rule's return when it
/// fails, then `ret action`.
fn cond_code(r: &Rule) -> Vec<SockFilter> {
    // Build each condition as a block whose "fail" exits jump to the end of
    // the rule; offsets are fixed up once the rule's length is known.
    let mut code: Vec<SockFilter> = Vec::new();
    let mut fails: Vec<(usize, bool)> = Vec::new(); // (index, jt-is-fail)
    for &(i, op, a, b) in &r.conds {
        let (hi_off, lo_off) = (off_arg_lo(i) + 4, off_arg_lo(i));
        let (a_hi, a_lo) = ((a >> 32) as u32, a as u32);
        let (b_hi, b_lo) = ((b >> 32) as u32, b as u32);
        match op {
            Op::ScmpCmpEq | Op::ScmpCmpNe => {
                // EQ: hi == a_hi && lo == a_lo.
                code.push(ins(LD_W_ABS, hi_off, 0, 0));
                if op == Op::ScmpCmpEq {
                    fails.push((code.len(), false));
                    code.push(ins(JEQ_K, a_hi, 0, 0));
                    code.push(ins(LD_W_ABS, lo_off, 0, 0));
                    fails.push((code.len(), false));
                    code.push(ins(JEQ_K, a_lo, 0, 0));
                } else {
                    // NE: hi != a_hi || lo != a_lo.
                    code.push(ins(JEQ_K, a_hi, 0, 2));
                    code.push(ins(LD_W_ABS, lo_off, 0, 0));
                    fails.push((code.len(), true));
                    code.push(ins(JEQ_K, a_lo, 0, 0));
                }
            }
            Op::ScmpCmpMaskedEq => {
                // (arg & a) == b, per word.
                code.push(ins(LD_W_ABS, hi_off, 0, 0));
                code.push(ins(AND_K, a_hi, 0, 0));
                fails.push((code.len(), false));
                code.push(ins(JEQ_K, b_hi, 0, 0));
                code.push(ins(LD_W_ABS, lo_off, 0, 0));
                code.push(ins(AND_K, a_lo, 0, 0));
                fails.push((code.len(), false));
                code.push(ins(JEQ_K, b_lo, 0, 0));
            }
            Op::ScmpCmpGt | Op::ScmpCmpGe | Op::ScmpCmpLt | Op::ScmpCmpLe => {
                // Compare the high words; equal high words decide on the low.
                // GT/GE pass when hi > a_hi; LT/LE pass when hi < a_hi.
                let greater = matches!(op, Op::ScmpCmpGt | Op::ScmpCmpGe);
                code.push(ins(LD_W_ABS, hi_off, 0, 0));
                if greater {
                    // hi > a_hi → pass (skip the rest of this condition).
                    code.push(ins(JGT_K, a_hi, 4, 0));
                    // hi != a_hi (so hi < a_hi) → fail.
                    fails.push((code.len(), false));
                    code.push(ins(JEQ_K, a_hi, 0, 0));
                    code.push(ins(LD_W_ABS, lo_off, 0, 0));
                    let jop = if op == Op::ScmpCmpGt { JGT_K } else { JGE_K };
                    fails.push((code.len(), false));
                    code.push(ins(jop, a_lo, 0, 0));
                    // Landing pad for the early pass.
                    code.push(ins(JA, 0, 0, 0));
                } else {
                    // hi >= a_hi and hi != a_hi (hi > a_hi) → fail; hi < a_hi → pass.
                    code.push(ins(JGE_K, a_hi, 0, 4));
                    fails.push((code.len(), false));
                    code.push(ins(JEQ_K, a_hi, 0, 0));
                    code.push(ins(LD_W_ABS, lo_off, 0, 0));
                    // LT: lo < a_lo ⇔ !(lo >= a_lo); LE: !(lo > a_lo).
                    let jop = if op == Op::ScmpCmpLt { JGE_K } else { JGT_K };
                    fails.push((code.len(), true));
                    code.push(ins(jop, a_lo, 0, 0));
                    code.push(ins(JA, 0, 0, 0));
                }
            }
        }
    }
    let ret_at = code.len();
    code.push(ins(RET_K, r.ret, 0, 0));
    // A failed condition jumps just past this rule's return.
    for (at, jt_fails) in fails {
        let off = (ret_at + 1 - at - 1) as u8;
        if jt_fails {
            code[at].jt = off;
        } else {
            code[at].jf = off;
        }
    }
    code
}

fn build(
    abis: &[Abi],
    rules: &BTreeMap<Abi, BTreeMap<u32, Vec<Rule>>>,
    default: u32,
    enosys_stub: bool,
) -> Vec<SockFilter> {
    let empty = BTreeMap::new();
    let has_x32 = abis.contains(&Abi::X32);
    let native: Vec<Abi> = abis.iter().copied().filter(|a| *a != Abi::X32).collect();
    // Dispatch on the audit arch.
    let mut code = vec![ins(LD_W_ABS, OFF_ARCH, 0, 0)];
    let mut dispatch = Vec::new();
    for abi in &native {
        let arch = if *abi == Abi::X86_64 {
            AUDIT_ARCH_X86_64
        } else {
            AUDIT_ARCH_I386
        };
        code.push(ins(JEQ_K, arch, 0, 1));
        dispatch.push(code.len());
        code.push(ins(JA, 0, 0, 0));
    }
    code.push(ins(RET_K, ret::KILL_PROCESS, 0, 0));
    let mut x32_fixups: Vec<usize> = Vec::new();
    for (abi, at) in native.iter().zip(dispatch) {
        let start = code.len();
        code[at].k = (start - at - 1) as u32;
        let gate = (*abi == Abi::X86_64).then_some(if has_x32 { Some(0) } else { None });
        let (block, fixups) =
            abi_block(rules.get(abi).unwrap_or(&empty), default, enosys_stub, gate);
        for (pos, _) in fixups {
            x32_fixups.push(start + pos);
        }
        code.extend(block);
    }
    if has_x32 {
        let start = code.len();
        for at in x32_fixups {
            code[at].k = (start - at - 1) as u32;
        }
        let (block, _) = abi_block(
            rules.get(&Abi::X32).unwrap_or(&empty),
            default,
            enosys_stub,
            None,
        );
        code.extend(block);
    }
    code
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

/// Runs the program on one syscall, as the kernel would: the action it
/// returns. For tests and for checking profiles without loading them.
pub fn evaluate(prog: &[SockFilter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u32; 16];
    data[0] = nr;
    data[1] = arch;
    for (i, a) in args.iter().enumerate() {
        data[4 + 2 * i] = *a as u32;
        data[5 + 2 * i] = (*a >> 32) as u32;
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

impl Prepared {
    /// Compiles `s` and, for a notifying filter, connects to its listener.
    pub fn new(s: &LinuxSeccomp) -> Result<Prepared> {
        let filter = compile(s)?;
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
        let fd = load(&self.filter)?;
        if let (Some(fd), Some(sock)) = (fd, &self.listener) {
            use std::os::fd::AsRawFd;
            let state: serde_json::Value =
                serde_json::from_str(state).unwrap_or(serde_json::Value::Null);
            let msg = serde_json::json!({
                "ociVersion": crate::OCI_VERSION,
                "fds": ["seccompFd"],
                "pid": pid,
                "metadata": self.metadata,
                "state": state,
            })
            .to_string();
            crate::tty::send_fd(sock.as_raw_fd(), &msg, fd.as_raw_fd())?;
        }
        Ok(())
    }
}
