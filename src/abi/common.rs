//! The enumerations of libvirt's `libvirt-common.h`: typed parameters and close reasons.

/// The type of a typed parameter's value, which says which member of its union is set.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virTypedParameterType {
    VIR_TYPED_PARAM_INT = 1,
    VIR_TYPED_PARAM_UINT = 2,
    VIR_TYPED_PARAM_LLONG = 3,
    VIR_TYPED_PARAM_ULLONG = 4,
    VIR_TYPED_PARAM_DOUBLE = 5,
    VIR_TYPED_PARAM_BOOLEAN = 6,
    VIR_TYPED_PARAM_STRING = 7,
}

impl virTypedParameterType {
    /// The type whose C value is `v`, if any.
    pub fn from_c(v: i32) -> Option<Self> {
        use virTypedParameterType::*;
        [
            VIR_TYPED_PARAM_INT,
            VIR_TYPED_PARAM_UINT,
            VIR_TYPED_PARAM_LLONG,
            VIR_TYPED_PARAM_ULLONG,
            VIR_TYPED_PARAM_DOUBLE,
            VIR_TYPED_PARAM_BOOLEAN,
            VIR_TYPED_PARAM_STRING,
        ]
        .into_iter()
        .find(|t| *t as i32 == v)
    }

    /// The name libvirt uses for the type in messages ("int", "boolean", ...).
    pub fn name(self) -> &'static str {
        use virTypedParameterType::*;
        match self {
            VIR_TYPED_PARAM_INT => "int",
            VIR_TYPED_PARAM_UINT => "uint",
            VIR_TYPED_PARAM_LLONG => "llong",
            VIR_TYPED_PARAM_ULLONG => "ullong",
            VIR_TYPED_PARAM_DOUBLE => "double",
            VIR_TYPED_PARAM_BOOLEAN => "boolean",
            VIR_TYPED_PARAM_STRING => "string",
        }
    }
}

/// Flags of the calls that return typed parameters.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virTypedParameterFlags {
    /// The caller accepts string parameters.
    VIR_TYPED_PARAM_STRING_OKAY = 4,
}

/// Why a connection was closed, as a close callback is told.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virConnectCloseReason {
    VIR_CONNECT_CLOSE_REASON_ERROR = 0,
    VIR_CONNECT_CLOSE_REASON_EOF = 1,
    VIR_CONNECT_CLOSE_REASON_KEEPALIVE = 2,
    VIR_CONNECT_CLOSE_REASON_CLIENT = 3,
}
