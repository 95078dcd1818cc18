//! Server administration commands that only report: MODULE (there are no
//! modules, and none can be loaded — as on ElastiCache), LOLWUT, and
//! MEMORY STATS (Redis's fields over cachelab's memory model).

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
