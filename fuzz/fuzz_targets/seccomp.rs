//! The seccomp compiler against a model of the OCI section's meaning.
//!
//! A profile is generated from the fuzzer's bytes (names from a small pool
//! that mixes native, compat-only and other architectures' names; every
//! action and operator; repeated argument indexes; x86, x32 and the arm64
//! pair listed or not), compiled, and every probe syscall is run through
//! the program with `seccomp::evaluate` and compared with what the profile
//! means: rules of the syscall in profile order, the first whose conditions
//! hold wins (conditions naming one argument twice are separate rules, as
//! runc; on the 32-bit x86, x32 and arm the compares see the low words
//! only, and on x86 a rule for `socket` also covers `socketcall(SYS_SOCKET,
//! …)`, as libseccomp compiles them); else ENOSYS for a syscall newer than
//! any the profile names (below ARM's private range) when the default is
//! not allow/log/trace; else the default. Architectures not listed are
//! killed. Compile errors are allowed only for the inputs that must fail
//! (argument index over 5, errnoRet over 16 bits).
#![no_main]

use arbitrary::Arbitrary;
use libcontainer::seccomp::{compile, evaluate, ret, tables};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const NAMES: &[&str] = &[
    "read",
    "write",
    "personality",
    "kill",
    "getpid",
    "clone",
    "socket",
    "mkdir",
    "ioctl",
    "chown32",
    "socketcall",
    "arm_sync_file_range",
    "clone3",
    "close",
    "openat",
    "futex",
    "cacheflush",
];
const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];
const OPS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];
const AUDIT_X86_64: u32 = 0xc000_003e;
const AUDIT_I386: u32 = 0x4000_0003;
const AUDIT_AARCH64: u32 = 0xc000_00b7;
const AUDIT_ARM: u32 = 0x4000_0028;
/// ARM's private syscalls start here; the ENOSYS stub ends below them.
const ARM_PRIVATE: u32 = 0x000f_0000;

#[derive(Arbitrary, Debug)]
struct Arg {
    index: u8,
    op: u8,
    value: u64,
    value_two: u64,
}

#[derive(Arbitrary, Debug)]
struct Rule {
    names: Vec<u8>,
    action: u8,
    errno: Option<u32>,
    args: Vec<Arg>,
}

/// A probe argument: any value, or one near a value the profile names
/// (so that boundaries of every operator are hit).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum ProbeArg {
    Raw(u64),
    Near { arg: u8, two: bool, delta: i8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    default: u8,
    default_errno: Option<u16>,
    x86: bool,
    x32: bool,
    arm64: bool,
    rules: Vec<Rule>,
    probes: Vec<(u8, u16, [ProbeArg; 6])>,
}

/// One rule as the model sees it: names, action, conditions
/// (index, operator, value, valueTwo).
type ModelRule<'a> = (Vec<&'a str>, u32, Vec<(usize, &'a str, u64, u64)>);
/// A syscall table, its audit arch, whether the profile lists it.
type AbiCase = (&'static [(&'static str, u32)], u32, bool);

fn action_ret(a: &str, errno: Option<u32>) -> u32 {
    match a {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ret::KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => ret::KILL_PROCESS,
        "SCMP_ACT_TRAP" => ret::TRAP,
        "SCMP_ACT_ERRNO" => ret::ERRNO | errno.unwrap_or(1),
        "SCMP_ACT_TRACE" => ret::TRACE | (errno.unwrap_or(1) & 0xffff),
        "SCMP_ACT_ALLOW" => ret::ALLOW,
        "SCMP_ACT_LOG" => ret::LOG,
        _ => ret::USER_NOTIF,
    }
}

fn holds(op: &str, arg: u64, v: u64, v2: u64) -> bool {
    match op {
        "SCMP_CMP_EQ" => arg == v,
        "SCMP_CMP_NE" => arg != v,
        "SCMP_CMP_LT" => arg < v,
        "SCMP_CMP_LE" => arg <= v,
        "SCMP_CMP_GT" => arg > v,
        "SCMP_CMP_GE" => arg >= v,
        _ => arg & v == v2 & v,
    }
}

fn number(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr)
}

/// The multiplexer (socketcall) number and call number that reach `name`
/// on this ABI: x86's socket calls (of the pool, `socket`, call 1).
fn multiplexer(table: &[(&str, u32)], name: &str) -> Option<(u32, u64)> {
    if std::ptr::eq(table, tables::X86) && name == "socket" {
        return Some((number(table, "socketcall")?, 1));
    }
    None
}

