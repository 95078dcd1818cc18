//! Blocking commands (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX
//! BZMPOP): a command that finds nothing to pop registers its client on
//! each key, first blocked first served; after every command the node
//! serves waiters whose key now holds a value of the right type, by running
//! the pop for exactly that key (as Redis 7.0's `serveClientsBlockedOnKey`
//! does), and answers the rest when their deadline passes.

use std::collections::VecDeque;

use super::streams::GroupRead;
use super::Ctx;
use crate::node::Blocked;
use crate::protocol::Reply;
use crate::store::number::LongDouble;
use crate::store::stream::StreamId;
use crate::store::Value;
use crate::time::Millis;

/// What a blocked client will do once one of its keys is ready.
#[derive(Clone, Debug, PartialEq)]
pub enum BlockOp {
    /// BLPOP/BRPOP (`count` None) and BLMPOP (`count` Some).
    ListPop { left: bool, count: Option<usize> },
    /// BLMOVE / BRPOPLPUSH.
    ListMove {
        dst: Vec<u8>,
        from_left: bool,
        to_left: bool,
    },
    /// BZPOPMIN/BZPOPMAX (`count` None) and BZMPOP (`count` Some).
    ZPop { max: bool, count: Option<usize> },
    /// XREAD / XREADGROUP BLOCK: entries after each key's ID (or the
    /// group's last delivered one).
    XRead {
        ids: Vec<(Vec<u8>, StreamId)>,
        count: usize,
        group: Option<GroupRead>,
    },
}

impl BlockOp {
    /// The non-blocking command this serving amounts to (for notifications).
    pub fn command_name(&self) -> &'static str {
        match self {
            BlockOp::ListPop { left: true, .. } => "lpop",
            BlockOp::ListPop { left: false, .. } => "rpop",
            BlockOp::ListMove { .. } => "lmove",
            BlockOp::ZPop { max: false, .. } => "zpopmin",
            BlockOp::ZPop { max: true, .. } => "zpopmax",
            BlockOp::XRead { .. } => "xread",
        }
    }
    /// An argv of that command on `key` (directions where they matter).
    pub fn as_argv(&self, key: &[u8]) -> Vec<Vec<u8>> {
        let side = |l: bool| {
            if l {
                b"LEFT".to_vec()
            } else {
                b"RIGHT".to_vec()
            }
        };
        match self {
            BlockOp::ListMove {
                dst,
                from_left,
                to_left,
            } => vec![
                b"LMOVE".to_vec(),
                key.to_vec(),
                dst.clone(),
                side(*from_left),
                side(*to_left),
            ],
            _ => vec![self.command_name().as_bytes().to_vec(), key.to_vec()],
        }
    }
    /// True if a value of this type can serve the op.
    pub fn wants(&self, v: &Value) -> bool {
        match self {
            BlockOp::ListPop { .. } | BlockOp::ListMove { .. } => matches!(v, Value::List(_)),
            BlockOp::ZPop { .. } => matches!(v, Value::ZSet(_)),
            BlockOp::XRead { .. } => matches!(v, Value::Stream(_)),
        }
    }
}

/// Whether the first client blocked on `id` with `op` can be served now:
/// a list/zset key holds the right type; a stream key was signalled by
/// the last command and has something for the client (or, for a group
/// read, lost its group or stopped being a stream).
pub fn ready(
    srv: &mut crate::node::Server,
    id: &(usize, Vec<u8>),
    op: &BlockOp,
    now: Millis,
) -> bool {
    match op {
        BlockOp::XRead { ids, group, .. } => {
            let signalled = srv.stream_ready.contains(id);
            let v = srv.ks.dbs[id.0].get(&id.1, now).map(|e| &e.value);
            // A group reader's stream deleted or overwritten (Redis
            // signals those keys too): answered with an error.
            if group.is_some() && !matches!(v, Some(Value::Stream(_))) {
                return true;
            }
            signalled && super::streams::blocked_ready(v, &id.1, ids, group)
        }
        _ => srv.ks.dbs[id.0]
            .get(&id.1, now)
            .is_some_and(|e| op.wants(&e.value)),
    }
}

