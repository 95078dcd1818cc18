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

/// LOLWUT [VERSION v] [args…], as lolwutCommand dispatches: version 5
/// draws Georg Nees's "Schotter" (lolwut5.c), version 6 an 8-bit city
/// skyline (lolwut6.c) — with this node's random numbers where Redis calls
/// rand(); any other version, Redis 7.0's own included, answers with the
/// version line.
fn lolwut(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut rest = &argv[1..];
    let mut version = 7;
    if argv.len() >= 3 && super::eq_ic(&argv[1], "version") {
        match super::parse_int(&argv[2]) {
            Ok(v) => version = v as u32,
            Err(e) => return e,
        }
        rest = &argv[3..];
    }
    if version == 6 {
        return lolwut6(ctx, rest);
    }
    if version != 5 {
        return Reply::Verbatim(
            "txt",
            format!("Redis ver. {}\n", super::server::REDIS_VERSION).into_bytes(),
        );
    }
    // Columns, squares per row, squares per column: clamped, so LOLWUT
    // stays cheap whatever is asked.
    let mut params = [66i64, 8, 12];
    let limits = [1000i64, 200, 200];
    for (i, a) in rest.iter().take(3).enumerate() {
        match super::parse_int(a) {
            Ok(v) => params[i] = v.clamp(1, limits[i]),
            Err(e) => return e,
        }
    }
    let rng = &mut ctx.srv.rng;
    let mut rand = || (rng.next_u64() >> 33) as i64; // 0..=RAND_MAX (2^31-1)
    let art = schotter(params[0], params[1], params[2], &mut rand);
    Reply::Verbatim(
        "txt",
        format!(
            "{art}\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. {}\n",
            super::server::REDIS_VERSION
        )
        .into_bytes(),
    )
}

