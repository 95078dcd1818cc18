//! Client-side caching (key tracking), as tracking.c in Redis 7.0: the
//! tracking table (key → ids of the clients that may cache it), BCAST
//! prefixes, each client's tracking mode, and CLIENT TRACKING / CACHING /
//! TRACKINGINFO (GETREDIR, CLIENT LIST's `t`/`R`/`B` flags and `redir=`
//! read [`Tracking`] too).
//!
//! Owns when invalidations happen and where they go:
//! * a read-only command of a tracking (non-BCAST) client remembers the
//!   keys it read ([`after_call`], as `trackingRememberKeys`), subject to
//!   OPTIN/OPTOUT and CLIENT CACHING;
//! * a key a command changes (the `Db` changed-keys record, the same one
//!   WATCH and notifications read), a key expired (lazily or by the cron)
//!   or evicted ([`key_deleted`]) is forgotten and each interested client
//!   gets one invalidation (`trackingInvalidateKey`); BCAST prefixes
//!   collect the key for [`before_sleep`], which sends one array per
//!   prefix after the input is processed, as beforeSleep does;
//! * FLUSHDB/FLUSHALL send every tracking client a null ([`flushed`]);
//! * `tracking-table-max-keys`: over the limit, random keys are forgotten
//!   with invalidations ([`limit_used_slots`]).
//!
//! Invalidations for other connections are queued in `Server::pubsub_out`
//! (encoded per receiver); those for the client running the command wait
//! in `pending` and go out after its reply ([`after_reply`]), as Redis's
//! `tracking_pending_keys` — for a transaction, after EXEC's reply.
//! RESP3 clients get `>2 invalidate [keys]`; invalidations redirected to a
//! RESP2 client in pub/sub mode are `message __redis__:invalidate [keys]`.

use std::collections::{BTreeMap, BTreeSet};

use super::{eq_ic, err_syntax, Command, Ctx, Handler};
use crate::node::Server;
use crate::protocol::Reply;
use crate::store::db::SeededState;
use crate::ConnId;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "client|tracking" => client_tracking,
        "client|caching" => client_caching,
        "client|trackinginfo" => client_trackinginfo,
        "client|getredir" => client_getredir,
        _ => return None,
    })
}

/// One client's tracking mode (present while CLIENT TRACKING is on).
#[derive(Clone, Debug, Default)]
pub struct ClientTracking {
    pub id: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING YES (OPTIN) / NO (OPTOUT) for the next command.
    pub caching: bool,
    pub broken_redir: bool,
    /// The client id invalidations go to; 0 for the client itself.
    pub redirect: u64,
    /// BCAST prefixes (sorted, as Redis's rax).
    pub prefixes: BTreeSet<Vec<u8>>,
}

/// The keys a prefix's clients will be told about at the end of the
/// input, each with the client that last changed it (NOLOOP).
#[derive(Clone, Debug, Default)]
struct Bcast {
    keys: BTreeMap<Vec<u8>, Option<ConnId>>,
    clients: BTreeSet<ConnId>,
}

/// Ids in a key's set are ordered as Redis's rax orders them: by their
/// little-endian bytes.
fn rax_order(id: u64) -> u64 {
    id.swap_bytes()
}

/// An invalidation's value: one key, several (BCAST), or all (a flush).
enum Payload {
    Keys(Vec<Vec<u8>>),
    Null,
}

/// The server-wide tracking state.
#[derive(Clone, Debug)]
pub struct Tracking {
    /// Tracking clients by connection, and their ids.
    clients: BTreeMap<ConnId, ClientTracking>,
    by_id: std::collections::HashMap<u64, ConnId>,
    /// The tracking table: key → client ids (in rax order).
    table: indexmap::IndexMap<Vec<u8>, BTreeSet<u64>, SeededState>,
    /// Ids stored across the whole table (`tracking_total_items`).
    items: u64,
    prefixes: BTreeMap<Vec<u8>, Bcast>,
    /// The client whose command runs (`server.current_client`).
    current: Option<ConnId>,
    /// Invalidations for `current`, sent after its reply (`None`: a flush).
    pending: Vec<Option<Vec<u8>>>,
    /// Calls in progress (EXEC nests its commands).
    depth: usize,
    /// Per database, how far the changed-keys record has been read during
    /// the current top-level command (so EXEC does not re-read what its
    /// commands read).
    seen: Vec<(usize, usize)>,
    /// `trackingLimitUsedSlots`'s effort multiplier.
    timeout_counter: u64,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            clients: BTreeMap::new(),
            by_id: Default::default(),
            table: indexmap::IndexMap::with_hasher(SeededState(0x7ac4)),
            items: 0,
            prefixes: BTreeMap::new(),
            current: None,
            pending: Vec::new(),
            depth: 0,
            seen: Vec::new(),
            timeout_counter: 0,
        }
    }
}

