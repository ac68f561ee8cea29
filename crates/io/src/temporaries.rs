//! The temporaries of a run: every temporary file and folder an output is written into is
//! registered here until it is renamed into place, so that a front end's signal handler
//! ([`remove_all`]) leaves nothing behind. A swap of an output into place runs under
//! [`critical`], so a signal waits for it to finish rather than leaving an output half-moved.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temporaries() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remove every registered temporary (what a signal handler calls before the process exits);
/// the registry is held, so no swap into place is half done.
pub fn remove_all() {
    let list = temporaries();
    for p in list.iter() {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(p);
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
    // the process exits next: keep the registry held so that no new swap starts
    std::mem::forget(list);
}

/// A temporary path removed by the handler until this guard is dropped (after the temporary
/// was renamed into place, or removed by its owner).
pub struct Registered(PathBuf);

impl Registered {
    /// Register `path`.
    pub fn new(path: &Path) -> Self {
        temporaries().push(path.to_path_buf());
        Self(path.to_path_buf())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut list = temporaries();
        if let Some(i) = list.iter().rposition(|p| *p == self.0) {
            list.swap_remove(i);
        }
    }
}

/// Run `f` with the handler held off: a signal during `f` is served when it returns.
pub fn critical<T>(f: impl FnOnce() -> T) -> T {
    let _held = temporaries();
    f()
}
