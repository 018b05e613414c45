//! libvirt's event loop API: a program registers an event loop implementation (its own,
//! or libvirt's default one), and libvirt adds the file descriptors and timers it needs to
//! it. virshim's drivers are in-process and need none, but programs set a loop up before
//! they open a connection, and libvirt-python's asyncio loop (`libvirtaio`) registers
//! itself, so these calls work as in libvirt:
//!
//! - `virEventRegisterImpl` stores the program's six functions, and `virEventAddHandle`
//!   and the others call them (without one registered they return -1, setting no error);
//! - `virEventRegisterDefaultImpl` registers virshim's default loop, built on poll(2),
//!   and `virEventRunDefaultImpl` runs one iteration of it: it waits for a watched file
//!   descriptor to be ready or a timer to be due, calls their callbacks, then the free
//!   callbacks of what was removed. Other threads may add and remove meanwhile.

use std::ffi::{c_int, c_void};
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::generated::types::{
    virEventAddHandleFunc, virEventAddTimeoutFunc, virEventHandleCallback,
    virEventRemoveHandleFunc, virEventRemoveTimeoutFunc, virEventTimeoutCallback,
    virEventUpdateHandleFunc, virEventUpdateTimeoutFunc, virFreeCallback,
};
use crate::abi::virErrorDomain::VIR_FROM_EVENT;
use crate::abi::virEventHandleType::*;
use crate::{Error, Result};

/// The functions of an event loop implementation.
#[derive(Clone, Copy)]
struct Impl {
    add_handle: virEventAddHandleFunc,
    update_handle: virEventUpdateHandleFunc,
    remove_handle: virEventRemoveHandleFunc,
    add_timeout: virEventAddTimeoutFunc,
    update_timeout: virEventUpdateTimeoutFunc,
    remove_timeout: virEventRemoveTimeoutFunc,
}

static REGISTERED: Mutex<Option<Impl>> = Mutex::new(None);

fn registered() -> Option<Impl> {
    *REGISTERED.lock().unwrap_or_else(PoisonError::into_inner)
}

fn register(i: Impl) {
    *REGISTERED.lock().unwrap_or_else(PoisonError::into_inner) = Some(i);
}

ffi_fn! {
    /// Makes the program's six functions the event loop that file descriptor watches and
    /// timers are added to (replacing any earlier one). libvirt keeps the pointers; it
    /// frees nothing. Leaves the last error alone.
    @keep_error fn virEventRegisterImpl(
        addHandle: virEventAddHandleFunc,
        updateHandle: virEventUpdateHandleFunc,
        removeHandle: virEventRemoveHandleFunc,
        addTimeout: virEventAddTimeoutFunc,
        updateTimeout: virEventUpdateTimeoutFunc,
        removeTimeout: virEventRemoveTimeoutFunc,
    );
    {
        register(Impl {
            add_handle: addHandle,
            update_handle: updateHandle,
            remove_handle: removeHandle,
            add_timeout: addTimeout,
            update_timeout: updateTimeout,
            remove_timeout: removeTimeout,
        });
    }
}

ffi_fn! {
    /// Watches `fd` for `events` (a `virEventHandleType` set) in the registered loop, which
    /// calls `cb` with `opaque` when it is ready, and `ff` (when not NULL) on `opaque` once
    /// the watch is removed: `opaque` stays the caller's until then. Returns the watch
    /// number, or -1 without a registered loop (setting no error) or on failure.
    @keep_error fn virEventAddHandle(
        fd: c_int,
        events: c_int,
        cb: virEventHandleCallback,
        opaque: *mut c_void,
        ff: virFreeCallback,
    ) -> c_int = -1;
    {
        match registered().and_then(|i| i.add_handle) {
            // SAFETY: the program registered `f` as its loop's function of this type.
            Some(f) => unsafe { f(fd, events, cb, opaque, ff) },
            None => -1,
        }
    }
}

ffi_fn! {
    /// Changes the events (a `virEventHandleType` set) watch `watch` waits for; 0 pauses
    /// it. Does nothing without a registered loop.
    @keep_error fn virEventUpdateHandle(watch: c_int, events: c_int); {
        if let Some(f) = registered().and_then(|i| i.update_handle) {
            // SAFETY: as in virEventAddHandle.
            unsafe { f(watch, events) }
        }
    }
}

ffi_fn! {
    /// Stops watch `watch`; the loop then calls its free callback on its data. Returns 0,
    /// or -1 if there is no such watch or no registered loop.
    @keep_error fn virEventRemoveHandle(watch: c_int) -> c_int = -1; {
        match registered().and_then(|i| i.remove_handle) {
            // SAFETY: as in virEventAddHandle.
            Some(f) => unsafe { f(watch) },
            None => -1,
        }
    }
}