impl Tracking {
    /// `tracking_clients`.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }
    /// `tracking_total_keys`.
    pub fn total_keys(&self) -> usize {
        self.table.len()
    }
    /// `tracking_total_items`.
    pub fn total_items(&self) -> u64 {
        self.items
    }
    /// `tracking_total_prefixes`.
    pub fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }
    pub fn client(&self, conn: ConnId) -> Option<&ClientTracking> {
        self.clients.get(&conn)
    }
    /// CLIENT LIST's tracking flags (`t`, `R`, `B`) and `redir=` value.
    pub fn list_fields(&self, conn: ConnId) -> (&'static str, i64) {
        match self.clients.get(&conn) {
            None => ("", -1),
            Some(c) => (
                match (c.broken_redir, c.bcast) {
                    (false, false) => "t",
                    (true, false) => "tR",
                    (false, true) => "tB",
                    (true, true) => "tRB",
                },
                c.redirect as i64,
            ),
        }
    }
    /// True while changed keys matter: something is tracked or a prefix
    /// is registered.
    fn active(&self) -> bool {
        !self.table.is_empty() || !self.prefixes.is_empty()
    }
}

// ---- hooks ----

/// Before a command runs (processCommand, after its checks): it is the
/// current client; the table is brought within `tracking-table-max-keys`.
/// Not for the commands EXEC runs.
pub fn before_command(ctx: &mut Ctx) {
    if ctx.client().is_none_or(|c| c.in_multi) {
        return;
    }
    let t = &mut ctx.srv.tracking;
    t.current = Some(ctx.conn);
    t.pending.clear();
    if !t.clients.is_empty() {
        limit_used_slots(ctx.srv);
    }
}

/// Marks of the changed-keys record taken before a handler runs, when
/// anything is tracked.
pub struct Marks(Vec<(usize, usize)>);

/// Before a handler runs: starts recording changed keys in every database.
pub fn before_call(ctx: &mut Ctx) -> Option<Marks> {
    ctx.srv.tracking.depth += 1;
    if !ctx.srv.tracking.active() {
        return None;
    }
    ctx.srv.ks.watch_all();
    let marks = ctx.srv.ks.dbs.iter().map(|d| d.changes_len()).collect();
    Some(Marks(marks))
}

/// After a handler ran: invalidates what it changed, then remembers the
/// keys a read-only command of a tracking client read.
pub fn after_call(ctx: &mut Ctx, cmd: &Command, argv: &[Vec<u8>], marks: Option<Marks>) {
    let conn = ctx.conn;
    if let Some(Marks(marks)) = marks {
        // RENAME signals its source before its destination (which the
        // store writes first).
        let first =
            matches!(cmd.fullname.as_str(), "rename" | "renamenx").then(|| argv[1].as_slice());
        invalidate_changes(ctx.srv, conn, &marks, first);
    }
    let t = &mut ctx.srv.tracking;
    t.depth = t.depth.saturating_sub(1);
    if t.depth == 0 {
        t.seen.clear();
    }
    // A read-only command remembers its keys; one run by a script
    // remembers the script's declared keys instead (the caller's command,
    // as Redis's call() does), and a read-only script command itself
    // (EVAL_RO, EVALSHA_RO, FCALL_RO) remembers nothing of its own.
    let script_ro = matches!(cmd.fullname.as_str(), "eval_ro" | "evalsha_ro" | "fcall_ro");
    if cmd.has(crate::commands::flag::READONLY) && !script_ro {
        let outer = ctx
            .client()
            .filter(|c| c.in_script && !c.script_argv.is_empty())
            .map(|c| c.script_argv.clone());
        match outer {
            Some(outer) => {
                if let Some(outer_cmd) = ctx.table.lookup(&outer) {
                    remember_keys(ctx, outer_cmd, &outer);
                }
            }
            None => remember_keys(ctx, cmd, argv),
        }
    }
}

