//! Stream commands, as t_stream.c in Redis 7.0 answers them: XADD (IDs,
//! MAXLEN/MINID trimming with `=`/`~` and LIMIT, NOMKSTREAM) XLEN XRANGE
//! XREVRANGE XREAD (BLOCK) XDEL XTRIM XSETID XGROUP (CREATE SETID DESTROY
//! CREATECONSUMER DELCONSUMER HELP) XREADGROUP (BLOCK, NOACK, history)
//! XACK XPENDING XCLAIM XAUTOCLAIM XINFO (STREAM [FULL] GROUPS CONSUMERS
//! HELP).
//!
//! Writes that Redis signals as key modifications (XADD, XDEL, XTRIM,
//! XSETID, a stream created by MKSTREAM) invalidate WATCH; consumer-group
//! bookkeeping (XREADGROUP, XACK, XCLAIM, XGROUP) does not, as in Redis,
//! but still replicates. Keyspace events are raised here, with Redis's
//! names (`xadd`, `xtrim`, `xgroup-create`, `xgroup-createconsumer`…).

use super::blocking::{self, BlockOp};
use super::coll;
use super::notify;
use super::{eq_ic, err_syntax, parse_int, Ctx, Handler};
use crate::protocol::Reply;
use crate::replication::propagation;
use crate::store::stream::{
    Consumer, Fields, Group, Nack, Stream, StreamId, Trim, INVALID_ENTRIES_READ,
};
use crate::store::Value;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "xadd" => xadd,
        "xlen" => xlen,
        "xrange" => |c, a| xrange(c, a, false),
        "xrevrange" => |c, a| xrange(c, a, true),
        "xread" => |c, a| xread(c, a, false),
        "xreadgroup" => |c, a| xread(c, a, true),
        "xdel" => xdel,
        "xtrim" => xtrim,
        "xsetid" => xsetid,
        "xgroup|create"
        | "xgroup|setid"
        | "xgroup|destroy"
        | "xgroup|createconsumer"
        | "xgroup|delconsumer"
        | "xgroup|help" => xgroup,
        "xack" => xack,
        "xpending" => xpending,
        "xclaim" => xclaim,
        "xautoclaim" => xautoclaim,
        "xinfo|stream" | "xinfo|groups" | "xinfo|consumers" | "xinfo|help" => xinfo,
        _ => return None,
    })
}

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

fn invalid_id() -> Reply {
    Reply::err(INVALID_ID)
}