ffi_fn! {
    /// Adds a timer to the registered loop, calling `cb` with `opaque` every `timeout` ms
    /// (0: every iteration, -1: disabled), and `ff` (when not NULL) on `opaque` once the
    /// timer is removed. Returns the timer number, or -1 without a registered loop or on
    /// failure.
    @keep_error fn virEventAddTimeout(
        timeout: c_int,
        cb: virEventTimeoutCallback,
        opaque: *mut c_void,
        ff: virFreeCallback,
    ) -> c_int = -1;
    {
        match registered().and_then(|i| i.add_timeout) {
            // SAFETY: as in virEventAddHandle.
            Some(f) => unsafe { f(timeout, cb, opaque, ff) },
            None => -1,
        }
    }
}

ffi_fn! {
    /// Changes the period of timer `timer` to `timeout` ms (0: every iteration, -1:
    /// disabled). Does nothing without a registered loop.
    @keep_error fn virEventUpdateTimeout(timer: c_int, timeout: c_int); {
        if let Some(f) = registered().and_then(|i| i.update_timeout) {
            // SAFETY: as in virEventAddHandle.
            unsafe { f(timer, timeout) }
        }
    }
}

ffi_fn! {
    /// Removes timer `timer`; the loop then calls its free callback on its data. Returns 0,
    /// or -1 if there is no such timer or no registered loop.
    @keep_error fn virEventRemoveTimeout(timer: c_int) -> c_int = -1; {
        match registered().and_then(|i| i.remove_timeout) {
            // SAFETY: as in virEventAddHandle.
            Some(f) => unsafe { f(timer) },
            None => -1,
        }
    }
}

ffi_fn! {
    /// Registers virshim's default event loop, built on poll(2), as the event loop; run it
    /// with `virEventRunDefaultImpl`. Returns 0, or -1 on failure.
    fn virEventRegisterDefaultImpl() -> c_int = -1; |_| {
        lock().wakeup()?;
        register(Impl {
            add_handle: Some(default_add_handle),
            update_handle: Some(default_update_handle),
            remove_handle: Some(default_remove_handle),
            add_timeout: Some(default_add_timeout),
            update_timeout: Some(default_update_timeout),
            remove_timeout: Some(default_remove_timeout),
        });
        Ok(0)
    }
}

ffi_fn! {
    /// Runs one iteration of the default event loop: waits until a watched descriptor is
    /// ready or a timer is due, calls their callbacks, then the free callbacks of what was
    /// removed. Returns 0, or -1 on failure (poll(2) failing).
    fn virEventRunDefaultImpl() -> c_int = -1; |_| run_once().map(|()| 0)
}

// ---------------------------------------------------------------------------------------
// The default loop.

/// A watched file descriptor.
struct Handle {
    watch: c_int,
    fd: c_int,
    events: c_int,
    cb: unsafe extern "C" fn(c_int, c_int, c_int, *mut c_void),
    opaque: usize,
    ff: virFreeCallback,
    removed: bool,
}

/// A timer; `due` is None while disabled.
struct Timer {
    timer: c_int,
    period: Duration,
    due: Option<Instant>,
    cb: unsafe extern "C" fn(c_int, *mut c_void),
    opaque: usize,
    ff: virFreeCallback,
    removed: bool,
}

#[derive(Default)]
struct Loop {
    handles: Vec<Handle>,
    timers: Vec<Timer>,
    last_watch: c_int,
    last_timer: c_int,
    /// A pipe whose read end every iteration also polls, so that a change from another
    /// thread interrupts the wait.
    wake: Option<[c_int; 2]>,
}

static LOOP: Mutex<Loop> = Mutex::new(Loop {
    handles: Vec::new(),
    timers: Vec::new(),
    last_watch: 0,
    last_timer: 0,
    wake: None,
});

fn lock() -> MutexGuard<'static, Loop> {
    // Updates are single assignments or pushes: a panic leaves the state consistent.
    LOOP.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Loop {
    /// The wake-up pipe, made on first use.
    fn wakeup(&mut self) -> Result<[c_int; 2]> {
        if let Some(fds) = self.wake {
            return Ok(fds);
        }
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(Error::system(
                VIR_FROM_EVENT,
                &io::Error::last_os_error(),
                "Unable to setup wakeup pipe",
            ));
        }
        self.wake = Some(fds);
        Ok(fds)
    }

    /// Interrupts a wait in progress, if any.
    fn changed(&self) {
        if let Some([_, w]) = self.wake {
            // SAFETY: writes one byte from a local to our own non-blocking pipe; a full
            // pipe already holds a wake-up.
            unsafe { libc::write(w, [0u8].as_ptr().cast(), 1) };
        }
    }
}

