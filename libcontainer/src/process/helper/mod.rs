//! Creating a container from a multi-threaded caller.
//!
//! Cloning the container's init from a multi-threaded process is unsafe:
//! another thread may hold the allocator's lock at the clone. So when the
//! caller has more than one thread, [`ContainerBuilder::create`] runs the
//! create in a single-threaded helper process: the helper binary (by default
//! the caller's own executable, `/proc/self/exe`; see
//! [`ContainerBuilder::helper`]) is started with the environment variable
//! [`HELPER_ENV`] naming an fd, reads the request from it, creates the
//! container and writes the result back. A binary that embeds libcontainer
//! and may be multi-threaded calls [`run_if_helper`] first thing in `main`.
//! The `corral` binary does, so it can serve as the helper of any embedder.
//!
//! [`Container::exec`] goes through the helper the same way. Every kind
//! of [`Error`](crate::Error) the helper meets comes back to the caller as
//! the same variant, with its fields (an errno stays an errno).
//!
//! [`ContainerBuilder::create`]: crate::ContainerBuilder::create
//! [`ContainerBuilder::helper`]: crate::ContainerBuilder::helper
//! [`Container::exec`]: crate::Container::exec

// The caller's side and the helper's; what crosses between them.
pub(crate) mod client;
pub(crate) mod request_fd;
mod server;
mod wire;

pub use client::is_multithreaded;
pub use server::run_if_helper;
pub use wire::HELPER_ENV;
