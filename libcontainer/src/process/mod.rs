//! The processes corral makes: how each comes to be and what keeps the
//! runtime's own executable out of their reach.

pub mod pidref;
pub mod seal;
pub mod spawn;
