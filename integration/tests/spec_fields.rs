//! Every field of runtime-spec 1.3.0's config-linux.md (and the Linux
//! process and mount fields of config.md that came with 1.1-1.3) has a test
//! that shows its effect, or, where this host cannot honour it, a test of
//! the error. The table names the test; this test checks that each named
//! test exists, so the table cannot drift from the tests.

/// (field, "effect" or "error", file under the workspace, test function).
const TABLE: &[(&str, &str, &str, &str)] = &[
    // Namespaces and id mappings.
    ("linux.namespaces[].type (all eight)", "effect", "integration/tests/namespaces.rs", "all_eight_namespaces_are_new"),
    ("linux.namespaces[].path", "effect", "integration/tests/namespaces.rs", "joins_namespaces_by_path"),
    ("linux.namespaces[].path of the wrong type", "error", "integration/tests/namespaces.rs", "joining_a_file_that_is_not_that_namespace_fails"),
    ("linux.uidMappings / gidMappings", "effect", "integration/tests/namespaces.rs", "inside_view_of_all_eight"),
    ("linux.timeOffsets", "effect", "integration/tests/namespaces.rs", "inside_view_of_all_eight"),
    // Devices.
    ("linux.devices", "effect", "integration/tests/rootfs.rs", "dev_has_default_and_configured_devices"),
    ("default devices, /dev/ptmx, /dev/console", "effect", "integration/tests/rootfs.rs", "dev_has_default_and_configured_devices"),
    // Control groups.
    ("linux.cgroupsPath", "effect", "integration/tests/cgroups.rs", "absolute_and_relative_paths"),
    ("linux.resources.devices", "effect", "integration/tests/resources.rs", "denied_device_cannot_be_opened_allowed_one_can"),
    ("linux.resources.devices (v2 eBPF)", "effect", "integration/tests/resources.rs", "ebpf_device_program_denies_and_allows"),
    ("linux.resources.memory.limit", "effect", "integration/tests/resources.rs", "memory_hog_is_oom_killed_at_the_limit_and_counted"),
    ("linux.resources.memory.checkBeforeUpdate", "effect", "integration/tests/resources.rs", "update_changes_a_running_container"),
    ("linux.resources.memory.{reservation,swap,kernelTCP,swappiness,disableOOMKiller,useHierarchy}", "effect", "libcontainer/src/cgroups/v1.rs", "memory_cpu_cpuset_pids"),
    ("linux.resources.memory.kernel", "effect", "integration/tests/cgroup_edges.rs", "kernel_memory_is_a_warning_and_the_container_runs"),
    ("linux.resources.memory on v2", "effect", "libcontainer/src/cgroups/v2.rs", "every_resource_lands_in_its_file"),
    ("linux.resources.cpu.{quota,period}", "effect", "integration/tests/resources.rs", "cpu_quota_throttles"),
    ("linux.resources.cpu.{shares,burst,realtimeRuntime,realtimePeriod,idle}", "effect", "libcontainer/src/cgroups/v1.rs", "memory_cpu_cpuset_pids"),
    ("linux.resources.cpu.realtimeRuntime (RT time for a realtime policy)", "effect", "integration/tests/spec13.rs", "scheduler_policies_take_effect"),
    ("linux.resources.cpu.{cpus,mems}", "effect", "integration/tests/resources.rs", "cpuset_pins_the_container"),
    ("linux.resources.blockIO.throttle*", "effect", "integration/tests/resources.rs", "blkio_throttle_write_only_check"),
    ("linux.resources.blockIO.{weight,weightDevice}", "effect", "integration/tests/resources.rs", "blkio_weight_write_only_check"),
    ("linux.resources.blockIO.leafWeight", "error", "integration/tests/resources.rs", "blkio_leaf_weight_without_the_file_is_a_clear_error"),
    ("linux.resources.hugepageLimits", "effect", "integration/tests/resources.rs", "hugetlb_limit_stops_an_allocation"),
    ("linux.resources.network.{classID,priorities}", "effect", "integration/tests/resources.rs", "net_cls_classid_and_net_prio_map"),
    ("linux.resources.pids.limit", "effect", "integration/tests/resources.rs", "fork_bomb_stops_at_pids_max"),
    ("linux.resources.rdma", "error", "integration/tests/resources.rs", "rdma_limits_reach_the_controller_or_fail_clearly"),
    ("linux.resources.unified", "effect", "libcontainer/src/cgroups/v2.rs", "every_resource_lands_in_its_file"),
    ("linux.resources.unified on a v1 host", "error", "integration/tests/errors.rs", "what_this_version_cannot_honour_is_refused"),
    // Intel RDT, sysctl, seccomp.
    ("linux.intelRdt", "error", "integration/tests/spec13.rs", "intel_rdt_and_mount_label_are_refused_on_this_host"),
    ("linux.sysctl", "effect", "integration/tests/rootfs.rs", "sysctl_hostname_domainname"),
    ("linux.sysctl outside the container's namespaces", "error", "integration/tests/bad_input.rs", "sixty_and_more_bad_inputs"),
    ("linux.seccomp (Docker's profile)", "effect", "integration/tests/seccomp.rs", "docker_default_profile_matches_runc"),
    ("linux.seccomp.{defaultAction,defaultErrnoRet,syscalls[].action,errnoRet}", "effect", "integration/tests/seccomp.rs", "every_action_matches_runc"),
    ("linux.seccomp.syscalls[].args (every operator)", "effect", "integration/tests/seccomp.rs", "every_operator"),
    ("linux.seccomp.flags", "effect", "integration/tests/seccomp.rs", "filter_flags_are_accepted_by_the_kernel"),
    ("linux.seccomp.flags WAIT_KILLABLE_RECV", "effect", "integration/tests/seccomp.rs", "notify_sends_the_listener_to_the_agent_which_answers"),
    ("linux.seccomp.{listenerPath,listenerMetadata}", "effect", "integration/tests/seccomp.rs", "notify_sends_the_listener_to_the_agent_which_answers"),
    ("linux.seccomp.architectures (foreign)", "error", "integration/tests/errors.rs", "what_this_version_cannot_honour_is_refused"),
    // Root file system.
    ("linux.rootfsPropagation", "effect", "integration/tests/rootfs.rs", "rootfs_propagation_and_readonly_root"),
    ("linux.maskedPaths / readonlyPaths", "effect", "integration/tests/rootfs.rs", "masked_and_readonly_paths"),
    ("linux.mountLabel", "error", "integration/tests/spec13.rs", "intel_rdt_and_mount_label_are_refused_on_this_host"),
    ("linux.personality", "effect", "integration/tests/spec13.rs", "personality_domain_and_flags"),
    ("linux.memoryPolicy", "effect", "integration/tests/spec13.rs", "memory_policy_takes_effect"),
    ("linux.netDevices", "effect", "integration/tests/spec13.rs", "net_devices_move_into_the_container_renamed"),
    // Process fields (config.md, Linux).
    ("process.scheduler", "effect", "integration/tests/spec13.rs", "scheduler_policies_take_effect"),
    ("process.ioPriority", "effect", "integration/tests/spec13.rs", "io_priority_takes_effect"),
    ("process.execCPUAffinity", "effect", "integration/tests/spec13.rs", "exec_cpu_affinity_final_and_initial"),
    ("process.rlimits", "effect", "integration/tests/process.rs", "rlimits_nnp_oom_score_adj"),
    ("process.rlimits above the hard limit", "error", "integration/tests/process.rs", "rlimit_above_hard_limit_fails_clearly"),
    ("process.{apparmorProfile,selinuxLabel}", "error", "integration/tests/process.rs", "lsm_labels_fail_clearly_where_the_lsm_is_absent"),
    ("process.capabilities", "effect", "integration/tests/process.rs", "capabilities_as_configured_and_as_runc"),
    ("process.{noNewPrivileges,oomScoreAdj}", "effect", "integration/tests/process.rs", "rlimits_nnp_oom_score_adj"),
    // Mounts (config.md, Linux).
    ("mounts[].options (flags, data)", "effect", "integration/tests/rootfs.rs", "mount_options_are_enforced"),
    ("mounts[].options propagation", "effect", "integration/tests/rootfs.rs", "propagation_flags"),
    ("mounts[].options recursive (rro, rnosymfollow, ratime family…), nosymfollow", "effect", "integration/tests/spec13.rs", "recursive_mount_attributes_and_nosymfollow"),
    ("mounts[].options tmpcopyup; relative destination", "effect", "integration/tests/spec13.rs", "tmpcopyup_and_relative_destinations"),
    ("mounts[].{uidMappings,gidMappings}, idmap, ridmap", "effect", "integration/tests/spec13.rs", "idmapped_mounts"),
    // Hooks.
    ("hooks.poststart failure fails start (1.3)", "effect", "integration/tests/hooks.rs", "failing_poststart_fails_start_and_stops_the_container"),
];

#[test]
fn every_linux_field_has_an_effect_or_error_test() {
    let root = integration::workspace();
    for (field, kind, file, test) in TABLE {
        assert!(matches!(*kind, "effect" | "error"), "{field}: {kind}");
        let text = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("{field}: {file}: {e}"));
        assert!(
            text.contains(&format!("fn {test}(")),
            "{field}: no test {test} in {file}"
        );
    }
    println!("{} fields, each with a test:", TABLE.len());
    for (field, kind, file, test) in TABLE {
        println!("  {field:70} {kind:6} {file}::{test}");
    }
}
