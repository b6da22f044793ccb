//! The compiler checked by running its programs in [`evaluate`].

use super::*;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("seccomp json")
}

fn nr(name: &str) -> u32 {
    Abi::X86_64.number(name).expect(name)
}

/// Every jump of `prog` lands inside it (the kernel's checker refuses
/// anything else).
fn assert_jumps_inside(prog: &[SockFilter]) {
    for (at, i) in prog.iter().enumerate() {
        let far = match i.code {
            JA => i.k as usize,
            JEQ_K | JGT_K | JGE_K | JSET_K => usize::from(i.jt.max(i.jf)),
            _ => continue,
        };
        assert!(at + 1 + far < prog.len(), "jump at {at} leaves the program");
    }
}

fn run(f: &Filter, name: &str, args: [u64; 6]) -> u32 {
    evaluate(&f.prog, audit::X86_64, nr(name), args)
}

#[test]
fn actions_and_default() {
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["getuid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["kill"], "action": "SCMP_ACT_KILL"},
            {"names": ["tkill"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["tgkill"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["getgid"], "action": "SCMP_ACT_TRAP"},
            {"names": ["getegid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["geteuid"], "action": "SCMP_ACT_LOG"},
            {"names": ["gettid"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["arm_fadvise64_64", "chown32"], "action": "SCMP_ACT_ALLOW"}
        ]}"#,
    ))
    .expect("compile");
    let z = [0; 6];
    assert_eq!(run(&f, "getpid", z), ret::ALLOW);
    assert_eq!(run(&f, "getppid", z), ret::ERRNO | 13);
    assert_eq!(
        run(&f, "getuid", z),
        ret::ERRNO | 1,
        "EPERM when errnoRet is absent"
    );
    assert_eq!(run(&f, "kill", z), ret::KILL_THREAD);
    assert_eq!(run(&f, "tkill", z), ret::KILL_PROCESS);
    assert_eq!(run(&f, "tgkill", z), ret::KILL_THREAD);
    assert_eq!(run(&f, "getgid", z), ret::TRAP);
    assert_eq!(run(&f, "getegid", z), ret::TRACE | 7);
    assert_eq!(run(&f, "geteuid", z), ret::LOG);
    assert_eq!(run(&f, "gettid", z), ret::USER_NOTIF);
    assert!(f.notify);
    assert_eq!(run(&f, "read", z), ret::ERRNO | 38, "defaultErrnoRet");
    // A syscall newer than any the profile names gets ENOSYS.
    assert_eq!(
        evaluate(&f.prog, audit::X86_64, 1000, z),
        ret::ERRNO | ENOSYS
    );
    // An architecture the profile does not list is killed.
    assert_eq!(evaluate(&f.prog, audit::I386, 20, z), ret::KILL_PROCESS);
    // An x32 syscall through the x86_64 entry is killed without SCMP_ARCH_X32.
    assert_eq!(
        evaluate(&f.prog, audit::X86_64, X32_BIT | 39, z),
        ret::KILL_PROCESS
    );
}

#[test]
fn every_operator() {
    let big = 0x1_0000_0005u64;
    let f = compile(&profile(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [{{"index": 0, "value": {big}, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2, "args": [{{"index": 1, "value": {big}, "op": "SCMP_CMP_NE"}}]}},
            {{"names": ["open"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3, "args": [{{"index": 2, "value": {big}, "op": "SCMP_CMP_LT"}}]}},
            {{"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4, "args": [{{"index": 3, "value": {big}, "op": "SCMP_CMP_LE"}}]}},
            {{"names": ["stat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5, "args": [{{"index": 4, "value": {big}, "op": "SCMP_CMP_GT"}}]}},
            {{"names": ["fstat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6, "args": [{{"index": 5, "value": {big}, "op": "SCMP_CMP_GE"}}]}},
            {{"names": ["lstat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7, "args": [{{"index": 0, "value": 240, "valueTwo": 16, "op": "SCMP_CMP_MASKED_EQ"}}]}},
            {{"names": ["poll"], "action": "SCMP_ACT_ERRNO", "errnoRet": 8, "args": [{{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}}, {{"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}}]}},
            {{"names": ["poll"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9, "args": [{{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}}]}}
        ]}}"#
    )))
    .expect("compile");
    let at = |i: usize, v: u64| {
        let mut a = [0u64; 6];
        a[i] = v;
        a
    };
    let e = |n: u32| ret::ERRNO | n;
    let cases: &[(&str, [u64; 6], u32)] = &[
        ("read", at(0, big), e(1)),
        ("read", at(0, 5), ret::ALLOW),
        ("read", at(0, 0x2_0000_0005), ret::ALLOW),
        ("write", at(1, big), ret::ALLOW),
        ("write", at(1, 5), e(2)),
        ("write", at(1, big + (1 << 32)), e(2)),
        ("open", at(2, big - 1), e(3)),
        ("open", at(2, 0xffff_ffff), e(3)),
        ("open", at(2, big), ret::ALLOW),
        ("open", at(2, 0x2_0000_0000), ret::ALLOW),
        ("close", at(3, big), e(4)),
        ("close", at(3, 1), e(4)),
        ("close", at(3, big + 1), ret::ALLOW),
        ("stat", at(4, big + 1), e(5)),
        ("stat", at(4, 0x2_0000_0000), e(5)),
        ("stat", at(4, big), ret::ALLOW),
        ("stat", at(4, 0xffff_ffff), ret::ALLOW),
        ("fstat", at(5, big), e(6)),
        ("fstat", at(5, big - 1), ret::ALLOW),
        ("lstat", at(0, 0x1f), e(7)),
        ("lstat", at(0, 0x2f), ret::ALLOW),
        ("poll", [1, 2, 0, 0, 0, 0], e(8)),
        ("poll", [1, 3, 0, 0, 0, 0], ret::ALLOW),
        ("poll", [3, 0, 0, 0, 0, 0], e(9)),
    ];
    for (name, args, want) in cases {
        assert_eq!(run(&f, name, *args), *want, "{name} {args:?}");
    }
}

#[test]
fn docker_default_profile() {
    let text = include_str!("../../../fixtures/docker-default-seccomp.json");
    let f = compile(&profile(text)).expect("compile docker's profile");
    assert!(f.prog.len() < 4096, "{} instructions", f.prog.len());
    assert_jumps_inside(&f.prog);
    let z = [0; 6];
    assert_eq!(run(&f, "read", z), ret::ALLOW);
    for denied in [
        "keyctl",
        "add_key",
        "bpf",
        "kexec_load",
        "open_by_handle_at",
        "unshare",
        "mount",
    ] {
        assert_eq!(run(&f, denied, z), ret::ERRNO | EPERM, "{denied}");
    }
    assert_eq!(
        run(&f, "clone3", z),
        ret::ERRNO | ENOSYS,
        "clone3 → ENOSYS so glibc falls back to clone"
    );
    // personality: only the listed values pass.
    for ok in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(
            run(&f, "personality", [ok, 0, 0, 0, 0, 0]),
            ret::ALLOW,
            "{ok:#x}"
        );
    }
    assert_eq!(
        run(&f, "personality", [0x0040_0000, 0, 0, 0, 0, 0]),
        ret::ERRNO | EPERM
    );
    // clone without namespace flags passes; with CLONE_NEWUSER it does not.
    assert_eq!(run(&f, "clone", [0x0001_1200, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(
        run(&f, "clone", [0x1000_0000, 0, 0, 0, 0, 0]),
        ret::ERRNO | EPERM
    );
    // The i386 and x32 tables are in too.
    let i386_getpid = Abi::X86.number("getpid").expect("i386 getpid");
    assert_eq!(evaluate(&f.prog, audit::I386, i386_getpid, z), ret::ALLOW);
    let x32_read = Abi::X32.number("read").expect("x32 read");
    assert_eq!(evaluate(&f.prog, audit::X86_64, x32_read, z), ret::ALLOW);
}

#[test]
fn flags_and_bad_input() {
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#,
    ))
    .expect("compile");
    assert_eq!(f.flags, 7);
    assert!(!f.notify);
    let e = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPSEL64"]}"#,
    ))
    .expect_err("no MIPS table");
    let msg = e.to_string();
    assert!(
        msg.contains("linux.seccomp.architectures[1]") && msg.contains("SCMP_ARCH_MIPSEL64"),
        "{msg}"
    );
    let e = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
    ))
    .expect_err("index 6");
    assert!(e.to_string().contains("args[0].index"), "{e}");
}

#[test]
fn rules_of_one_syscall_in_profile_order_across_actions() {
    // personality: EQ 1 → errno 11, then EQ 2 → errno 12, then EQ 1 →
    // allow (never reached: the first rule wins), then anything → errno 13.
    // Four segments: four seccompiler runs spliced one after another.
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality", "getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 12, "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_NOTIFY", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 14, "args": [{"index": 0, "value": 4, "op": "SCMP_CMP_EQ"}]}
        ]}"#,
    ))
    .expect("compile");
    let e = |n: u32| ret::ERRNO | n;
    for abi in [Abi::X86_64, Abi::X86] {
        let arch = if abi == Abi::X86_64 {
            audit::X86_64
        } else {
            audit::I386
        };
        let p = abi.number("personality").expect("personality");
        let g = abi.number("getpid").expect("getpid");
        let ev = |nr: u32, a0: u64| evaluate(&f.prog, arch, nr, [a0, 0, 0, 0, 0, 0]);
        assert_eq!(ev(p, 1), e(11), "{abi:?}");
        assert_eq!(ev(p, 2), e(12), "{abi:?}");
        assert_eq!(ev(p, 3), e(13), "{abi:?}: the rule without arguments");
        assert_eq!(ev(p, 4), e(13), "{abi:?}: rules after it never match");
        assert_eq!(ev(g, 2), e(12), "{abi:?}");
        assert_eq!(ev(g, 3), ret::ALLOW, "{abi:?}: falls through every run");
    }
    assert!(f.notify);
}

#[test]
fn one_argument_named_twice_is_two_rules_as_runc() {
    // runc turns conditions that repeat an argument index into separate
    // rules (OR); conditions on different arguments stay one rule (AND).
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5, "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6, "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}
        ]}"#,
    ))
    .expect("compile");
    let z = |a: u64, b: u64| [a, b, 0, 0, 0, 0];
    assert_eq!(run(&f, "personality", z(1, 0)), ret::ERRNO | 5);
    assert_eq!(run(&f, "personality", z(2, 0)), ret::ERRNO | 5);
    assert_eq!(run(&f, "personality", z(3, 0)), ret::ALLOW);
    assert_eq!(run(&f, "kill", z(1, 2)), ret::ERRNO | 6);
    assert_eq!(run(&f, "kill", z(1, 3)), ret::ALLOW);
    assert_eq!(run(&f, "kill", z(2, 2)), ret::ALLOW);
}

#[test]
fn seccompiler_runs_are_spliced_without_their_arch_checks() {
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
        ]}"#,
    ))
    .expect("compile");
    // One architecture load (corral's dispatch), none left from seccompiler,
    // and no seccompiler marker left in a return.
    let arch_loads = f
        .prog
        .iter()
        .filter(|i| i.code == LD_W_ABS && i.k == OFF_ARCH)
        .count();
    assert_eq!(arch_loads, 1);
    assert!(f
        .prog
        .iter()
        .all(|i| i.code != RET_K || i.k & 0xffff_0000 != ret::TRACE));
    assert_jumps_inside(&f.prog);
    assert_eq!(run(&f, "personality", [8, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(
        run(&f, "personality", [9, 0, 0, 0, 0, 0]),
        ret::ERRNO | EPERM
    );
}

#[test]
fn names_of_no_architecture_are_refused_by_name() {
    let e = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getpid", "no_such_syscall"], "action": "SCMP_ACT_ERRNO"}
        ]}"#,
    ))
    .expect_err("unknown name");
    let msg = e.to_string();
    assert!(
        msg.contains("linux.seccomp.syscalls[1].names") && msg.contains("no_such_syscall"),
        "{msg}"
    );
    // Other architectures' syscalls and the new ones are not mistakes.
    // Every name libseccomp 2.5.4 resolves beyond corral's x86 tables
    // (read from its syscall table), and newer kernels' syscalls.
    const LIBSECCOMP_FOREIGN: [&str; 32] = [
        "arm_fadvise64_64",
        "arm_sync_file_range",
        "breakpoint",
        "cachectl",
        "cacheflush",
        "get_tls",
        "multiplexer",
        "pciconfig_iobase",
        "pciconfig_read",
        "pciconfig_write",
        "recv",
        "riscv_flush_icache",
        "rtas",
        "s390_guarded_storage",
        "s390_pci_mmio_read",
        "s390_pci_mmio_write",
        "s390_runtime_instr",
        "s390_sthyi",
        "send",
        "set_tls",
        "spu_create",
        "spu_run",
        "subpage_prot",
        "swapcontext",
        "switch_endian",
        "sync_file_range2",
        "sys_debug_setcontext",
        "syscall",
        "sysmips",
        "timerfd",
        "usr26",
        "usr32",
    ];
    for name in LIBSECCOMP_FOREIGN
        .iter()
        .chain(&["mseal", "cachestat", "riscv_hwprobe"])
    {
        let json = format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["{name}"], "action": "SCMP_ACT_ERRNO"}}]}}"#
        );
        assert!(compile(&profile(&json)).is_ok(), "{name}");
    }
}

