//! The command table and dispatch.
//!
//! Arity, flags, key positions and docs come from Redis itself
//! (`engine/data/command-*.resp`, read off redis-server 7.0 by
//! `xtask/gen_command_data.py`), so COMMAND INFO/DOCS and redis-cli's hints
//! match; each supported command (or subcommand) is bound to one handler
//! `fn(&mut Ctx, &[Vec<u8>]) -> Reply` in its family's module. A command
//! without a handler is not in the table and answers as Redis answers an
//! unknown command.

pub mod admin;
pub mod bitmaps;
pub mod blocking;
pub mod cluster;
pub mod coll;
pub mod docs;
pub mod dump;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod keys;
pub mod keyspecs;
pub mod latency;
pub mod lists;
pub mod migrate;
pub mod monitor;
pub mod multi;
pub mod notify;
pub mod persist;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod tracking;
pub mod zsets;

use std::collections::HashMap;

use crate::node::{Client, Server};
use crate::protocol::{parse_reply, Reply};
use crate::store::Db;
use crate::time::Millis;
use crate::NodeEvent;

pub type Handler = fn(&mut Ctx, &[Vec<u8>]) -> Reply;

/// Everything a handler sees: the server state, the calling connection, the time.
pub struct Ctx<'a> {
    pub srv: &'a mut Server,
    pub table: &'a CommandTable,
    pub conn: crate::ConnId,
    pub now: Millis,
    pub events: &'a mut Vec<NodeEvent>,
    /// The database when no client is calling (effects applied on a replica).
    pub db_override: Option<usize>,
}

impl Ctx<'_> {
    pub fn client(&self) -> Option<&Client> {
        self.srv.clients.get(&self.conn)
    }
    /// Blocks the calling client (WAIT, a blocking pop, a script's or a
    /// save's wait…), noting it where per-input checks look.
    pub fn block(&mut self, b: crate::node::Blocked) {
        self.srv.blocked_conns.insert(self.conn);
        self.client_mut().blocked = Some(b);
    }
    pub fn client_mut(&mut self) -> &mut Client {
        self.srv
            .clients
            .get_mut(&self.conn)
            .expect("the calling client exists while its command runs")
    }
    pub fn db_index(&self) -> usize {
        match self.db_override {
            Some(d) => d,
            None => self.client().map(|c| c.db).unwrap_or(0),
        }
    }
    pub fn db(&mut self) -> &mut Db {
        let i = self.db_index();
        &mut self.srv.ks.dbs[i]
    }
}

/// One command or subcommand.
pub struct Command {
    /// Lower-case full name: "get", "config|get".
    pub fullname: String,
    /// Its index in [`CommandTable::names`] (every command and subcommand
    /// has one): a node's per-command tables (commandstats, latency
    /// histograms) are arrays indexed by it, not maps keyed by name.
    pub id: usize,
    pub arity: i64,
    /// The COMMAND INFO entry, exactly as Redis sends it.
    pub info: Reply,
    pub docs: Option<Reply>,
    pub first_key: i64,
    pub last_key: i64,
    pub key_step: i64,
    /// Key specs and getkeys proc, parsed once from `info` (COMMAND GETKEYS).
    pub key_specs: keyspecs::KeySpecs,
    pub flags: Vec<String>,
    /// The flags the server tests on every call, as bits ([`flag`]).
    pub bits: u32,
    pub handler: Option<Handler>,
    pub subcommands: ByName<Command>,
}

/// Command flags as bits, so a call tests them without comparing strings.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const FAST: u32 = 1 << 3;
    pub const NO_AUTH: u32 = 1 << 4;
    pub const NO_MULTI: u32 = 1 << 5;
    pub const STALE: u32 = 1 << 6;
    pub const ALLOW_BUSY: u32 = 1 << 7;
    pub const SKIP_SLOWLOG: u32 = 1 << 8;
    pub const PUBSUB: u32 = 1 << 9;
    pub const NOSCRIPT: u32 = 1 << 10;
    /// Served for a slot being imported as if the client had sent ASKING
    /// (RESTORE-ASKING, which MIGRATE sends in cluster mode).
    pub const ASKING: u32 = 1 << 11;

    /// The bit of a flag as COMMAND INFO names it (0 for the others).
    pub fn of(name: &str) -> u32 {
        match name {
            "write" => WRITE,
            "readonly" => READONLY,
            "denyoom" => DENYOOM,
            "fast" => FAST,
            "no_auth" => NO_AUTH,
            "no_multi" => NO_MULTI,
            "stale" => STALE,
            "allow_busy" => ALLOW_BUSY,
            "skip_slowlog" => SKIP_SLOWLOG,
            "pubsub" => PUBSUB,
            "noscript" => NOSCRIPT,
            "asking" => ASKING,
            _ => 0,
        }
    }
}

