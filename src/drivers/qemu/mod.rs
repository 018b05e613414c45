//! The QEMU driver's formats; the driver itself is being built (issue 4).

pub mod image;
