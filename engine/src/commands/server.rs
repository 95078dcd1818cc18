//! Connection and server commands: PING ECHO QUIT RESET HELLO SELECT SWAPDB
//! CLIENT INFO TIME MEMORY CONFIG COMMAND.

use super::{eq_ic, err_not_int, err_syntax, parse_int, Command, Ctx, Handler};
use crate::glob::glob_match;
use crate::node::{ReplyMode, Server};
use crate::protocol::Reply;
use crate::store::mem;

/// The Redis version cachelab answers as (its commands' semantics and errors).
pub const REDIS_VERSION: &str = "7.0.15";
pub const CACHELAB_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "ping" => ping,
        "auth" => auth,
        "echo" => |_, a| Reply::Bulk(a[1].clone()),
        "quit" => quit,
        "reset" => reset,
        "hello" => hello,
        "select" => select,
        "swapdb" => swapdb,
        "client|id" => |c, _| Reply::Int(c.client().map(|c| c.id as i64).unwrap_or(0)),
        "client|setname" => client_setname,
        "client|getname" => client_getname,
        "client|list" => client_list,
        "client|info" => client_info,
        "client|kill" => client_kill,
        "client|no-evict" => client_no_evict,
        "client|unblock" => client_unblock,
        "client|pause" => client_pause,
        "client|unpause" => |c, _| {
            // A manual cluster failover's pause is not the client's to end.
            c.srv.pause_by_client = None;
            c.srv.pause = c
                .srv
                .cluster
                .as_ref()
                .filter(|cl| cl.manual.replica.is_some())
                .map(|cl| crate::node::Pause {
                    all: false,
                    end: crate::Millis(cl.manual.end + crate::cluster::failover::MANUAL_TIMEOUT),
                });
            c.srv.set_db_modes();
            Reply::ok()
        },
        "client|reply" => client_reply,
        "client|help" => |c, _| c.table.help["client"].clone(),
        "info" => info,
        "time" => time,
        "memory|usage" => memory_usage,
        "memory|doctor" => memory_doctor,
        "memory|purge" => |_, _| Reply::ok(),
        "memory|malloc-stats" => |_, _| {
            Reply::Verbatim(
                "txt",
                b"Stats not supported for the current allocator".to_vec(),
            )
        },
        "memory|help" => |c, _| c.table.help["memory"].clone(),
        "config|get" => config_get,
        "config|set" => config_set,
        "config|resetstat" => config_resetstat,
        "config|rewrite" => |_, _| Reply::err("ERR The server is running without a config file"),
        "config|help" => |c, _| c.table.help["config"].clone(),
        "command" => command_all,
        "command|count" => |c, _| Reply::Int(c.table.commands.len() as i64),
        "command|info" => command_info,
        "command|docs" => command_docs,
        "command|list" => command_list,
        "command|getkeys" => |c, a| super::keyspecs::getkeys_command(c.table, a, false),
        "command|getkeysandflags" => |c, a| super::keyspecs::getkeys_command(c.table, a, true),
        "command|help" => |c, _| c.table.help["command"].clone(),
        _ => return None,
    })
}

fn ping(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() <= 2
        && ctx
            .client()
            .is_some_and(|c| c.resp == 2 && c.subs.total() > 0)
    {
        // In subscriber mode RESP2 PING answers as a message would.
        return Reply::Array(vec![
            Reply::bulk("pong"),
            Reply::Bulk(argv.get(1).cloned().unwrap_or_default()),
        ]);
    }
    match argv.len() {
        1 => Reply::Simple("PONG".into()),
        2 => Reply::Bulk(argv[1].clone()),
        _ => super::wrong_args("ping"),
    }
}

/// AUTH [username] password: only the `default` user exists; its password is
/// `requirepass` (none: `nopass`).
fn auth(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() > 3 {
        return err_syntax();
    }
    let (user, pass) = if argv.len() == 3 {
        (argv[1].as_slice(), &argv[2])
    } else {
        (&b"default"[..], &argv[1])
    };
    let Some(required) = ctx.srv.config.requirepass().map(str::to_string) else {
        if argv.len() == 2 {
            return Reply::err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        }
        // The default user has `nopass`: any password is accepted for it.
        return if user == b"default" {
            ctx.client_mut().authenticated = true;
            Reply::ok()
        } else {
            Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
        };
    };
    if user == b"default" && pass.as_slice() == required.as_bytes() {
        ctx.client_mut().authenticated = true;
        Reply::ok()
    } else {
        Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
    }
}

fn quit(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    ctx.client_mut().close_after_reply = true;
    Reply::ok()
}

