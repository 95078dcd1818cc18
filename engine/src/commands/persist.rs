//! SAVE, BGSAVE [SCHEDULE], LASTSAVE, as rdb.c answers them; the files are
//! written by the runtime (`persistence::save`).

use super::{Ctx, Handler};
use crate::node::{Blocked, Server};
use crate::persistence::save::{BgSave, SaveRequest};
use crate::protocol::Reply;
use crate::time::Millis;

const IN_PROGRESS: &str = "ERR Background save already in progress";

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "save" => save,
        "bgsave" => bgsave,
        "lastsave" => |ctx, _| Reply::Int(ctx.srv.persist.lastsave as i64),
        _ => return None,
    })
}

/// The dirty counter: key modifications since the last successful save.
pub fn dirty(srv: &Server) -> u64 {
    let total: u64 = srv.ks.dbs.iter().map(|d| d.modifications).sum();
    total.saturating_sub(srv.persist.dirty_base)
}

pub fn modifications(srv: &Server) -> u64 {
    srv.ks.dbs.iter().map(|d| d.modifications).sum()
}

/// The RDB of the whole dataset now, with `rdbcompression` and
/// `rdbchecksum` as configured.
pub fn file(srv: &Server, meta: &crate::persistence::rdb::Meta, now: Millis) -> Vec<u8> {
    use crate::persistence::rdb;
    let compress = srv.config.get("rdbcompression") != Some("no");
    let checksum = srv.config.get("rdbchecksum") != Some("no");
    rdb::with_compression(compress, || {
        rdb::with_checksum(checksum, || rdb::save(&srv.ks, meta, now))
    })
}

/// The point-in-time file of the whole dataset; a background one is a
/// "fork" whose cost is recorded ([`crate::persistence::save::ForkCost`]).
fn request(srv: &mut Server, now: Millis, background: bool) -> u64 {
    let meta = crate::persistence::rdb::Meta {
        repl_id: srv.repl.replid.clone(),
        repl_offset: srv.repl.offset,
    };
    let t0 = srv.micros();
    let rdb = file(srv, &meta, now);
    if background {
        let usec = srv.micros().saturating_sub(t0);
        fork_taken(srv, usec, rdb.len());
    }
    let p = &mut srv.persist;
    let id = p.next_id;
    p.next_id += 1;
    p.saves += 1;
    p.out.push(SaveRequest {
        id,
        background,
        dir: srv.config.get("dir").unwrap_or(".").to_string(),
        dbfilename: srv
            .config
            .get("dbfilename")
            .unwrap_or("dump.rdb")
            .to_string(),
        rdb,
    });
    id
}

/// A background snapshot was taken: its pause and its copy.
pub fn fork_taken(srv: &mut Server, usec: u64, bytes: usize) {
    let p = &mut srv.persist;
    p.last_fork = crate::persistence::save::ForkCost {
        usec,
        bytes: bytes as u64,
    };
    p.total_forks += 1;
}

/// rdbSaveBackground: the snapshot taken now, the file written by the
/// runtime while the node serves on.
pub fn start_bgsave(srv: &mut Server, now: Millis) {
    let dirty_at_start = modifications(srv);
    let keys = srv.ks.total_keys();
    let id = request(srv, now, true);
    let p = &mut srv.persist;
    p.last_try = now.as_secs();
    p.scheduled = false;
    let bytes = p.last_fork.bytes;
    p.bg = Some(BgSave {
        id,
        started: now,
        dirty_at_start,
        keys,
        bytes,
    });
}

fn save(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    if ctx.srv.persist.bg.is_some() {
        return Reply::err(IN_PROGRESS);
    }
    let at = modifications(ctx.srv);
    let id = request(ctx.srv, ctx.now, false);
    ctx.srv.persist.foreground = Some((id, ctx.conn, at));
    // The caller waits for the runtime's answer (`Node::save_done`).
    ctx.block(Blocked::Save);
    Reply::Seq(Vec::new())
}

fn bgsave(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let schedule = match argv.len() {
        1 => false,
        2 if super::eq_ic(&argv[1], "schedule") => true,
        _ => return super::err_syntax(),
    };
    if ctx.srv.persist.bg.is_some() {
        return Reply::err(IN_PROGRESS);
    }
    let in_exec = ctx.client().is_some_and(|c| c.in_multi);
    if in_exec || (schedule && ctx.srv.persist.foreground.is_some()) {
        ctx.srv.persist.scheduled = true;
        return Reply::Simple("Background saving scheduled".into());
    }
    start_bgsave(ctx.srv, ctx.now);
    Reply::Simple("Background saving started".into())
}