/// `getTimeoutFromObjectOrReply(…, UNIT_SECONDS)`: seconds as a float,
/// rounded up to milliseconds; 0 blocks forever. Returns the deadline.
pub fn parse_timeout(b: &[u8], now: Millis) -> Result<Option<Millis>, Reply> {
    let bad = || Reply::err("ERR timeout is not a float or out of range");
    LongDouble::parse(b).map_err(|_| bad())?;
    let secs: f64 = std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let ms = (secs * 1000.0).ceil();
    // Past i64's range C's (long long) conversion yields LLONG_MIN on x86:
    // Redis then calls the timeout negative.
    if ms.is_nan() || ms < 0.0 || ms >= i64::MAX as f64 {
        return Err(Reply::err("ERR timeout is negative"));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(Some(Millis(
        now.0.saturating_add(ms.min(u64::MAX as f64 / 2.0) as u64),
    )))
}

/// Blocks the calling client on `keys` until one is ready or `deadline`.
/// The returned placeholder is not sent: the node answers later.
pub fn block(ctx: &mut Ctx, keys: &[Vec<u8>], deadline: Option<Millis>, op: BlockOp) -> Reply {
    let db = ctx.db_index();
    let conn = ctx.conn;
    for k in keys {
        let q = ctx.srv.blocking.entry((db, k.clone())).or_default();
        if !q.contains(&conn) {
            q.push_back(conn);
        }
    }
    ctx.block(Blocked::Keys {
        db,
        keys: keys.to_vec(),
        deadline,
        op,
        unblock_error: false,
    });
    Reply::NilArray
}

/// Whether the calling client may block (not inside MULTI, not a replica's
/// stream): otherwise a blocking command answers as if it timed out.
pub fn may_block(ctx: &Ctx) -> bool {
    ctx.client().is_some_and(|c| !c.in_multi)
}

/// Serves one waiter from `key` (found [`ready`]); `None` if it turns out
/// to have nothing for it.
pub fn serve(ctx: &mut Ctx, key: &[u8], op: &BlockOp) -> Option<Reply> {
    Some(match op {
        BlockOp::XRead { ids, count, group } => {
            return super::streams::serve_blocked(ctx, key, ids, *count, group)
        }
        BlockOp::ListPop { left, count } => super::lists::serve_pop(ctx, key, *left, *count),
        BlockOp::ListMove {
            dst,
            from_left,
            to_left,
        } => super::lists::serve_move(ctx, key, dst, *from_left, *to_left),
        BlockOp::ZPop { max, count } => super::zsets::serve_pop(ctx, key, *max, *count),
    })
}

/// What every blocking pop does first: the first of `keys` holding a `T`
/// is served at once (as `op` on that key); with none, the client blocks on
/// all of them until `deadline` — or, for a non-blocking form (`deadline`
/// None) or a client that may not block, gets a null array.
pub fn pop_or_block<T: super::coll::Coll>(
    ctx: &mut Ctx,
    keys: &[Vec<u8>],
    deadline: Option<Option<Millis>>,
    op: BlockOp,
) -> Reply {
    for k in keys {
        match super::coll::exists_for_write::<T>(ctx, k) {
            Err(e) => return e,
            Ok(false) => continue,
            Ok(true) => return serve(ctx, k, &op).unwrap_or(Reply::NilArray),
        }
    }
    match deadline {
        Some(d) if may_block(ctx) => block(ctx, keys, d, op),
        _ => Reply::NilArray,
    }
}

/// Removes `conn` from the wait queues of `keys` in `db`.
pub fn forget(
    blocking: &mut indexmap::IndexMap<(usize, Vec<u8>), VecDeque<crate::ConnId>>,
    conn: crate::ConnId,
    db: usize,
    keys: &[Vec<u8>],
) {
    for k in keys {
        let id = (db, k.clone());
        if let Some(q) = blocking.get_mut(&id) {
            q.retain(|c| *c != conn);
            if q.is_empty() {
                blocking.shift_remove(&id);
            }
        }
    }
}
