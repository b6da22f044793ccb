//! The processes corral makes: how each comes to be and what keeps the
//! runtime's own executable out of their reach.

pub(crate) mod clone;
pub mod pidref;
pub mod seal;
pub mod spawn;