/// lolwut6Command: `[columns] [rows]`, clamped to 1..=1000.
fn lolwut6(ctx: &mut Ctx, rest: &[Vec<u8>]) -> Reply {
    let mut params = [80i64, 20];
    for (i, a) in rest.iter().take(2).enumerate() {
        match super::parse_int(a) {
            Ok(v) => params[i] = v.clamp(1, 1000),
            Err(e) => return e,
        }
    }
    let (w, h) = (params[0] as i32, params[1] as i32);
    let rng = &mut ctx.srv.rng;
    let mut rand = || (rng.next_u64() >> 33) as i32;
    let mut canvas = vec![3u8; (w * h) as usize];
    skyline(&mut canvas, w, h, &mut rand);
    let mut text = String::new();
    for y in 0..h {
        for x in 0..w {
            let ce = match canvas[(x + y * w) as usize] {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str(&format!("\x1b[{ce} \x1b[0m"));
        }
        if y != h - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    text.push_str(super::server::REDIS_VERSION);
    text.push('\n');
    Reply::Verbatim("txt", text.into_bytes())
}

/// generateSkyline: two passes of window-less background towers in the
/// two grays, then the black foreground towers with lit windows.
fn skyline(canvas: &mut [u8], w: i32, h: i32, rand: &mut dyn FnMut() -> i32) {
    let get = |c: &[u8], x: i32, y: i32| {
        if x < 0 || x >= w || y < 0 || y >= h {
            0
        } else {
            c[(x + y * w) as usize]
        }
    };
    // generateSkyscraper.
    let tower = |c: &mut [u8],
                 xoff: i32,
                 width: i32,
                 height: i32,
                 windows: bool,
                 color: u8,
                 rand: &mut dyn FnMut() -> i32| {
        let starty = h - 1;
        let endy = starty - height + 1;
        let mut y = starty;
        while y >= endy {
            for x in xoff..xoff + width {
                if y == endy && (x <= xoff + 1 || x >= xoff + width - 2) {
                    continue;
                }
                let mut col = color;
                if windows && x > xoff + 1 && x < xoff + width - 2 && y > endy + 1 && y < starty - 1
                {
                    let relx = x - (xoff + 1);
                    let rely = y - (endy + 1);
                    if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                        loop {
                            col = (1 + rand() % 2) as u8;
                            if col != color {
                                break;
                            }
                        }
                        if relx % 2 != 0 {
                            col = get(c, x - 1, y);
                        }
                    }
                }
                if x >= 0 && x < w && y >= 0 && y < h {
                    c[(x + y * w) as usize] = col;
                }
            }
            y -= 1;
        }
    };
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < w {
            offset += rand() % 8;
            let width = 10 + rand() % 9;
            let height = if color == 2 {
                h / 2 + (rand() % h) / 2
            } else {
                h / 2 + (rand() % h) / 3
            };
            tower(canvas, offset, width, height, false, color, rand);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < w {
        offset += rand() % 8;
        let mut width = 5 + rand() % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + (rand() % h) / 2;
        tower(canvas, offset, width, height, true, 0, rand);
        offset += width + 5;
    }
}

/// lwDrawSchotter and lwRenderCanvas: squares rotated and shifted more as
/// the rows go down, drawn with Bresenham's lines on a pixel canvas,
/// rendered 2×4 pixels per Braille character.
fn schotter(cols: i64, per_row: i64, per_col: i64, rand: &mut dyn FnMut() -> i64) -> String {
    const RAND_MAX: f32 = 2147483647.0;
    let width = (cols * 2) as i32;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut px = vec![false; (width.max(0) * height.max(0)) as usize];
    let mut dot = |x: i32, y: i32| {
        if x >= 0 && x < width && y >= 0 && y < height {
            px[(x + y * width) as usize] = true;
        }
    };
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0f32;
            if y > 1 {
                let mut r = [0f32; 3];
                for v in &mut r {
                    *v = rand() as f32 / RAND_MAX / per_col as f32 * y as f32;
                }
                for v in &mut r {
                    if rand() % 2 == 1 {
                        *v = -*v;
                    }
                }
                angle = r[0];
                sx += (r[1] * side / 3.0) as i32;
                sy += (r[2] * side / 3.0) as i32;
            }
            // lwDrawSquare.
            let size = (side / std::f32::consts::SQRT_2).round();
            let mut k = std::f32::consts::FRAC_PI_4 + angle;
            let mut pts = [(0i32, 0i32); 4];
            for p in &mut pts {
                *p = (
                    (k.sin() * size + sx as f32).round() as i32,
                    (k.cos() * size + sy as f32).round() as i32,
                );
                k += std::f32::consts::FRAC_PI_2;
            }
            for j in 0..4 {
                let ((mut x1, mut y1), (x2, y2)) = (pts[j], pts[(j + 1) % 4]);
                let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
                let (stx, sty) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
                let mut err = dx - dy;
                loop {
                    dot(x1, y1);
                    if x1 == x2 && y1 == y2 {
                        break;
                    }
                    let e2 = err * 2;
                    if e2 > -dy {
                        err -= dy;
                        x1 += stx;
                    }
                    if e2 < dx {
                        err += dx;
                        y1 += sty;
                    }
                }
            }
        }
    }
    let get = |x: i32, y: i32| {
        x >= 0 && x < width && y >= 0 && y < height && px[(x + y * width) as usize]
    };
    let mut text = String::new();
    let mut y = 0;
    while y < height {
        let mut x = 0;
        while x < width {
            let bits = [
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 0),
                (1, 1),
                (1, 2),
                (0, 3),
                (1, 3),
            ];
            let byte = bits
                .iter()
                .enumerate()
                .filter(|(_, (dx, dy))| get(x + dx, y + dy))
                .fold(0u32, |b, (i, _)| b | 1 << i);
            text.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
            x += 2;
        }
        if y != height - 1 {
            text.push('\n');
        }
        y += 4;
    }
    text
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
            rdb: super::persist::file(ctx.srv, &meta, ctx.now),
        }
    });
    ctx.srv.shutdown = Some(crate::node::ShutdownRequest {
        conn: ctx.conn,
        save,
        force,
    });
    Reply::Seq(Vec::new())
}