fn reset(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    super::multi::discard_transaction(ctx);
    let conn = ctx.conn;
    super::pubsub::forget(ctx.srv, conn);
    super::monitor::forget(ctx.srv, conn);
    super::tracking::forget(ctx.srv, conn);
    let c = ctx.client_mut();
    c.db = 0;
    c.resp = 2;
    c.name.clear();
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.asking = false;
    c.readonly = false;
    // RESET re-authenticates as the default user only if it needs no password.
    let open = ctx.srv.config.requirepass().is_none();
    ctx.client_mut().authenticated = open;
    Reply::Simple("RESET".into())
}

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn hello(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut ver = None;
    let mut next = 1;
    if argv.len() >= 2 {
        match crate::protocol::request::parse_i64_strict(&argv[1]) {
            Some(v) if v == 2 || v == 3 => ver = Some(v as u8),
            Some(_) => return Reply::err("NOPROTO unsupported protocol version"),
            None => return Reply::err("ERR Protocol version is not an integer or out of range"),
        }
        next = 2;
    }
    let mut setname: Option<&[u8]> = None;
    let mut auth: Option<(&[u8], &[u8])> = None;
    let mut j = next;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq_ic(&argv[j], "auth") && more >= 2 {
            auth = Some((&argv[j + 1], &argv[j + 2]));
            j += 3;
        } else if eq_ic(&argv[j], "setname") && more >= 1 {
            setname = Some(&argv[j + 1]);
            j += 2;
        } else {
            return Reply::err(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&argv[j])
            ));
        }
    }
    if let Some((user, pass)) = auth {
        let ok = user == b"default"
            && ctx
                .srv
                .config
                .requirepass()
                .is_none_or(|p| p.as_bytes() == pass);
        if !ok {
            return Reply::err("WRONGPASS invalid username-password pair or user is disabled.");
        }
        ctx.client_mut().authenticated = true;
    }
    if ctx.srv.config.requirepass().is_some() && !ctx.client().is_some_and(|c| c.authenticated) {
        return Reply::err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = setname {
        if !valid_client_name(name) {
            return Reply::err(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            );
        }
        ctx.client_mut().name = name.to_vec();
    }
    if let Some(v) = ver {
        ctx.client_mut().resp = v;
    }
    let c = ctx.client().expect("caller exists");
    Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
        (Reply::bulk("proto"), Reply::Int(c.resp as i64)),
        (Reply::bulk("id"), Reply::Int(c.id as i64)),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(vec![])),
    ])
}

/// `getIntFromObjectOrReply` with an optional custom message.
fn parse_i32(b: &[u8], msg: Option<&str>) -> Result<i64, Reply> {
    match crate::protocol::request::parse_i64_strict(b) {
        Some(n) if n >= i32::MIN as i64 && n <= i32::MAX as i64 => Ok(n),
        _ => Err(msg
            .map(|m| Reply::err(format!("ERR {m}")))
            .unwrap_or_else(err_not_int)),
    }
}

fn select(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let n = match parse_i32(&argv[1], None) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if ctx.srv.cluster.is_some() && n != 0 {
        return Reply::err("ERR SELECT is not allowed in cluster mode");
    }
    if n < 0 || n as usize >= ctx.srv.ks.dbs.len() {
        return Reply::err("ERR DB index is out of range");
    }
    ctx.client_mut().db = n as usize;
    Reply::ok()
}

fn swapdb(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if ctx.srv.cluster.is_some() {
        return Reply::err("ERR SWAPDB is not allowed in cluster mode");
    }
    let a = match parse_i32(&argv[1], Some("invalid first DB index")) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let b = match parse_i32(&argv[2], Some("invalid second DB index")) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let n = ctx.srv.ks.dbs.len() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Reply::err("ERR DB index is out of range");
    }
    let (a, b) = (a as usize, b as usize);
    super::multi::touch_all_watched(ctx.srv, a);
    super::multi::touch_all_watched(ctx.srv, b);
    ctx.srv.ks.dbs.swap(a, b);
    super::multi::touch_all_watched(ctx.srv, a);
    super::multi::touch_all_watched(ctx.srv, b);
    if !ctx.srv.watched.is_empty() {
        ctx.srv.ks.watch(a);
        ctx.srv.ks.watch(b);
    }
    ctx.srv.repl.propagate_command(
        None,
        vec![b"SWAPDB".to_vec(), argv[1].clone(), argv[2].clone()],
    );
    Reply::ok()
}

fn client_setname(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if !valid_client_name(&argv[2]) {
        return Reply::err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        );
    }
    ctx.client_mut().name = argv[2].clone();
    Reply::ok()
}

fn client_getname(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    match ctx.client() {
        Some(c) if !c.name.is_empty() => Reply::Bulk(c.name.clone()),
        _ => Reply::Nil,
    }
}

/// A client as Redis's log names it (`catClientInfoString`).
pub fn client_info_string(c: &crate::node::Client, now: crate::Millis, srv: &Server) -> String {
    let mut line = client_line(c, now, srv);
    line.pop();
    line
}

