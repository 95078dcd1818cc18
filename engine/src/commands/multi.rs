//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH, as multi.c in Redis 7.0.
//! Inside MULTI, [`super::dispatch`] queues commands (answering QUEUED) and
//! flags the transaction when one is refused (EXECABORT at EXEC). WATCH
//! records keys; any change to one by a command — another client's write,
//! an expiry deletion, a flush — marks the watching clients (EXEC then
//! answers a null array), and so does a watched key found logically
//! expired at EXEC that was not expired when watched.

use super::{Ctx, Handler};
use crate::protocol::Reply;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "multi" => multi,
        "exec" => exec,
        "discard" => discard,
        "watch" => watch,
        "unwatch" => unwatch,
        _ => return None,
    })
}

/// A client's transaction state.
#[derive(Clone, Debug, Default)]
pub struct MultiState {
    /// Queued commands while in MULTI.
    pub queue: Option<Vec<Vec<Vec<u8>>>>,
    /// A command was refused while queueing (EXECABORT).
    pub dirty_exec: bool,
    /// A watched key changed (EXEC answers a null array).
    pub dirty_cas: bool,
    /// (db, key, expired when watched).
    pub watched: Vec<(usize, Vec<u8>, bool)>,
}

fn multi(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let c = ctx.client_mut();
    if c.multi.queue.is_some() {
        return Reply::err("ERR MULTI calls can not be nested");
    }
    c.multi.queue = Some(Vec::new());
    Reply::ok()
}

fn discard(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    if ctx.client().is_none_or(|c| c.multi.queue.is_none()) {
        return Reply::err("ERR DISCARD without MULTI");
    }
    discard_transaction(ctx);
    Reply::ok()
}

/// Leaves MULTI and forgets watched keys (DISCARD, EXEC, RESET).
pub fn discard_transaction(ctx: &mut Ctx) {
    let conn = ctx.conn;
    let c = ctx.client_mut();
    c.multi.queue = None;
    c.multi.dirty_exec = false;
    c.multi.dirty_cas = false;
    unwatch_all(ctx.srv, conn);
}

/// Ends `conn`'s transaction without running it (an EXEC refused before it
/// ran, as `execCommandAbort` discards it).
pub fn abort_exec(srv: &mut crate::node::Server, conn: crate::ConnId) {
    if let Some(c) = srv.clients.get_mut(&conn) {
        c.multi.queue = None;
        c.multi.dirty_exec = false;
        c.multi.dirty_cas = false;
    }
    unwatch_all(srv, conn);
}

/// Forgets every key `conn` watches.
pub fn unwatch_all(srv: &mut crate::node::Server, conn: crate::ConnId) {
    let Some(c) = srv.clients.get_mut(&conn) else {
        return;
    };
    for (db, key, _) in std::mem::take(&mut c.multi.watched) {
        let id = (db, key);
        if let Some(v) = srv.watched.get_mut(&id) {
            v.retain(|x| *x != conn);
            if v.is_empty() {
                srv.watched.remove(&id);
            }
        }
    }
}

fn watch(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if ctx.client().is_some_and(|c| c.multi.queue.is_some()) {
        return Reply::err("ERR WATCH inside MULTI is not allowed");
    }
    let db = ctx.db_index();
    let conn = ctx.conn;
    let now = ctx.now;
    for k in &argv[1..] {
        if ctx
            .client()
            .is_some_and(|c| c.multi.watched.iter().any(|(d, w, _)| *d == db && w == k))
        {
            continue;
        }
        let d = &ctx.srv.ks.dbs[db];
        let expired = d.peek(k).is_some() && d.expire_at(k).is_some_and(|at| at <= now);
        ctx.client_mut()
            .multi
            .watched
            .push((db, k.clone(), expired));
        ctx.srv
            .watched
            .entry((db, k.clone()))
            .or_default()
            .push(conn);
        ctx.srv.ks.watch(db);
    }
    Reply::ok()
}

fn unwatch(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let conn = ctx.conn;
    unwatch_all(ctx.srv, conn);
    ctx.client_mut().multi.dirty_cas = false;
    Reply::ok()
}

/// Marks clients watching `key` in `db` (`touchWatchedKey`).
pub fn touch_watched(srv: &mut crate::node::Server, db: usize, key: &[u8]) {
    let id = (db, key.to_vec());
    let Some(conns) = srv.watched.get(&id).cloned() else {
        return;
    };
    let exists = srv.ks.dbs[db].peek(key).is_some();
    for conn in conns {
        let Some(c) = srv.clients.get_mut(&conn) else {
            continue;
        };
        let expired_when_watched = c
            .multi
            .watched
            .iter()
            .any(|(d, k, e)| *d == db && k == key && *e);
        if expired_when_watched {
            if !exists {
                // The expired key was deleted: logically no change.
                for w in c.multi.watched.iter_mut() {
                    if w.0 == db && w.1 == key {
                        w.2 = false;
                    }
                }
                continue;
            }
            break;
        }
        c.multi.dirty_cas = true;
        unwatch_all(srv, conn);
    }
}

/// Marks watchers of every key of `db` that exists (FLUSHDB, FLUSHALL, SWAPDB).
pub fn touch_all_watched(srv: &mut crate::node::Server, db: usize) {
    let keys: Vec<Vec<u8>> = srv
        .watched
        .keys()
        .filter(|(d, k)| *d == db && srv.ks.dbs[db].peek(k).is_some())
        .map(|(_, k)| k.clone())
        .collect();
    for k in keys {
        touch_watched(srv, db, &k);
    }
}

fn exec(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let Some(c) = ctx.client() else {
        return Reply::err("ERR EXEC without MULTI");
    };
    if c.multi.queue.is_none() {
        return Reply::err("ERR EXEC without MULTI");
    }
    // A watched key that expired since WATCH aborts too.
    let expired = c.multi.watched.iter().any(|(db, k, was)| {
        !was && {
            let d = &ctx.srv.ks.dbs[*db];
            d.peek(k).is_some() && d.expire_at(k).is_some_and(|at| at <= now)
        }
    });
    let (dirty_exec, dirty_cas) = (c.multi.dirty_exec, c.multi.dirty_cas || expired);
    if dirty_exec || dirty_cas {
        discard_transaction(ctx);
        return if dirty_exec {
            Reply::err("EXECABORT Transaction discarded because of previous errors.")
        } else {
            Reply::NilArray
        };
    }
    let queue = ctx.client_mut().multi.queue.take().unwrap_or_default();
    let conn = ctx.conn;
    unwatch_all(ctx.srv, conn);
    ctx.client_mut().in_multi = true;
    let mut replies = Vec::with_capacity(queue.len());
    for argv in &queue {
        let r = super::dispatch(ctx, argv);
        ctx.srv.stats.error_reply(&r);
        replies.push(r);
        if ctx.client().is_none() {
            break;
        }
    }
    if let Some(c) = ctx.srv.clients.get_mut(&conn) {
        c.in_multi = false;
    }
    Reply::Array(replies)
}