fn to_poll(events: c_int) -> libc::c_short {
    let mut out = 0;
    for (vir, poll) in [
        (VIR_EVENT_HANDLE_READABLE, libc::POLLIN),
        (VIR_EVENT_HANDLE_WRITABLE, libc::POLLOUT),
        (VIR_EVENT_HANDLE_ERROR, libc::POLLERR),
        (VIR_EVENT_HANDLE_HANGUP, libc::POLLHUP),
    ] {
        if events & vir as c_int != 0 {
            out |= poll;
        }
    }
    out
}

fn from_poll(revents: libc::c_short) -> c_int {
    let mut out = 0;
    for (poll, vir) in [
        (libc::POLLIN | libc::POLLPRI, VIR_EVENT_HANDLE_READABLE),
        (libc::POLLOUT, VIR_EVENT_HANDLE_WRITABLE),
        (libc::POLLERR | libc::POLLNVAL, VIR_EVENT_HANDLE_ERROR),
        (libc::POLLHUP, VIR_EVENT_HANDLE_HANGUP),
    ] {
        if revents & poll != 0 {
            out |= vir as c_int;
        }
    }
    out
}

/// When a timer with period `ms` (negative: disabled) is next due, counting from now.
fn due_in(ms: c_int) -> (Duration, Option<Instant>) {
    match u64::try_from(ms) {
        Ok(ms) => {
            let period = Duration::from_millis(ms);
            (period, Some(Instant::now() + period))
        }
        Err(_) => (Duration::ZERO, None),
    }
}

unsafe extern "C" fn default_add_handle(
    fd: c_int,
    events: c_int,
    cb: virEventHandleCallback,
    opaque: *mut c_void,
    ff: virFreeCallback,
) -> c_int {
    let Some(cb) = cb else { return -1 };
    let mut l = lock();
    l.last_watch += 1;
    let watch = l.last_watch;
    l.handles.push(Handle {
        watch,
        fd,
        events,
        cb,
        opaque: opaque as usize,
        ff,
        removed: false,
    });
    l.changed();
    watch
}

unsafe extern "C" fn default_update_handle(watch: c_int, events: c_int) {
    let mut l = lock();
    if let Some(h) = l
        .handles
        .iter_mut()
        .find(|h| h.watch == watch && !h.removed)
    {
        h.events = events;
    }
    l.changed();
}

unsafe extern "C" fn default_remove_handle(watch: c_int) -> c_int {
    let mut l = lock();
    let Some(h) = l
        .handles
        .iter_mut()
        .find(|h| h.watch == watch && !h.removed)
    else {
        return -1;
    };
    h.removed = true;
    l.changed();
    0
}

unsafe extern "C" fn default_add_timeout(
    timeout: c_int,
    cb: virEventTimeoutCallback,
    opaque: *mut c_void,
    ff: virFreeCallback,
) -> c_int {
    let Some(cb) = cb else { return -1 };
    let mut l = lock();
    l.last_timer += 1;
    let timer = l.last_timer;
    let (period, due) = due_in(timeout);
    l.timers.push(Timer {
        timer,
        period,
        due,
        cb,
        opaque: opaque as usize,
        ff,
        removed: false,
    });
    l.changed();
    timer
}

unsafe extern "C" fn default_update_timeout(timer: c_int, timeout: c_int) {
    let mut l = lock();
    if let Some(t) = l.timers.iter_mut().find(|t| t.timer == timer && !t.removed) {
        (t.period, t.due) = due_in(timeout);
    }
    l.changed();
}

unsafe extern "C" fn default_remove_timeout(timer: c_int) -> c_int {
    let mut l = lock();
    let Some(t) = l.timers.iter_mut().find(|t| t.timer == timer && !t.removed) else {
        return -1;
    };
    t.removed = true;
    l.changed();
    0
}