/// One CLIENT LIST / CLIENT INFO line, as `catClientInfoString` writes it.
fn client_line(c: &crate::node::Client, now: crate::Millis, srv: &Server) -> String {
    // Client-side caching: the `t`/`R`/`B` flags and `redir=` (tracking.rs).
    let (tracking_flags, redir) = srv.tracking.list_fields(c.conn);
    // While a command runs its client's query buffer still holds the bytes
    // read (the command included), as Redis trims it only afterwards.
    let qbuf = c.qbuf.len().max(c.reading);
    let mut flags = String::new();
    if srv.is_replica_conn(c.conn) {
        flags.push('S');
    }
    if c.monitor {
        flags.push('O');
    }
    if c.subs.total() > 0 {
        flags.push('P');
    }
    if c.multi.queue.is_some() {
        flags.push('x');
    }
    if c.blocked.is_some() {
        flags.push('b');
    }
    flags.push_str(tracking_flags);
    if c.multi.dirty_cas {
        flags.push('d');
    }
    if c.close_after_reply {
        flags.push('c');
    }
    if c.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    // The output waiting: the static buffer's bytes, the reply list's
    // blocks and their bytes (all of a replica's in its share of the
    // replication buffer).
    let (class, omem) = srv.obuf_used(c, 0);
    let obl = match class {
        crate::obuf::Class::Replica => 0,
        _ => c.unwritten.min(crate::obuf::REPLY_CHUNK),
    };
    let oll = omem.div_ceil(crate::obuf::REPLY_CHUNK);
    let multi = c.multi.queue.as_ref().map_or(-1, |q| q.len() as i64);
    let multi_mem: usize = c
        .multi
        .queue
        .iter()
        .flatten()
        .flat_map(|argv| argv.iter().map(Vec::len))
        .sum();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db={} sub={} psub={} ssub={} multi={multi} qbuf={} qbuf-free={} argv-mem={} multi-mem={multi_mem} rbs=1024 rbp=0 obl={obl} oll={oll} omem={omem} tot-mem={} events=r cmd={} user=default redir={redir} resp={}\n",
        c.id,
        c.peer,
        c.local,
        c.conn.0 + 7,
        String::from_utf8_lossy(&c.name),
        now.saturating_sub(c.created) / 1000,
        now.saturating_sub(c.last_interaction) / 1000,
        c.db,
        c.subs.channels.len(),
        c.subs.patterns.len(),
        c.subs.shard.len(),
        qbuf,
        c.qbuf.capacity().saturating_sub(qbuf),
        c.argv_mem,
        20_000 + c.qbuf.capacity() + c.argv_mem + multi_mem + omem,
        if c.last_cmd.is_empty() { "NULL" } else { &c.last_cmd },
        c.resp,
    )
}

/// Redis's `getClientType`, what CLIENT LIST/KILL TYPE select on: "slave"
/// for a replica's connection ("replica" names it too), "pubsub" for a
/// subscriber, "normal" otherwise (a MONITOR included).
fn client_type(srv: &crate::node::Server, c: &crate::node::Client) -> &'static str {
    match srv.obuf_class(c) {
        crate::obuf::Class::Replica => "slave",
        crate::obuf::Class::Pubsub => "pubsub",
        crate::obuf::Class::Normal => "normal",
    }
}

/// TYPE's argument as getClientTypeByName reads it.
fn type_matches(wanted: &str, actual: &str) -> bool {
    let wanted = if wanted == "replica" { "slave" } else { wanted };
    wanted == actual
}

fn client_list(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut ids: Option<Vec<u64>> = None;
    let mut typ: Option<String> = None;
    let mut i = 2;
    while i < argv.len() {
        if eq_ic(&argv[i], "type") && i + 1 < argv.len() {
            let t = String::from_utf8_lossy(&argv[i + 1]).to_ascii_lowercase();
            if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                return Reply::err(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(&argv[i + 1])
                ));
            }
            typ = Some(t);
            i += 2;
        } else if eq_ic(&argv[i], "id") && i + 1 < argv.len() {
            let mut v = Vec::new();
            for a in &argv[i + 1..] {
                match parse_int(a) {
                    Ok(n) if n > 0 => v.push(n as u64),
                    _ => return Reply::err("ERR Invalid client ID"),
                }
            }
            ids = Some(v);
            i = argv.len();
        } else {
            return err_syntax();
        }
    }
    let now = ctx.now;
    let srv = &*ctx.srv;
    let text: String = srv
        .clients
        .values()
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
        .filter(|c| {
            typ.as_deref()
                .is_none_or(|t| type_matches(t, client_type(srv, c)))
        })
        .map(|c| client_line(c, now, srv))
        .collect();
    Reply::Verbatim("txt", text.into_bytes())
}

fn client_info(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let c = ctx.client().expect("caller exists");
    Reply::Verbatim("txt", client_line(c, ctx.now, &*ctx.srv).into_bytes())
}