#[test]
fn other_architectures_and_their_special_cases() {
    // Docker's arm64 pair, compiled as on an aarch64 host.
    let s = profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], "syscalls": [
            {"names": ["read", "cacheflush", "open"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967304, "op": "SCMP_CMP_EQ"}]}
        ]}"#,
    );
    let f = compile_for(&s, Some(Abi::Aarch64)).expect("compile");
    assert_jumps_inside(&f.prog);
    let z = [0; 6];
    let arm = |name: &str| Abi::Arm.number(name).expect(name);
    let a64 = |name: &str| Abi::Aarch64.number(name).expect(name);
    assert_eq!(
        evaluate(&f.prog, audit::AARCH64, a64("read"), z),
        ret::ALLOW
    );
    assert_eq!(evaluate(&f.prog, audit::ARM, arm("read"), z), ret::ALLOW);
    assert_eq!(evaluate(&f.prog, audit::ARM, arm("open"), z), ret::ALLOW);
    // ARM's private range: cacheflush is named; its neighbours get the
    // default, not the ENOSYS of numbers newer than the profile.
    assert_eq!(arm("cacheflush"), 0x0f_0002);
    assert_eq!(evaluate(&f.prog, audit::ARM, 0x0f_0002, z), ret::ALLOW);
    assert_eq!(
        evaluate(&f.prog, audit::ARM, 0x0f_0005, z),
        ret::ERRNO | EPERM
    );
    assert_eq!(evaluate(&f.prog, audit::ARM, 1000, z), ret::ERRNO | ENOSYS);
    // 64-bit aarch64 compares both words; 32-bit arm the low word only.
    let p = [0x1_0000_0008, 0, 0, 0, 0, 0];
    let low = [8, 0, 0, 0, 0, 0];
    assert_eq!(
        evaluate(&f.prog, audit::AARCH64, a64("personality"), p),
        ret::ALLOW
    );
    assert_eq!(
        evaluate(&f.prog, audit::AARCH64, a64("personality"), low),
        ret::ERRNO | EPERM
    );
    assert_eq!(
        evaluate(&f.prog, audit::ARM, arm("personality"), low),
        ret::ALLOW
    );
    // Not listed: x86_64 is killed.
    assert_eq!(evaluate(&f.prog, audit::X86_64, 0, z), ret::KILL_PROCESS);
    // The build's own architecture is in every filter, as with runc.
    let f = compile(&s).expect("compile on this host");
    if let Some(native) = native_audit_arch() {
        assert_ne!(evaluate(&f.prog, native, 0, z), ret::KILL_PROCESS);
    }
}

