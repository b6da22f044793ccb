//! corral's programs against libseccomp's, case by case.
//!
//! For one profile and one set of architectures, libseccomp (Debian's
//! libseccomp-dev, through `tests/data/libseccomp-export.c`, built here with
//! `cc … -lseccomp`) builds a filter as runc builds it and exports its BPF;
//! corral compiles the same profile. Both programs run in [`evaluate`] over
//! the same inputs: every number of each ABI's table, every number up to
//! past the highest, the numbers around the x32 bit and ARM's private range,
//! argument values on both sides of every compare of the profile (high
//! words included), the multiplexers' call numbers, and every architecture
//! the filter does not name. The actions must be the same, but for two
//! rules, checked rather than skipped:
//!
//! - **ENOSYS stub**: with a default that is not allow, log or trace, corral
//!   answers ERRNO(ENOSYS) for a number above the highest its rules name in
//!   that ABI (below ARM's private range), where libseccomp answers the
//!   default: a syscall newer than the profile fails as missing, so that
//!   callers fall back (runc adds the same stub on top of libseccomp).
//! - **Newer syscalls**: a name libseccomp 2.5.4 cannot resolve (a syscall
//!   newer than its table, such as `mseal`) gets the profile's action from
//!   corral and the default from libseccomp.
//!
//! The helper also resolves every name of corral's tables in libseccomp's:
//! every number libseccomp knows must be corral's.
//!
//! This runs in `cargo test`; without `cc` or libseccomp-dev it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use oci_spec::runtime::LinuxSeccompAction as Act;

use super::*;

const HELPER_SRC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/libseccomp-export.c"
);

