//! The processes corral makes: how each comes to be and what keeps the
//! runtime's own executable out of their reach.
//!
//! A create runs `create` (the parent side) which clones (`clone`) the
//! `init`; an exec runs `exec` (the parent side) which clones the
//! `exec_child`. Both children set up the process `context` they share,
//! and speak to their parent over the `channel`. From a multi-threaded
//! caller both go through the [`helper`] process.

#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod channel;
#[cfg(not(feature = "fuzz"))]
pub(crate) mod channel;
pub(crate) mod clone;
pub(crate) mod context;
pub(crate) mod create;
pub(crate) mod exec;
pub(crate) mod exec_child;
pub mod helper;
pub(crate) mod init;
pub(crate) mod pid_file;
pub mod pidref;
pub mod preserved_fds;
pub mod seal;
pub mod spawn;