fn client_kill(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let me = ctx.conn;
    if argv.len() == 3 {
        let addr = &argv[2];
        let target = ctx
            .srv
            .clients
            .values()
            .find(|c| c.peer.as_bytes() == addr.as_slice())
            .map(|c| c.conn);
        return match target {
            None => Reply::err("ERR No such client"),
            Some(t) if t == me => {
                ctx.client_mut().close_after_reply = true;
                Reply::ok()
            }
            Some(t) => {
                ctx.srv.to_close.push(t);
                Reply::ok()
            }
        };
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut maxage) = (None, None, None, true, None);
    let mut typ: Option<String> = None;
    let mut i = 2;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return err_syntax();
        }
        let v = &argv[i + 1];
        if eq_ic(&argv[i], "id") {
            match parse_int(v) {
                Ok(n) if n >= 1 => id = Some(n as u64),
                _ => return Reply::err("ERR client-id should be greater than 0"),
            }
        } else if eq_ic(&argv[i], "type") {
            let t = String::from_utf8_lossy(v).to_ascii_lowercase();
            if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                return Reply::err(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(v)
                ));
            }
            typ = Some(t);
        } else if eq_ic(&argv[i], "addr") {
            addr = Some(v.clone());
        } else if eq_ic(&argv[i], "laddr") {
            laddr = Some(v.clone());
        } else if eq_ic(&argv[i], "user") {
            if v.as_slice() != b"default" {
                return Reply::err(format!("ERR No such user '{}'", String::from_utf8_lossy(v)));
            }
        } else if eq_ic(&argv[i], "skipme") {
            if eq_ic(v, "yes") {
                skipme = true;
            } else if eq_ic(v, "no") {
                skipme = false;
            } else {
                return err_syntax();
            }
        } else if eq_ic(&argv[i], "maxage") {
            match parse_int(v) {
                Ok(n) => maxage = Some(n),
                Err(e) => return e,
            }
        } else {
            return err_syntax();
        }
        i += 2;
    }
    let now = ctx.now;
    let targets: Vec<crate::ConnId> = ctx
        .srv
        .clients
        .values()
        .filter(|c| id.is_none_or(|id| c.id == id))
        .filter(|c| {
            addr.as_ref()
                .is_none_or(|a| c.peer.as_bytes() == a.as_slice())
        })
        .filter(|c| {
            laddr
                .as_ref()
                .is_none_or(|a| c.local.as_bytes() == a.as_slice())
        })
        .filter(|c| {
            typ.as_deref()
                .is_none_or(|t| type_matches(t, client_type(&*ctx.srv, c)))
        })
        .filter(|c| maxage.is_none_or(|m| (now.saturating_sub(c.created) / 1000) as i64 >= m))
        .filter(|c| !(skipme && c.conn == me))
        .map(|c| c.conn)
        .collect();
    for t in &targets {
        if *t == me {
            ctx.client_mut().close_after_reply = true;
        } else {
            ctx.srv.to_close.push(*t);
        }
    }
    Reply::Int(targets.len() as i64)
}

fn client_no_evict(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if eq_ic(&argv[2], "on") {
        ctx.client_mut().no_evict = true;
    } else if eq_ic(&argv[2], "off") {
        ctx.client_mut().no_evict = false;
    } else {
        return err_syntax();
    }
    Reply::ok()
}

/// CLIENT PAUSE timeout-ms [WRITE|ALL]: a second pause widens the first
/// (the stronger type, the later end), as `pauseClients` merges them.
fn client_pause(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut all = true;
    if argv.len() == 4 {
        if eq_ic(&argv[3], "write") {
            all = false;
        } else if !eq_ic(&argv[3], "all") {
            return Reply::err("ERR CLIENT PAUSE mode must be WRITE or ALL");
        }
    }
    let ms = match crate::protocol::request::parse_i64_strict(&argv[2]) {
        Some(ms) if ms < 0 => return Reply::err("ERR timeout is negative"),
        Some(ms) => ms as u64,
        None => return Reply::err("ERR timeout is not an integer or out of range"),
    };
    let end = if ms == 0 {
        crate::Millis(0)
    } else {
        crate::Millis(ctx.now.0.saturating_add(ms))
    };
    let widen = |p: Option<crate::node::Pause>| match p {
        Some(p) => crate::node::Pause {
            all: p.all || all,
            end: p.end.max(end),
        },
        None => crate::node::Pause { all, end },
    };
    ctx.srv.pause = Some(widen(ctx.srv.pause));
    ctx.srv.pause_by_client = Some(widen(ctx.srv.pause_by_client));
    ctx.srv.set_db_modes();
    Reply::ok()
}

