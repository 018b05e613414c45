//! The enumeration of libvirt's `libvirt-event.h`.

/// What happened, or is awaited, on a file descriptor an event loop watches; a bit set.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum virEventHandleType {
    VIR_EVENT_HANDLE_READABLE = 1,
    VIR_EVENT_HANDLE_WRITABLE = 2,
    VIR_EVENT_HANDLE_ERROR = 4,
    VIR_EVENT_HANDLE_HANGUP = 8,
}
