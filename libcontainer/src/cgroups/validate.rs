//! Validation of `linux.resources` against this host before anything is
//! made: values no cgroup version takes, fields whose controller or file
//! the host lacks (per layout: `v1::check`, `v2::check`),
//! and warnings for what is accepted but not applied.

use oci_spec::runtime::LinuxResources;

use super::layout::{hierarchies, mode, Hierarchy, Mode};
use super::resources::{rdma_lines, unset_zeros};
use super::{v1, v2};
use crate::error::{Error, Result};

/// The config's fields corral accepts but does not apply on this host, one
/// warning each, as runc warns and runs (config-linux.md: kernel memory
/// limits are not supported by the kernels since 5.16, which ignore them).
pub(crate) fn warnings(res: &LinuxResources) -> Vec<String> {
    let mut w = Vec::new();
    let Some(m) = res.memory() else { return w };
    if let Some(k) = m.kernel().filter(|k| *k != 0) {
        w.push(format!(
            "linux.resources.memory.kernel: {k} ignored: kernel memory limits are not supported (kernels since 5.16 ignore them)"
        ));
    }
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        let hs = hierarchies().unwrap_or_default();
        let v1_file = hs
            .iter()
            .find(|h| !h.v2 && h.key.split(',').any(|c| c == "memory"))
            .is_some_and(|h| h.mountpoint.join("memory.kmem.tcp.limit_in_bytes").exists());
        if mode(&hs) == Mode::Unified || !v1_file {
            w.push(format!(
                "linux.resources.memory.kernelTCP: {k} ignored: this host's memory controller has no kernel TCP limit"
            ));
        }
    }
    w
}

/// Checks that this host can honour `res`: every controller it needs is
/// mounted (v1), or every field has a v2 file. Errors name the field and the
/// controller.
pub(crate) fn check_supported_resources(res: &LinuxResources) -> Result<()> {
    check_supported_resources_with(&hierarchies()?, res)
}

/// [`check_supported_resources`] against given hierarchies.
pub(crate) fn check_supported_resources_with(hs: &[Hierarchy], res: &LinuxResources) -> Result<()> {
    check_values(res)?;
    rdma_lines(res)?;
    check_with(hs, res)
}

/// Values no cgroup version takes, refused the same on v1 and v2 (where
/// corral converts values, the kernel would not see them as given).
fn check_values(res: &LinuxResources) -> Result<()> {
    if let Some(m) = res.memory() {
        for (name, v) in [
            ("limit", m.limit()),
            ("reservation", m.reservation()),
            ("swap", m.swap()),
            ("kernelTCP", m.kernel_tcp()),
        ] {
            if let Some(v) = v.filter(|v| *v < -1) {
                return Err(Error::spec(
                    format!("linux.resources.memory.{name}"),
                    format!("{v}: -1 (unlimited) or a size in bytes"),
                ));
            }
        }
        if let (Some(l), Some(sw)) = (m.limit(), m.swap()) {
            if l > 0 && sw > 0 && sw < l {
                return Err(Error::spec(
                    "linux.resources.memory.swap",
                    format!("{sw} is below memory.limit {l} (swap is memory plus swap)"),
                ));
            }
        }
        if let Some(s) = m.swappiness().filter(|s| *s > 100) {
            return Err(Error::spec(
                "linux.resources.memory.swappiness",
                format!("{s} is outside 0..100"),
            ));
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(p) = c
            .period()
            .filter(|p| *p != 0 && !(1000..=1_000_000).contains(p))
        {
            return Err(Error::spec(
                "linux.resources.cpu.period",
                format!("{p}: the period is 1000 to 1000000 microseconds"),
            ));
        }
        if let Some(q) = c.quota().filter(|q| *q > 0 && *q < 1000) {
            return Err(Error::spec(
                "linux.resources.cpu.quota",
                format!("{q}: a quota is at least 1000 microseconds (or -1)"),
            ));
        }
    }
    if let Some(b) = res.block_io() {
        for (name, w) in [("weight", b.weight()), ("leafWeight", b.leaf_weight())] {
            if let Some(w) = w.filter(|w| *w != 0 && !(10..=1000).contains(w)) {
                return Err(Error::spec(
                    format!("linux.resources.blockIO.{name}"),
                    format!("{w} is outside 10..1000"),
                ));
            }
        }
    }
    Ok(())
}

/// The controller part of [`check_supported_resources_with`]: every field
/// of `res` has a mounted controller (v1) or a v2 file.
pub(crate) fn check_with(hs: &[Hierarchy], res: &LinuxResources) -> Result<()> {
    let res = &unset_zeros(res);
    // The layout picks the back end whose files the resources go to.
    match mode(hs) {
        Mode::Unified => v2::check(res),
        Mode::Legacy | Mode::Hybrid => v1::check(hs, res),
    }
}
