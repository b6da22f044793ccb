//! cgroup v2 device rules: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the container's cgroup, as runc
//! and crun do. The program is generated here instruction by instruction
//! (no libbpf, no compiler).
//!
//! Semantics are those of the v1 device list: rules are applied in order, a
//! later rule overrides an earlier one, and a device no rule matches is
//! allowed (the v1 default of a new cgroup). The program checks the rules
//! from last to first and returns at the first match, so a trailing
//! `allow` beats an earlier `deny all`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

/// One eBPF instruction, as the kernel lays it out.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    /// Opcode.
    pub code: u8,
    /// dst register (low nibble) and src register (high nibble).
    pub regs: u8,
    /// Offset (jumps, memory).
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

const LDXW: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV32_X: u8 = 0xbc;
const MOV64_K: u8 = 0xb7;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// `BPF_DEVCG_ACC_*` bits of an access string (`rwm`).
fn access_bits(s: &str) -> i32 {
    s.chars()
        .map(|c| match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// A rule in the form the program tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Allow or deny.
    pub allow: bool,
    /// `BPF_DEVCG_DEV_BLOCK` (1) or `_CHAR` (2); None for all.
    pub dev_type: Option<i32>,
    /// Major number; None for any.
    pub major: Option<i64>,
    /// Minor number; None for any.
    pub minor: Option<i64>,
    /// Access bits (m=1, r=2, w=4).
    pub access: i32,
}

impl Rule {
    /// From the kernel's v1 syntax (`c 1:3 rwm`, `c 136:* rwm`); `None` for
    /// a fifo (`p`) or unknown type, which names no device.
    pub fn from_v1(allow: bool, s: &str) -> Option<Rule> {
        let mut it = s.split_whitespace();
        let dev_type = match it.next()? {
            "a" => None,
            "b" => Some(1),
            "c" => Some(2),
            _ => return None,
        };
        let (maj, min) = it.next()?.split_once(':')?;
        let num = |x: &str| if x == "*" { None } else { x.parse().ok() };
        Some(Rule {
            allow,
            dev_type,
            major: num(maj),
            minor: num(min),
            access: access_bits(it.next().unwrap_or("rwm")),
        })
    }
}

/// The program for `rules` (in config order).
pub(crate) fn program(rules: &[Rule]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx).
    let mut p = vec![
        ins(LDXW, 2, 1, 0, 0),
        ins(AND32_K, 2, 0, 0, 0xffff),
        ins(LDXW, 3, 1, 0, 0),
        ins(RSH32_K, 3, 0, 0, 16),
        ins(LDXW, 4, 1, 4, 0),
        ins(LDXW, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        // Each test jumps to the end of this block when the rule does not
        // match; the offset is filled in once the block's length is known.
        let mut block: Vec<(Insn, bool)> = Vec::new();
        if let Some(t) = r.dev_type {
            block.push((ins(JNE_K, 2, 0, 0, t), true));
        }
        if r.access != 7 {
            block.push((ins(MOV32_X, 1, 3, 0, 0), false));
            if r.allow {
                // Allow only if every requested bit is allowed.
                block.push((ins(AND32_K, 1, 0, 0, !r.access & 7), false));
                block.push((ins(JNE_K, 1, 0, 0, 0), true));
            } else {
                // Deny if any requested bit is denied.
                block.push((ins(AND32_K, 1, 0, 0, r.access), false));
                block.push((ins(JEQ_K, 1, 0, 0, 0), true));
            }
        }
        if let Some(m) = r.major {
            block.push((ins(JNE_K, 4, 0, 0, m as i32), true));
        }
        if let Some(m) = r.minor {
            block.push((ins(JNE_K, 5, 0, 0, m as i32), true));
        }
        block.push((ins(MOV64_K, 0, 0, 0, i32::from(r.allow)), false));
        block.push((ins(EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        let unconditional = !block.iter().any(|(_, jumps)| *jumps);
        for (i, (mut insn, jumps)) in block.into_iter().enumerate() {
            if jumps {
                insn.off = (len - i - 1) as i16;
            }
            p.push(insn);
        }
        // A rule that matches everything ends the program: the verifier
        // refuses unreachable instructions after it.
        if unconditional {
            return p;
        }
    }
    p.push(ins(MOV64_K, 0, 0, 0, 1));
    p.push(ins(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_ATTACH: i64 = 8;
const BPF_PROG_DETACH: i64 = 9;
const BPF_PROG_GET_FD_BY_ID: i64 = 13;
const BPF_PROG_QUERY: i64 = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `bpf(2)` with a zero-padded attribute block.
fn bpf(cmd: i64, attr: &mut [u64; 16]) -> std::result::Result<i64, nix::errno::Errno> {
    // SAFETY: `attr` is a 128-byte, 8-aligned block that outlives the call,
    // laid out as the kernel's union bpf_attr for `cmd` (unused tail zero).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr),
        )
    };
    nix::errno::Errno::result(r)
}

fn put_u32(attr: &mut [u64; 16], byte_off: usize, v: u32) {
    let word = byte_off / 8;
    let shift = (byte_off % 8) * 8;
    attr[word] = (attr[word] & !(0xffff_ffffu64 << shift)) | (u64::from(v) << shift);
}

/// Loads the program into the kernel.
pub(crate) fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = b"Apache-2.0\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = [0u64; 16];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE);
    put_u32(&mut attr, 4, prog.len() as u32);
    attr[1] = prog.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    put_u32(&mut attr, 24, 1); // log_level
    put_u32(&mut attr, 28, log.len() as u32);
    attr[4] = log.as_mut_ptr() as u64;
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: the kernel returned a new fd that nobody else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            Err(Error::Other(format!(
                "load the eBPF device program: {e}; verifier: {}",
                String::from_utf8_lossy(&log[..end]).trim()
            )))
        }
    }
}

/// Ids of the device programs attached to the cgroup `cg`.
fn attached(cg: RawFd) -> Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    let mut attr = [0u64; 16];
    put_u32(&mut attr, 0, cg as u32); // target_fd
    put_u32(&mut attr, 4, BPF_CGROUP_DEVICE); // attach_type
    attr[2] = ids.as_mut_ptr() as u64; // prog_ids
    put_u32(&mut attr, 24, ids.len() as u32); // prog_cnt
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|e| Error::sys("query cgroup device programs", e))?;
    let n = (attr[3] & 0xffff_ffff) as usize;
    Ok(ids[..n.min(ids.len())].to_vec())
}