/// Invalidates the keys changed in every database since `marks` (and not
/// already handled by a nested call).
fn invalidate_changes(
    srv: &mut Server,
    conn: ConnId,
    marks: &[(usize, usize)],
    first: Option<&[u8]>,
) {
    let mut changes = Vec::new();
    for (i, mark) in marks.iter().enumerate() {
        let seen = srv.tracking.seen.get(i).copied().unwrap_or((0, 0));
        let from = (mark.0.max(seen.0), mark.1.max(seen.1));
        let db = &srv.ks.dbs[i];
        let now = db.changes_len();
        if now.0 > from.0 {
            let (changed, expired) = db.changes_since(from);
            changes.push((changed, expired));
        }
        if srv.tracking.seen.len() <= i {
            srv.tracking.seen.resize(i + 1, (0, 0));
        }
        srv.tracking.seen[i] = now;
    }
    for (changed, expired) in changes {
        // The record holds a key once per store operation (a deletion
        // also drops its TTL), so count: a key changed only by lazy expiry
        // (each one recorded twice) has no client
        // (`signalModifiedKey(NULL, …)`) as far as NOLOOP goes.
        let mut count: std::collections::HashMap<&[u8], (usize, usize)> = Default::default();
        let mut order: Vec<&[u8]> = Vec::new();
        for k in &changed {
            let e = count.entry(k.as_slice()).or_default();
            if e.0 == 0 {
                order.push(k.as_slice());
            }
            e.0 += 1;
        }
        for k in &expired {
            if let Some(e) = count.get_mut(k.as_slice()) {
                e.1 += 1;
            }
        }
        if let Some(pos) = first.and_then(|f| order.iter().position(|k| *k == f)) {
            let k = order.remove(pos);
            order.insert(0, k);
        }
        for k in order {
            let (n, exp) = count[k];
            let by = if n <= 2 * exp { None } else { Some(conn) };
            invalidate_key(srv, k, by, true, true);
        }
    }
}

/// After a command's reply is written: the invalidations held for the
/// calling client follow it (into `out` when they are its own); CLIENT
/// CACHING lasts for the next command or transaction only.
pub fn after_reply(srv: &mut Server, conn: ConnId, argv: &[Vec<u8>], out: &mut Vec<u8>) {
    if srv.tracking.current == Some(conn) {
        srv.tracking.current = None;
    }
    // No client tracks: nothing to send, no CACHING flag to reset.
    if srv.tracking.pending.is_empty() && srv.tracking.clients.is_empty() {
        return;
    }
    for key in std::mem::take(&mut srv.tracking.pending) {
        let payload = match key {
            Some(k) => Payload::Keys(vec![k]),
            None => Payload::Null,
        };
        for (to, msg) in send(srv, conn, payload) {
            match srv.clients.get(&to) {
                Some(c) if to == conn => msg.encode(c.resp, out),
                _ => srv.pubsub_out.push((to, msg)),
            }
        }
    }
    let (in_multi, blocked) = match srv.clients.get(&conn) {
        Some(c) => (c.multi.queue.is_some(), c.blocked.is_some()),
        None => return,
    };
    if !in_multi && !blocked && !eq_ic(&argv[0], "client") {
        if let Some(t) = srv.tracking.clients.get_mut(&conn) {
            t.caching = false;
        }
    }
}

/// A blocked client is about to be served (it is the current client).
pub fn before_serve(srv: &mut Server, conn: ConnId) -> Option<Marks> {
    srv.tracking.current = Some(conn);
    srv.tracking.pending.clear();
    srv.tracking.seen.clear();
    if !srv.tracking.active() {
        return None;
    }
    srv.ks.watch_all();
    Some(Marks(srv.ks.dbs.iter().map(|d| d.changes_len()).collect()))
}

/// A blocked client was served and answered: what serving it changed is
/// invalidated, its own invalidations after its answer.
pub fn after_serve(srv: &mut Server, conn: ConnId, marks: Option<Marks>) {
    if let Some(Marks(marks)) = marks {
        invalidate_changes(srv, conn, &marks, None);
        srv.tracking.seen.clear();
    }
    srv.tracking.current = None;
    for key in std::mem::take(&mut srv.tracking.pending) {
        let payload = match key {
            Some(k) => Payload::Keys(vec![k]),
            None => Payload::Null,
        };
        let msgs = send(srv, conn, payload);
        srv.pubsub_out.extend(msgs);
    }
}

/// A key was deleted outside a command (active expiry, eviction).
pub fn key_deleted(srv: &mut Server, key: &[u8]) {
    if srv.tracking.active() {
        invalidate_key(srv, key, None, true, false);
    }
}