impl Command {
    /// True if the command has any of the flags in `bits`.
    pub fn has(&self, bits: u32) -> bool {
        self.bits & bits != 0
    }
}

/// Commands by lower-case name, hashed with the engine's fast hash (a
/// lookup per call).
pub type ByName<V> = HashMap<String, V, crate::store::FixedState>;

pub struct CommandTable {
    pub commands: ByName<Command>,
    /// Full names by [`Command::id`]: commands in name order, each
    /// followed by its subcommands in name order.
    pub names: Vec<String>,
    /// HELP replies by command name, as Redis words them.
    pub help: HashMap<String, Reply>,
}

const INFO: &[u8] = include_bytes!("../../data/command-info.resp");
pub(crate) const DOCS: &[u8] = include_bytes!("../../data/command-docs.resp");
const HELP: &[u8] = include_bytes!("../../data/help.resp");

fn handler_for(fullname: &str) -> Option<Handler> {
    keys::handler(fullname)
        .or_else(|| strings::handler(fullname))
        .or_else(|| server::handler(fullname))
        .or_else(|| replication::handler(fullname))
        .or_else(|| bitmaps::handler(fullname))
        .or_else(|| hll::handler(fullname))
        .or_else(|| hashes::handler(fullname))
        .or_else(|| sets::handler(fullname))
        .or_else(|| lists::handler(fullname))
        .or_else(|| zsets::handler(fullname))
        .or_else(|| geo::handler(fullname))
        .or_else(|| streams::handler(fullname))
        .or_else(|| multi::handler(fullname))
        .or_else(|| pubsub::handler(fullname))
        .or_else(|| sort::handler(fullname))
        .or_else(|| dump::handler(fullname))
        .or_else(|| migrate::handler(fullname))
        .or_else(|| persist::handler(fullname))
        .or_else(|| slowlog::handler(fullname))
        .or_else(|| latency::handler(fullname))
        .or_else(|| monitor::handler(fullname))
        .or_else(|| crate::scripting::handler(fullname))
        .or_else(|| admin::handler(fullname))
        .or_else(|| tracking::handler(fullname))
        .or_else(|| cluster::handler(fullname))
}

fn int_at(r: &Reply, i: usize) -> i64 {
    match r {
        Reply::Array(v) => match v.get(i) {
            Some(Reply::Int(n)) => *n,
            _ => 0,
        },
        _ => 0,
    }
}

fn str_of(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) => s.clone(),
        _ => String::new(),
    }
}

fn build(entry: &Reply, docs: &HashMap<String, Reply>) -> Option<Command> {
    let Reply::Array(fields) = entry else {
        return None;
    };
    let fullname = str_of(fields.first()?).to_ascii_lowercase();
    let mut subcommands = ByName::default();
    if let Some(Reply::Array(subs)) = fields.get(9) {
        for s in subs {
            if let Some(c) = build(s, docs) {
                subcommands.insert(c.fullname.split('|').nth(1).unwrap_or("").to_string(), c);
            }
        }
    }
    let handler = handler_for(&fullname);
    if handler.is_none() && subcommands.is_empty() {
        return None;
    }
    // Keep COMMAND INFO truthful: list only the subcommands we implement.
    let mut info_fields = fields.clone();
    if !subcommands.is_empty() {
        let mut kept: Vec<&Command> = subcommands.values().collect();
        kept.sort_by(|a, b| a.fullname.cmp(&b.fullname));
        let original = match fields.get(9) {
            Some(Reply::Array(v)) => v.clone(),
            _ => Vec::new(),
        };
        let keep: Vec<Reply> = original
            .into_iter()
            .filter(|s| match s {
                Reply::Array(f) => {
                    subcommands.contains_key(str_of(&f[0]).split('|').nth(1).unwrap_or(""))
                }
                _ => false,
            })
            .collect();
        info_fields[9] = Reply::Array(keep);
    }
    let flags: Vec<String> = match fields.get(2) {
        Some(Reply::Set(v)) | Some(Reply::Array(v)) => v.iter().map(str_of).collect(),
        _ => Vec::new(),
    };
    let bits = flags.iter().fold(0, |b, f| b | flag::of(f));
    // ZRANK/ZREVRANK take Redis 7.2's WITHSCORE (ElastiCache's Valkey 7.2
    // has it); the rest of the table is 7.0's.
    let mut arity = int_at(entry, 1);
    if matches!(fullname.as_str(), "zrank" | "zrevrank") {
        arity = -3;
        info_fields[1] = Reply::Int(-3);
    }
    Some(Command {
        docs: docs.get(&fullname).cloned(),
        arity,
        first_key: int_at(entry, 3),
        last_key: int_at(entry, 4),
        key_step: int_at(entry, 5),
        key_specs: keyspecs::KeySpecs::parse(&fullname, entry),
        info: Reply::Array(info_fields),
        flags,
        bits,
        handler,
        subcommands,
        fullname,
        id: 0,
    })
}