fn client_unblock(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if parse_int(&argv[2]).is_err() {
        return err_not_int();
    }
    if argv.len() == 4 && !(eq_ic(&argv[3], "timeout") || eq_ic(&argv[3], "error")) {
        return Reply::err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    }
    let id = parse_int(&argv[2]).unwrap_or(0);
    let error = argv.len() == 4 && eq_ic(&argv[3], "error");
    let target = ctx.srv.clients.values_mut().find(|c| {
        c.id as i64 == id
            && c.blocked.is_some()
            && !matches!(c.blocked, Some(crate::node::Blocked::Postponed { .. }))
    });
    match target {
        Some(c) => {
            // The node answers it after this command: as a timeout (WAIT
            // then reports its count) or with Redis's UNBLOCKED error.
            if let Some(
                crate::node::Blocked::Wait {
                    deadline,
                    unblock_error,
                    ..
                }
                | crate::node::Blocked::Keys {
                    deadline,
                    unblock_error,
                    ..
                },
            ) = c.blocked.as_mut()
            {
                *deadline = Some(crate::Millis(0));
                *unblock_error = error;
            }
            Reply::Int(1)
        }
        None => Reply::Int(0),
    }
}

fn client_reply(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let c = ctx.client_mut();
    if eq_ic(&argv[2], "on") {
        c.reply_mode = ReplyMode::On;
        Reply::ok()
    } else if eq_ic(&argv[2], "off") {
        c.reply_mode = ReplyMode::Off;
        Reply::ok()
    } else if eq_ic(&argv[2], "skip") {
        if c.reply_mode != ReplyMode::Off {
            c.reply_mode = ReplyMode::SkipNext;
        }
        Reply::ok()
    } else {
        err_syntax()
    }
}

/// Bytes in use, as INFO's `used_memory`: a fixed baseline, the dataset, and
/// the clients' query buffers.
pub fn used_memory(srv: &Server) -> usize {
    debug_assert_eq!(
        srv.qbuf_total,
        srv.clients
            .values()
            .map(|c| c.qbuf.capacity())
            .sum::<usize>(),
        "qbuf_total is kept as query buffers change"
    );
    let clients = srv.qbuf_total + srv.clients.len() * 1024;
    mem::BASELINE_USED_MEMORY + srv.ks.used_memory() + clients
}

fn human_bytes(n: usize) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", n / 1024.0 / 1024.0 / 1024.0)
    }
}

