//! The log file: re-opened on SIGHUP (after logrotate moved it) and, with
//! `watch_log_file`, whenever the path no longer names the open file, as
//! oslo.log's `WatchedFileHandler`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A handle on the log file; clones share the open file.
#[derive(Debug, Clone)]
pub struct LogFile {
    path: PathBuf,
    watch: bool,
    open: Arc<Mutex<Open>>,
}

#[derive(Debug)]
struct Open {
    file: File,
    /// (device, inode) of `file`, to notice that the path moved on.
    id: (u64, u64),
}

fn open(path: &Path) -> io::Result<Open> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let m = file.metadata()?;
    Ok(Open {
        file,
        id: (m.dev(), m.ino()),
    })
}

impl LogFile {
    pub fn open(path: PathBuf, watch: bool) -> io::Result<LogFile> {
        let open = open(&path)?;
        Ok(LogFile {
            path,
            watch,
            open: Arc::new(Mutex::new(open)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open the path again; later records go to the file it names now.
    pub fn reopen(&self) -> io::Result<()> {
        let fresh = open(&self.path)?;
        *self.lock() = fresh;
        Ok(())
    }

    fn moved(&self, id: (u64, u64)) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(m) => (m.dev(), m.ino()) != id,
            Err(_) => true,
        }
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut open = self.lock();
        if self.watch && self.moved(open.id) {
            // A failed re-open keeps writing to the old file: a record
            // somewhere beats none.
            if let Ok(fresh) = self::open(&self.path) {
                *open = fresh;
            }
        }
        open.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_follows_a_rotated_path() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.log");
        let mut f = LogFile::open(path.clone(), false).unwrap();
        f.write_all(b"one\n").unwrap();
        std::fs::rename(&path, tmp.path().join("x.log.1")).unwrap();
        f.write_all(b"two\n").unwrap();
        f.reopen().unwrap();
        f.write_all(b"three\n").unwrap();
        let old = std::fs::read_to_string(tmp.path().join("x.log.1")).unwrap();
        assert_eq!(old, "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }

    #[test]
    fn a_watched_file_follows_by_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.log");
        let mut f = LogFile::open(path.clone(), true).unwrap();
        f.write_all(b"one\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        f.write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
    }
}
