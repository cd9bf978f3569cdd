//! Giving memory back after connections close.
//!
//! glibc's malloc keeps what a worker thread freed in that thread's arena:
//! after a burst of connections (2,000 stalled uploads, say) the API's RSS
//! stayed at its peak. `malloc_trim` returns the free pages of every arena
//! to the system; it runs when connections have closed since the last
//! look (measured by `scripts/bench stalled`).

use std::time::Duration;

use crate::shutdown::Connections;

/// How often closed connections are looked for.
const EVERY: Duration = Duration::from_secs(5);

/// When to trim once more after the last trim for closes: tokio ends a
/// blocking thread 10 s after its last task, and a thread that ends gives
/// its malloc cache back only then.
const AFTER_THREADS_END: Duration = Duration::from_secs(15);

/// Start the thread that trims the heap after connections close.
pub fn trim_after_closes(connections: Connections) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(move || {
            let mut closed_before = connections.closed();
            let mut again_at = None;
            loop {
                std::thread::sleep(EVERY);
                let closed = connections.closed();
                if closed != closed_before {
                    closed_before = closed;
                    trim();
                    again_at = Some(std::time::Instant::now() + AFTER_THREADS_END);
                } else if again_at.is_some_and(|at| std::time::Instant::now() >= at) {
                    again_at = None;
                    trim();
                }
            }
        })?;
    Ok(())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

// Other allocators return memory by themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
