//! The handles C holds: connections and the objects that belong to one (domains, and
//! whatever kind comes next), reference counted as libvirt's objects are, and known by
//! address so that a pointer C passes back is checked before use.
//!
//! A new kind of object is a type in `types`, a [`Registry`] here and an [`Object`]
//! implementation: `Call::object` then checks its pointers, and [`adopt`], `add_ref` and
//! [`release`] give it libvirt's life cycle (`virXxxRef`, `virXxxFree`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::types::{virConnect, virDomain};
use crate::abi::virErrorDomain::{self, VIR_FROM_DOM};
use crate::abi::virErrorNumber::{self, VIR_ERR_INVALID_DOMAIN};

/// A kind of object C holds that belongs to a connection, and keeps a C reference on it.
pub(super) trait Object: Sized + 'static {
    /// libvirt's code and domain for a pointer that names no live object of this kind
    /// ("invalid domain pointer in virDomainGetName").
    const INVALID: (virErrorNumber, virErrorDomain);

    /// Where the live objects of this kind are kept.
    fn registry() -> &'static Registry<Self>;

    /// The connection the object belongs to.
    fn conn(&self) -> &Arc<virConnect>;
}

impl Object for virDomain {
    const INVALID: (virErrorNumber, virErrorDomain) = (VIR_ERR_INVALID_DOMAIN, VIR_FROM_DOM);

    fn registry() -> &'static Registry<Self> {
        &DOMAINS
    }

    fn conn(&self) -> &Arc<virConnect> {
        &self.conn
    }
}

/// Hands `obj` to C with one reference; it holds a reference on its connection.
pub(super) fn adopt<T: Object>(obj: T) -> *mut T {
    CONNECTIONS.add_ref(Arc::as_ptr(obj.conn()).cast_mut());
    T::registry().insert(obj)
}

/// Drops one C reference to `ptr`; the last one lets go of the object and of its hold
/// on the connection. False if `ptr` names no live object.
pub(super) fn release<T: Object>(ptr: *mut T) -> bool {
    match T::registry().release(ptr) {
        None => false,
        Some(Released::Kept) => true,
        Some(Released::Gone(obj)) => {
            CONNECTIONS.release(Arc::as_ptr(obj.conn()).cast_mut());
            true
        }
    }
}

/// The live objects of one kind, by address, with their C reference counts.
pub(super) struct Registry<T> {
    live: Mutex<BTreeMap<usize, Entry<T>>>,
}

struct Entry<T> {
    refs: usize,
    obj: Arc<T>,
}

/// What dropping a reference left.
pub(super) enum Released<T> {
    /// Other references remain.
    Kept,
    /// That was the last reference; here is the object, now out of the registry.
    Gone(Arc<T>),
}

impl<T> Registry<T> {
    const fn new() -> Self {
        Registry {
            live: Mutex::new(BTreeMap::new()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, Entry<T>>> {
        // Registry updates are single map operations: a panic cannot leave one half done.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `obj` with one reference and returns the pointer C will hold.
    pub fn insert(&self, obj: T) -> *mut T {
        let obj = Arc::new(obj);
        let ptr = Arc::as_ptr(&obj).cast_mut();
        self.live().insert(ptr as usize, Entry { refs: 1, obj });
        ptr
    }

    /// The object behind `ptr`, if `ptr` is a live handle.
    pub fn get(&self, ptr: *mut T) -> Option<Arc<T>> {
        self.live().get(&(ptr as usize)).map(|e| Arc::clone(&e.obj))
    }

    /// Adds a reference; false if `ptr` is not a live handle.
    pub fn add_ref(&self, ptr: *mut T) -> bool {
        match self.live().get_mut(&(ptr as usize)) {
            Some(e) => {
                e.refs += 1;
                true
            }
            None => false,
        }
    }

    /// Drops a reference; None if `ptr` is not a live handle.
    pub fn release(&self, ptr: *mut T) -> Option<Released<T>> {
        let mut live = self.live();
        let entry = live.get_mut(&(ptr as usize))?;
        entry.refs -= 1;
        if entry.refs > 0 {
            return Some(Released::Kept);
        }
        live.remove(&(ptr as usize)).map(|e| Released::Gone(e.obj))
    }
}

pub(super) static CONNECTIONS: Registry<virConnect> = Registry::new();
pub(super) static DOMAINS: Registry<virDomain> = Registry::new();