/// Gives every command and subcommand its [`Command::id`]; the names by id.
fn number_commands(commands: &mut ByName<Command>) -> Vec<String> {
    let mut bases: Vec<String> = commands.keys().cloned().collect();
    bases.sort_unstable();
    let mut names = Vec::new();
    for b in bases {
        let Some(c) = commands.get_mut(&b) else {
            continue;
        };
        c.id = names.len();
        names.push(c.fullname.clone());
        let mut subs: Vec<String> = c.subcommands.keys().cloned().collect();
        subs.sort_unstable();
        for s in subs {
            if let Some(sc) = c.subcommands.get_mut(&s) {
                sc.id = names.len();
                names.push(sc.fullname.clone());
            }
        }
    }
    names
}

/// Redis's docs reply nests subcommand docs by full name; flatten it.
fn collect_docs(name: &str, doc: &Reply, out: &mut HashMap<String, Reply>) {
    let mut doc = doc.clone();
    if let Reply::Map(pairs) = &mut doc {
        for (k, v) in pairs.iter_mut() {
            if str_of(k) == "subcommands" {
                if let Reply::Map(subs) = v {
                    for (sk, sv) in subs.iter() {
                        collect_docs(&str_of(sk).to_ascii_lowercase(), sv, out);
                    }
                }
            }
        }
    }
    out.insert(name.to_string(), doc);
}

/// The table is immutable data derived from the compiled-in Redis metadata;
/// every node shares one copy instead of parsing ~60 KB per node.
static TABLE: std::sync::OnceLock<CommandTable> = std::sync::OnceLock::new();