#[test]
fn big_endian_arguments_are_read_where_they_are() {
    let s = profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"], "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9, "args": [{"index": 1, "value": 4294967303, "op": "SCMP_CMP_EQ"}]}
        ]}"#,
    );
    let f = compile_for(&s, Some(Abi::S390x)).expect("compile");
    let nr = Abi::S390x.number("personality").expect("personality");
    // evaluate() lays the words out big-endian for s390x: the filter must
    // find the low word (7) at +4 and the high word (1) at +0.
    assert_eq!(
        evaluate(&f.prog, audit::S390X, nr, [0, 0x1_0000_0007, 0, 0, 0, 0]),
        ret::ERRNO | 9
    );
    assert_eq!(
        evaluate(&f.prog, audit::S390X, nr, [0, 0x7_0000_0001, 0, 0, 0, 0]),
        ret::ALLOW
    );
}

#[test]
fn socket_rules_cover_socketcall_where_it_multiplexes() {
    let s = profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"], "syscalls": [
            {"names": ["connect", "shmat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
        ]}"#,
    );
    let f = compile_for(&s, Some(Abi::X86_64)).expect("compile");
    let x86 = |name: &str| Abi::X86.number(name).expect(name);
    let call = |nr: u32, c: u64| evaluate(&f.prog, audit::I386, nr, [c, 0, 0, 0, 0, 0]);
    assert_eq!(call(x86("connect"), 0), ret::ERRNO | 13);
    assert_eq!(call(x86("socketcall"), 3), ret::ERRNO | 13, "SYS_CONNECT");
    assert_eq!(call(x86("socketcall"), 1), ret::ALLOW, "SYS_SOCKET");
    assert_eq!(call(x86("ipc"), 21), ret::ERRNO | 13, "SHMAT");
    assert_eq!(call(x86("ipc"), 22), ret::ALLOW, "SHMDT");
    // aarch64 has no multiplexer.
    let a64 = Abi::Aarch64.number("connect").expect("connect");
    assert_eq!(
        evaluate(&f.prog, audit::AARCH64, a64, [0; 6]),
        ret::ERRNO | 13
    );
}