/// FLUSHDB / FLUSHALL: every tracking client is told all its keys are
/// invalid (a null), and the table is emptied.
pub fn flushed(srv: &mut Server) {
    let conns: Vec<ConnId> = srv.tracking.clients.keys().copied().collect();
    for conn in conns {
        if srv.tracking.current == Some(conn) {
            srv.tracking.pending.push(None);
        } else {
            let msgs = send(srv, conn, Payload::Null);
            srv.pubsub_out.extend(msgs);
        }
    }
    srv.tracking.table.clear();
    srv.tracking.items = 0;
}

/// The connection closed or RESET: tracking is off for it.
pub fn forget(srv: &mut Server, conn: ConnId) {
    disable(srv, conn);
    if srv.tracking.current == Some(conn) {
        srv.tracking.current = None;
        srv.tracking.pending.clear();
    }
}

/// The server cron's share (no current client): keys the active expiry
/// cycle deleted, by database, are invalidated; the table limit.
pub fn cron(srv: &mut Server, expired: &[(usize, Vec<Vec<u8>>)]) {
    let current = srv.tracking.current.take();
    if srv.tracking.active() {
        for (_, keys) in expired {
            for k in keys {
                invalidate_key(srv, k, None, true, false);
            }
        }
    }
    if !srv.tracking.clients.is_empty() {
        limit_used_slots(srv);
    }
    srv.tracking.current = current;
}

/// After the input is processed (beforeSleep): one invalidation per
/// prefix with the keys changed under it, to each of its clients.
pub fn before_sleep(srv: &mut Server) {
    if srv.tracking.clients.is_empty() {
        return;
    }
    let prefixes: Vec<Vec<u8>> = srv
        .tracking
        .prefixes
        .iter()
        .filter(|(_, b)| !b.keys.is_empty())
        .map(|(p, _)| p.clone())
        .collect();
    for p in prefixes {
        let Some(bs) = srv.tracking.prefixes.get_mut(&p) else {
            continue;
        };
        let keys = std::mem::take(&mut bs.keys);
        let clients: Vec<ConnId> = bs.clients.iter().copied().collect();
        for conn in clients {
            let noloop = srv.tracking.clients.get(&conn).is_some_and(|c| c.noloop);
            let list: Vec<Vec<u8>> = keys
                .iter()
                .filter(|(_, by)| !(noloop && **by == Some(conn)))
                .map(|(k, _)| k.clone())
                .collect();
            if list.is_empty() {
                continue;
            }
            let msgs = send(srv, conn, Payload::Keys(list));
            srv.pubsub_out.extend(msgs);
        }
    }
}

// ---- the table ----

/// `trackingInvalidateKey`: collects the key for BCAST prefixes (`bcast`),
/// and sends each client that may cache it one invalidation (held for the
/// current client while `in_call`), forgetting the key.
fn invalidate_key(srv: &mut Server, key: &[u8], by: Option<ConnId>, bcast: bool, in_call: bool) {
    let t = &mut srv.tracking;
    if bcast && !t.prefixes.is_empty() {
        for (p, bs) in t.prefixes.iter_mut() {
            if key.starts_with(p) {
                bs.keys.insert(key.to_vec(), by);
            }
        }
    }
    let Some(ids) = t.table.swap_remove(key) else {
        return;
    };
    t.items -= ids.len() as u64;
    for id in ids {
        let t = &mut srv.tracking;
        let id = rax_order(id);
        let Some(&target) = t.by_id.get(&id) else {
            continue;
        };
        let Some(ct) = t.clients.get(&target) else {
            continue;
        };
        if ct.bcast {
            continue;
        }
        let current = t.current == Some(target);
        if ct.noloop && current {
            continue;
        }
        if current && in_call {
            t.pending.push(Some(key.to_vec()));
        } else {
            let msgs = send(srv, target, Payload::Keys(vec![key.to_vec()]));
            srv.pubsub_out.extend(msgs);
        }
    }
}