/// FLUSHALL's part of flushAllDataAndResetRDB.
pub fn after_flushall(srv: &mut Server, now: Millis) {
    // The "child" is killed: its result, when it comes, is ignored.
    srv.persist.bg = None;
    if srv.config.get("save").unwrap_or("").trim().is_empty() {
        return;
    }
    let at = modifications(srv);
    let id = request(srv, now, false);
    srv.persist.internal = Some((id, at));
}

/// serverCron's part: a scheduled BGSAVE, or a `save` point reached.
pub fn cron(srv: &mut Server, now: Millis) -> Option<String> {
    let p = &srv.persist;
    if p.bg.is_some() || p.foreground.is_some() {
        return None;
    }
    if p.scheduled {
        start_bgsave(srv, now);
        return None;
    }
    let secs = now.as_secs();
    let dirty = dirty(srv);
    let p = &srv.persist;
    let points = crate::persistence::save::save_points(srv.config.get("save").unwrap_or(""));
    let due = points.into_iter().find(|&(s, changes)| {
        dirty >= changes
            && secs.saturating_sub(p.lastsave) > s
            && (secs.saturating_sub(p.last_try) > 5 || !p.last_bg_failed)
    })?;
    start_bgsave(srv, now);
    Some(format!("{} changes in {} seconds. Saving...", due.1, due.0))
}

/// MISCONF: a failed background save stops writes (and PING) while `save`
/// points are set and `stop-writes-on-bgsave-error` is yes.
pub fn writes_denied(srv: &Server) -> bool {
    srv.persist.last_bg_failed
        && srv.config.get("stop-writes-on-bgsave-error") == Some("yes")
        && !srv.config.get("save").unwrap_or("").trim().is_empty()
}

pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// INFO persistence, with Redis 7.0's fields.
pub fn info(srv: &Server, now: Millis) -> Vec<(String, String)> {
    let p = &srv.persist;
    let bg = p.bg.as_ref();
    let f = |k: &str, v: String| (k.to_string(), v);
    vec![
        f("loading", "0".into()),
        f("async_loading", "0".into()),
        f("current_cow_peak", bg.map_or(0, |b| b.bytes).to_string()),
        f("current_cow_size", bg.map_or(0, |b| b.bytes).to_string()),
        f("current_cow_size_age", "0".into()),
        // The snapshot is whole from the start (only the write remains).
        f(
            "current_fork_perc",
            if bg.is_some() { "100.00" } else { "0.00" }.into(),
        ),
        f(
            "current_save_keys_processed",
            bg.map_or(0, |b| b.keys).to_string(),
        ),
        f(
            "current_save_keys_total",
            bg.map_or(0, |b| b.keys).to_string(),
        ),
        f("rdb_changes_since_last_save", dirty(srv).to_string()),
        f("rdb_bgsave_in_progress", (bg.is_some() as u8).to_string()),
        f("rdb_last_save_time", p.lastsave.to_string()),
        f(
            "rdb_last_bgsave_status",
            if p.last_bg_failed { "err" } else { "ok" }.into(),
        ),
        f("rdb_last_bgsave_time_sec", p.last_bg_secs.to_string()),
        f(
            "rdb_current_bgsave_time_sec",
            bg.map_or(-1, |b| (now.0.saturating_sub(b.started.0) / 1000) as i64)
                .to_string(),
        ),
        f("rdb_saves", p.saves.to_string()),
        f("rdb_last_cow_size", p.last_cow_size.to_string()),
        f("rdb_last_load_keys_expired", "0".into()),
        f("rdb_last_load_keys_loaded", "0".into()),
        f("aof_enabled", "0".into()),
        f("aof_rewrite_in_progress", "0".into()),
        f("aof_rewrite_scheduled", "0".into()),
        f("aof_last_rewrite_time_sec", "-1".into()),
        f("aof_current_rewrite_time_sec", "-1".into()),
        f("aof_last_bgrewrite_status", "ok".into()),
        f("aof_rewrites", "0".into()),
        f("aof_rewrites_consecutive_failures", "0".into()),
        f("aof_last_write_status", "ok".into()),
        f("aof_last_cow_size", "0".into()),
        f("module_fork_in_progress", "0".into()),
        f("module_fork_last_cow_size", "0".into()),
    ]
}