fn info(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    // genInfoSectionDict's defaults, and every section in output order.
    const DEFAULT: &[&str] = &[
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "module_list",
        "errorstats",
        "cluster",
        "keyspace",
    ];
    const ALL: &[&str] = &[
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "commandstats",
        "errorstats",
        "latencystats",
        "cluster",
        "keyspace",
    ];
    let mut wanted: Vec<String> = Vec::new();
    let mut all = false;
    for a in &argv[1..] {
        let w = String::from_utf8_lossy(a).to_ascii_lowercase();
        match w.as_str() {
            "default" => wanted.extend(DEFAULT.iter().map(|s| s.to_string())),
            "all" | "everything" => all = true,
            _ => wanted.push(w),
        }
    }
    if argv.len() == 1 {
        wanted = DEFAULT.iter().map(|s| s.to_string()).collect();
    }
    if wanted.iter().any(|w| w == "module_list") {
        wanted.push("modules".into());
    }
    let srv = &*ctx.srv;
    let now = ctx.now;
    let uptime = now.saturating_sub(srv.started) / 1000;
    let mut out = String::new();
    for section in ALL.iter().filter(|s| all || wanted.iter().any(|w| w == *s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let lines: Vec<(String, String)> = match *section {
            "server" => vec![
                ("redis_version".into(), REDIS_VERSION.into()),
                ("cachelab_version".into(), CACHELAB_VERSION.into()),
                ("redis_git_sha1".into(), "00000000".into()),
                ("redis_git_dirty".into(), "0".into()),
                ("redis_build_id".into(), "cachelab".into()),
                ("redis_mode".into(), "standalone".into()),
                ("os".into(), "cachelab".into()),
                ("arch_bits".into(), "64".into()),
                ("multiplexing_api".into(), "sans-io".into()),
                ("process_id".into(), "1".into()),
                ("process_supervised".into(), "no".into()),
                ("run_id".into(), srv.run_id.clone()),
                (
                    "tcp_port".into(),
                    srv.config.get("port").unwrap_or("6379").into(),
                ),
                ("server_time_usec".into(), (now.0 * 1000).to_string()),
                ("uptime_in_seconds".into(), uptime.to_string()),
                ("uptime_in_days".into(), (uptime / 86400).to_string()),
                ("hz".into(), srv.config.hz().to_string()),
                ("configured_hz".into(), srv.config.hz().to_string()),
                (
                    "lru_clock".into(),
                    ((now.0 / 1000) & ((1 << 24) - 1)).to_string(),
                ),
                ("executable".into(), "cachelab".into()),
                ("config_file".into(), String::new()),
                ("io_threads_active".into(), "0".into()),
            ],
            "clients" => vec![
                ("connected_clients".into(), srv.connected_clients().to_string()),
                ("cluster_connections".into(), "0".into()),
                ("maxclients".into(), srv.config.maxclients().to_string()),
                (
                    "client_recent_max_input_buffer".into(),
                    srv.clients
                        .values()
                        .map(|c| c.qbuf.capacity())
                        .max()
                        .unwrap_or(0)
                        .to_string(),
                ),
                ("client_recent_max_output_buffer".into(), "0".into()),
                (
                    "blocked_clients".into(),
                    srv.clients
                        .values()
                        .filter(|c| c.blocked.is_some())
                        .count()
                        .to_string(),
                ),
                (
                    "tracking_clients".into(),
                    srv.tracking.clients().to_string(),
                ),
                ("clients_in_timeout_table".into(), "0".into()),
            ],
            "memory" => {
                let used = used_memory(srv);
                let dataset = srv.ks.used_memory();
                let maxmemory = srv.config.maxmemory() as usize;
                let mut lines: Vec<(String, String)> = vec![
                    ("used_memory".into(), used.to_string()),
                    ("used_memory_human".into(), human_bytes(used)),
                    ("used_memory_rss".into(), used.to_string()),
                    ("used_memory_rss_human".into(), human_bytes(used)),
                    (
                        "used_memory_peak".into(),
                        srv.stats.peak_memory.max(used).to_string(),
                    ),
                    (
                        "used_memory_peak_human".into(),
                        human_bytes(srv.stats.peak_memory.max(used)),
                    ),
                    ("used_memory_overhead".into(), (used - dataset).to_string()),
                    (
                        "used_memory_startup".into(),
                        mem::BASELINE_USED_MEMORY.to_string(),
                    ),
                    ("used_memory_dataset".into(), dataset.to_string()),
                    ("maxmemory".into(), maxmemory.to_string()),
                    ("maxmemory_human".into(), human_bytes(maxmemory)),
                    (
                        "maxmemory_policy".into(),
                        srv.config.maxmemory_policy().into(),
                    ),
                    // Replicas' output buffers are not part of used_memory
                    // here, so eviction has nothing to leave out.
                    ("mem_not_counted_for_evict".into(), "0".into()),
                    ("mem_allocator".into(), "jemalloc-5.3.0 (modelled)".into()),
                    ("lazyfree_pending_objects".into(), "0".into()),
                ];
                // Lua: the interpreters' heaps, the cached scripts, the libraries.
                let s = &srv.scripting;
                let vm_eval = s.lua.as_ref().map_or(0, |l| l.memory_bytes());
                let vm_functions = s.functions.lua_memory();
                let scripts_eval = s.scripts_mem;
                let functions_mem: usize =
                    s.functions.libraries.values().map(|l| l.code.len() + 64).sum();
                lines.extend([
                    ("used_memory_lua".into(), vm_eval.to_string()),
                    ("used_memory_vm_eval".into(), vm_eval.to_string()),
                    ("used_memory_lua_human".into(), human_bytes(vm_eval)),
                    ("used_memory_scripts_eval".into(), scripts_eval.to_string()),
                    ("number_of_cached_scripts".into(), s.scripts.len().to_string()),
                    ("number_of_functions".into(), s.functions.function_count().to_string()),
                    ("number_of_libraries".into(), s.functions.libraries.len().to_string()),
                    ("used_memory_vm_functions".into(), vm_functions.to_string()),
                    ("used_memory_vm_total".into(), (vm_eval + vm_functions).to_string()),
                    ("used_memory_vm_total_human".into(), human_bytes(vm_eval + vm_functions)),
                    ("used_memory_functions".into(), functions_mem.to_string()),
                    ("used_memory_scripts".into(), (scripts_eval + functions_mem).to_string()),
                    ("used_memory_scripts_human".into(), human_bytes(scripts_eval + functions_mem)),
                    ("lazyfreed_objects".into(), srv.stats.lazyfreed_objects.to_string()),
                ]);
                lines
            }
            "persistence" => super::persist::info(srv, now),
            "stats" => {
                let s = &srv.stats;
                vec![
                    (
                        "total_connections_received".into(),
                        s.connections_received.to_string(),
                    ),
                    (
                        "total_commands_processed".into(),
                        s.commands_processed.to_string(),
                    ),
                    (
                        "instantaneous_ops_per_sec".into(),
                        s.instantaneous_ops_per_sec().to_string(),
                    ),
                    (
                        "total_net_input_bytes".into(),
                        s.net_input_bytes.to_string(),
                    ),
                    (
                        "total_net_output_bytes".into(),
                        s.net_output_bytes.to_string(),
                    ),
                    (
                        "total_net_repl_input_bytes".into(),
                        s.net_repl_input_bytes.to_string(),
                    ),
                    (
                        "total_net_repl_output_bytes".into(),
                        s.net_repl_output_bytes.to_string(),
                    ),
                    (
                        "rejected_connections".into(),
                        s.rejected_connections.to_string(),
                    ),
                    ("sync_full".into(), srv.repl.sync_full.to_string()),
                    (
                        "sync_partial_ok".into(),
                        srv.repl.sync_partial_ok.to_string(),
                    ),
                    (
                        "sync_partial_err".into(),
                        srv.repl.sync_partial_err.to_string(),
                    ),
                    ("expired_keys".into(), srv.ks.expired_keys().to_string()),
                    ("evicted_keys".into(), s.evicted_keys.to_string()),
                    ("keyspace_hits".into(), s.keyspace_hits.to_string()),
                    ("keyspace_misses".into(), s.keyspace_misses.to_string()),
                    ("pubsub_channels".into(), srv.channels.len().to_string()),
                    ("pubsub_patterns".into(), srv.patterns.len().to_string()),
                    (
                        "pubsubshard_channels".into(),
                        srv.shard_channels.len().to_string(),
                    ),
                    (
                        "latest_fork_usec".into(),
                        srv.persist.last_fork.usec.to_string(),
                    ),
                    ("total_forks".into(), srv.persist.total_forks.to_string()),
                    (
                        "migrate_cached_sockets".into(),
                        srv.migrate.cached_links().to_string(),
                    ),
                    (
                        "tracking_total_keys".into(),
                        srv.tracking.total_keys().to_string(),
                    ),
                    (
                        "tracking_total_items".into(),
                        srv.tracking.total_items().to_string(),
                    ),
                    (
                        "tracking_total_prefixes".into(),
                        srv.tracking.total_prefixes().to_string(),
                    ),
                    ("total_error_replies".into(), s.error_replies.to_string()),
                ]
            }
            "replication" => srv.replication_info(now),
            "cpu" => vec![
                ("used_cpu_sys".into(), "0.000000".into()),
                ("used_cpu_user".into(), "0.000000".into()),
            ],
            "cluster" => vec![(
                "cluster_enabled".into(),
                (srv.cluster.is_some() as u8).to_string(),
            )],
            "commandstats" => srv
                .stats
                .cmdstats
                .iter()
                .enumerate()
                .filter(|(_, s)| s.calls + s.failed + s.rejected > 0)
                .filter_map(|(id, s)| Some((super::CommandTable::shared().names.get(id)?, s)))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .map(|(name, s)| {
                    let per_call = if s.calls == 0 {
                        0.0
                    } else {
                        s.usec as f32 / s.calls as f32
                    };
                    (
                        format!("cmdstat_{name}"),
                        format!(
                            "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                            s.calls, s.usec, s.rejected, s.failed
                        ),
                    )
                })
                .collect(),
            "latencystats" => {
                if srv.config.get("latency-tracking") == Some("yes") {
                    let percentiles: Vec<f64> = srv
                        .config
                        .get("latency-tracking-info-percentiles")
                        .unwrap_or("")
                        .split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .collect();
                    srv.latency.info_lines(&percentiles)
                } else {
                    Vec::new()
                }
            }
            "errorstats" => srv
                .stats
                .errorstats
                .iter()
                .map(|(code, n)| (format!("errorstat_{code}"), format!("count={n}")))
                .collect(),
            "keyspace" => srv
                .ks
                .dbs
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.is_empty())
                .map(|(i, d)| {
                    (
                        format!("db{i}"),
                        format!(
                            "keys={},expires={},avg_ttl={}",
                            d.len(),
                            d.expires_len(),
                            d.avg_ttl
                        ),
                    )
                })
                .collect(),
            _ => vec![],
        };
        let title = match *section {
            "cpu" => "CPU".to_string(),
            "modules" | "module_list" => "Modules".to_string(),
            s => {
                let mut t = s.to_string();
                t[..1].make_ascii_uppercase();
                t
            }
        };
        out.push_str(&format!("# {title}\r\n"));
        for (k, v) in lines {
            out.push_str(&format!("{k}:{v}\r\n"));
        }
    }
    Reply::Verbatim("txt", out.into_bytes())
}