/// `sendTrackingMessage`: the messages one invalidation for tracking
/// client `conn` makes (to it, to its redirection, or none).
fn send(srv: &mut Server, conn: ConnId, payload: Payload) -> Vec<(ConnId, Reply)> {
    let Some(me) = srv.clients.get(&conn) else {
        return Vec::new();
    };
    let redirect = srv.tracking.clients.get(&conn).map_or(0, |c| c.redirect);
    let mut to = conn;
    let mut redirected = false;
    if redirect != 0 {
        match srv.clients.values().find(|c| c.id == redirect) {
            None => {
                let resp = me.resp;
                if let Some(t) = srv.tracking.clients.get_mut(&conn) {
                    t.broken_redir = true;
                }
                if resp > 2 {
                    return vec![(
                        conn,
                        Reply::Push(vec![
                            Reply::bulk("tracking-redir-broken"),
                            Reply::Int(redirect as i64),
                        ]),
                    )];
                }
                return Vec::new();
            }
            Some(c) => {
                to = c.conn;
                redirected = true;
            }
        }
    }
    let target = &srv.clients[&to];
    let value = match payload {
        Payload::Keys(keys) => Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
        Payload::Null => Reply::Nil,
    };
    if target.resp > 2 {
        vec![(to, Reply::Push(vec![Reply::bulk("invalidate"), value]))]
    } else if redirected && target.subs.total() > 0 {
        vec![(
            to,
            Reply::Push(vec![
                Reply::bulk("message"),
                Reply::bulk("__redis__:invalidate"),
                value,
            ]),
        )]
    } else {
        Vec::new()
    }
}

/// `trackingRememberKeys`: the keys a read-only command read, for the
/// calling client in default (or OPTIN/OPTOUT) mode.
fn remember_keys(ctx: &mut Ctx, cmd: &Command, argv: &[Vec<u8>]) {
    let Some(ct) = ctx.srv.tracking.clients.get(&ctx.conn) else {
        return;
    };
    if ct.bcast || (ct.optin && !ct.caching) || (ct.optout && ct.caching) {
        return;
    }
    if cmd.has(crate::commands::flag::PUBSUB) {
        return;
    }
    let id = rax_order(ct.id);
    let t = &mut ctx.srv.tracking;
    for k in command_keys(cmd, argv) {
        let ids = match t.table.get_mut(k.as_slice()) {
            Some(ids) => ids,
            None => {
                t.table.insert(k.clone(), BTreeSet::new());
                t.table.get_mut(k.as_slice()).expect("inserted")
            }
        };
        if ids.insert(id) {
            t.items += 1;
        }
    }
}

/// `getKeysFromCommand` for read-only commands: the positions
/// `keyspecs::legacy_keys` finds (key specs, or the command's getkeys proc).
pub fn command_keys<'a>(cmd: &Command, argv: &'a [Vec<u8>]) -> Vec<&'a Vec<u8>> {
    super::keyspecs::legacy_keys(cmd, argv)
        .into_iter()
        .filter_map(|i| argv.get(i))
        .collect()
}

/// `trackingLimitUsedSlots`: over `tracking-table-max-keys`, forget
/// random keys (with invalidations) until under it, with an effort that
/// grows while the table stays over.
pub fn limit_used_slots(srv: &mut Server) {
    let max = srv
        .config
        .get("tracking-table-max-keys")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1_000_000) as usize;
    if max == 0 {
        return;
    }
    if srv.tracking.table.len() <= max {
        srv.tracking.timeout_counter = 0;
        return;
    }
    let mut effort = 100 * (srv.tracking.timeout_counter + 1);
    while effort > 0 {
        effort -= 1;
        let n = srv.tracking.table.len();
        if n == 0 {
            break;
        }
        let i = srv.rng.below(n);
        let key = srv.tracking.table.get_index(i).expect("in range").0.clone();
        invalidate_key(srv, &key, None, false, false);
        if srv.tracking.table.len() <= max {
            srv.tracking.timeout_counter = 0;
            return;
        }
    }
    srv.tracking.timeout_counter += 1;
}

/// `disableTracking`.
pub fn disable(srv: &mut Server, conn: ConnId) {
    let Some(c) = srv.tracking.clients.remove(&conn) else {
        return;
    };
    srv.tracking.by_id.remove(&c.id);
    for p in &c.prefixes {
        if let Some(bs) = srv.tracking.prefixes.get_mut(p) {
            bs.clients.remove(&conn);
            if bs.clients.is_empty() {
                srv.tracking.prefixes.remove(p);
            }
        }
    }
}

// ---- commands ----

fn err(msg: &str) -> Reply {
    Reply::err(format!("ERR {msg}"))
}

