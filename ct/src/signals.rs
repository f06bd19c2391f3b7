//! Removing temporary files when the process is interrupted.
//!
//! `ct fetch` and `ct pack` write beside (or away from) their output and
//! rename into place only once the result is verified; an error drops the
//! temporary file. A signal (Ctrl-C, `kill`, a closed terminal) would skip
//! those destructors and leave a multi-gigabyte `.NAME.XXXX.tmp` behind.
//! So while a [`Cleanup`] lives, SIGINT, SIGTERM and SIGHUP are taken by a
//! thread (signal-hook's self-pipe: no work in signal context, no `unsafe`)
//! that removes the registered paths and then lets the signal do what it
//! would have done: the process dies of it, as the shell expects.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use signal_hook::low_level::emulate_default_handler;

/// Paths removed if the process is interrupted before this is dropped.
#[derive(Debug)]
pub struct Cleanup {
    paths: Arc<Mutex<Vec<PathBuf>>>,
}

impl Cleanup {
    /// Starts watching for SIGINT, SIGTERM and SIGHUP. If the watch cannot
    /// be set up the default dispositions stay (and temporaries may be left
    /// on a signal, as without this).
    pub fn install() -> Self {
        let paths: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        if let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            let watched = Arc::clone(&paths);
            std::thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    // The lock may be poisoned if its holder panicked; the
                    // paths are still worth removing.
                    let list = watched.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    for p in list {
                        remove(&p);
                    }
                    let _ = emulate_default_handler(sig);
                    // Reached only for a signal whose default is to be ignored.
                    std::process::exit(128 + sig);
                }
            });
        }
        Cleanup { paths }
    }

    /// Removes `path` (a file or a directory tree) should a signal come.
    pub fn watch(&self, path: &Path) {
        self.paths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(path.to_path_buf());
    }
}

impl Drop for Cleanup {
    /// Committed or already dropped: nothing is left to remove. The thread
    /// stays (a signal now just has its default effect).
    fn drop(&mut self) {
        self.paths.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn remove(p: &Path) {
    if p.is_dir() {
        let _ = std::fs::remove_dir_all(p);
    } else {
        let _ = std::fs::remove_file(p);
    }
}