fn time(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let ms = ctx.now.0;
    Reply::Array(vec![
        Reply::bulk((ms / 1000).to_string()),
        Reply::bulk(((ms % 1000) * 1000).to_string()),
    ])
}

fn memory_usage(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut i = 3;
    while i < argv.len() {
        if eq_ic(&argv[i], "samples") && i + 1 < argv.len() {
            if let Err(e) = parse_int(&argv[i + 1]) {
                return e;
            }
            i += 2;
        } else {
            return err_syntax();
        }
    }
    // Redis's MEMORY USAGE finds the key in the dict directly: no lazy expiry.
    match ctx.db().peek(&argv[2]) {
        None => Reply::Nil,
        Some(e) => Reply::Int((e.value.mem_size() + mem::key_size(&argv[2])) as i64),
    }
}

fn memory_doctor(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let text = if ctx.srv.ks.used_memory() < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
    };
    Reply::Verbatim("txt", text.as_bytes().to_vec())
}

fn config_get(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let cfg = &ctx.srv.config;
    let mut names: Vec<String> = Vec::new();
    for pat in &argv[2..] {
        let p = String::from_utf8_lossy(pat).to_ascii_lowercase();
        if !p.contains(['*', '?', '[']) {
            if cfg.get(&p).is_some() && !names.contains(&p) {
                names.push(p);
            }
            continue;
        }
        for n in cfg.names() {
            if glob_match(p.as_bytes(), n.as_bytes(), true) && !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    Reply::Map(
        names
            .into_iter()
            .map(|n| {
                let v = cfg.get(&n).unwrap_or("").to_string();
                (Reply::Bulk(n.into_bytes()), Reply::Bulk(v.into_bytes()))
            })
            .collect(),
    )
}

fn config_set(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() % 2 == 1 {
        return super::wrong_args("config|set");
    }
    let mut changes: Vec<(String, String)> = Vec::new();
    for pair in argv[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).into_owned();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        match ctx.srv.config.validate(&name, &value) {
            Ok((n, v)) => {
                if changes.iter().any(|(c, _)| *c == n) {
                    return Reply::err(format!("ERR CONFIG SET failed (possibly related to argument '{n}') - duplicate parameter"));
                }
                changes.push((n, v));
            }
            Err(e) => return Reply::err(e.message()),
        }
    }
    let maxmemory = changes.iter().any(|(n, _)| n == "maxmemory");
    for (n, v) in changes {
        ctx.srv.config.apply(n, v);
    }
    // A lower maxmemory evicts at once (`updateMaxmemory`), not at the
    // next write.
    if maxmemory && ctx.srv.config.maxmemory() > 0 && !ctx.srv.repl.is_replica() {
        crate::evict::perform(ctx.srv, ctx.now);
    }
    Reply::ok()
}

fn config_resetstat(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    ctx.srv.stats = Default::default();
    ctx.srv.latency.reset_histograms();
    for db in &mut ctx.srv.ks.dbs {
        db.expired_keys = 0;
    }
    Reply::ok()
}

fn sorted_commands<'a>(ctx: &Ctx<'a>) -> Vec<&'a Command> {
    let mut v: Vec<&Command> = ctx.table.commands.values().collect();
    v.sort_by(|a, b| a.fullname.cmp(&b.fullname));
    v
}

