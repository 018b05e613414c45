//! The handles C holds: connections and domains, reference counted as libvirt's objects
//! are, and known by address so that a pointer C passes back is checked before use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::types::{virConnect, virDomain};

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
