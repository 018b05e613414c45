//! What the thread stress tests share.

pub mod model;
