//! MONITOR: connections that see every command the node runs, as one
//! status line each — `+<unix secs>.<usecs> [<db> <peer>] "arg" …` — in
//! execution order (a transaction's commands, then EXEC; a script's
//! EVAL, then its `[<db> lua]` calls). Administrative commands (CONFIG,
//! DEBUG, …) are never shown, and secrets are redacted as in SLOWLOG.

use super::{Command, Ctx, Handler};
use crate::node::Server;
use crate::protocol::Reply;
use crate::time::Millis;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "monitor" => monitor,
        _ => return None,
    })
}

/// MONITOR: the caller becomes a monitor (in a transaction it is refused
/// by the command's no-multi flag; a second MONITOR is a no-op).
fn monitor(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let conn = ctx.conn;
    if ctx.client().is_some_and(|c| c.monitor) {
        return Reply::ok();
    }
    ctx.client_mut().monitor = true;
    ctx.srv.monitors.push(conn);
    Reply::ok()
}

/// Stops `conn` monitoring (RESET, a closed connection).
pub fn forget(srv: &mut Server, conn: crate::ConnId) {
    srv.monitors.retain(|c| *c != conn);
    if let Some(c) = srv.clients.get_mut(&conn) {
        c.monitor = false;
    }
}

/// `sdscatrepr`: a double-quoted string with C escapes for the bytes that
/// are not printable.
pub fn repr(s: &[u8], out: &mut String) {
    out.push('"');
    for &b in s {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// Is this command shown to monitors after it runs? EVAL, EVALSHA, FCALL
/// and their read-only forms show themselves before their calls instead.
pub fn shown(cmd: &Command) -> bool {
    !cmd.flags
        .iter()
        .any(|f| f == "admin" || f == "skip_monitor")
}

/// `replicationFeedMonitors`: the line for `argv`, run by `peer` (None for
/// a script's own calls) on database `db`, to every monitor.
pub fn feed(srv: &mut Server, now: Millis, db: usize, peer: Option<&str>, argv: &[Vec<u8>]) {
    if srv.monitors.is_empty() {
        return;
    }
    let mut line = format!("{}.{:06} ", now.0 / 1000, (now.0 % 1000) * 1000);
    match peer {
        Some(p) => line.push_str(&format!("[{db} {p}] ")),
        None => line.push_str(&format!("[{db} lua] ")),
    }
    let argv = super::slowlog::redact(argv);
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        repr(a, &mut line);
    }
    for m in srv.monitors.clone() {
        srv.pubsub_out.push((m, Reply::Simple(line.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_sdscatrepr() {
        let mut s = String::new();
        repr(b"a\"b\\c\n\x01\xff ok", &mut s);
        assert_eq!(s, r#""a\"b\\c\n\x01\xff ok""#);
    }
}
