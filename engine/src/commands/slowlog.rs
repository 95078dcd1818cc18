//! SLOWLOG: commands that ran longer than `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, each with
//! Redis's trimming (32 arguments, 128 bytes an argument) and redaction of
//! secrets (AUTH, HELLO AUTH, CONFIG SET of a password, MIGRATE AUTH).
//!
//! Durations come from the microsecond clock a runtime lends the node
//! (`Node::set_clock`); without one (the simulator, tests) every command
//! takes 0 µs, so a threshold of 0 still logs everything, deterministically.

use std::collections::VecDeque;

use super::{eq_ic, Ctx, Handler};
use crate::protocol::Reply;

/// `SLOWLOG_ENTRY_MAX_ARGC` and `SLOWLOG_ENTRY_MAX_STRING`.
const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    /// Unix time, seconds.
    pub time: u64,
    pub duration_us: u64,
    pub argv: Vec<Vec<u8>>,
    pub peer: String,
    pub name: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
pub struct SlowLog {
    /// Newest first.
    pub entries: VecDeque<Entry>,
    pub next_id: u64,
}

impl SlowLog {
    /// `slowlogPushEntryIfNeeded`.
    #[allow(clippy::too_many_arguments)]
    pub fn push_if_needed(
        &mut self,
        slower_than: i64,
        max_len: usize,
        argv: &[Vec<u8>],
        duration_us: u64,
        time: u64,
        peer: &str,
        name: &[u8],
    ) {
        if slower_than < 0 {
            return;
        }
        if duration_us >= slower_than as u64 {
            let argv = redact(argv);
            let argc = argv.len().min(MAX_ARGC);
            let mut kept: Vec<Vec<u8>> = Vec::with_capacity(argc);
            for (j, a) in argv.iter().take(argc).enumerate() {
                if argc != argv.len() && j == argc - 1 {
                    kept.push(
                        format!("... ({} more arguments)", argv.len() - argc + 1).into_bytes(),
                    );
                } else if a.len() > MAX_STRING {
                    let mut s = a[..MAX_STRING].to_vec();
                    s.extend_from_slice(
                        format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                    );
                    kept.push(s);
                } else {
                    kept.push(a.clone());
                }
            }
            self.entries.push_front(Entry {
                id: self.next_id,
                time,
                duration_us,
                argv: kept,
                peer: peer.to_string(),
                name: name.to_vec(),
            });
            self.next_id += 1;
        }
        while self.entries.len() > max_len {
            self.entries.pop_back();
        }
    }
}

/// The arguments Redis replaces with "(redacted)" before logging.
pub(super) fn redact(argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = argv.to_vec();
    let hide = |v: &mut Vec<u8>| *v = b"(redacted)".to_vec();
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    match name.as_str() {
        "auth" => out[1..].iter_mut().for_each(hide),
        "hello" => {
            let mut i = 2;
            while i < out.len() {
                if eq_ic(&out[i], "auth") && i + 2 < out.len() {
                    hide(&mut out[i + 1]);
                    hide(&mut out[i + 2]);
                    i += 3;
                } else if eq_ic(&out[i], "setname") && i + 1 < out.len() {
                    i += 2;
                } else {
                    i += 1;
                }
            }
        }
        "config" if out.len() > 3 && eq_ic(&out[1], "set") => {
            let mut i = 2;
            while i + 1 < out.len() {
                if eq_ic(&out[i], "masterauth") || eq_ic(&out[i], "requirepass") {
                    hide(&mut out[i + 1]);
                }
                i += 2;
            }
        }
        "migrate" => {
            let mut i = 6;
            while i < out.len() {
                if eq_ic(&out[i], "auth") && i + 1 < out.len() {
                    hide(&mut out[i + 1]);
                    i += 2;
                } else if eq_ic(&out[i], "auth2") && i + 2 < out.len() {
                    hide(&mut out[i + 1]);
                    hide(&mut out[i + 2]);
                    i += 3;
                } else if eq_ic(&out[i], "keys") {
                    break;
                } else {
                    i += 1;
                }
            }
        }
        _ => {}
    }
    out
}

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "slowlog|get" => get,
        "slowlog|len" => |c, _| Reply::Int(c.srv.slowlog.entries.len() as i64),
        "slowlog|reset" => |c, _| {
            c.srv.slowlog.entries.clear();
            Reply::ok()
        },
        "slowlog|help" => |c, _| c.table.help["slowlog"].clone(),
        _ => return None,
    })
}

fn get(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut count = 10usize;
    if argv.len() == 3 {
        match super::parse_int(&argv[2]) {
            Ok(-1) => count = ctx.srv.slowlog.entries.len(),
            Ok(n) if n >= 0 => count = n as usize,
            _ => return Reply::err("ERR count should be greater than or equal to -1"),
        }
    }
    Reply::Array(
        ctx.srv
            .slowlog
            .entries
            .iter()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.time as i64),
                    Reply::Int(e.duration_us as i64),
                    Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::bulk(&e.peer),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    #[test]
    fn trims_and_redacts_as_redis() {
        let mut log = SlowLog::default();
        let mut long = a(&["sadd", "set"]);
        long.extend((3..=33).map(|i| i.to_string().into_bytes()));
        log.push_if_needed(0, 10, &long, 5, 1, "127.0.0.1:1", b"");
        let e = &log.entries[0];
        assert_eq!(e.argv.len(), 32);
        assert_eq!(e.argv[31], b"... (2 more arguments)".to_vec());
        log.push_if_needed(0, 10, &[b"set".to_vec(), vec![b'A'; 129]], 5, 1, "x", b"");
        assert!(log.entries[0].argv[1].ends_with(b"A... (1 more bytes)"));
        log.push_if_needed(
            0,
            10,
            &a(&["config", "set", "requirepass", "s3cret"]),
            1,
            1,
            "x",
            b"",
        );
        assert_eq!(log.entries[0].argv[3], b"(redacted)".to_vec());
        log.push_if_needed(
            0,
            10,
            &a(&["migrate", "h", "1", "k", "0", "5", "AUTH2", "u", "p"]),
            1,
            1,
            "x",
            b"",
        );
        assert_eq!(
            &log.entries[0].argv[7..],
            &a(&["(redacted)", "(redacted)"])[..]
        );
        // Below the threshold, or disabled: nothing; the length is capped.
        log.push_if_needed(100, 10, &a(&["ping"]), 99, 1, "x", b"");
        log.push_if_needed(-1, 10, &a(&["ping"]), 1000, 1, "x", b"");
        assert_eq!(log.entries.len(), 4);
        log.push_if_needed(0, 2, &a(&["ping"]), 0, 1, "x", b"");
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[0].id, 4);
    }
}