/// Attaches `rules` as the device program of the cgroup directory `dir`,
/// replacing any program corral attached before (an update).
pub fn apply(dir: &std::path::Path, rules: &[Rule]) -> Result<()> {
    let prog = load(&program(rules))?;
    let cg = std::fs::File::open(dir).map_err(|e| Error::io("open cgroup", dir, e))?;
    let old = attached(cg.as_raw_fd())?;
    let mut attr = [0u64; 16];
    put_u32(&mut attr, 0, cg.as_raw_fd() as u32);
    put_u32(&mut attr, 4, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 8, BPF_CGROUP_DEVICE);
    put_u32(&mut attr, 12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map_err(|e| Error::sys(format!("attach the device program to {dir:?}"), e))?;
    for id in old {
        let mut a = [0u64; 16];
        put_u32(&mut a, 0, id);
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut a) else {
            continue;
        };
        // SAFETY: a new fd from the kernel, owned here.
        let old_fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let mut d = [0u64; 16];
        put_u32(&mut d, 0, cg.as_raw_fd() as u32);
        put_u32(&mut d, 4, old_fd.as_raw_fd() as u32);
        put_u32(&mut d, 8, BPF_CGROUP_DEVICE);
        bpf(BPF_PROG_DETACH, &mut d).map_err(|e| Error::sys("detach the old device program", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one access, as the kernel would.
    fn run(p: &[Insn], dev_type: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | dev_type, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            let mut next = pc + 1;
            match i.code {
                LDXW => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                MOV32_X => r[dst] = r[src] as u32 as u64,
                MOV64_K => r[dst] = imm,
                JEQ_K if r[dst] == imm => next = pc + 1 + i.off as usize,
                JNE_K if r[dst] != imm => next = pc + 1 + i.off as usize,
                JEQ_K | JNE_K => {}
                EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
            pc = next;
        }
    }

    const C: u32 = 2;
    const B: u32 = 1;
    const R: u32 = 2;
    const W: u32 = 4;
    const M: u32 = 1;

    fn rules(list: &[(bool, &str)]) -> Vec<Rule> {
        list.iter()
            .map(|(a, s)| Rule::from_v1(*a, s).expect("rule"))
            .collect()
    }

    #[test]
    fn deny_all_then_allow_some() {
        let p = program(&rules(&[
            (false, "a *:* rwm"),
            (true, "c 1:3 rwm"),
            (true, "c 136:* rwm"),
            (true, "b 7:0 r"),
        ]));
        assert_eq!(run(&p, C, R | W, 1, 3), 1, "/dev/null");
        assert_eq!(run(&p, C, R, 1, 5), 0, "/dev/zero not allowed");
        assert_eq!(run(&p, C, W, 136, 9), 1, "any pts");
        assert_eq!(run(&p, B, R, 7, 0), 1, "read loop0");
        assert_eq!(run(&p, B, R | W, 7, 0), 0, "write loop0 not allowed");
        assert_eq!(run(&p, B, M, 7, 0), 0);
        assert_eq!(run(&p, C, R, 7, 0), 0, "type matters");
    }

    #[test]
    fn later_rules_win_and_default_allows() {
        let p = program(&rules(&[(true, "a *:* rwm"), (false, "c 1:5 w")]));
        assert_eq!(run(&p, C, R, 1, 5), 1, "read of zero still allowed");
        assert_eq!(run(&p, C, R | W, 1, 5), 0, "a write is denied");
        assert_eq!(run(&p, B, R | W | M, 8, 0), 1);
        let p = program(&rules(&[(false, "a *:* rwm"), (true, "a *:* rwm")]));
        assert_eq!(run(&p, B, R, 8, 0), 1, "a later allow-all wins");
        let p = program(&[]);
        assert_eq!(run(&p, C, R, 1, 1), 1, "no rules: the v1 default allows");
        // Nothing follows a rule that matches everything.
        let p = program(&rules(&[(true, "c 1:3 rwm"), (false, "a *:* rwm")]));
        assert_eq!(p.len(), 6 + 2);
        assert_eq!(run(&p, C, R, 1, 3), 0);
    }

    #[test]
    fn default_policy_program_allows_mknod_and_runcs_devices_only() {
        let policy = crate::cgroups::devices::device_policy(&[], &[]);
        let list: Vec<Rule> = policy
            .iter()
            .map(|(a, r)| Rule::from_v1(*a, r).expect("rule"))
            .collect();
        let p = program(&list);
        assert_eq!(run(&p, B, M, 8, 0), 1, "mknod of a disk");
        assert_eq!(run(&p, B, R, 8, 0), 0, "read of a disk");
        assert_eq!(run(&p, C, M, 1, 1), 1, "mknod of /dev/mem");
        assert_eq!(run(&p, C, R | W, 1, 1), 0, "open of /dev/mem");
        assert_eq!(run(&p, C, R | W, 5, 1), 0, "the host console");
        for (maj, min) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 2),
            (136, 4),
            (10, 200),
        ] {
            assert_eq!(run(&p, C, R | W, maj, min), 1, "{maj}:{min}");
        }
        assert_eq!(run(&p, B, R | W, 1, 3), 0, "type matters");
        assert_eq!(
            Rule::from_v1(true, "p *:* rwm"),
            None,
            "a fifo is no device"
        );
    }
}
