//! `linux.resources` in the form the back ends apply: the zero values
//! that mean "not set" dropped, the device list split from the rest for
//! create, the rdma limits as `rdma.max` lines.

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};

/// `linux.resources.rdma` as `rdma.max` lines (`mlx5_1 hca_handle=3
/// hca_object=10000`), one per device, the same in v1 and v2.
pub(crate) fn rdma_lines(res: &LinuxResources) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let Some(rdma) = res.rdma().as_ref() else {
        return Ok(out);
    };
    let mut devs: Vec<&String> = rdma.keys().collect();
    devs.sort();
    for dev in devs {
        let field = format!("linux.resources.rdma.{dev}");
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(Error::spec(&field, format!("{dev:?} is not a device name")));
        }
        let r = &rdma[dev];
        let mut line = dev.clone();
        if let Some(h) = r.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = r.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if r.hca_handles().is_none() && r.hca_objects().is_none() {
            return Err(Error::spec(field, "give hcaHandles, hcaObjects or both"));
        }
        out.push(line);
    }
    Ok(out)
}

/// `res` split for create: (everything but the device list, the device
/// list alone). The first applies before the init is released, so limits
/// hold while it sets up (and a realtime scheduler finds RT time); the
/// second once the device nodes exist, as runc orders it.
pub(crate) fn split_devices(res: &LinuxResources) -> (LinuxResources, LinuxResources) {
    let mut rest = res.clone();
    rest.set_devices(None);
    let mut devices = LinuxResources::default();
    devices.set_devices(res.devices().clone());
    (rest, devices)
}

/// `res` with the zero values that mean "not set" removed, as runc reads
/// them (dockerd writes `"weight": 0`, `"shares": 0`, `"limit": 0` for
/// what the user did not ask for).
pub(crate) fn unset_zeros(res: &LinuxResources) -> LinuxResources {
    let mut r = res.clone();
    let nz_i = |v: Option<i64>| v.filter(|x| *x != 0);
    let nz_u = |v: Option<u64>| v.filter(|x| *x != 0);
    if let Some(mut m) = *r.memory() {
        m.set_limit(nz_i(m.limit()));
        m.set_reservation(nz_i(m.reservation()));
        m.set_swap(nz_i(m.swap()));
        m.set_kernel(nz_i(m.kernel()));
        m.set_kernel_tcp(nz_i(m.kernel_tcp()));
        r.set_memory(Some(m));
    }
    if let Some(mut c) = r.cpu().clone() {
        c.set_shares(nz_u(c.shares()));
        c.set_quota(nz_i(c.quota()));
        c.set_period(nz_u(c.period()));
        c.set_realtime_runtime(nz_i(c.realtime_runtime()));
        c.set_realtime_period(nz_u(c.realtime_period()));
        c.set_cpus(c.cpus().clone().filter(|s| !s.is_empty()));
        c.set_mems(c.mems().clone().filter(|s| !s.is_empty()));
        r.set_cpu(Some(c));
    }
    if let Some(mut b) = r.block_io().clone() {
        b.set_weight(b.weight().filter(|w| *w != 0));
        b.set_leaf_weight(b.leaf_weight().filter(|w| *w != 0));
        r.set_block_io(Some(b));
    }
    // pids.limit 0 is kept: a real limit (see `pids_max`). Docker writes
    // -1, not 0, for no limit.
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::v1;

    #[test]
    fn dockers_zeros_mean_unset() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory": {"limit": 0, "reservation": 0, "swap": 0, "kernelTCP": 0},
                "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0, "cpus": "", "mems": ""},
                "blockIO": {"weight": 0}, "pids": {"limit": 0}}"#,
        )
        .expect("json");
        let n = unset_zeros(&r);
        let req: Vec<&str> = v1::required(&n).into_iter().map(|(c, _)| c).collect();
        assert!(!req.contains(&"cpu") && !req.contains(&"cpuset"), "{req:?}");
        let b = n.block_io().as_ref().expect("blockIO");
        assert_eq!(b.weight(), None);
        let m = n.memory().expect("memory");
        assert_eq!((m.limit(), m.swap()), (None, None));
        assert_eq!(n.pids().map(|p| p.limit()), Some(0), "0 pids is a limit");
        let keep: LinuxResources =
            serde_json::from_str(r#"{"pids": {"limit": -1}, "cpu": {"shares": 2}}"#).expect("json");
        let k = unset_zeros(&keep);
        assert_eq!(k.pids().expect("pids").limit(), -1);
        assert_eq!(k.cpu().as_ref().and_then(|c| c.shares()), Some(2));
    }
}
