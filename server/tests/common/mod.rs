//! Helpers the server's end-to-end tests share.

use std::time::{Duration, Instant};

/// `n` consecutive free ports on 127.0.0.1, each with its cluster bus port
/// (`+ 10000`) free too, from 12000–21999: below the kernel's ephemeral range,
/// so no outgoing connection can take one before the server binds it. Never
/// the same base twice in this process.
pub fn free_base(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7919) % 10000;
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    loop {
        let at = (start + NEXT.fetch_add(u32::from(n), Ordering::SeqCst)) % 10000;
        let p = 12000 + at as u16;
        if p + n <= 22000 && (0..n).all(|i| free(p + i) && free(p + i + 10000)) {
            return p;
        }
    }
}

/// Polls `f` every 50 ms until it holds; panics after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