/// One iteration of the default loop. Callbacks run without the loop's lock held, so
/// they may add, update and remove.
fn run_once() -> Result<()> {
    let (mut fds, watches, timeout) = {
        let mut l = lock();
        let [wake, _] = l.wakeup()?;
        let mut fds = vec![libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        }];
        let mut watches = vec![0];
        for h in l.handles.iter().filter(|h| !h.removed) {
            fds.push(libc::pollfd {
                fd: h.fd,
                events: to_poll(h.events),
                revents: 0,
            });
            watches.push(h.watch);
        }
        let now = Instant::now();
        let timeout = l
            .timers
            .iter()
            .filter(|t| !t.removed)
            .filter_map(|t| t.due)
            .map(|due| due.saturating_duration_since(now))
            .min()
            .map_or(-1, |d| c_int::try_from(d.as_millis()).unwrap_or(c_int::MAX));
        (fds, watches, timeout)
    };

    // SAFETY: `fds` is a live array of `fds.len()` pollfd structures.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    if ready < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(());
        }
        return Err(Error::system(
            VIR_FROM_EVENT,
            &err,
            "Unable to poll on file handles",
        ));
    }
    if fds[0].revents != 0 {
        let mut buf = [0u8; 64];
        // SAFETY: reads into a local buffer from our own non-blocking pipe.
        while unsafe { libc::read(fds[0].fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }

    let now = Instant::now();
    let due: Vec<_> = {
        let mut l = lock();
        l.timers
            .iter_mut()
            .filter(|t| !t.removed && t.due.is_some_and(|d| d <= now))
            .map(|t| {
                t.due = Some(now + t.period);
                (t.timer, t.cb, t.opaque)
            })
            .collect()
    };
    for (timer, cb, opaque) in due {
        // SAFETY: the program gave `cb` and `opaque` for this timer.
        unsafe { cb(timer, opaque as *mut c_void) };
    }

    for (pfd, &watch) in fds.iter().zip(&watches).skip(1) {
        if pfd.revents == 0 {
            continue;
        }
        let found = lock()
            .handles
            .iter()
            .find(|h| h.watch == watch && !h.removed)
            .map(|h| (h.fd, h.cb, h.opaque));
        if let Some((fd, cb, opaque)) = found {
            // SAFETY: the program gave `cb` and `opaque` for this watch.
            unsafe { cb(watch, fd, from_poll(pfd.revents), opaque as *mut c_void) };
        }
    }

    let freed: Vec<(virFreeCallback, usize)> = {
        let mut l = lock();
        let mut freed = Vec::new();
        l.handles.retain(|h| {
            if h.removed {
                freed.push((h.ff, h.opaque));
            }
            !h.removed
        });
        l.timers.retain(|t| {
            if t.removed {
                freed.push((t.ff, t.opaque));
            }
            !t.removed
        });
        freed
    };
    for (ff, opaque) in freed {
        if let Some(ff) = ff {
            // SAFETY: the program gave `ff` to free `opaque` once removed.
            unsafe { ff(opaque as *mut c_void) };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static FIRED: AtomicUsize = AtomicUsize::new(0);
    static FREED: AtomicUsize = AtomicUsize::new(0);
    static READ: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn on_timer(_timer: c_int, _opaque: *mut c_void) {
        FIRED.fetch_add(1, Ordering::SeqCst);
    }

    unsafe extern "C" fn on_free(_opaque: *mut c_void) {
        FREED.fetch_add(1, Ordering::SeqCst);
    }

    unsafe extern "C" fn on_readable(_watch: c_int, fd: c_int, events: c_int, _o: *mut c_void) {
        assert_ne!(events & VIR_EVENT_HANDLE_READABLE as c_int, 0);
        let mut b = [0u8; 8];
        // SAFETY: reads into a local buffer.
        unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) };
        READ.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn default_loop_runs_timers_and_handles_and_frees() {
        // SAFETY: it takes no arguments.
        assert_eq!(unsafe { virEventRegisterDefaultImpl() }, 0);
        unsafe {
            let timer = virEventAddTimeout(0, Some(on_timer), std::ptr::null_mut(), Some(on_free));
            assert!(timer > 0);
            assert_eq!(virEventRunDefaultImpl(), 0);
            assert!(FIRED.load(Ordering::SeqCst) >= 1);
            assert_eq!(virEventRemoveTimeout(timer), 0);
            assert_eq!(virEventRemoveTimeout(timer), -1);

            let mut p = [0; 2];
            assert_eq!(libc::pipe(p.as_mut_ptr()), 0);
            let watch = virEventAddHandle(
                p[0],
                VIR_EVENT_HANDLE_READABLE as c_int,
                Some(on_readable),
                std::ptr::null_mut(),
                Some(on_free),
            );
            assert!(watch > 0);
            assert_eq!(libc::write(p[1], b"x".as_ptr().cast(), 1), 1);
            assert_eq!(virEventRunDefaultImpl(), 0);
            assert_eq!(READ.load(Ordering::SeqCst), 1);
            assert_eq!(virEventRemoveHandle(watch), 0);
            assert_eq!(virEventRunDefaultImpl(), 0);
            assert_eq!(FREED.load(Ordering::SeqCst), 2);
            libc::close(p[0]);
            libc::close(p[1]);
        }
    }
}