/// C's `%s`: up to the first NUL.
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP], with networking.c's checks in its order.
fn client_tracking(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut redir: i64 = 0;
    let (mut bcast, mut optin, mut optout, mut noloop) = (false, false, false, false);
    let mut prefixes: Vec<&Vec<u8>> = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let a = &argv[j];
        if eq_ic(a, "redirect") && more > 0 {
            j += 1;
            if redir != 0 {
                return err("A client can only redirect to a single other client");
            }
            redir = match super::parse_int(&argv[j]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            if !ctx.srv.clients.values().any(|c| c.id as i64 == redir) {
                return err("The client ID you want redirect to does not exist");
            }
        } else if eq_ic(a, "bcast") {
            bcast = true;
        } else if eq_ic(a, "optin") {
            optin = true;
        } else if eq_ic(a, "optout") {
            optout = true;
        } else if eq_ic(a, "noloop") {
            noloop = true;
        } else if eq_ic(a, "prefix") && more > 0 {
            j += 1;
            prefixes.push(&argv[j]);
        } else {
            return err_syntax();
        }
        j += 1;
    }
    let conn = ctx.conn;
    if eq_ic(&argv[2], "off") {
        disable(ctx.srv, conn);
        return Reply::ok();
    }
    if !eq_ic(&argv[2], "on") {
        return err_syntax();
    }
    if !bcast && !prefixes.is_empty() {
        return err("PREFIX option requires BCAST mode to be enabled");
    }
    let old = ctx.srv.tracking.clients.get(&conn).cloned();
    if old.as_ref().is_some_and(|o| o.bcast != bcast) {
        return err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    if bcast && (optin || optout) {
        return err("OPTIN and OPTOUT are not compatible with BCAST");
    }
    if optin && optout {
        return err("You can't specify both OPTIN mode and OPTOUT mode");
    }
    if old
        .as_ref()
        .is_some_and(|o| (optin && o.optout) || (optout && o.optin))
    {
        return err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    // `checkPrefixCollisionsOrReply`: an overlap among the new prefixes
    // found past the first one replies the error and yet goes on, so Redis
    // 7.0 answers that error and then OK.
    let mut collision: Option<Reply> = None;
    if bcast {
        let existing: Vec<Vec<u8>> = old
            .as_ref()
            .map(|o| o.prefixes.iter().cloned().collect())
            .unwrap_or_default();
        'outer: for i in 0..prefixes.len() {
            if let Some(e) = existing.iter().find(|e| overlaps(e, prefixes[i])) {
                return err(&format!(
                    "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    c_str(prefixes[i]),
                    c_str(e)
                ));
            }
            for p in &prefixes[i + 1..] {
                if overlaps(prefixes[i], p) {
                    let e = err(&format!(
                        "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                        c_str(prefixes[i]),
                        c_str(p)
                    ));
                    if i == 0 {
                        return e;
                    }
                    collision = Some(e);
                    break 'outer;
                }
            }
        }
    }
    // `enableTracking`.
    let id = ctx.client().map_or(0, |c| c.id);
    let t = &mut ctx.srv.tracking;
    let mut ct = old.unwrap_or_default();
    ct.id = id;
    ct.broken_redir = false;
    ct.redirect = redir as u64;
    ct.bcast = bcast;
    ct.optin = optin;
    ct.optout = optout;
    ct.noloop = noloop;
    if bcast {
        let new: Vec<Vec<u8>> = if prefixes.is_empty() {
            vec![Vec::new()]
        } else {
            prefixes.iter().map(|p| p.to_vec()).collect()
        };
        for p in new {
            let bs = t.prefixes.entry(p.clone()).or_default();
            if bs.clients.insert(conn) {
                ct.prefixes.insert(p);
            }
        }
    }
    t.by_id.insert(id, conn);
    t.clients.insert(conn, ct);
    match collision {
        Some(e) => Reply::Seq(vec![e, Reply::ok()]),
        None => Reply::ok(),
    }
}

fn client_caching(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let conn = ctx.conn;
    let Some(ct) = ctx.srv.tracking.clients.get_mut(&conn) else {
        return err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    };
    if eq_ic(&argv[2], "yes") {
        if !ct.optin {
            return err("CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
        }
    } else if eq_ic(&argv[2], "no") {
        if !ct.optout {
            return err("CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
        }
    } else {
        return err_syntax();
    }
    ct.caching = true;
    Reply::ok()
}

fn client_getredir(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    Reply::Int(ctx.srv.tracking.list_fields(ctx.conn).1)
}

fn client_trackinginfo(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let (flags, redirect, prefixes) = match ctx.srv.tracking.clients.get(&ctx.conn) {
        None => (vec!["off"], -1, Vec::new()),
        Some(c) => {
            let mut f = vec!["on"];
            if c.bcast {
                f.push("bcast");
            }
            if c.optin {
                f.push("optin");
                if c.caching {
                    f.push("caching-yes");
                }
            }
            if c.optout {
                f.push("optout");
                if c.caching {
                    f.push("caching-no");
                }
            }
            if c.noloop {
                f.push("noloop");
            }
            if c.broken_redir {
                f.push("broken_redirect");
            }
            (
                f,
                c.redirect as i64,
                c.prefixes.iter().cloned().map(Reply::Bulk).collect(),
            )
        }
    };
    Reply::Map(vec![
        (
            Reply::bulk("flags"),
            Reply::Set(flags.into_iter().map(Reply::bulk).collect()),
        ),
        (Reply::bulk("redirect"), Reply::Int(redirect)),
        (Reply::bulk("prefixes"), Reply::Array(prefixes)),
    ])
}

#[cfg(test)]
mod tests {
    use crate::node::{Input, Node, Output};
    use crate::protocol::encode_request;
    use crate::{ConnId, Millis};

    fn open(n: &mut Node, id: u64) -> ConnId {
        let conn = ConnId(id);
        n.handle(
            Millis(1000),
            Input::ConnOpened {
                conn,
                peer: format!("127.0.0.1:{}", 40000 + id),
                local: "127.0.0.1:6379".into(),
            },
        );
        conn
    }

    /// Sends a command; returns every connection's output, in order.
    fn cmd(n: &mut Node, conn: ConnId, parts: &[&str]) -> Vec<(u64, String)> {
        let argv: Vec<Vec<u8>> = parts.iter().map(|p| p.as_bytes().to_vec()).collect();
        n.handle(
            Millis(1000),
            Input::ClientBytes {
                conn,
                bytes: &encode_request(&argv),
            },
        );
        let mut out = Vec::new();
        while let Some(o) = n.poll_output() {
            if let Output::ToClient { conn, bytes } = o {
                out.push((conn.0, String::from_utf8_lossy(&bytes).replace("\r\n", " ")));
            }
        }
        out
    }

    #[test]
    fn own_invalidation_follows_the_reply() {
        let mut n = Node::new(1);
        let c = open(&mut n, 1);
        cmd(&mut n, c, &["HELLO", "3"]);
        assert_eq!(cmd(&mut n, c, &["CLIENT", "TRACKING", "on"])[0].1, "+OK ");
        cmd(&mut n, c, &["SET", "k", "1"]);
        cmd(&mut n, c, &["GET", "k"]);
        let out = cmd(&mut n, c, &["INCR", "k"]);
        assert_eq!(out, vec![(1, ":2 >2 $10 invalidate *1 $1 k ".into())]);
        // Forgotten once invalidated.
        assert_eq!(cmd(&mut n, c, &["INCR", "k"]), vec![(1, ":3 ".into())]);
    }

    #[test]
    fn transaction_invalidations_come_after_exec() {
        let mut n = Node::new(1);
        let c = open(&mut n, 1);
        cmd(&mut n, c, &["HELLO", "3"]);
        cmd(&mut n, c, &["CLIENT", "TRACKING", "on"]);
        cmd(&mut n, c, &["MSET", "a", "1", "b", "2"]);
        cmd(&mut n, c, &["GET", "a"]);
        cmd(&mut n, c, &["MULTI"]);
        cmd(&mut n, c, &["INCR", "a"]);
        cmd(&mut n, c, &["GET", "b"]);
        let out = cmd(&mut n, c, &["EXEC"]);
        assert_eq!(
            out,
            vec![(1, "*2 :2 $1 2 >2 $10 invalidate *1 $1 a ".into())]
        );
        // b was read inside the transaction: tracked.
        let out = cmd(&mut n, c, &["DEL", "b"]);
        assert_eq!(out, vec![(1, ":1 >2 $10 invalidate *1 $1 b ".into())]);
    }

    #[test]
    fn redirect_to_resp2_subscriber_and_broken_redirect() {
        let mut n = Node::new(1);
        let t = open(&mut n, 1);
        let s = open(&mut n, 2);
        let w = open(&mut n, 3);
        cmd(&mut n, s, &["SUBSCRIBE", "__redis__:invalidate"]);
        cmd(&mut n, t, &["HELLO", "3"]);
        cmd(&mut n, t, &["CLIENT", "TRACKING", "on", "REDIRECT", "2"]);
        cmd(&mut n, t, &["GET", "x"]);
        let out = cmd(&mut n, w, &["SET", "x", "1"]);
        assert_eq!(
            out,
            vec![
                (2, "*3 $7 message $20 __redis__:invalidate *1 $1 x ".into()),
                (3, "+OK ".into())
            ]
        );
        n.handle(Millis(1000), Input::ConnClosed { conn: s });
        cmd(&mut n, t, &["GET", "x"]);
        let out = cmd(&mut n, w, &["SET", "x", "2"]);
        assert_eq!(
            out,
            vec![
                (1, ">2 $21 tracking-redir-broken :2 ".into()),
                (3, "+OK ".into())
            ]
        );
        let out = cmd(&mut n, t, &["CLIENT", "TRACKINGINFO"]);
        assert!(out[0].1.contains("broken_redirect"), "{out:?}");
    }

    #[test]
    fn bcast_after_the_input_and_noloop() {
        let mut n = Node::new(1);
        let b = open(&mut n, 1);
        let w = open(&mut n, 2);
        cmd(&mut n, b, &["HELLO", "3"]);
        cmd(
            &mut n,
            b,
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:", "NOLOOP",
            ],
        );
        let out = cmd(&mut n, w, &["MSET", "a:2", "1", "a:1", "1", "b:1", "1"]);
        assert_eq!(
            out,
            vec![
                (2, "+OK ".into()),
                (1, ">2 $10 invalidate *2 $3 a:1 $3 a:2 ".into())
            ]
        );
        assert_eq!(
            cmd(&mut n, b, &["SET", "a:3", "x"]),
            vec![(1, "+OK ".into())]
        );
    }

    #[test]
    fn table_limit_evicts_with_invalidations() {
        let mut n = Node::new(1);
        let c = open(&mut n, 1);
        cmd(&mut n, c, &["HELLO", "3"]);
        cmd(&mut n, c, &["CLIENT", "TRACKING", "on"]);
        cmd(&mut n, c, &["MGET", "a", "b", "c"]);
        cmd(
            &mut n,
            c,
            &["CONFIG", "SET", "tracking-table-max-keys", "1"],
        );
        let out = cmd(&mut n, c, &["PING"]);
        // Two keys forgotten before PING's reply, one kept.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.matches("invalidate").count(), 2, "{out:?}");
        assert!(out[0].1.ends_with("+PONG "), "{out:?}");
        let info = cmd(&mut n, c, &["INFO", "stats"]);
        assert!(info[0].1.contains("tracking_total_keys:1"), "{info:?}");
    }
}

#[cfg(test)]
mod expiry_tests {
    use super::tests_support::*;

    /// A key expired lazily by a NOLOOP BCAST client's own read is still
    /// announced to it: the expiry has no client.
    #[test]
    fn lazy_expiry_reaches_noloop_bcast() {
        let mut n = crate::node::Node::new(1);
        let t = open(&mut n, 1);
        let s = open(&mut n, 2);
        let w = open(&mut n, 3);
        cmd(&mut n, s, &["SUBSCRIBE", "__redis__:invalidate"], 1000);
        let on = [
            "CLIENT", "TRACKING", "on", "REDIRECT", "2", "BCAST", "NOLOOP",
        ];
        cmd(&mut n, t, &on, 1000);
        let msg = "*3 $7 message $20 __redis__:invalidate *1 $2 ab ";
        let o = cmd(&mut n, w, &["SET", "ab", "t", "PX", "2"], 1000);
        assert_eq!(o, vec![(3, "+OK ".into()), (2, msg.into())]);
        let o = cmd(&mut n, t, &["TTL", "ab"], 1100);
        assert_eq!(o, vec![(1, ":-2 ".into()), (2, msg.into())]);
        // Its own write is not.
        assert_eq!(cmd(&mut n, t, &["SET", "ab", "1"], 1100).len(), 1);
    }
}

#[cfg(test)]
mod tests_support {
    use crate::node::{Input, Node, Output};
    use crate::protocol::encode_request;
    use crate::{ConnId, Millis};
    pub fn open(n: &mut Node, id: u64) -> ConnId {
        let conn = ConnId(id);
        n.handle(
            Millis(1000),
            Input::ConnOpened {
                conn,
                peer: format!("127.0.0.1:{}", 40000 + id),
                local: "127.0.0.1:6379".into(),
            },
        );
        conn
    }
    pub fn cmd(n: &mut Node, conn: ConnId, parts: &[&str], t: u64) -> Vec<(u64, String)> {
        let argv: Vec<Vec<u8>> = parts.iter().map(|p| p.as_bytes().to_vec()).collect();
        n.handle(
            Millis(t),
            Input::ClientBytes {
                conn,
                bytes: &encode_request(&argv),
            },
        );
        let mut out = Vec::new();
        while let Some(o) = n.poll_output() {
            if let Output::ToClient { conn, bytes } = o {
                out.push((conn.0, String::from_utf8_lossy(&bytes).replace("\r\n", " ")));
            }
        }
        out
    }
}