impl CommandTable {
    pub fn shared() -> &'static CommandTable {
        TABLE.get_or_init(CommandTable::load)
    }

    pub fn load() -> CommandTable {
        let mut docs = HashMap::new();
        if let Ok(Some((Reply::Map(pairs), _))) = parse_reply(DOCS) {
            for (k, v) in pairs {
                collect_docs(&str_of(&k).to_ascii_lowercase(), &v, &mut docs);
            }
        }
        let mut commands = ByName::default();
        if let Ok(Some((Reply::Array(entries), _))) = parse_reply(INFO) {
            for e in &entries {
                if let Some(c) = build(e, &docs) {
                    commands.insert(c.fullname.clone(), c);
                }
            }
        }
        // Subcommand docs in a parent's DOCS reply: keep only those we implement.
        for c in commands.values_mut() {
            if c.subcommands.is_empty() {
                continue;
            }
            let implemented: Vec<String> =
                c.subcommands.values().map(|s| s.fullname.clone()).collect();
            if let Some(Reply::Map(pairs)) = &mut c.docs {
                for (k, v) in pairs.iter_mut() {
                    if str_of(k) == "subcommands" {
                        if let Reply::Map(subs) = v {
                            subs.retain(|(sk, _)| {
                                implemented.contains(&str_of(sk).to_ascii_lowercase())
                            });
                        }
                    }
                }
            }
        }
        let mut help = HashMap::new();
        let mut rest = HELP;
        for name in [
            "object", "config", "client", "command", "memory", "script", "function", "slowlog",
            "latency", "module",
        ] {
            if let Ok(Some((r, n))) = parse_reply(rest) {
                help.insert(name.to_string(), r);
                rest = &rest[n..];
            }
        }
        let names = number_commands(&mut commands);
        CommandTable {
            commands,
            names,
            help,
        }
    }

    /// The command or subcommand named `fullname` ("get", "config|get").
    pub fn by_fullname(&self, fullname: &str) -> Option<&Command> {
        match fullname.split_once('|') {
            None => self.commands.get(fullname),
            Some((base, sub)) => self.commands.get(base)?.subcommands.get(sub),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Command> {
        self.commands.get(name)
    }

    /// Resolves argv to a command or subcommand, as Redis's `lookupCommand`.
    pub fn lookup(&self, argv: &[Vec<u8>]) -> Option<&Command> {
        let mut buf = [0u8; 32];
        let cmd = self.commands.get(lowercase(&argv[0], &mut buf)?)?;
        if cmd.subcommands.is_empty() || argv.len() < 2 {
            return Some(cmd);
        }
        cmd.subcommands.get(lowercase(&argv[1], &mut buf)?)
    }
}

pub fn arity_ok(arity: i64, argc: usize) -> bool {
    let argc = argc as i64;
    (arity > 0 && argc == arity) || (arity < 0 && argc >= -arity)
}

/// Redis's `%.128s`, with newlines made spaces as `rejectCommandFormat` does.
fn sanitize(b: &[u8], max: usize) -> String {
    // C's %s stops at the first NUL byte.
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    let s = String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned();
    s.replace(['\r', '\n'], " ")
}

/// What a RESP2 client with subscriptions may run.
const PUBSUB_CONTEXT: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "psubscribe",
    "unsubscribe",
    "sunsubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Commands that run at once inside MULTI instead of being queued.
const RUN_IN_MULTI: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// Runs one command line: lookup, arity check, handler, statistics; inside
/// MULTI, queues it instead (a refused command flags the transaction).
pub fn dispatch(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let in_multi = ctx
        .client()
        .is_some_and(|c| c.multi.queue.is_some() && !c.in_multi);
    if !in_multi {
        return run(ctx, argv);
    }
    match check(ctx, argv) {
        Err(e) => {
            ctx.client_mut().multi.dirty_exec = true;
            rejected(ctx, argv);
            exec_refused(ctx, argv, e)
        }
        Ok(cmd) if RUN_IN_MULTI.contains(&cmd.fullname.as_str()) => run(ctx, argv),
        Ok(cmd) if cmd.has(flag::NO_MULTI) => {
            ctx.client_mut().multi.dirty_exec = true;
            ctx.srv.stats.cmd(cmd.id).rejected += 1;
            Reply::err("ERR Command not allowed inside a transaction")
        }
        Ok(_) => {
            if let Some(q) = ctx.client_mut().multi.queue.as_mut() {
                q.push(argv.to_vec());
            }
            Reply::Simple("QUEUED".into())
        }
    }
}

/// A refused EXEC ends its transaction, with the reason (`execCommandAbort`);
/// any other refusal is answered as it is.
fn exec_refused(ctx: &mut Ctx, argv: &[Vec<u8>], e: Reply) -> Reply {
    let in_multi = ctx.client().is_some_and(|c| c.multi.queue.is_some());
    if in_multi && argv[0].eq_ignore_ascii_case(b"exec") {
        multi::abort_exec(ctx.srv, ctx.conn);
        if let Reply::Error(msg) = &e {
            return Reply::err(format!("EXECABORT Transaction discarded because of: {msg}"));
        }
    }
    e
}

/// A command refused before it ran counts as a rejected call of the
/// command, when there is one (not for an unknown (sub)command).
fn rejected(ctx: &mut Ctx, argv: &[Vec<u8>]) {
    if let Some(cmd) = ctx.table.lookup(argv) {
        ctx.srv.stats.cmd(cmd.id).rejected += 1;
    }
}

fn run(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let cmd = match check(ctx, argv) {
        Ok(c) => c,
        Err(e) => {
            rejected(ctx, argv);
            return exec_refused(ctx, argv, e);
        }
    };
    let Some(handler) = cmd.handler else {
        return wrong_args(&cmd.fullname);
    };
    ctx.srv.stats.commands_processed += 1;
    if let Some(c) = ctx.srv.clients.get_mut(&ctx.conn) {
        if c.last_cmd != cmd.fullname {
            c.last_cmd.clone_from(&cmd.fullname);
        }
    }
    let start = ctx.srv.micros();
    let reply = run_handler(ctx, cmd, handler, argv);
    let duration = ctx.srv.micros().saturating_sub(start);
    let blocked = ctx.client().is_some_and(|c| c.blocked.is_some());
    if !blocked && ctx.srv.config.latency_tracking() {
        ctx.srv.latency.record_command(cmd.id, duration);
    }
    let threshold = ctx.srv.config.latency_threshold_ms();
    if threshold > 0 {
        let fast = cmd.has(flag::FAST);
        let event = if fast { "fast-command" } else { "command" };
        let secs = ctx.now.0 / 1000;
        ctx.srv
            .latency
            .add_sample_if_needed(event, threshold, secs, duration / 1000);
    }
    let stat = ctx.srv.stats.cmd(cmd.id);
    stat.calls += 1;
    stat.usec += duration;
    if reply.is_error() {
        stat.failed += 1;
    }
    after_call(ctx, cmd, argv, duration);
    reply
}

/// Redis's CMD_MAY_REPLICATE, which COMMAND INFO hides on purpose: the
/// commands that may add to the replication stream without being writes.
pub fn may_replicate(cmd: &Command) -> bool {
    matches!(
        cmd.fullname.as_str(),
        "eval" | "evalsha" | "fcall" | "pfcount" | "publish" | "spublish"
    )
}

/// `scriptCall`'s refusals of a known command: arity, `noscript`, writes
/// from read-only scripts, a read-only replica, too few replicas, OOM.
fn script_checks(
    ctx: &mut Ctx,
    state: &crate::scripting::RunState,
    cmd: &Command,
    argv: &[Vec<u8>],
) -> Result<(), String> {
    if !arity_ok(cmd.arity, argv.len()) {
        return Err("Wrong number of args calling Redis command from script".into());
    }
    if cmd.has(flag::NOSCRIPT) {
        return Err("This Redis command is not allowed from script".into());
    }
    let (write, may_replicate) = (cmd.has(flag::WRITE), may_replicate(cmd));
    if state.readonly && (write || may_replicate) {
        return Err("Write commands are not allowed from read-only scripts.".into());
    }
    if write && !state.wrote {
        let repl = ctx.srv.config.repl();
        let replica = ctx.srv.repl.is_replica();
        if replica && repl.read_only {
            return Err("-READONLY You can't write against a read only replica.".into());
        }
        if ctx.srv.too_few_replicas(ctx.now) {
            return Err("-NOREPLICAS Not enough good replicas to write.".into());
        }
    }
    if !state.allow_oom
        && !state.wrote
        && cmd.has(flag::DENYOOM)
        && ctx.srv.config.maxmemory() > 0
        && server::used_memory(ctx.srv) as u64 > ctx.srv.config.maxmemory()
    {
        return Err("-OOM command not allowed when used memory > 'maxmemory'.".into());
    }
    Ok(())
}

/// `scriptCall`: a command run by `redis.call` / `redis.pcall`, with the
/// checks Redis makes for scripts (the command exists with its arity, is
/// allowed in scripts, may write in this script, fits in memory) — an
/// `Err` carries the script-level error text — then run on the caller's
/// connection as the script's client: its own database and RESP version,
/// never blocking (a blocking command answers at once, as in EXEC).
pub fn script_call(
    ctx: &mut Ctx,
    state: &mut crate::scripting::RunState,
    argv: &[Vec<u8>],
) -> Result<Reply, String> {
    let table = ctx.table;
    let cmd = match table.lookup(argv) {
        Some(c) if c.handler.is_some() => c,
        _ => return Err("Unknown Redis command called from script".into()),
    };
    // A known command refused here counts as a rejected call of its own
    // (`incrCommandStatsOnError(cmd, ERROR_COMMAND_REJECTED)`).
    if let Err(e) = script_checks(ctx, state, cmd, argv) {
        ctx.srv.stats.cmd(cmd.id).rejected += 1;
        return Err(e);
    }
    let write = cmd.has(flag::WRITE);
    if write {
        state.wrote = true;
    }
    let Some(handler) = cmd.handler else {
        return Err("Unknown Redis command called from script".into());
    };
    // The script's client: its database and protocol, and no blocking.
    let conn = ctx.conn;
    let saved = ctx
        .srv
        .clients
        .get(&conn)
        .map(|c| (c.db, c.resp, c.in_multi));
    if let Some(c) = ctx.srv.clients.get_mut(&conn) {
        c.db = state.db;
        c.resp = state.resp;
        c.in_multi = true;
        c.in_script = true;
    }
    // redis.set_repl(REPL_NONE|REPL_AOF): the writes are not replicated.
    let replicate = state.repl & 2 != 0;
    if !replicate {
        ctx.srv.set_tracking(false);
    }
    ctx.srv.stats.commands_processed += 1;
    let reply = run_handler(ctx, cmd, handler, argv);
    if !replicate {
        ctx.srv.set_db_modes();
    }
    let stat = ctx.srv.stats.cmd(cmd.id);
    stat.calls += 1;
    if reply.is_error() {
        stat.failed += 1;
        ctx.srv.stats.error_reply(&reply);
    }
    if let (Some((db, resp, in_multi)), Some(c)) = (saved, ctx.srv.clients.get_mut(&conn)) {
        state.db = c.db;
        c.db = db;
        c.resp = resp;
        c.in_multi = in_multi;
        c.in_script = false;
    }
    if !ctx.srv.monitors.is_empty() && monitor::shown(cmd) {
        let db = state.db;
        monitor::feed(ctx.srv, ctx.now, db, None, argv);
    }
    Ok(reply)
}

/// What `call()` does after a command ran: MONITOR's line, and the slow
/// log (not for a client it blocked, nor for commands flagged
/// skip_slowlog such as EXEC).
fn after_call(ctx: &mut Ctx, cmd: &Command, argv: &[Vec<u8>], duration: u64) {
    if !ctx.srv.monitors.is_empty() && monitor::shown(cmd) {
        if let Some(peer) = ctx.client().map(|c| c.peer.clone()) {
            let db = ctx.db_index();
            monitor::feed(ctx.srv, ctx.now, db, Some(&peer), argv);
        }
    }
    let (slower_than, max_len) = ctx.srv.config.slowlog();
    if slower_than < 0 || cmd.has(flag::SKIP_SLOWLOG) {
        return;
    }
    let blocked = match ctx.client() {
        Some(c) => c.blocked.is_some(),
        None => return,
    };
    if blocked {
        if let Some(c) = ctx.srv.clients.get_mut(&ctx.conn) {
            c.blocked_argv = argv.to_vec();
        }
        return;
    }
    if duration < slower_than as u64 {
        return;
    }
    let Some((peer, name)) = ctx.client().map(|c| (c.peer.clone(), c.name.clone())) else {
        return;
    };
    let time = ctx.now.0 / 1000;
    ctx.srv
        .slowlog
        .push_if_needed(slower_than, max_len, argv, duration, time, &peer, &name);
}

/// The handler, with keyspace notifications for what it changed.
fn run_handler(ctx: &mut Ctx, cmd: &Command, handler: Handler, argv: &[Vec<u8>]) -> Reply {
    // A command run by another (EXEC's queue, a script's redis.call): what
    // it changed is propagated as its own form, in order, inside the
    // outer command's MULTI/EXEC (`Server::propagate_command`).
    let depth = ctx.srv.repl.depth;
    let before = persist::modifications(ctx.srv);
    let db = ctx.db_index();
    ctx.srv.repl.depth += 1;
    let reply = run_handler_counted(ctx, cmd, handler, argv);
    ctx.srv.repl.depth = depth;
    if depth > 0 {
        if let Some(also) = ctx.srv.repl.also.take() {
            // What it said it propagates (XREADGROUP's XCLAIMs…).
            if ctx.srv.ks.dbs.get(db).is_some_and(|d| d.tracking()) {
                ctx.srv.repl.inner.extend(also.into_iter().map(|f| (db, f)));
            }
            return reply;
        }
    }
    if depth > 0
        && persist::modifications(ctx.srv) != before
        && ctx.srv.ks.dbs.get(db).is_some_and(|d| d.tracking())
    {
        match crate::replication::propagation::form(ctx.srv, db, argv, &reply) {
            Some(forms) => ctx
                .srv
                .repl
                .inner
                .extend(forms.into_iter().map(|f| (db, f.into_owned()))),
            None => ctx.srv.repl.inner_fallback = true,
        }
    }
    reply
}

fn run_handler_counted(ctx: &mut Ctx, cmd: &Command, handler: Handler, argv: &[Vec<u8>]) -> Reply {
    // The dirty counter counts each key a command changes once.
    crate::store::db::begin_command();
    // Client-side caching (tracking.rs): invalidate the keys the command
    // changed, remember those a tracking client read.
    let marks = tracking::before_call(ctx);
    if ctx.srv.config.notify_flags() == 0 {
        let reply = handler(ctx, argv);
        tracking::after_call(ctx, cmd, argv, marks);
        return reply;
    }
    // Keyspace notifications: record what the command changes, then publish.
    let db = ctx.db_index();
    ctx.srv.ks.watch(db);
    let mark = ctx.srv.ks.dbs[db].changes_len();
    let created_mark = ctx.srv.ks.dbs[db].created_len();
    let reply = handler(ctx, argv);
    tracking::after_call(ctx, cmd, argv, marks);
    let db_after = ctx.db_index();
    if db_after == db {
        let d = &ctx.srv.ks.dbs[db];
        let (changed, expired) = d.changes_since(mark);
        let created = d.created_since(created_mark).to_vec();
        if !changed.is_empty() || !expired.is_empty() {
            let keys = notify::Changes {
                changed: &changed,
                expired: &expired,
                created: &created,
            };
            notify::after_command(ctx.srv, &cmd.fullname, argv, db, keys);
        }
    }
    reply
}

/// `enable-debug-command`: `yes`, or `local` and the client is on the
/// loopback (Redis's `islocalClient`); `no` by default, as in Redis 7.
fn debug_allowed(ctx: &Ctx) -> bool {
    match ctx.srv.config.get("enable-debug-command") {
        Some("yes") => true,
        Some("local") => ctx.client().is_some_and(|c| {
            let ip = c.peer.rsplit_once(':').map_or(&c.peer[..], |(ip, _)| ip);
            matches!(ip, "127.0.0.1" | "::1" | "[::1]")
        }),
        _ => false,
    }
}

/// Everything Redis's processCommand checks before running a command:
/// the command exists, arity, authentication, memory, replica rules.
fn check<'t>(ctx: &mut Ctx<'t>, argv: &[Vec<u8>]) -> Result<&'t Command, Reply> {
    let table = ctx.table;
    let mut buf = [0u8; 32];
    let Some(base) = lowercase(&argv[0], &mut buf).and_then(|n| table.get(n)) else {
        let mut args = String::new();
        for a in &argv[1..] {
            if args.len() >= 128 {
                break;
            }
            let room = 128 - args.len();
            args.push_str(&format!("'{}' ", sanitize(a, room)));
        }
        return Err(Reply::err(format!(
            "ERR unknown command '{}', with args beginning with: {}",
            sanitize(&argv[0], 128),
            args
        )));
    };
    let cmd = if base.subcommands.is_empty() || argv.len() < 2 {
        base
    } else {
        match lowercase(&argv[1], &mut buf).and_then(|s| base.subcommands.get(s)) {
            Some(c) => c,
            None => {
                return Err(Reply::err(format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    sanitize(&argv[1], 128),
                    String::from_utf8_lossy(&argv[0]).to_ascii_uppercase()
                )))
            }
        }
    };
    if !arity_ok(cmd.arity, argv.len()) || cmd.handler.is_none() {
        return Err(wrong_args(&cmd.fullname));
    }
    // Redis 7's protected commands (`allowProtectedAction`), checked
    // before authentication as processCommand does.
    if base.fullname == "debug" && !debug_allowed(ctx) {
        return Err(Reply::err(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    // A MONITOR connection is a replica to Redis: no keyspace access.
    if ctx.client().is_some_and(|c| c.monitor)
        && (cmd.has(flag::WRITE | flag::READONLY) || may_replicate(cmd))
    {
        return Err(Reply::err("ERR Replica can't interact with the keyspace"));
    }
    if ctx
        .client()
        .is_some_and(|c| c.resp == 2 && c.subs.total() > 0)
        && !PUBSUB_CONTEXT.contains(&cmd.fullname.as_str())
    {
        return Err(Reply::err(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.fullname
        )));
    }
    let must_auth =
        ctx.srv.config.requirepass().is_some() && !ctx.client().is_some_and(|c| c.authenticated);
    if must_auth && !cmd.has(flag::NO_AUTH) {
        return Err(Reply::err("NOAUTH Authentication required."));
    }
    // Cluster mode: served here only if this node serves the keys' slot.
    if ctx.srv.cluster.is_some() {
        cluster_route(ctx, cmd, argv)?;
    }
    // Client-side caching: the caller is the current client from here on;
    // the tracking table is kept within tracking-table-max-keys (tracking.rs).
    tracking::before_command(ctx);
    let replica = ctx.srv.repl.is_replica();
    // EXEC takes the flags of the commands it queued (Redis's mstate flags).
    let queued_denyoom = cmd.fullname == "exec"
        && ctx.client().is_some_and(|c| {
            c.multi.queue.as_ref().is_some_and(|q| {
                q.iter()
                    .any(|a| table.lookup(a).is_some_and(|c| c.has(flag::DENYOOM)))
            })
        });
    // Every command first frees memory over maxmemory (so a read sees its
    // tracked keys invalidated before its reply); only those that may grow
    // memory are refused when nothing more can be freed. Replicas ignore
    // maxmemory (replica-ignore-maxmemory): their primary evicts.
    let may_grow = cmd.has(flag::DENYOOM) || queued_denyoom;
    let in_exec = ctx.client().is_some_and(|c| c.in_multi);
    let evict = !replica && ctx.srv.config.maxmemory() > 0 && (may_grow || !in_exec);
    let out_of_memory = evict && !crate::evict::perform(ctx.srv, ctx.now);
    if out_of_memory && may_grow {
        return Err(Reply::err(
            "OOM command not allowed when used memory > 'maxmemory'.",
        ));
    }
    // A failed background save stops writes (and PING), as
    // writeCommandsDeniedByDiskError does.
    let queued_write = cmd.fullname == "exec"
        && ctx
            .client()
            .and_then(|c| c.multi.queue.as_ref())
            .is_some_and(|q| {
                q.iter()
                    .any(|argv| ctx.table.lookup(argv).is_some_and(|c| c.has(flag::WRITE)))
            });
    if persist::writes_denied(ctx.srv)
        && (cmd.has(flag::WRITE) || queued_write || cmd.fullname == "ping")
    {
        return Err(Reply::err(persist::MISCONF));
    }
    let repl = ctx.srv.config.repl();
    if (replica || repl.min_replicas_to_write > 0) && cmd.has(flag::WRITE) {
        if ctx.srv.too_few_replicas(ctx.now) {
            return Err(Reply::err("NOREPLICAS Not enough good replicas to write."));
        }
        if replica && repl.read_only {
            return Err(Reply::err(
                "READONLY You can't write against a read only replica.",
            ));
        }
    }
    if replica && !repl.serve_stale_data && !ctx.srv.repl.link_up() && !cmd.has(flag::STALE) {
        return Err(Reply::err(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        ));
    }
    Ok(cmd)
}

/// `getNodeByQuery` for a command about to run (every queued command's
/// keys for EXEC): the redirect or refusal when this node does not serve
/// them. A refused EXEC discards its transaction, as Redis does.
fn cluster_route(ctx: &mut Ctx, cmd: &Command, argv: &[Vec<u8>]) -> Result<(), Reply> {
    let is_exec = cmd.fullname == "exec";
    // Shard channels route as keys do (their key specs say "not a key").
    let pubsubshard = matches!(
        cmd.fullname.as_str(),
        "ssubscribe" | "sunsubscribe" | "spublish"
    );
    if !is_exec && !pubsubshard && !cmd.key_specs.has_keys() {
        return Ok(());
    }
    let mut write = cmd.has(flag::WRITE);
    // EXEC's keys are copied out of the client's queue; a command's own
    // are borrowed from its argv (no copy per command).
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut refs: Vec<&[u8]> = Vec::new();
    if pubsubshard {
        let channels = if cmd.fullname == "spublish" {
            &argv[1..2]
        } else {
            &argv[1..]
        };
        refs.extend(channels.iter().map(Vec::as_slice));
    } else if is_exec {
        let Some(queue) = ctx.client().and_then(|c| c.multi.queue.as_ref()) else {
            return Ok(());
        };
        for q in queue {
            if let Some(qc) = ctx.table.lookup(q) {
                write |= qc.has(flag::WRITE);
                keys.extend(
                    keyspecs::legacy_keys(qc, q)
                        .into_iter()
                        .map(|p| q[p].clone()),
                );
            }
        }
    } else {
        refs.extend(
            keyspecs::legacy_keys(cmd, argv)
                .into_iter()
                .map(|p| argv[p].as_slice()),
        );
    }
    if is_exec {
        refs.extend(keys.iter().map(Vec::as_slice));
    }
    let (asking, readonly_client) = ctx
        .client()
        .map_or((false, false), |c| (c.asking, c.readonly));
    // The settings for a cluster that is down, read only when it is.
    let down = ctx.srv.cluster.as_ref().is_some_and(|c| !c.ok);
    let setting = |name: &str| ctx.srv.config.get(name).map(|v| v == "yes");
    let query = crate::cluster::Query {
        keys: &refs,
        write,
        readonly_client,
        asking: asking || cmd.has(flag::ASKING),
        is_migrate: cmd.fullname == "migrate",
        pubsubshard,
        allow_pubsubshard_when_down: down
            && setting("cluster-allow-pubsubshard-when-down") != Some(false),
    };
    let allow_reads = down && setting("cluster-allow-reads-when-down") == Some(true);
    let now = ctx.now;
    let db0 = &ctx.srv.ks.dbs[0];
    let exists = |k: &[u8]| db0.peek(k).is_some() && db0.expire_at(k).is_none_or(|at| at > now);
    let Some(cluster) = ctx.srv.cluster.as_ref() else {
        return Ok(());
    };
    let Err(redirect) = cluster.route(&query, exists, allow_reads) else {
        return Ok(());
    };
    let reply = cluster.redirect_reply(&redirect);
    if is_exec {
        multi::abort_exec(ctx.srv, ctx.conn);
    }
    Err(reply)
}

/// Applies one effect from the replication stream by running its command's
/// handler directly (no client, no checks: the primary has made them).
pub fn apply_effect(srv: &mut Server, now: Millis, db: usize, argv: &[Vec<u8>]) {
    let table = CommandTable::shared();
    let Some(cmd) = table.lookup(argv) else {
        return;
    };
    let (Some(handler), true) = (cmd.handler, arity_ok(cmd.arity, argv.len())) else {
        return;
    };
    let mut events = Vec::new();
    // The primary decided what is expired: nothing expires under its
    // commands (their DELs come in the stream).
    for d in &mut srv.ks.dbs {
        d.from_master = true;
    }
    let mut ctx = Ctx {
        srv,
        table,
        conn: crate::ConnId(u64::MAX),
        now,
        events: &mut events,
        db_override: Some(db),
    };
    handler(&mut ctx, argv);
    // A replica forwards its primary's bytes, not forms of its own.
    ctx.srv.repl.also = None;
    for d in &mut ctx.srv.ks.dbs {
        d.from_master = false;
    }
}

/// A command name lower-cased into `buf` without allocating; `None` if it is
/// too long or not UTF-8 to be any command's name.
fn lowercase<'a>(name: &[u8], buf: &'a mut [u8; 32]) -> Option<&'a str> {
    let out = buf.get_mut(..name.len())?;
    for (o, c) in out.iter_mut().zip(name) {
        *o = c.to_ascii_lowercase();
    }
    std::str::from_utf8(out).ok()
}

pub fn wrong_args(fullname: &str) -> Reply {
    Reply::err(format!(
        "ERR wrong number of arguments for '{fullname}' command"
    ))
}

// ---- shared replies and argument parsing, in Redis's words ----

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

pub fn err_not_int() -> Reply {
    Reply::err("ERR value is not an integer or out of range")
}
pub fn err_syntax() -> Reply {
    Reply::err("ERR syntax error")
}

/// `getLongLongFromObjectOrReply`.
pub fn parse_int(b: &[u8]) -> Result<i64, Reply> {
    crate::protocol::request::parse_i64_strict(b).ok_or_else(err_not_int)
}

pub fn eq_ic(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}
