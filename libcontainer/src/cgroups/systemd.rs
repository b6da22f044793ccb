//! The systemd back end: the place for the third `Manager`, not
//! built yet (`--systemd-cgroup` is refused until it is).
//!
//! What it will implement, as runc's and crun's systemd drivers do:
//!
//! - placement: `linux.cgroupsPath` in systemd's `slice:prefix:name` form
//!   (runc's defaults when it is empty), planned into a `CgroupState`
//!   that also records the driver and the unit's name, so that every later
//!   command picks this back end again from `state.json` (see
//!   `manager`);
//! - `create` and the entry: a transient scope made over D-Bus
//!   (`StartTransientUnit`, `Delegate=yes`) with the container's init as its
//!   PID, or the scope's directory opened for `CLONE_INTO_CGROUP` as the
//!   cgroupfs back ends' `Entry` does;
//! - `apply_resources`: the OCI resources as unit properties (CPUWeight or
//!   CPUShares, CPUQuotaPerSecUSec, MemoryMax, MemoryLow, MemorySwapMax,
//!   TasksMax, AllowedCPUs, AllowedMemoryNodes, IOWeight), then what systemd
//!   cannot express written to the files through the v1 or v2 back end;
//!   `update` through `SetUnitProperties` plus the files;
//! - `apply_devices`: the device properties, and the v1/v2 policy;
//! - freeze/thaw, stats, pids, kill-all: as the v1 or v2 back end of the
//!   host's layout does, on the scope's directories;
//! - `remove`: the scope stopped and gone (a failed one reset too, as after
//!   an OOM kill).
//!
//! Its state (the D-Bus connection, opened on first use, and the unit's
//! name) is the back end's own: the reason the seam is a trait object.