/// The helper, built once per test process.
fn helper() -> &'static PathBuf {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("corral-libseccomp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("helper dir");
        let bin = dir.join("libseccomp-export");
        let out = Command::new("cc")
            .args(["-O1", "-Wall", "-o"])
            .arg(&bin)
            .arg(HELPER_SRC)
            .arg("-lseccomp")
            .output()
            .unwrap_or_else(|e| panic!("run cc (apt-get install gcc libseccomp-dev): {e}"));
        assert!(
            out.status.success(),
            "cc {HELPER_SRC} -lseccomp failed (apt-get install libseccomp-dev):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// Runs the helper on `requests`; its standard output.
fn run_helper(requests: &str) -> String {
    let mut child = Command::new(helper())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the libseccomp helper");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(requests.as_bytes())
        .expect("write requests");
    let out = child.wait_with_output().expect("helper output");
    assert!(
        out.status.success(),
        "libseccomp helper failed: {}\nrequests:\n{requests}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// libseccomp's token for an ABI (`SCMP_ARCH_*`): the audit arch, but for
/// x32's own.
fn token(abi: Abi) -> u32 {
    if abi == Abi::X32 {
        0x4000_003e
    } else {
        abi.audit_arch()
    }
}

/// The kernel value of an OCI action as runc gives it to libseccomp
/// (errnoRet, EPERM when absent, for ERRNO and TRACE).
fn scmp_action(a: Act, errno: Option<u32>) -> u32 {
    let e = errno.unwrap_or(1);
    match a {
        Act::ScmpActKill | Act::ScmpActKillThread => 0,
        Act::ScmpActKillProcess => 0x8000_0000,
        Act::ScmpActTrap => 0x0003_0000,
        Act::ScmpActErrno => 0x0005_0000 | e,
        Act::ScmpActTrace => 0x7ff0_0000 | e,
        Act::ScmpActLog => 0x7ffc_0000,
        Act::ScmpActAllow => 0x7fff_0000,
        Act::ScmpActNotify => 0x7fc0_0000,
    }
}

/// `enum scmp_compare`.
fn scmp_op(op: Op) -> u32 {
    match op {
        Op::ScmpCmpNe => 1,
        Op::ScmpCmpLt => 2,
        Op::ScmpCmpLe => 3,
        Op::ScmpCmpEq => 4,
        Op::ScmpCmpGe => 5,
        Op::ScmpCmpGt => 6,
        Op::ScmpCmpMaskedEq => 7,
    }
}

/// libseccomp's program for `s` with exactly the ABIs `abis` (native
/// removed first: libseccomp refuses to mix byte orders), and the names it
/// could not resolve.
fn libseccomp_program(s: &LinuxSeccomp, abis: &[Abi]) -> (Vec<SockFilter>, BTreeSet<String>) {
    let default = scmp_action(s.default_action(), s.default_errno_ret());
    let mut req = format!("default {default:#x}\nremove 0\n");
    for abi in abis {
        req += &format!("arch {:#x}\n", token(*abi));
    }
    for sc in s.syscalls().iter().flatten() {
        let act = scmp_action(sc.action(), sc.errno_ret());
        let conds: Vec<String> = sc
            .args()
            .iter()
            .flatten()
            .map(|a| {
                format!(
                    "{} {} {:#x} {:#x}",
                    a.index(),
                    scmp_op(a.op()),
                    a.value(),
                    a.value_two().unwrap_or(0)
                )
            })
            .collect();
        // runc: conditions that name one argument twice are a rule each.
        let mut seen = BTreeSet::new();
        let repeated = sc.args().iter().flatten().any(|a| !seen.insert(a.index()));
        let rules: Vec<Vec<String>> = if repeated {
            conds.iter().map(|c| vec![c.clone()]).collect()
        } else {
            vec![conds]
        };
        for name in sc.names() {
            for conds in &rules {
                req += &format!("rule {act:#x} {name} {} {}\n", conds.len(), conds.join(" "));
            }
        }
    }
    let path = std::env::temp_dir().join(format!(
        "corral-libseccomp-{}-{:?}.bpf",
        std::process::id(),
        std::thread::current().id()
    ));
    req += &format!("export {}\n", path.display());
    let out = run_helper(&req);
    let mut unknown = BTreeSet::new();
    for line in out.lines() {
        let mut w = line.split(' ');
        assert_eq!(w.next(), Some("rule"), "{line}");
        let name = w.next().expect("name");
        let rc: i32 = w.next().and_then(|r| r.parse().ok()).expect("rc");
        match rc {
            0 => {}
            // The rule's action is the default: nothing to add.
            -13 => {}
            -2 => {
                unknown.insert(name.to_string());
            }
            rc => panic!("libseccomp refused a rule for {name}: {rc}"),
        }
    }
    let bytes = std::fs::read(&path).expect("exported program");
    let _ = std::fs::remove_file(&path);
    // seccomp_export_bpf writes the program in the filter's byte order.
    let big = abis.first().is_some_and(|a| a.big_endian());
    // libseccomp 2.5.4 exporting a big-endian program on a little-endian
    // host leaves the constant of some returns in host order (seen for
    // shared return blocks: `ret 0x80` for KILL_PROCESS). A return that is
    // none of the profile's actions but is one byte-swapped is read
    // swapped; any other constant stays as written, so the comparison still
    // catches every other difference.
    let mut actions: BTreeSet<u32> = [default, ret::KILL_PROCESS].into();
    for sc in s.syscalls().iter().flatten() {
        actions.insert(scmp_action(sc.action(), sc.errno_ret()));
    }
    let fix = |mut i: SockFilter| {
        if big && i.code == RET_K && !actions.contains(&i.k) && actions.contains(&i.k.swap_bytes())
        {
            i.k = i.k.swap_bytes();
        }
        i
    };
    let prog = bytes
        .chunks_exact(8)
        .map(|c| {
            let u16_ = |b: [u8; 2]| {
                if big {
                    u16::from_be_bytes(b)
                } else {
                    u16::from_le_bytes(b)
                }
            };
            let u32_ = |b: [u8; 4]| {
                if big {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            };
            SockFilter {
                code: u16_([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32_([c[4], c[5], c[6], c[7]]),
            }
        })
        .map(fix)
        .collect();
    (prog, unknown)
}

/// Values on both sides of a compare against `v` (and its mask `m`), with
/// the high word set, cleared and flipped.
fn samples(v: u64, m: u64) -> Vec<u64> {
    let mut out = vec![
        0,
        1,
        u64::MAX,
        0xffff_ffff,
        1 << 32,
        v,
        v.wrapping_add(1),
        v.wrapping_sub(1),
        v ^ (1 << 32),
        v ^ (1 << 63),
        v | 0xffff_ffff_0000_0000,
        v & 0xffff_ffff,
        (v & 0xffff_ffff).wrapping_sub(1),
        (v & 0xffff_ffff) + 1,
        m,
        !m,
        m | v,
        v & !m,
        (m & v) | (1 << 32),
    ];
    // Each bit of the mask flipped in the expected value.
    for bit in 0..64 {
        if m & (1 << bit) != 0 {
            out.push(v ^ (1 << bit));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The argument vectors to try for the rules of one syscall: zeros, and
/// per rule every combination of the samples of its conditions.
fn arg_cases(rules: &[Conds]) -> Vec<[u64; 6]> {
    let mut out = vec![[0u64; 6]];
    for conds in rules {
        let mut cases = vec![[0u64; 6]];
        for &(i, v, m) in conds {
            let mut next = Vec::new();
            for c in &cases {
                for s in samples(v, m) {
                    let mut c = *c;
                    c[i] = s;
                    next.push(c);
                }
            }
            cases = next;
            if cases.len() > 4000 {
                break;
            }
        }
        out.extend(cases);
    }
    out
}

/// One rule's conditions as the cases need them: (index, expected value,
/// mask).
type Conds = Vec<(usize, u64, u64)>;

/// What was compared: cases per ABI.
type Counts = BTreeMap<Abi, usize>;

/// Compiles `s` with corral (native `abis[0]`) and libseccomp (exactly
/// `abis`) and compares the two programs case by case.
fn compare(what: &str, s: &LinuxSeccomp, abis: &[Abi]) -> Counts {
    let native = abis[0];
    let ours = compile_for(s, Some(native)).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        super::abis(s, Some(native)).expect("abis"),
        {
            let mut a = abis.to_vec();
            a.sort();
            a
        },
        "{what}: the test's ABIs are corral's"
    );
    let (theirs, unknown) = libseccomp_program(s, abis);
    let default = scmp_action(s.default_action(), s.default_errno_ret());
    let stub = !matches!(
        s.default_action(),
        Act::ScmpActAllow | Act::ScmpActLog | Act::ScmpActTrace
    );
    let mut counts = Counts::new();
    let mut failures = Vec::new();
    for &abi in abis {
        let arch = abi.audit_arch();
        // The rules per number, as the profile names them in this ABI
        // (through the multiplexers too), for the argument cases, the
        // stub's bound and the newer names.
        let mut by_nr: BTreeMap<u32, Vec<Conds>> = BTreeMap::new();
        let mut newer: BTreeMap<u32, u32> = BTreeMap::new();
        for sc in s.syscalls().iter().flatten() {
            let act = scmp_action(sc.action(), sc.errno_ret());
            let conds: Conds = sc
                .args()
                .iter()
                .flatten()
                .map(|a| (a.index(), a.value_two().unwrap_or(a.value()), a.value()))
                .collect();
            for name in sc.names() {
                if act == default && conds.is_empty() {
                    continue;
                }
                let mut nrs: Vec<u32> = abi.number(name).into_iter().collect();
                if let Some((mux, call)) = abi.multiplexer(name) {
                    nrs.push(mux);
                    let mut c: Vec<_> = conds.iter().copied().filter(|c| c.0 != 0).collect();
                    c.insert(0, (0, call, u64::MAX));
                    by_nr.entry(mux).or_default().push(c);
                }
                for nr in nrs {
                    by_nr.entry(nr).or_default().push(conds.clone());
                    if unknown.contains(name) && abi.number(name) == Some(nr) {
                        assert!(
                            conds.is_empty(),
                            "{what}: {name} newer than libseccomp, with arguments"
                        );
                        newer.insert(nr, act);
                    }
                }
            }
        }
        let end = abi.stub_end();
        let max = by_nr
            .keys()
            .copied()
            .filter(|nr| end.is_none_or(|e| *nr < e))
            .max();
        // Numbers: the table, everything up to well past it, the edges.
        let base = if abi == Abi::X32 { X32_BIT } else { 0 };
        let mut nrs: BTreeSet<u32> = abi.table().iter().map(|(_, nr)| *nr).collect();
        nrs.extend((0..=600).map(|n| base + n));
        nrs.extend(by_nr.keys().flat_map(|n| [n.wrapping_sub(1), *n, n + 1]));
        nrs.extend([
            1000,
            4095,
            4096,
            0x3fff_ffff,
            X32_BIT - 1,
            X32_BIT,
            X32_BIT + 1,
        ]);
        nrs.extend([
            X32_BIT + 600,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_fffe,
            0xffff_ffff,
        ]);
        nrs.extend((0..=0x10).map(|n| arch::ARM_PRIVATE_BASE + n));
        nrs.extend([arch::ARM_PRIVATE_BASE - 1, 0x0f_ffff, 0x10_0000]);
        let mut n = 0;
        for nr in nrs {
            // x86_64 and x32 share the audit arch: a number is the one or
            // the other's by the x32 bit.
            if matches!(abi, Abi::X86_64 | Abi::X32) {
                let x32 = nr & X32_BIT != 0;
                if x32 != (abi == Abi::X32)
                    && abis.contains(&if x32 { Abi::X32 } else { Abi::X86_64 })
                {
                    continue;
                }
            }
            let cases = by_nr
                .get(&nr)
                .map(|r| arg_cases(r))
                .unwrap_or_else(|| vec![[0; 6], [u64::MAX; 6], [0x1_0000_0001; 6]]);
            for args in cases {
                n += 1;
                let a = evaluate(&ours.prog, arch, nr, args);
                let b = evaluate(&theirs, arch, nr, args);
                if a == b {
                    continue;
                }
                let in_stub = stub
                    && max.is_some_and(|m| nr > m)
                    && end.is_none_or(|e| nr < e)
                    && !(abi == Abi::X86_64 && nr & X32_BIT != 0 && nr != u32::MAX);
                let ok = if let Some(act) = newer.get(&nr) {
                    a == *act && b == default
                } else if in_stub {
                    a == ret::ERRNO | ENOSYS && b == default
                } else {
                    false
                };
                if !ok {
                    failures.push(format!(
                        "{abi:?} nr {nr:#x} args {args:x?}: corral {a:#x}, libseccomp {b:#x}"
                    ));
                }
            }
        }
        *counts.entry(abi).or_default() += n;
    }
    // Architectures the filter does not name: killed by both.
    let listed: BTreeSet<u32> = abis.iter().map(|a| a.audit_arch()).collect();
    for arch in Abi::ALL
        .iter()
        .map(|a| a.audit_arch())
        .chain([0, 0x1234_5678, 0x4000_003e, 0xffff_ffff])
        .filter(|a| !listed.contains(a))
    {
        for nr in [0, 1, 3, 59, 102, 117, 221, 0xffff_ffff] {
            let a = evaluate(&ours.prog, arch, nr, [0; 6]);
            let b = evaluate(&theirs, arch, nr, [0; 6]);
            if a != ret::KILL_PROCESS || b != ret::KILL_PROCESS {
                failures.push(format!(
                    "arch {arch:#x} nr {nr}: corral {a:#x}, libseccomp {b:#x}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{what} {abis:?}: {} of the cases differ:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    counts
}

/// The ABIs of each host: the native one first, with the compat ones a
/// profile lists beside it (Docker's archMap), and alone.
const HOSTS: &[&[Abi]] = &[
    &[Abi::X86_64, Abi::X86, Abi::X32],
    &[Abi::X86_64],
    &[Abi::X86],
    &[Abi::X32],
    &[Abi::Aarch64, Abi::Arm],
    &[Abi::Arm],
    &[Abi::Ppc64le],
    &[Abi::Ppc64, Abi::Ppc],
    &[Abi::Ppc],
    &[Abi::S390x, Abi::S390],
    &[Abi::S390],
    &[Abi::Riscv64],
];

/// Docker's GOARCH names, as its profile's includes/excludes use them.
fn goarch(abi: Abi) -> &'static str {
    match abi {
        Abi::X86_64 => "amd64",
        Abi::X86 => "386",
        Abi::X32 => "x32",
        Abi::Aarch64 => "arm64",
        Abi::Arm => "arm",
        Abi::Ppc64le => "ppc64le",
        Abi::Ppc64 => "ppc64",
        Abi::Ppc => "ppc",
        Abi::S390x => "s390x",
        Abi::S390 => "s390",
        Abi::Riscv64 => "riscv64",
    }
}

/// Docker's default capabilities (oci/caps/defaults.go).
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's profile (its own format: archMap, includes, excludes) resolved
/// to the OCI section for a container on `native` with `caps`, as dockerd
/// does (profiles/seccomp/seccomp_linux.go, setupSeccomp): the archMap
/// entry of the native architecture and its sub-architectures (none when
/// it has no entry), and each rule whose includes hold and excludes do not
/// (the kernel taken as new enough for every minKernel).
fn docker_profile(native: Abi, caps: &[&str]) -> LinuxSeccomp {
    use serde_json::{json, Value};
    let text = include_str!("../../tests/data/docker-default-20.10.24.json");
    let p: Value = serde_json::from_str(text).expect("docker profile");
    let arch = goarch(native);
    let mut arches = Vec::new();
    for m in p["archMap"].as_array().expect("archMap") {
        if m["architecture"] == native.oci_name() {
            arches.push(m["architecture"].clone());
            arches.extend(
                m["subArchitectures"]
                    .as_array()
                    .expect("sub")
                    .iter()
                    .cloned(),
            );
        }
    }
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut syscalls = Vec::new();
    for sc in p["syscalls"].as_array().expect("syscalls") {
        let (inc, exc) = (&sc["includes"], &sc["excludes"]);
        let (inc_arches, exc_arches) = (list(&inc["arches"]), list(&exc["arches"]));
        if exc_arches.iter().any(|a| a == arch)
            || list(&exc["caps"])
                .iter()
                .any(|c| caps.contains(&c.as_str()))
            || (!inc_arches.is_empty() && !inc_arches.iter().any(|a| a == arch))
            || !list(&inc["caps"])
                .iter()
                .all(|c| caps.contains(&c.as_str()))
        {
            continue;
        }
        let mut out = json!({"names": sc["names"], "action": sc["action"]});
        if let Some(e) = sc.get("errnoRet").filter(|e| !e.is_null()) {
            out["errnoRet"] = e.clone();
        }
        let args: Vec<Value> = sc["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let mut a = a.clone();
                if a["valueTwo"] == 0 {
                    a.as_object_mut().expect("arg").remove("valueTwo");
                }
                a
            })
            .collect();
        if !args.is_empty() {
            out["args"] = Value::Array(args);
        }
        syscalls.push(out);
    }
    let mut s = json!({"defaultAction": p["defaultAction"], "syscalls": syscalls});
    if !arches.is_empty() {
        s["architectures"] = Value::Array(arches);
    }
    serde_json::from_value(s).expect("resolved docker profile")
}

#[test]
fn docker_profile_resolves_as_dockerd_rendered_it() {
    // fixtures/ holds what dockerd 20.10.24 wrote into a container's
    // config.json on x86_64 with the default capabilities.
    let rendered: LinuxSeccomp = serde_json::from_str(include_str!(
        "../../../fixtures/docker-default-seccomp.json"
    ))
    .expect("rendered profile");
    assert_eq!(docker_profile(Abi::X86_64, DOCKER_CAPS), rendered);
}

fn report(what: &str, counts: &Counts) {
    let total: usize = counts.values().sum();
    eprintln!("{what}: {total} cases {counts:?}");
}

#[test]
fn docker_profile_matches_libseccomp_on_every_architecture() {
    let all_caps: Vec<&str> = DOCKER_CAPS
        .iter()
        .copied()
        .chain([
            "CAP_SYS_ADMIN",
            "CAP_SYS_BOOT",
            "CAP_SYS_MODULE",
            "CAP_SYS_PTRACE",
            "CAP_SYS_TIME",
            "CAP_SYS_NICE",
            "CAP_SYSLOG",
            "CAP_DAC_READ_SEARCH",
            "CAP_SYS_PACCT",
            "CAP_SYS_RAWIO",
            "CAP_SYS_TTY_CONFIG",
        ])
        .collect();
    for (caps_name, caps) in [("default caps", DOCKER_CAPS), ("all caps", &all_caps[..])] {
        for abis in HOSTS {
            let s = docker_profile(abis[0], caps);
            // The profile names the host's archMap entry; a host alone
            // gets the profile of its own kind with its own arch only.
            let mut s2 = s.clone();
            s2.set_architectures(Some(
                abis.iter()
                    .map(|a| serde_json::from_value(serde_json::json!(a.oci_name())).expect("arch"))
                    .collect(),
            ));
            let counts = compare(&format!("docker ({caps_name})"), &s2, abis);
            report(&format!("docker {caps_name} {abis:?}"), &counts);
        }
    }
}

/// Hand-written profiles: every operator, MASKED_EQ, values with high
/// words, several actions, multiplexed calls, an allow default.
fn handcrafted() -> Vec<(&'static str, LinuxSeccomp)> {
    let big = 0x1_0000_0005u64;
    let texts = [
        (
            "operators, errno default",
            format!(
                r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {{"names": ["read", "write", "close", "exit_group", "futex"], "action": "SCMP_ACT_ALLOW"}},
            {{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2, "args": [{{"index": 1, "value": {big}, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["fcntl"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 1, "value": {big}, "op": "SCMP_CMP_NE"}}]}},
            {{"names": ["lseek"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 2, "value": {big}, "op": "SCMP_CMP_LT"}}]}},
            {{"names": ["madvise"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 2, "value": 8, "op": "SCMP_CMP_LE"}}]}},
            {{"names": ["mprotect"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 2, "value": {big}, "op": "SCMP_CMP_GT"}}]}},
            {{"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 1, "value": 9, "op": "SCMP_CMP_GE"}}]}},
            {{"names": ["prctl"], "action": "SCMP_ACT_TRAP", "args": [{{"index": 0, "value": 4294967295, "valueTwo": 22, "op": "SCMP_CMP_MASKED_EQ"}}]}},
            {{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 0, "value": 18446744069414584320, "valueTwo": 4294967296, "op": "SCMP_CMP_MASKED_EQ"}}]}},
            {{"names": ["mmap", "mmap2"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 2, "value": 4, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}}, {{"index": 3, "value": 34, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["setsockopt", "connect", "semctl", "accept"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}},
            {{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}}]}},
            {{"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"}},
            {{"names": ["gettid"], "action": "SCMP_ACT_LOG"}},
            {{"names": ["getppid"], "action": "SCMP_ACT_TRACE", "errnoRet": 3}},
            {{"names": ["getuid"], "action": "SCMP_ACT_NOTIFY"}},
            {{"names": ["mseal", "cacheflush", "set_tls", "riscv_flush_icache", "s390_sthyi", "arch_prctl"], "action": "SCMP_ACT_ALLOW"}}
        ]}}"#
            ),
        ),
        (
            "allow default, denials with arguments",
            format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11, "args": [{{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 12, "args": [{{"index": 0, "value": {big}, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6, "args": [{{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}}, {{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "args": [{{"index": 0, "value": 268435456, "valueTwo": 268435456, "op": "SCMP_CMP_MASKED_EQ"}}]}},
            {{"names": ["ptrace", "mount", "bind", "msgget", "shmat", "recvmmsg"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}},
            {{"names": ["socketpair"], "action": "SCMP_ACT_KILL", "args": [{{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["listen"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5, "args": [{{"index": 1, "value": 5, "op": "SCMP_CMP_GT"}}]}},
            {{"names": ["getrandom"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7, "args": [{{"index": 2, "value": {big}, "op": "SCMP_CMP_LE"}}]}},
            {{"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 8, "args": [{{"index": 2, "value": {big}, "op": "SCMP_CMP_GE"}}]}},
            {{"names": ["pipe2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9, "args": [{{"index": 1, "value": {big}, "op": "SCMP_CMP_LT"}}]}},
            {{"names": ["flock"], "action": "SCMP_ACT_ERRNO", "errnoRet": 10, "args": [{{"index": 1, "value": {big}, "op": "SCMP_CMP_NE"}}]}},
            {{"names": ["setns"], "action": "SCMP_ACT_ERRNO", "errnoRet": 14, "args": [{{"index": 1, "value": 255, "valueTwo": 511, "op": "SCMP_CMP_MASKED_EQ"}}]}},
            {{"names": ["fchmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 15, "args": [{{"index": 1, "value": 4294967296, "valueTwo": 12884901888, "op": "SCMP_CMP_MASKED_EQ"}}]}}
        ]}}"#
            ),
        ),
    ];
    texts
        .into_iter()
        .map(|(what, t)| (what, serde_json::from_str(&t).expect(what)))
        .collect()
}

#[test]
fn handcrafted_profiles_match_libseccomp_on_every_architecture() {
    for (what, s) in handcrafted() {
        for abis in HOSTS {
            let mut s = s.clone();
            s.set_architectures(Some(
                abis.iter()
                    .map(|a| serde_json::from_value(serde_json::json!(a.oci_name())).expect("arch"))
                    .collect(),
            ));
            let counts = compare(what, &s, abis);
            report(&format!("{what} {abis:?}"), &counts);
        }
    }
}

#[test]
fn tables_agree_with_libseccomp() {
    // Every number libseccomp knows for a name of corral's tables is
    // corral's; the names it does not know are newer than its table.
    // Every name of every table, asked of every ABI: a name corral lacks
    // in one ABI must be unknown to libseccomp there too.
    let names: BTreeSet<&str> = Abi::ALL
        .iter()
        .flat_map(|a| a.table().iter().map(|(n, _)| *n))
        .collect();
    let mut req = String::new();
    let mut asked = Vec::new();
    for abi in Abi::ALL {
        for name in &names {
            req += &format!("resolve {:#x} {name}\n", token(abi));
            asked.push((abi, *name, abi.number(name)));
        }
    }
    let out = run_helper(&req);
    let answers: Vec<i64> = out.lines().map(|l| l.parse().expect("number")).collect();
    assert_eq!(answers.len(), asked.len());
    let mut wrong = Vec::new();
    let mut unknown: BTreeMap<Abi, Vec<&str>> = BTreeMap::new();
    for ((abi, name, nr), theirs) in asked.into_iter().zip(answers) {
        // (On other ABIs such numbers mean "not a syscall here".)
        let muxed = abi.multiplexed()
            && ((-120..=-100).contains(&theirs) || (-224..=-200).contains(&theirs));
        if muxed {
            // libseccomp numbers the socket and IPC calls of multiplexing
            // ABIs by their multiplexer call (-100 - call, -200 - call) and
            // adds the direct number itself: corral must multiplex them.
            let call = u64::try_from(-theirs % 100).expect("call");
            if abi.multiplexer(name).map(|(_, c)| c) != Some(call) {
                wrong.push(format!(
                    "{abi:?} {name}: libseccomp multiplexes it as call {call}"
                ));
            }
        } else if theirs < 0 {
            if nr.is_some() {
                unknown.entry(abi).or_default().push(name);
            }
        } else if nr.map(i64::from) != Some(theirs) {
            wrong.push(format!(
                "{abi:?} {name}: corral {nr:?}, libseccomp {theirs}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // libseccomp 2.5.4 knows the syscalls up to Linux 5.x's; the names it
    // lacks must be the newer ones (the 6.x generic calls, and a few
    // others corral's headers have, listed here).
    const NEWER: &[&str] = &[
        "cachestat",
        "fchmodat2",
        "map_shadow_stack",
        "futex_wake",
        "futex_wait",
        "futex_requeue",
        "statmount",
        "listmount",
        "lsm_get_self_attr",
        "lsm_set_self_attr",
        "lsm_list_modules",
        "mseal",
        "setxattrat",
        "getxattrat",
        "listxattrat",
        "removexattrat",
        "open_tree_attr",
        "file_getattr",
        "file_setattr",
        "uretprobe",
        "riscv_hwprobe",
    ];
    // ARM's headers define sync_file_range2 as an alias of
    // arm_sync_file_range (341); libseccomp knows the second name only.
    let alias = |abi: Abi, n: &str| abi == Abi::Arm && n == "sync_file_range2";
    let odd: Vec<String> = unknown
        .iter()
        .flat_map(|(abi, names)| {
            names
                .iter()
                .filter(|n| !NEWER.contains(n) && !alias(*abi, n))
                .map(move |n| format!("{abi:?} {n}"))
        })
        .collect();
    assert!(odd.is_empty(), "names libseccomp does not know: {odd:?}");
}