#[test]
fn tables_are_sorted_and_numbers_unique_per_abi() {
    // Binary search needs the order; one number for two names is an alias
    // only where the headers make one (ARM's sync_file_range2).
    for abi in Abi::ALL {
        let t = abi.table();
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "{abi:?} order");
        let mut nrs: Vec<(u32, &str)> = t.iter().map(|(n, nr)| (*nr, *n)).collect();
        nrs.sort();
        for w in nrs.windows(2) {
            if w[0].0 == w[1].0 {
                assert_eq!(
                    (abi, w[0].1, w[1].1),
                    (Abi::Arm, "arm_sync_file_range", "sync_file_range2"),
                    "{abi:?} {}",
                    w[0].0
                );
            }
        }
    }
}

#[test]
fn notify_on_what_delivers_the_listener_is_refused_by_name() {
    // runc: "SCMP_ACT_NOTIFY cannot be used for the write syscall" and as
    // the default action; corral's delivery is a sendmsg, refused too.
    for name in ["write", "sendmsg", "sendto", "sendmmsg"] {
        let p = profile(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                "syscalls": [{{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}},
                             {{"names": ["getpid", "{name}"], "action": "SCMP_ACT_NOTIFY"}}]}}"#
        ));
        let e = compile(&p).expect_err(name).to_string();
        assert!(
            e.contains("linux.seccomp.syscalls[1].names")
                && e.contains(&format!("cannot be used for the {name} syscall")),
            "{name}: {e}"
        );
    }
    let p = profile(r#"{"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}"#);
    let e = compile(&p).expect_err("default notify").to_string();
    assert!(e.contains("linux.seccomp.defaultAction"), "{e}");
    // Other syscalls may notify; so may write under another action.
    let p = profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
            "syscalls": [{"names": ["mkdir", "close", "read"], "action": "SCMP_ACT_NOTIFY"},
                         {"names": ["write"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    let f = compile(&p).expect("mkdir, close and read may notify");
    assert!(f.notify);
}
