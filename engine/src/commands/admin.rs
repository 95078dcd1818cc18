//! Server administration: MODULE (there are no modules, and none can be
//! loaded — as on ElastiCache), LOLWUT, MEMORY STATS (Redis's fields over
//! cachelab's memory model), and SHUTDOWN (handed to the runtime).

use super::{Ctx, Handler};
use crate::protocol::Reply;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "module|list" => |_, _| Reply::Array(Vec::new()),
        "module|load" | "module|loadex" => |_, _| {
            // What redis-server answers when a module cannot be loaded;
            // ElastiCache, like cachelab, runs no modules at all.
            Reply::err("ERR Error loading the extension. Please check the server logs.")
        },
        "module|unload" => {
            |_, _| Reply::err("ERR Error unloading module: no such module with that name")
        }
        "module|help" => |c, _| c.table.help["module"].clone(),
        "lolwut" => lolwut,
        "memory|stats" => memory_stats,
        "shutdown" => shutdown,
        _ => return None,
    })
}

/// LOLWUT [VERSION v]: Redis 7.0 draws art only for versions 5 and 6;
/// for its own version (and any other) it answers with the version line.
fn lolwut(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() >= 3 && super::eq_ic(&argv[1], "version") {
        if let Err(e) = super::parse_int(&argv[2]) {
            return e;
        }
    }
    let _ = ctx;
    Reply::Verbatim(
        "txt",
        format!("Redis ver. {}\n", super::server::REDIS_VERSION).into_bytes(),
    )
}

/// MEMORY STATS: `getMemoryOverheadData`'s fields, in Redis's order.
fn memory_stats(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let srv = &*ctx.srv;
    let used = super::server::used_memory(srv) as i64;
    let startup = crate::store::mem::BASELINE_USED_MEMORY as i64;
    let dataset = srv.ks.used_memory() as i64;
    let keys: usize = srv.ks.dbs.iter().map(|d| d.len()).sum();
    let clients_normal = (srv.clients.len() * 20_000) as i64;
    let lua = srv.scripting.scripts_mem as i64;
    let overhead = (used - dataset).max(0);
    let peak = srv.stats.peak_memory.max(used as usize) as i64;
    let int = |n: i64| Reply::Int(n);
    let b = Reply::bulk;
    let mut m = vec![
        (b("peak.allocated"), int(peak)),
        (b("total.allocated"), int(used)),
        (b("startup.allocated"), int(startup)),
        (b("replication.backlog"), int(0)),
        (b("clients.slaves"), int(0)),
        (b("clients.normal"), int(clients_normal)),
        (b("cluster.links"), int(0)),
        (b("aof.buffer"), int(0)),
        (b("lua.caches"), int(lua)),
        (b("functions.caches"), int(0)),
    ];
    for (i, db) in srv.ks.dbs.iter().enumerate().filter(|(_, d)| !d.is_empty()) {
        let main = crate::store::mem::dict_slots_size(db.len()) as i64 + 24 * db.len() as i64;
        let expires = if db.expires_len() > 0 {
            crate::store::mem::dict_slots_size(db.expires_len()) as i64
                + 24 * db.expires_len() as i64
        } else {
            0
        };
        m.push((
            Reply::bulk(format!("db.{i}")),
            Reply::Map(vec![
                (b("overhead.hashtable.main"), int(main)),
                (b("overhead.hashtable.expires"), int(expires)),
                (b("overhead.hashtable.slot-to-keys"), int(0)),
            ]),
        ));
    }
    let per_key = if keys > 0 {
        (used - startup).max(0) / keys as i64
    } else {
        0
    };
    let net = (used - startup).max(1) as f64;
    m.extend([
        (b("overhead.total"), int(overhead)),
        (b("keys.count"), int(keys as i64)),
        (b("keys.bytes-per-key"), int(per_key)),
        (b("dataset.bytes"), int(dataset)),
        (
            b("dataset.percentage"),
            Reply::Double(dataset as f64 * 100.0 / net),
        ),
        (
            b("peak.percentage"),
            Reply::Double(used as f64 * 100.0 / peak.max(1) as f64),
        ),
        (b("allocator.allocated"), int(used)),
        (b("allocator.active"), int(used)),
        (b("allocator.resident"), int(used)),
        (b("allocator-fragmentation.ratio"), Reply::Double(1.0)),
        (b("allocator-fragmentation.bytes"), int(0)),
        (b("allocator-rss.ratio"), Reply::Double(1.0)),
        (b("allocator-rss.bytes"), int(0)),
        (b("rss-overhead.ratio"), Reply::Double(1.0)),
        (b("rss-overhead.bytes"), int(0)),
        (b("fragmentation"), Reply::Double(1.0)),
        (b("fragmentation.bytes"), int(0)),
    ]);
    Reply::Map(m)
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], as shutdownCommand checks
/// it. The node stops at once: it never waits for lagging replicas
/// (redis-server waits up to `shutdown-timeout` without NOW), so no
/// shutdown is ever in progress and ABORT answers so. The save — when asked
/// for, or when `save` points are configured and NOSAVE is not given — is
/// the RDB file the runtime writes to `dir`/`dbfilename` before stopping.
/// The caller gets no reply: its connection ends with the node.
fn shutdown(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (mut nosave, mut save, mut force, mut abort, mut any) = (false, false, false, false, false);
    for a in &argv[1..] {
        let a = a.to_ascii_lowercase();
        match a.as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" => {}
            b"force" => force = true,
            b"abort" => {
                abort = true;
                continue;
            }
            _ => return Reply::err("ERR syntax error"),
        }
        any = true;
    }
    if (abort && any) || (nosave && save) {
        return Reply::err("ERR syntax error");
    }
    if abort {
        return Reply::err("ERR No shutdown in progress.");
    }
    if let Some(run) = ctx.srv.scripting.running.as_ref() {
        if !nosave && run.conn != ctx.conn {
            return Reply::err(if run.eval {
                crate::scripting::BUSY_EVAL
            } else {
                crate::scripting::BUSY_FUNCTION
            });
        }
    }
    let points = ctx
        .srv
        .config
        .get("save")
        .is_some_and(|v| !v.trim().is_empty());
    let save = (save || (points && !nosave)).then(|| {
        let meta = crate::persistence::rdb::Meta {
            repl_id: ctx.srv.repl.replid.clone(),
            repl_offset: ctx.srv.repl.offset,
        };
        crate::node::ShutdownSave {
            dir: ctx.srv.config.get("dir").unwrap_or(".").to_string(),
            dbfilename: ctx
                .srv
                .config
                .get("dbfilename")
                .unwrap_or("dump.rdb")
                .to_string(),
            rdb: crate::persistence::rdb::save(&ctx.srv.ks, &meta, ctx.now),
        }
    });
    ctx.srv.shutdown = Some(crate::node::ShutdownRequest {
        conn: ctx.conn,
        save,
        force,
    });
    Reply::Seq(Vec::new())
}