fn command_all(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    Reply::Array(
        sorted_commands(ctx)
            .into_iter()
            .map(|c| c.info.clone())
            .collect(),
    )
}

fn command_info(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() == 2 {
        return command_all(ctx, argv);
    }
    Reply::Array(
        argv[2..]
            .iter()
            .map(|n| {
                let name = String::from_utf8_lossy(n).to_ascii_lowercase();
                let found = ctx.table.get(&name).or_else(|| {
                    let (base, sub) = name.split_once('|')?;
                    ctx.table.get(base)?.subcommands.get(sub)
                });
                found.map(|c| c.info.clone()).unwrap_or(Reply::Nil)
            })
            .collect(),
    )
}

fn command_docs(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let names: Vec<String> = if argv.len() == 2 {
        sorted_commands(ctx)
            .iter()
            .map(|c| c.fullname.clone())
            .collect()
    } else {
        argv[2..]
            .iter()
            .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
            .collect()
    };
    let mut pairs = Vec::new();
    for n in names {
        if let Some(doc) = ctx.table.get(&n).and_then(|c| c.docs.clone()) {
            pairs.push((Reply::Bulk(n.into_bytes()), doc));
        }
    }
    Reply::Map(pairs)
}

fn command_list(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut pattern: Option<Vec<u8>> = None;
    let mut aclcat: Option<String> = None;
    if argv.len() > 2 {
        if argv.len() != 5 || !eq_ic(&argv[2], "filterby") {
            return err_syntax();
        }
        if eq_ic(&argv[3], "pattern") {
            pattern = Some(argv[4].clone());
        } else if eq_ic(&argv[3], "aclcat") {
            aclcat = Some(format!(
                "@{}",
                String::from_utf8_lossy(&argv[4]).to_ascii_lowercase()
            ));
        } else if eq_ic(&argv[3], "module") {
            return Reply::Array(vec![]);
        } else {
            return err_syntax();
        }
    }
    let mut out = Vec::new();
    for c in sorted_commands(ctx) {
        let mut all = vec![c];
        let mut subs: Vec<&Command> = c.subcommands.values().collect();
        subs.sort_by(|a, b| a.fullname.cmp(&b.fullname));
        all.extend(subs);
        for cmd in all {
            if let Some(p) = &pattern {
                if !glob_match(p, cmd.fullname.as_bytes(), true) {
                    continue;
                }
            }
            if let Some(cat) = &aclcat {
                let in_cat = match &cmd.info {
                    Reply::Array(f) => match f.get(6) {
                        Some(Reply::Set(v)) | Some(Reply::Array(v)) => {
                            v.iter().any(|r| matches!(r, Reply::Simple(s) if s == cat))
                        }
                        _ => false,
                    },
                    _ => false,
                };
                if !in_cat {
                    continue;
                }
            }
            out.push(Reply::Bulk(cmd.fullname.clone().into_bytes()));
        }
    }
    Reply::Array(out)
}