fuzz_target!(|input: Input| {
    let default_name = ACTIONS[input.default as usize % ACTIONS.len()];
    // NOTIFY may not be the default, nor apply to the calls that deliver
    // the listener fd (refused by name, as runc refuses write).
    let mut must_fail = default_name == "SCMP_ACT_NOTIFY";
    let mut syscalls = Vec::new();
    let mut model: Vec<ModelRule> = Vec::new();
    for r in input.rules.iter().take(12) {
        let names: Vec<&str> = r
            .names
            .iter()
            .take(4)
            .map(|n| NAMES[*n as usize % NAMES.len()])
            .collect();
        let action = ACTIONS[r.action as usize % ACTIONS.len()];
        must_fail |= action == "SCMP_ACT_NOTIFY"
            && names
                .iter()
                .any(|n| ["write", "sendmsg", "sendto", "sendmmsg", "socketcall"].contains(n));
        let errno = r.errno.map(|e| e % 0x1_0100);
        if action == "SCMP_ACT_ERRNO" && errno.unwrap_or(0) > 0xffff {
            must_fail = true;
        }
        let mut args = Vec::new();
        let mut jargs = Vec::new();
        for a in r.args.iter().take(3) {
            let index = a.index as usize % 7;
            must_fail |= index > 5;
            let op = OPS[a.op as usize % OPS.len()];
            args.push((index, op, a.value, a.value_two));
            jargs
                .push(json!({"index": index, "op": op, "value": a.value, "valueTwo": a.value_two}));
        }
        let mut rule = json!({"names": names, "action": action, "args": jargs});
        if let Some(e) = errno {
            rule["errnoRet"] = json!(e);
        }
        syscalls.push(rule);
        model.push((names, action_ret(action, errno), args));
    }
    let mut archs = vec!["SCMP_ARCH_X86_64"];
    if input.x86 {
        archs.push("SCMP_ARCH_X86");
    }
    if input.x32 {
        archs.push("SCMP_ARCH_X32");
    }
    if input.arm64 {
        archs.extend(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    }
    let mut profile =
        json!({"defaultAction": default_name, "architectures": archs, "syscalls": syscalls});
    if let Some(e) = input.default_errno {
        profile["defaultErrnoRet"] = Value::from(e);
    }
    let parsed: oci_spec::runtime::LinuxSeccomp =
        serde_json::from_value(profile.clone()).expect("generated profile parses");
    let filter = match compile(&parsed) {
        Ok(f) => f,
        Err(e) => {
            assert!(must_fail, "{profile}: {e}");
            return;
        }
    };
    assert!(!must_fail, "{profile} compiled");
    assert!(filter.prog.len() <= 4096);
    let default = action_ret(default_name, input.default_errno.map(u32::from));
    let stub = !matches!(
        default_name,
        "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" | "SCMP_ACT_TRACE"
    );
    let abis: [AbiCase; 5] = [
        (tables::X86_64, AUDIT_X86_64, true),
        (tables::X86, AUDIT_I386, input.x86),
        (tables::X32, AUDIT_X86_64, input.x32),
        (tables::AARCH64, AUDIT_AARCH64, input.arm64),
        (tables::ARM, AUDIT_ARM, input.arm64),
    ];
    let named: Vec<(u64, u64)> = model
        .iter()
        .flat_map(|(_, _, conds)| conds.iter().map(|c| (c.2, c.3)))
        .collect();
    for (abi, nr_pick, probe) in input.probes.iter().take(16) {
        let args = &probe.map(|p| match p {
            ProbeArg::Raw(v) => v,
            ProbeArg::Near { arg, two, delta } => {
                match named.get(arg as usize % named.len().max(1)) {
                    Some((v, v2)) => (if two { *v2 } else { *v }).wrapping_add(delta as i64 as u64),
                    None => delta as i64 as u64,
                }
            }
        });
        let (table, arch, listed) = abis[*abi as usize % abis.len()];
        // Half the probes name a pool syscall, the others any number.
        let nr = if nr_pick % 2 == 0 {
            match number(table, NAMES[(*nr_pick as usize / 2) % NAMES.len()]) {
                Some(nr) => nr,
                None => continue,
            }
        } else {
            let base = if std::ptr::eq(table, tables::X32) {
                0x4000_0000
            } else {
                0
            };
            base + u32::from(*nr_pick / 2) % 600
        };
        let want = if !listed {
            ret::KILL_PROCESS
        } else {
            let mut max = None;
            let mut hit = None;
            // 32-bit ABIs compare low words.
            let w = if std::ptr::eq(table, tables::X86_64) || std::ptr::eq(table, tables::AARCH64) {
                u64::MAX
            } else {
                u64::from(u32::MAX)
            };
            // ARM's private range is not newer syscalls: no ENOSYS stub.
            let below_end = |nr: u32| !std::ptr::eq(table, tables::ARM) || nr < ARM_PRIVATE;
            let holds = |c: &(usize, &str, u64, u64)| holds(c.1, args[c.0] & w, c.2 & w, c.3 & w);
            for (names, r, conds) in &model {
                let nrs: Vec<u32> = names.iter().filter_map(|n| number(table, n)).collect();
                let muxes: Vec<(u32, u64)> =
                    names.iter().filter_map(|n| multiplexer(table, n)).collect();
                if *r == default && conds.is_empty() {
                    continue;
                }
                max = nrs
                    .iter()
                    .copied()
                    .chain(muxes.iter().map(|m| m.0))
                    .filter(|nr| below_end(*nr))
                    .chain(max)
                    .max();
                if hit.is_some() {
                    continue;
                }
                let repeated = (0..6).any(|i| conds.iter().filter(|c| c.0 == i).count() > 1);
                let direct = nrs.contains(&nr)
                    && if repeated {
                        conds.iter().any(holds)
                    } else {
                        conds.iter().all(holds)
                    };
                // Through the multiplexer: args[0] is the call, whatever
                // the rule says of args[0]; its other conditions stay.
                let muxed = muxes.iter().any(|(m, call)| {
                    *m == nr
                        && args[0] & w == *call
                        && if repeated {
                            conds.iter().any(|c| c.0 == 0 || holds(c))
                        } else {
                            conds.iter().all(|c| c.0 == 0 || holds(c))
                        }
                });
                if direct || muxed {
                    hit = Some(*r);
                }
            }
            match (hit, max) {
                (Some(r), _) => r,
                (None, Some(max)) if stub && nr > max && below_end(nr) => ret::ERRNO | 38,
                _ => default,
            }
        };
        let got = evaluate(&filter.prog, arch, nr, *args);
        assert_eq!(got, want, "{profile}\nabi {abi} nr {nr} args {args:?}");
    }
});