/// Redis's `string2ull`: a strict integer ≥ 0, else whatever `strtoull`
/// takes whole (leading spaces, a sign, leading zeros; `-` wraps).
fn string2ull(b: &[u8]) -> Option<u64> {
    if let Some(v) = crate::protocol::request::parse_i64_strict(b) {
        return u64::try_from(v).ok();
    }
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: u64 = digits.parse().ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `streamGenericParseIDOrReply`. With `seq_given` the `<ms>-*` form is
/// accepted and reported as `false`.
fn parse_id_full(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_star: bool,
) -> Result<(StreamId, bool), Reply> {
    if b.len() > 127 {
        return Err(invalid_id());
    }
    if strict && (b == b"-" || b == b"+") {
        return Err(invalid_id());
    }
    if b == b"-" {
        return Ok((StreamId::MIN, true));
    }
    if b == b"+" {
        return Ok((StreamId::MAX, true));
    }
    // Redis copies into a C string: a NUL ends it.
    let b = b.split(|c| *c == 0).next().unwrap_or(b);
    match b.iter().position(|c| *c == b'-') {
        Some(dash) => {
            let ms = string2ull(&b[..dash]).ok_or_else(invalid_id)?;
            let rest = &b[dash + 1..];
            if allow_star && rest == b"*" {
                return Ok((StreamId::new(ms, 0), false));
            }
            let seq = string2ull(rest).ok_or_else(invalid_id)?;
            Ok((StreamId::new(ms, seq), true))
        }
        None => Ok((
            StreamId::new(string2ull(b).ok_or_else(invalid_id)?, missing_seq),
            true,
        )),
    }
}

fn parse_id(b: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_full(b, missing_seq, false, false).map(|r| r.0)
}

fn parse_strict_id(b: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_full(b, missing_seq, true, false).map(|r| r.0)
}

/// `streamParseIntervalIDOrReply`: `(` makes the bound exclusive.
fn parse_interval(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if b.len() > 1 && b[0] == b'(' {
        Ok((parse_strict_id(&b[1..], missing_seq)?, true))
    } else {
        Ok((parse_id(b, missing_seq)?, false))
    }
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn entry_reply(id: StreamId, fields: &[(Vec<u8>, Vec<u8>)]) -> Reply {
    let mut fv = Vec::with_capacity(fields.len() * 2);
    for (f, v) in fields {
        fv.push(Reply::Bulk(f.clone()));
        fv.push(Reply::Bulk(v.clone()));
    }
    Reply::Array(vec![id_reply(id), Reply::Array(fv)])
}

fn resp3(ctx: &Ctx) -> bool {
    ctx.client().is_some_and(|c| c.resp >= 3)
}

fn now_ms(ctx: &Ctx) -> i64 {
    ctx.now.0 as i64
}

fn notify_stream(ctx: &mut Ctx, event: &str, key: &[u8]) {
    let db = ctx.db_index();
    notify::notify(ctx.srv, notify::STREAM, event, key, db);
}

/// Applies `f` to the stream at `key`. `signal`: a key modification
/// (WATCH, notifications' change list); otherwise only replicated.
fn with_stream<R>(
    ctx: &mut Ctx,
    key: &[u8],
    signal: bool,
    f: impl FnOnce(&mut Stream) -> R,
) -> Option<R> {
    let now = ctx.now;
    let db = ctx.db();
    let g = |v: &mut Value| match v {
        Value::Stream(x) => f(x),
        _ => unreachable!("type checked by the caller"),
    };
    if signal {
        db.modify(key, now, g)
    } else {
        db.modify_quiet(key, now, g)
    }
}

/// Tells blocked XREAD/XREADGROUP clients to look at `key` after this
/// command (`signalKeyAsReady`).
fn signal_ready(ctx: &mut Ctx, key: &[u8]) {
    let id = (ctx.db_index(), key.to_vec());
    if ctx.srv.blocking.contains_key(&id) && !ctx.srv.stream_ready.contains(&id) {
        ctx.srv.stream_ready.push(id);
    }
}

/// XADD/XTRIM's options (`streamAddTrimArgs`).
struct AddTrim {
    id: Option<(StreamId, bool)>,
    nomkstream: bool,
    trim: Trim,
    approx: bool,
    limit: u64,
    /// Position of the ID (XADD).
    idpos: usize,
}

/// `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(ctx: &Ctx, argv: &[Vec<u8>], xadd: bool) -> Result<AddTrim, Reply> {
    let mut a = AddTrim {
        id: None,
        nomkstream: false,
        trim: Trim::None,
        approx: false,
        limit: 0,
        idpos: argv.len(),
    };
    let mut limit_given = false;
    let mut limit: i64 = 0;
    let mut i = 2;
    while i < argv.len() {
        let moreargs = argv.len() - 1 - i;
        let opt = &argv[i];
        if xadd && opt.as_slice() == b"*" {
            break;
        } else if (eq_ic(opt, "maxlen") || eq_ic(opt, "minid")) && moreargs > 0 {
            if a.trim != Trim::None {
                return Err(Reply::err(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            a.approx = false;
            let next = &argv[i + 1];
            if moreargs >= 2 && next.as_slice() == b"~" {
                a.approx = true;
                i += 1;
            } else if moreargs >= 2 && next.as_slice() == b"=" {
                i += 1;
            }
            if eq_ic(opt, "maxlen") {
                let n = parse_int(&argv[i + 1])?;
                if n < 0 {
                    return Err(Reply::err("ERR The MAXLEN argument must be >= 0."));
                }
                a.trim = Trim::MaxLen(n as u64);
            } else {
                a.trim = Trim::MinId(parse_strict_id(&argv[i + 1], 0)?);
            }
            i += 1;
        } else if eq_ic(opt, "limit") && moreargs > 0 {
            limit = parse_int(&argv[i + 1])?;
            if limit < 0 {
                return Err(Reply::err("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && eq_ic(opt, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(err_syntax());
        }
        i += 1;
    }
    a.idpos = i;
    if limit != 0 && a.trim == Trim::None {
        return Err(Reply::err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim == Trim::None {
        return Err(Reply::err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    let from_master = ctx.client().is_none() || ctx.db_override.is_some();
    if from_master {
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(Reply::err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        a.limit = limit as u64;
    } else if a.approx {
        let entries = ctx.srv.config.encoding_limits().stream_node_entries as i64;
        a.limit = (100 * entries).clamp(1, 1_000_000) as u64;
        if 100 * entries <= 0 {
            a.limit = 10_000;
        }
    }
    Ok(a)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [...]
fn xadd(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let a = match parse_add_trim(ctx, argv, true) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let field_pos = a.idpos + 1;
    if argv.len() < field_pos + 2 || !(argv.len() - field_pos).is_multiple_of(2) {
        return Reply::err("ERR wrong number of arguments for 'xadd' command");
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Reply::err("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = &argv[1];
    let exists = match coll::exists_for_write::<Stream>(ctx, key) {
        Ok(e) => e,
        Err(e) => return e,
    };
    if !exists {
        if a.nomkstream {
            return Reply::Nil;
        }
        let now = ctx.now;
        ctx.db()
            .set(key, Value::Stream(Box::new(Stream::new())), now, false);
    }
    let lim = ctx.srv.config.encoding_limits();
    let now = ctx.now.0;
    let fields: Vec<(Vec<u8>, Vec<u8>)> = argv[field_pos..]
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    let r = with_stream(ctx, key, true, |s| {
        if s.last_id == StreamId::MAX {
            return Err(Reply::err(
                "ERR The stream has exhausted the last possible ID, unable to add more items",
            ));
        }
        let id = match a.id {
            Some((id, true)) => id,
            Some((id, false)) => {
                if s.last_id.ms == id.ms {
                    match s.last_id.incr() {
                        Some(n) if s.last_id.seq != u64::MAX => n,
                        _ => {
                            return Err(Reply::err(
                                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
                            ))
                        }
                    }
                } else {
                    id
                }
            }
            None => {
                if now > s.last_id.ms {
                    StreamId::new(now, 0)
                } else {
                    s.last_id.incr().unwrap_or(StreamId::MIN)
                }
            }
        };
        if id <= s.last_id {
            return Err(Reply::err(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ));
        }
        s.append(id, fields, &lim);
        let trimmed = s.trim(a.trim, a.approx, a.limit);
        Ok((id, trimmed))
    });
    match r {
        Some(Ok((id, trimmed))) => {
            notify_stream(ctx, "xadd", key);
            if trimmed > 0 {
                notify_stream(ctx, "xtrim", key);
            }
            signal_ready(ctx, key);
            id_reply(id)
        }
        Some(Err(e)) => e,
        None => Reply::Nil,
    }
}

fn xlen(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Stream>(ctx, &argv[1]) {
        Ok(Some(s)) => Reply::Int(s.length as i64),
        Ok(None) => Reply::Int(0),
        Err(e) => e,
    }
}

/// XRANGE key start end [COUNT n] / XREVRANGE key end start [COUNT n]
fn xrange(ctx: &mut Ctx, argv: &[Vec<u8>], rev: bool) -> Reply {
    let (sa, ea) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let (mut start, startex) = match parse_interval(sa, 0) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if startex {
        match start.incr() {
            Some(s) => start = s,
            None => return Reply::err("ERR invalid start ID for the interval"),
        }
    }
    let (mut end, endex) = match parse_interval(ea, u64::MAX) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if endex {
        match end.decr() {
            Some(e) => end = e,
            None => return Reply::err("ERR invalid end ID for the interval"),
        }
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if eq_ic(&argv[j], "count") && j + 1 < argv.len() {
            count = match parse_int(&argv[j + 1]) {
                Ok(c) => c.max(0),
                Err(e) => return e,
            };
            j += 2;
        } else {
            return err_syntax();
        }
    }
    let s = match coll::read::<Stream>(ctx, &argv[1]) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Array(vec![]),
        Err(e) => return e,
    };
    if count == 0 {
        return Reply::NilArray;
    }
    let it = s.range(start, end, rev);
    let items: Vec<Reply> = if count > 0 {
        it.take(count as usize)
            .map(|e| entry_reply(e.id, &e.fields))
            .collect()
    } else {
        it.map(|e| entry_reply(e.id, &e.fields)).collect()
    };
    Reply::Array(items)
}

/// What a group read needs: group, consumer, NOACK.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRead {
    pub group: Vec<u8>,
    pub consumer: Vec<u8>,
    pub noack: bool,
}

/// Finds or creates the consumer (refreshing its seen time), raising
/// `xgroup-createconsumer` for a new one.
fn touch_consumer(ctx: &mut Ctx, key: &[u8], group: &[u8], consumer: &[u8], noack: bool) {
    let now = now_ms(ctx);
    let created = with_stream(ctx, key, false, |s| {
        let Some(g) = s.groups.get_mut(group) else {
            return false;
        };
        match g.consumers.get_mut(consumer) {
            Some(c) => {
                c.seen_time = now;
                false
            }
            None => {
                g.consumers.insert(
                    consumer.to_vec(),
                    Consumer {
                        seen_time: now,
                        ..Consumer::default()
                    },
                );
                true
            }
        }
    });
    if created == Some(true) {
        notify_stream(ctx, "xgroup-createconsumer", key);
        // Without NOACK its XCLAIMs create it on a replica; with NOACK
        // Redis propagates the creation itself.
        if noack {
            let argv = vec![
                b"XGROUP".to_vec(),
                b"CREATECONSUMER".to_vec(),
                key.to_vec(),
                group.to_vec(),
                consumer.to_vec(),
            ];
            propagation::also(ctx.srv, argv);
        }
    }
}

/// `streamReplyWithRange` from `start` (inclusive) to the end: the entries,
/// and for a group read the PEL and last-delivered bookkeeping.
fn read_range(
    ctx: &mut Ctx,
    key: &[u8],
    start: StreamId,
    count: usize,
    gr: Option<&GroupRead>,
) -> Vec<Reply> {
    let take = |s: &Stream| -> Vec<(StreamId, Fields)> {
        let it = s.range(start, StreamId::MAX, false);
        if count == 0 {
            it.map(|e| (e.id, e.fields.clone())).collect()
        } else {
            it.take(count).map(|e| (e.id, e.fields.clone())).collect()
        }
    };
    let Some(gr) = gr else {
        return match ctx.db().peek(key).map(|e| &e.value) {
            Some(Value::Stream(s)) => take(s)
                .into_iter()
                .map(|(id, f)| entry_reply(id, &f))
                .collect(),
            _ => Vec::new(),
        };
    };
    let now = now_ms(ctx);
    // What the read propagates (`streamReplyWithRange`): an XCLAIM per
    // entry delivered, or with NOACK the group's new last ID.
    let mut forms = Vec::new();
    let out = with_stream(ctx, key, false, |s| {
        let picked = take(s);
        let mut out = Vec::with_capacity(picked.len());
        let mut moved = false;
        for (id, fields) in picked {
            let tomb = s.range_has_tombstones(id);
            let est = s.estimate_distance(id);
            let added = s.entries_added;
            let g = s.groups.get_mut(&gr.group).expect("group checked");
            if id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ && !tomb {
                    g.entries_read += 1;
                } else if added > 0 {
                    g.entries_read = est.map_or(INVALID_ENTRIES_READ, |v| v as i64);
                }
                g.last_id = id;
                moved = true;
            }
            if !gr.noack {
                if let Some(old) = g.pel.get(&id).map(|n| n.consumer.clone()) {
                    if let Some(c) = g.consumers.get_mut(&old) {
                        c.pel.remove(&id);
                    }
                }
                g.pel.insert(
                    id,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: gr.consumer.clone(),
                    },
                );
                if let Some(c) = g.consumers.get_mut(&gr.consumer) {
                    c.pel.insert(id);
                }
                forms.push(propagation::xclaim_form(
                    key,
                    &gr.group,
                    &gr.consumer,
                    id.to_bytes(),
                    now,
                    1,
                    g.last_id.to_bytes(),
                ));
            }
            out.push(entry_reply(id, &fields));
        }
        if gr.noack && moved {
            let g = &s.groups[&gr.group];
            forms.push(setid_form(key, &gr.group, g));
        }
        out
    })
    .unwrap_or_default();
    for f in forms {
        propagation::also(ctx.srv, f);
    }
    out
}

/// `XGROUP SETID key group <last id> ENTRIESREAD <n>`, as
/// `streamPropagateGroupID` sends it.
fn setid_form(key: &[u8], group: &[u8], g: &Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group.to_vec(),
        g.last_id.to_bytes(),
        b"ENTRIESREAD".to_vec(),
        g.entries_read.to_string().into_bytes(),
    ]
}

/// `streamReplyWithRangeFromConsumerPEL`: a consumer's own history.
fn read_history(
    ctx: &mut Ctx,
    key: &[u8],
    start: StreamId,
    count: usize,
    gr: &GroupRead,
) -> Vec<Reply> {
    let now = now_ms(ctx);
    with_stream(ctx, key, false, |s| {
        let ids: Vec<StreamId> = {
            let g = &s.groups[&gr.group];
            let c = &g.consumers[&gr.consumer];
            let it = c.pel.range(start..);
            if count == 0 {
                it.copied().collect()
            } else {
                it.take(count).copied().collect()
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match s.get(id).map(|e| e.fields.clone()) {
                Some(fields) => {
                    out.push(entry_reply(id, &fields));
                    if let Some(n) = s.groups.get_mut(&gr.group).and_then(|g| g.pel.get_mut(&id)) {
                        n.delivery_time = now;
                        n.delivery_count += 1;
                    }
                }
                None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
            }
        }
        out
    })
    .unwrap_or_default()
}

fn keyed(resp3: bool, items: Vec<(Vec<u8>, Vec<Reply>)>) -> Reply {
    if resp3 {
        Reply::Map(
            items
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), Reply::Array(v)))
                .collect(),
        )
    } else {
        Reply::Array(
            items
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), Reply::Array(v)]))
                .collect(),
        )
    }
}

/// XREAD [COUNT n] [BLOCK ms] STREAMS key [...] id [...]
/// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key [...] id [...]
fn xread(ctx: &mut Ctx, argv: &[Vec<u8>], group_form: bool) -> Reply {
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut nstreams = 0;
    let mut noack = false;
    let mut group: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut i = 1;
    while i < argv.len() {
        let moreargs = argv.len() - i - 1;
        let o = &argv[i];
        if eq_ic(o, "block") && moreargs > 0 {
            if ctx.client().is_some_and(|c| c.in_script) {
                return Reply::err(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&argv[0])
                ));
            }
            i += 1;
            let t = match crate::protocol::request::parse_i64_strict(&argv[i]) {
                Some(t) => t,
                None => return Reply::err("ERR timeout is not an integer or out of range"),
            };
            if t < 0 {
                return Reply::err("ERR timeout is negative");
            }
            timeout = Some(t);
        } else if eq_ic(o, "count") && moreargs > 0 {
            i += 1;
            count = match parse_int(&argv[i]) {
                Ok(c) => c.max(0),
                Err(e) => return e,
            };
        } else if eq_ic(o, "streams") && moreargs > 0 {
            streams_arg = i + 1;
            let n = argv.len() - streams_arg;
            if !n.is_multiple_of(2) {
                return Reply::err(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                );
            }
            nstreams = n / 2;
            break;
        } else if eq_ic(o, "group") && moreargs >= 2 {
            if !group_form {
                return Reply::err(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if eq_ic(o, "noack") {
            if !group_form {
                return Reply::err(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            noack = true;
        } else {
            return err_syntax();
        }
        i += 1;
    }
    if streams_arg == 0 {
        return err_syntax();
    }
    if group_form && group.is_none() {
        return Reply::err("ERR Missing GROUP option for XREADGROUP");
    }
    let keys: Vec<Vec<u8>> = argv[streams_arg..streams_arg + nstreams].to_vec();
    let mut ids = Vec::with_capacity(nstreams);
    for (k, raw) in keys.iter().zip(&argv[streams_arg + nstreams..]) {
        let s = match coll::read::<Stream>(ctx, k) {
            Ok(s) => s,
            Err(e) => return e,
        };
        if let Some((g, _)) = &group {
            if !s.is_some_and(|s| s.groups.contains_key(g)) {
                return Reply::err(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(g)
                ));
            }
        }
        if raw.as_slice() == b"$" {
            if group_form {
                return Reply::err(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                );
            }
            ids.push(s.map_or(StreamId::MIN, |s| s.last_id));
            continue;
        }
        if raw.as_slice() == b">" {
            if !group_form {
                return Reply::err(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                );
            }
            ids.push(StreamId::MAX);
            continue;
        }
        match parse_strict_id(raw, 0) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let gr = group.map(|(g, c)| GroupRead {
        group: g,
        consumer: c,
        noack,
    });
    if gr.is_some() {
        // XREADGROUP never propagates itself: its XCLAIMs (read_range).
        propagation::declare_also(ctx.srv);
    }
    let resp3 = resp3(ctx);
    let mut served = Vec::new();
    for (k, gt) in keys.iter().zip(ids.iter_mut()) {
        let (len, last_valid, group_last) = match ctx.db().peek(k).map(|e| &e.value) {
            Some(Value::Stream(s)) => (
                s.length,
                s.last_valid_id(),
                gr.as_ref()
                    .and_then(|g| s.groups.get(&g.group))
                    .map(|g| g.last_id),
            ),
            _ => continue,
        };
        let mut history = false;
        let serve = if gr.is_some() {
            if *gt != StreamId::MAX {
                history = true;
                true
            } else if len > 0 && Some(last_valid) > group_last {
                *gt = group_last.expect("group checked");
                true
            } else {
                false
            }
        } else {
            len > 0 && last_valid > *gt
        };
        if !serve {
            continue;
        }
        let start = gt.incr().unwrap_or(StreamId::MIN);
        let entries = match &gr {
            Some(g) => {
                touch_consumer(ctx, k, &g.group, &g.consumer, g.noack);
                if history {
                    read_history(ctx, k, start, count as usize, g)
                } else {
                    read_range(ctx, k, start, count as usize, Some(g))
                }
            }
            None => read_range(ctx, k, start, count as usize, None),
        };
        served.push((k.clone(), entries));
    }
    if !served.is_empty() {
        return keyed(resp3, served);
    }
    let Some(t) = timeout else {
        return Reply::NilArray;
    };
    if !blocking::may_block(ctx) {
        return Reply::NilArray;
    }
    let deadline = (t > 0).then(|| crate::time::Millis(ctx.now.0.saturating_add(t as u64)));
    let op = BlockOp::XRead {
        ids: keys.iter().cloned().zip(ids).collect(),
        count: if count > 0 { count as usize } else { 1000 },
        group: gr,
    };
    blocking::block(ctx, &keys, deadline, op)
}

/// Serves a client blocked in XREAD/XREADGROUP from `key`, which was
/// signalled (serveClientsBlockedOnStreamKey); `None` leaves it blocked.
pub fn serve_blocked(
    ctx: &mut Ctx,
    key: &[u8],
    ids: &[(Vec<u8>, StreamId)],
    count: usize,
    gr: &Option<GroupRead>,
) -> Option<Reply> {
    let gt = ids.iter().find(|(k, _)| k == key).map(|(_, id)| *id)?;
    let (last_id, group_last) = match ctx.db().peek(key).map(|e| &e.value) {
        Some(Value::Stream(s)) => (
            s.last_id,
            gr.as_ref()
                .map(|g| s.groups.get(&g.group).map(|g| g.last_id)),
        ),
        _ if gr.is_some() => {
            return Some(Reply::err("UNBLOCKED the stream key no longer exists"));
        }
        _ => return None,
    };
    let gt = match group_last {
        Some(None) => {
            return Some(Reply::err(
                "NOGROUP the consumer group this client was blocked on no longer exists",
            ))
        }
        Some(Some(g)) => g,
        None => gt,
    };
    if last_id <= gt {
        return None;
    }
    let start = gt.incr().unwrap_or(StreamId::MIN);
    let entries = match gr {
        Some(g) => {
            touch_consumer(ctx, key, &g.group, &g.consumer, g.noack);
            read_range(ctx, key, start, count, Some(g))
        }
        None => read_range(ctx, key, start, count, None),
    };
    Some(keyed(resp3(ctx), vec![(key.to_vec(), entries)]))
}

/// Whether a blocked stream read could be answered from `v` (the group is
/// gone or the stream moved past the client's ID), for the node's check.
pub fn blocked_ready(
    v: Option<&Value>,
    key: &[u8],
    ids: &[(Vec<u8>, StreamId)],
    gr: &Option<GroupRead>,
) -> bool {
    match v {
        Some(Value::Stream(s)) => {
            let Some(gt) = ids.iter().find(|(k, _)| k == key).map(|(_, id)| *id) else {
                return false;
            };
            match gr {
                Some(g) => s
                    .groups
                    .get(&g.group)
                    .is_none_or(|grp| s.last_id > grp.last_id),
                None => s.last_id > gt,
            }
        }
        _ => gr.is_some(),
    }
}

fn parse_ids(argv: &[Vec<u8>]) -> Result<Vec<StreamId>, Reply> {
    argv.iter().map(|a| parse_strict_id(a, 0)).collect()
}

/// XDEL key id [id ...]
fn xdel(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let key = &argv[1];
    match coll::exists_for_write::<Stream>(ctx, key) {
        Ok(true) => {}
        Ok(false) => return Reply::Int(0),
        Err(e) => return e,
    }
    let ids = match parse_ids(&argv[2..]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    remove_entries(ctx, key, "xdel", |s| s.xdel(&ids) as u64)
}

/// XDEL/XTRIM's common end: `f` removes entries; if any went, the key is
/// modified and `event` raised. Replies with the count.
fn remove_entries(
    ctx: &mut Ctx,
    key: &[u8],
    event: &str,
    f: impl FnOnce(&mut Stream) -> u64,
) -> Reply {
    let now = ctx.now;
    let n = ctx
        .db()
        .modify_if(key, now, |v| match v {
            Value::Stream(s) => {
                let n = f(s);
                (n, n > 0)
            }
            _ => (0, false),
        })
        .unwrap_or(0);
    if n > 0 {
        notify_stream(ctx, event, key);
    }
    Reply::Int(n as i64)
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
fn xtrim(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let a = match parse_add_trim(ctx, argv, false) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let key = &argv[1];
    match coll::exists_for_write::<Stream>(ctx, key) {
        Ok(true) => {}
        Ok(false) => return Reply::Int(0),
        Err(e) => return e,
    }
    remove_entries(ctx, key, "xtrim", |s| s.trim(a.trim, a.approx, a.limit))
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
fn xsetid(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let id = match parse_strict_id(&argv[2], 0) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let moreargs = argv.len() - 1 - i;
        if eq_ic(&argv[i], "entriesadded") && moreargs > 0 {
            entries_added = match parse_int(&argv[i + 1]) {
                Ok(n) if n < 0 => return Reply::err("ERR entries_added must be positive"),
                Ok(n) => n,
                Err(e) => return e,
            };
            i += 2;
        } else if eq_ic(&argv[i], "maxdeletedid") && moreargs > 0 {
            max_xdel = match parse_strict_id(&argv[i + 1], 0) {
                Ok(m) => m,
                Err(e) => return e,
            };
            if id < max_xdel {
                return Reply::err(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            i += 2;
        } else {
            return err_syntax();
        }
    }
    let key = &argv[1];
    match coll::exists_for_write::<Stream>(ctx, key) {
        Ok(true) => {}
        Ok(false) => return Reply::err("ERR no such key"),
        Err(e) => return e,
    }
    let r = with_stream(ctx, key, true, |s| {
        if s.length > 0 {
            if id < s.last_valid_id() {
                return Err(Reply::err(
                    "ERR The ID specified in XSETID is smaller than the target stream top item",
                ));
            }
            if entries_added != -1 && s.length > entries_added as u64 {
                return Err(Reply::err(
                    "ERR The entries_added specified in XSETID is smaller than the target stream length",
                ));
            }
        }
        s.last_id = id;
        if entries_added != -1 {
            s.entries_added = entries_added as u64;
        }
        if !max_xdel.is_zero() {
            s.max_deleted = max_xdel;
        }
        Ok(())
    });
    match r {
        Some(Ok(())) => {
            notify_stream(ctx, "xsetid", key);
            Reply::ok()
        }
        Some(Err(e)) => e,
        None => Reply::err("ERR no such key"),
    }
}

fn subcommand_error(argv: &[Vec<u8>], cmd: &str) -> Reply {
    Reply::err(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
        String::from_utf8_lossy(&argv[1])
    ))
}

fn help(lines: &[&str], cmd: &str) -> Reply {
    let mut out = vec![Reply::Simple(format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    out.extend(lines.iter().map(|l| Reply::Simple(l.to_string())));
    out.push(Reply::Simple("HELP".into()));
    out.push(Reply::Simple("    Prints this help.".into()));
    Reply::Array(out)
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP
fn xgroup(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let opt = &argv[1];
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut exists = false;
    let mut group_exists = false;
    if argv.len() >= 4 {
        let create = eq_ic(opt, "create");
        let setid = eq_ic(opt, "setid");
        let mut i = 5;
        while i < argv.len() {
            if create && eq_ic(&argv[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid) && eq_ic(&argv[i], "entriesread") && i + 1 < argv.len() {
                entries_read = match parse_int(&argv[i + 1]) {
                    Ok(n) => n,
                    Err(e) => return e,
                };
                if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                    return Reply::err("ERR value for ENTRIESREAD must be positive or -1");
                }
                i += 2;
            } else {
                return subcommand_error(argv, "XGROUP");
            }
        }
        match coll::peek_for_write::<Stream>(ctx, &argv[2]) {
            Ok(Some(s)) => {
                exists = true;
                group_exists = s.groups.contains_key(&argv[3]);
            }
            Ok(None) => {}
            Err(e) => return e,
        }
        if !mkstream {
            if !exists {
                return Reply::err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
            }
            if !group_exists && (setid || eq_ic(opt, "createconsumer") || eq_ic(opt, "delconsumer"))
            {
                return Reply::err(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    String::from_utf8_lossy(&argv[3]),
                    String::from_utf8_lossy(&argv[2])
                ));
            }
        }
    }
    let key = argv.get(2).cloned().unwrap_or_default();
    let n = argv.len();
    if n == 2 && eq_ic(opt, "help") {
        return help(
            &[
                "CREATE <key> <groupname> <id|$> [option]",
                "    Create a new consumer group. Options are:",
                "    * MKSTREAM",
                "      Create the empty stream if it does not exist.",
                "    * ENTRIESREAD entries_read",
                "      Set the group's entries_read counter (internal use).",
                "CREATECONSUMER <key> <groupname> <consumer>",
                "    Create a new consumer in the specified group.",
                "DELCONSUMER <key> <groupname> <consumer>",
                "    Remove the specified consumer.",
                "DESTROY <key> <groupname>",
                "    Remove the specified group.",
                "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                "    Set the current group ID and entries_read counter.",
            ],
            "XGROUP",
        );
    }
    if eq_ic(opt, "create") && (5..=8).contains(&n) {
        let last = if argv[4].as_slice() == b"$" {
            match ctx.db().peek(&key).map(|e| &e.value) {
                Some(Value::Stream(s)) => s.last_id,
                _ => StreamId::MIN,
            }
        } else {
            match parse_strict_id(&argv[4], 0) {
                Ok(i) => i,
                Err(e) => return e,
            }
        };
        if !exists {
            let now = ctx.now;
            ctx.db()
                .set(&key, Value::Stream(Box::new(Stream::new())), now, false);
            signal_ready(ctx, &key);
        }
        let name = argv[3].clone();
        let created = with_stream(ctx, &key, false, |s| match s.groups.entry(name) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(Group::new(last, entries_read));
                true
            }
        });
        return if created == Some(true) {
            notify_stream(ctx, "xgroup-create", &key);
            Reply::ok()
        } else {
            Reply::err("BUSYGROUP Consumer Group name already exists")
        };
    }
    if eq_ic(opt, "setid") && (n == 5 || n == 7) {
        let dollar = argv[4].as_slice() == b"$";
        let id = if dollar {
            StreamId::MIN
        } else {
            match parse_id(&argv[4], 0) {
                Ok(i) => i,
                Err(e) => return e,
            }
        };
        let name = argv[3].clone();
        with_stream(ctx, &key, false, |s| {
            let id = if dollar { s.last_id } else { id };
            if let Some(g) = s.groups.get_mut(&name) {
                g.last_id = id;
                g.entries_read = entries_read;
            }
        });
        notify_stream(ctx, "xgroup-setid", &key);
        return Reply::ok();
    }
    if eq_ic(opt, "destroy") && n == 4 {
        if !group_exists {
            return Reply::Int(0);
        }
        let name = argv[3].clone();
        with_stream(ctx, &key, false, |s| s.groups.remove(&name));
        notify_stream(ctx, "xgroup-destroy", &key);
        signal_ready(ctx, &key);
        return Reply::Int(1);
    }
    if eq_ic(opt, "createconsumer") && n == 5 {
        let (g, c) = (argv[3].clone(), argv[4].clone());
        let now = now_ms(ctx);
        let created = with_stream(ctx, &key, false, |s| {
            let grp = s.groups.get_mut(&g)?;
            if grp.consumers.contains_key(&c) {
                return Some(false);
            }
            grp.consumers.insert(
                c,
                Consumer {
                    seen_time: now,
                    ..Consumer::default()
                },
            );
            Some(true)
        })
        .flatten();
        if created == Some(true) {
            notify_stream(ctx, "xgroup-createconsumer", &key);
            return Reply::Int(1);
        }
        return Reply::Int(0);
    }
    if eq_ic(opt, "delconsumer") && n == 5 {
        let (g, c) = (argv[3].clone(), argv[4].clone());
        let pending = with_stream(ctx, &key, false, |s| {
            let grp = s.groups.get_mut(&g)?;
            let cons = grp.consumers.remove(&c)?;
            for id in &cons.pel {
                grp.pel.remove(id);
            }
            Some(cons.pel.len())
        })
        .flatten();
        return match pending {
            Some(p) => {
                notify_stream(ctx, "xgroup-delconsumer", &key);
                Reply::Int(p as i64)
            }
            None => Reply::Int(0),
        };
    }
    subcommand_error(argv, "XGROUP")
}

fn nogroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::err(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// XACK key group id [id ...]
fn xack(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (key, group) = (&argv[1], &argv[2]);
    let has_group = match coll::read::<Stream>(ctx, key) {
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(group)),
        Err(e) => return e,
    };
    if !has_group {
        return Reply::Int(0);
    }
    let ids = match parse_ids(&argv[3..]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let n = with_stream(ctx, key, false, |s| {
        let g = s.groups.get_mut(group).expect("checked");
        ids.iter().filter(|id| g.ack(**id)).count()
    })
    .unwrap_or(0);
    Reply::Int(n as i64)
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
fn xpending(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let n = argv.len();
    if n != 3 && !(6..=9).contains(&n) {
        return err_syntax();
    }
    let mut minidle: i64 = 0;
    let mut range = None;
    let mut consumer: Option<&Vec<u8>> = None;
    let mut count: i64 = 0;
    if n >= 6 {
        let mut at = 3;
        if eq_ic(&argv[3], "idle") {
            minidle = match parse_int(&argv[4]) {
                Ok(v) => v,
                Err(e) => return e,
            };
            if n < 8 {
                return err_syntax();
            }
            at += 2;
        }
        count = match parse_int(&argv[at + 2]) {
            Ok(c) => c.max(0),
            Err(e) => return e,
        };
        let (mut start, sx) = match parse_interval(&argv[at], 0) {
            Ok(x) => x,
            Err(e) => return e,
        };
        if sx {
            match start.incr() {
                Some(s) => start = s,
                None => return Reply::err("ERR invalid start ID for the interval"),
            }
        }
        let (mut end, ex) = match parse_interval(&argv[at + 1], u64::MAX) {
            Ok(x) => x,
            Err(e) => return e,
        };
        if ex {
            match end.decr() {
                Some(e) => end = e,
                None => return Reply::err("ERR invalid end ID for the interval"),
            }
        }
        if at + 3 < n {
            consumer = Some(&argv[at + 3]);
        }
        range = Some((start, end));
    }
    let now = now_ms(ctx);
    let s = match coll::read::<Stream>(ctx, &argv[1]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let Some(g) = s.and_then(|s| s.groups.get(&argv[2])) else {
        return nogroup(&argv[1], &argv[2]);
    };
    let Some((start, end)) = range else {
        if g.pel.is_empty() {
            return Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
        }
        let first = *g.pel.keys().next().expect("not empty");
        let last = *g.pel.keys().next_back().expect("not empty");
        let per: Vec<Reply> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::Bulk(name.clone()),
                    Reply::Bulk(c.pel.len().to_string().into_bytes()),
                ])
            })
            .collect();
        return Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_reply(first),
            id_reply(last),
            Reply::Array(per),
        ]);
    };
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => c.pel.iter().copied().collect(),
            None => return Reply::Array(vec![]),
        },
        None => g.pel.keys().copied().collect(),
    };
    let mut out = Vec::new();
    if start <= end {
        for id in ids.into_iter().filter(|id| *id >= start) {
            if count == 0 || id > end {
                break;
            }
            let nack = &g.pel[&id];
            if minidle != 0 && now - nack.delivery_time < minidle {
                continue;
            }
            count -= 1;
            out.push(Reply::Array(vec![
                id_reply(id),
                Reply::Bulk(nack.consumer.clone()),
                Reply::Int((now - nack.delivery_time).max(0)),
                Reply::Int(nack.delivery_count as i64),
            ]));
        }
    }
    Reply::Array(out)
}

/// Gives pending entry `id` of group `g` to `consumer` (XCLAIM/XAUTOCLAIM).
fn claim_to(g: &mut Group, id: StreamId, consumer: &[u8]) {
    let nack = g.pel.get_mut(&id).expect("claimed entries are pending");
    if nack.consumer != consumer {
        if let Some(old) = g.consumers.get_mut(&nack.consumer) {
            old.pel.remove(&id);
        }
        nack.consumer = consumer.to_vec();
        g.consumers
            .get_mut(consumer)
            .expect("the claiming consumer exists")
            .pel
            .insert(id);
    }
}

/// Looks up or creates the claiming consumer (once per command).
fn ensure_consumer(g: &mut Group, name: &[u8], now: i64) -> bool {
    match g.consumers.get_mut(name) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => {
            g.consumers.insert(
                name.to_vec(),
                Consumer {
                    seen_time: now,
                    ..Consumer::default()
                },
            );
            true
        }
    }
}

/// XCLAIM's and XAUTOCLAIM's claiming consumer: looked up (or created)
/// once per command, on the first entry it takes.
struct Claimer<'a> {
    name: &'a [u8],
    now: i64,
    looked_up: bool,
    created: bool,
}

impl<'a> Claimer<'a> {
    fn new(name: &'a [u8], now: i64) -> Claimer<'a> {
        Claimer {
            name,
            now,
            looked_up: false,
            created: false,
        }
    }

    /// Gives pending entry `id` to the consumer, delivered at
    /// `delivery_time`; its count set to `retrycount` (≥ 0) or, unless
    /// JUSTID, incremented.
    fn take(
        &mut self,
        g: &mut Group,
        id: StreamId,
        delivery_time: i64,
        retrycount: i64,
        justid: bool,
    ) {
        if !self.looked_up {
            self.created |= ensure_consumer(g, self.name, self.now);
            self.looked_up = true;
        }
        claim_to(g, id, self.name);
        let nack = g.pel.get_mut(&id).expect("just claimed");
        nack.delivery_time = delivery_time;
        if retrycount >= 0 {
            nack.delivery_count = retrycount as u64;
        } else if !justid {
            nack.delivery_count += 1;
        }
    }
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms]
/// [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
fn xclaim(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (key, group, name) = (&argv[1], &argv[2], &argv[3]);
    let has_group = match coll::read::<Stream>(ctx, key) {
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(group)),
        Err(e) => return e,
    };
    if !has_group {
        return nogroup(key, group);
    }
    let minidle = match crate::protocol::request::parse_i64_strict(&argv[4]) {
        Some(v) => v.max(0),
        None => return Reply::err("ERR Invalid min-idle-time argument for XCLAIM"),
    };
    let mut j = 5;
    let mut ids = Vec::new();
    while j < argv.len() {
        match parse_strict_id(&argv[j], 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = now_ms(ctx);
    let (mut force, mut justid) = (false, false);
    let mut deliverytime: i64 = -1;
    let mut retrycount: i64 = -1;
    let mut last_id = StreamId::MIN;
    let int = |b: &[u8], what: &str| {
        crate::protocol::request::parse_i64_strict(b)
            .ok_or_else(|| Reply::err(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    while j < argv.len() {
        let moreargs = argv.len() - 1 - j;
        let opt = &argv[j];
        let r = if eq_ic(opt, "force") {
            force = true;
            Ok(())
        } else if eq_ic(opt, "justid") {
            justid = true;
            Ok(())
        } else if eq_ic(opt, "idle") && moreargs > 0 {
            j += 1;
            int(&argv[j], "IDLE").map(|v| deliverytime = now - v)
        } else if eq_ic(opt, "time") && moreargs > 0 {
            j += 1;
            int(&argv[j], "TIME").map(|v| deliverytime = v)
        } else if eq_ic(opt, "retrycount") && moreargs > 0 {
            j += 1;
            int(&argv[j], "RETRYCOUNT").map(|v| retrycount = v)
        } else if eq_ic(opt, "lastid") && moreargs > 0 {
            j += 1;
            parse_strict_id(&argv[j], 0).map(|v| last_id = v)
        } else {
            Err(Reply::err(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )))
        };
        if let Err(e) = r {
            return e;
        }
        j += 1;
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let mut claimer = Claimer::new(name, now);
    // What it propagates (`xclaimCommand`): an XCLAIM per entry claimed
    // or dropped from the PEL, else the group's new LASTID if it moved.
    let mut forms = Vec::new();
    let out = with_stream(ctx, key, false, |s| {
        let mut out = Vec::new();
        let exists: Vec<bool> = ids.iter().map(|id| s.get(*id).is_some()).collect();
        let entries: Vec<Option<Fields>> = ids
            .iter()
            .map(|id| {
                if justid {
                    None
                } else {
                    s.get(*id).map(|e| e.fields.clone())
                }
            })
            .collect();
        let g = s.groups.get_mut(group).expect("checked");
        let mut moved = false;
        if last_id > g.last_id {
            g.last_id = last_id;
            moved = true;
        }
        let claim = |g: &Group, id: StreamId, i: usize| {
            g.pel.get(&id).map(|n| {
                propagation::xclaim_form(
                    key,
                    group,
                    &n.consumer,
                    argv[5 + i].clone(),
                    n.delivery_time,
                    n.delivery_count,
                    g.last_id.to_bytes(),
                )
            })
        };
        for (i, &id) in ids.iter().enumerate() {
            if !exists[i] {
                forms.extend(claim(g, id, i));
                g.ack(id);
                continue;
            }
            let forced = force && !g.pel.contains_key(&id);
            if forced {
                g.pel.insert(
                    id,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: Vec::new(),
                    },
                );
            }
            let Some(nack) = g.pel.get(&id) else { continue };
            if !forced && minidle != 0 && now - nack.delivery_time < minidle {
                continue;
            }
            claimer.take(g, id, deliverytime, retrycount, justid);
            forms.extend(claim(g, id, i));
            out.push(match &entries[i] {
                Some(f) => entry_reply(id, f),
                None => id_reply(id),
            });
        }
        if moved && forms.is_empty() {
            forms.push(setid_form(key, group, g));
        }
        out
    })
    .unwrap_or_default();
    if claimer.created {
        notify_stream(ctx, "xgroup-createconsumer", key);
    }
    propagation::declare_also(ctx.srv);
    for f in forms {
        propagation::also(ctx.srv, f);
    }
    Reply::Array(out)
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
fn xautoclaim(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (key, group, name) = (&argv[1], &argv[2], &argv[3]);
    let minidle = match crate::protocol::request::parse_i64_strict(&argv[4]) {
        Some(v) => v.max(0),
        None => return Reply::err("ERR Invalid min-idle-time argument for XAUTOCLAIM"),
    };
    let (mut start, sx) = match parse_interval(&argv[5], 0) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if sx {
        match start.incr() {
            Some(s) => start = s,
            None => return Reply::err("ERR invalid start ID for the interval"),
        }
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let moreargs = argv.len() - 1 - j;
        if eq_ic(&argv[j], "count") && moreargs > 0 {
            count = match crate::protocol::request::parse_i64_strict(&argv[j + 1]) {
                Some(c) if (1..=i64::MAX / 16).contains(&c) => c,
                _ => return Reply::err("ERR COUNT must be > 0"),
            };
            j += 1;
        } else if eq_ic(&argv[j], "justid") {
            justid = true;
        } else {
            return err_syntax();
        }
        j += 1;
    }
    let has_group = match coll::read::<Stream>(ctx, key) {
        Ok(s) => s.is_some_and(|s| s.groups.contains_key(group)),
        Err(e) => return e,
    };
    if !has_group {
        return nogroup(key, group);
    }
    let now = now_ms(ctx);
    let mut claimer = Claimer::new(name, now);
    // An XCLAIM per entry claimed or dropped from the PEL (`xautoclaimCommand`).
    let mut forms = Vec::new();
    let (claimed, next, deleted) = with_stream(ctx, key, false, |s| {
        let pel: Vec<StreamId> = s.groups[group]
            .pel
            .range(start..)
            .map(|(k, _)| *k)
            .collect();
        let mut attempts = count.saturating_mul(10);
        let mut count = count;
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut pos = 0;
        while attempts > 0 && count > 0 && pos < pel.len() {
            attempts -= 1;
            let id = pel[pos];
            pos += 1;
            let fields = s.get(id).map(|e| e.fields.clone());
            let g = s.groups.get_mut(group).expect("checked");
            let claim = |g: &Group| {
                let n = &g.pel[&id];
                propagation::xclaim_form(
                    key,
                    group,
                    &n.consumer,
                    id.to_bytes(),
                    n.delivery_time,
                    n.delivery_count,
                    g.last_id.to_bytes(),
                )
            };
            let Some(fields) = fields else {
                forms.push(claim(g));
                g.ack(id);
                deleted.push(id_reply(id));
                count -= 1;
                continue;
            };
            let nack = &g.pel[&id];
            if minidle != 0 && now - nack.delivery_time < minidle {
                continue;
            }
            claimer.take(g, id, now, -1, justid);
            forms.push(claim(g));
            claimed.push(if justid {
                id_reply(id)
            } else {
                entry_reply(id, &fields)
            });
            count -= 1;
        }
        let next = pel.get(pos).copied().unwrap_or(StreamId::MIN);
        (claimed, next, deleted)
    })
    .unwrap_or_default();
    if claimer.created {
        notify_stream(ctx, "xgroup-createconsumer", key);
    }
    propagation::declare_also(ctx.srv);
    for f in forms {
        propagation::also(ctx.srv, f);
    }
    Reply::Array(vec![
        id_reply(next),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ])
}

fn map(pairs: Vec<(&str, Reply)>) -> Reply {
    Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::bulk(k), v))
            .collect(),
    )
}

fn lag_reply(s: &Stream, g: &Group) -> Reply {
    s.lag(g).map_or(Reply::Nil, Reply::Int)
}

fn entries_read_reply(g: &Group) -> Reply {
    if g.entries_read == INVALID_ENTRIES_READ {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

/// XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP
fn xinfo(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if eq_ic(&argv[1], "help") {
        if argv.len() != 2 {
            return subcommand_error(argv, "XINFO");
        }
        return help(
            &[
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
            ],
            "XINFO",
        );
    }
    if argv.len() < 3 {
        return subcommand_error(argv, "XINFO");
    }
    let now = now_ms(ctx);
    let s = match coll::read::<Stream>(ctx, &argv[2]) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::err("ERR no such key"),
        Err(e) => return e,
    };
    let opt = &argv[1];
    if eq_ic(opt, "consumers") && argv.len() == 4 {
        let Some(g) = s.groups.get(&argv[3]) else {
            return Reply::err(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(&argv[3]),
                String::from_utf8_lossy(&argv[2])
            ));
        };
        return Reply::Array(
            g.consumers
                .iter()
                .map(|(name, c)| {
                    map(vec![
                        ("name", Reply::Bulk(name.clone())),
                        ("pending", Reply::Int(c.pel.len() as i64)),
                        ("idle", Reply::Int((now - c.seen_time).max(0))),
                    ])
                })
                .collect(),
        );
    }
    if eq_ic(opt, "groups") && argv.len() == 3 {
        return Reply::Array(
            s.groups
                .iter()
                .map(|(name, g)| {
                    map(vec![
                        ("name", Reply::Bulk(name.clone())),
                        ("consumers", Reply::Int(g.consumers.len() as i64)),
                        ("pending", Reply::Int(g.pel.len() as i64)),
                        ("last-delivered-id", id_reply(g.last_id)),
                        ("entries-read", entries_read_reply(g)),
                        ("lag", lag_reply(s, g)),
                    ])
                })
                .collect(),
        );
    }
    if !eq_ic(opt, "stream") {
        return subcommand_error(argv, "XINFO");
    }
    let optv = &argv[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !optv.is_empty() {
        if (optv.len() != 1 && optv.len() != 3) || !eq_ic(&optv[0], "full") {
            return subcommand_error(argv, "XINFO");
        }
        full = true;
        if optv.len() == 3 {
            if !eq_ic(&optv[1], "count") {
                return subcommand_error(argv, "XINFO");
            }
            count = match parse_int(&optv[2]) {
                Ok(c) if c < 0 => 10,
                Ok(c) => c,
                Err(e) => return e,
            };
        }
    }
    let mut pairs = vec![
        ("length", Reply::Int(s.length as i64)),
        ("radix-tree-keys", Reply::Int(s.node_count() as i64)),
        ("radix-tree-nodes", Reply::Int(s.rax_nodes() as i64)),
        ("last-generated-id", id_reply(s.last_id)),
        ("max-deleted-entry-id", id_reply(s.max_deleted)),
        ("entries-added", Reply::Int(s.entries_added as i64)),
        ("recorded-first-entry-id", id_reply(s.first_id)),
    ];
    let limit = |n: usize| if count == 0 { n } else { n.min(count as usize) };
    if !full {
        pairs.push(("groups", Reply::Int(s.groups.len() as i64)));
        let edge = |rev: bool| {
            s.range(StreamId::MIN, StreamId::MAX, rev)
                .next()
                .map_or(Reply::Nil, |e| entry_reply(e.id, &e.fields))
        };
        pairs.push(("first-entry", edge(false)));
        pairs.push(("last-entry", edge(true)));
        return map(pairs);
    }
    let entries: Vec<Reply> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(limit(s.len()))
        .map(|e| entry_reply(e.id, &e.fields))
        .collect();
    pairs.push(("entries", Reply::Array(entries)));
    let groups: Vec<Reply> = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending: Vec<Reply> = g
                .pel
                .iter()
                .take(limit(g.pel.len()))
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(n.consumer.clone()),
                        Reply::Int(n.delivery_time),
                        Reply::Int(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers: Vec<Reply> = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let cp: Vec<Reply> = c
                        .pel
                        .iter()
                        .take(limit(c.pel.len()))
                        .map(|id| {
                            let n = &g.pel[id];
                            Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(n.delivery_time),
                                Reply::Int(n.delivery_count as i64),
                            ])
                        })
                        .collect();
                    map(vec![
                        ("name", Reply::Bulk(cname.clone())),
                        ("seen-time", Reply::Int(c.seen_time)),
                        ("pel-count", Reply::Int(c.pel.len() as i64)),
                        ("pending", Reply::Array(cp)),
                    ])
                })
                .collect();
            map(vec![
                ("name", Reply::Bulk(name.clone())),
                ("last-delivered-id", id_reply(g.last_id)),
                ("entries-read", entries_read_reply(g)),
                ("lag", lag_reply(s, g)),
                ("pel-count", Reply::Int(g.pel.len() as i64)),
                ("pending", Reply::Array(pending)),
                ("consumers", Reply::Array(consumers)),
            ])
        })
        .collect();
    pairs.push(("groups", Reply::Array(groups)));
    map(pairs)
}
