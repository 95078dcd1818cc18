//! Hash commands: HSET HMSET HSETNX HGET HMGET HGETALL HKEYS HVALS HDEL
//! HEXISTS HLEN HSTRLEN HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN, as t_hash.c
//! in Redis 7.0 answers them.

use super::coll::{self, parse_cursor, parse_scan_opts, scan_reply, scan_table};
use super::{parse_int, wrong_args, Ctx, Handler};
use crate::protocol::Reply;
use crate::store::number::LongDouble;
use crate::store::Hash;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "hset" => |c, a| hset(c, a, true),
        "hmset" => |c, a| hset(c, a, false),
        "hsetnx" => hsetnx,
        "hget" => hget,
        "hmget" => hmget,
        "hgetall" => |c, a| hgetall(c, a, true, true),
        "hkeys" => |c, a| hgetall(c, a, true, false),
        "hvals" => |c, a| hgetall(c, a, false, true),
        "hdel" => hdel,
        "hexists" => hexists,
        "hlen" => hlen,
        "hstrlen" => hstrlen,
        "hincrby" => hincrby,
        "hincrbyfloat" => hincrbyfloat,
        "hrandfield" => hrandfield,
        "hscan" => hscan,
        _ => return None,
    })
}

fn hset(ctx: &mut Ctx, argv: &[Vec<u8>], count_reply: bool) -> Reply {
    if argv.len() % 2 == 1 {
        return wrong_args(if count_reply { "hset" } else { "hmset" });
    }
    let lim = ctx.srv.config.encoding_limits();
    let r = coll::write(ctx, &argv[1], Some(Hash::new), |h: &mut Hash| {
        h.try_conversion(argv[2..].iter().map(Vec::as_slice), &lim);
        let mut created = 0;
        for fv in argv[2..].chunks(2) {
            if !h.set(&fv[0], fv[1].clone(), &lim) {
                created += 1;
            }
        }
        created
    });
    match r {
        Ok(n) if count_reply => Reply::Int(n.unwrap_or(0)),
        Ok(_) => Reply::ok(),
        Err(e) => e,
    }
}

fn hsetnx(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let lim = ctx.srv.config.encoding_limits();
    match coll::peek_for_write::<Hash>(ctx, &argv[1]) {
        Err(e) => return e,
        Ok(Some(h)) if h.contains(&argv[2]) => return Reply::Int(0),
        Ok(_) => {}
    }
    let r = coll::write(ctx, &argv[1], Some(Hash::new), |h: &mut Hash| {
        h.try_conversion([argv[2].as_slice(), argv[3].as_slice()], &lim);
        h.set(&argv[2], argv[3].clone(), &lim);
    });
    match r {
        Ok(_) => Reply::Int(1),
        Err(e) => e,
    }
}

fn hget(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Hash>(ctx, &argv[1]) {
        Ok(Some(h)) => h.get(&argv[2]).map(Reply::bulk).unwrap_or(Reply::Nil),
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

fn hmget(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Hash>(ctx, &argv[1]) {
        Ok(h) => Reply::Array(
            argv[2..]
                .iter()
                .map(|f| {
                    h.and_then(|h| h.get(f))
                        .map(Reply::bulk)
                        .unwrap_or(Reply::Nil)
                })
                .collect(),
        ),
        Err(e) => e,
    }
}

fn hgetall(ctx: &mut Ctx, argv: &[Vec<u8>], keys: bool, vals: bool) -> Reply {
    let h = match coll::read::<Hash>(ctx, &argv[1]) {
        Ok(h) => h,
        Err(e) => return e,
    };
    if keys && vals {
        return Reply::Map(
            h.into_iter()
                .flat_map(|h| h.iter())
                .map(|(f, v)| (Reply::bulk(f), Reply::bulk(v)))
                .collect(),
        );
    }
    Reply::Array(
        h.into_iter()
            .flat_map(|h| h.iter())
            .map(|(f, v)| Reply::bulk(if keys { f } else { v }))
            .collect(),
    )
}

fn hdel(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let r = coll::write_if(ctx, &argv[1], None, |h: &mut Hash| {
        let mut deleted = 0;
        for f in &argv[2..] {
            if h.delete(f) {
                deleted += 1;
                if h.is_empty() {
                    break;
                }
            }
        }
        (deleted, deleted > 0)
    });
    match r {
        Ok(n) => Reply::Int(n.unwrap_or(0)),
        Err(e) => e,
    }
}

fn hexists(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Hash>(ctx, &argv[1]) {
        Ok(h) => Reply::Int(h.is_some_and(|h| h.contains(&argv[2])) as i64),
        Err(e) => e,
    }
}

fn hlen(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Hash>(ctx, &argv[1]) {
        Ok(h) => Reply::Int(h.map_or(0, |h| h.len()) as i64),
        Err(e) => e,
    }
}

fn hstrlen(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Hash>(ctx, &argv[1]) {
        Ok(h) => Reply::Int(h.and_then(|h| h.get(&argv[2])).map_or(0, |v| v.len()) as i64),
        Err(e) => e,
    }
}

fn hincrby(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let incr = match parse_int(&argv[3]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let lim = ctx.srv.config.encoding_limits();
    let cur = match coll::peek_for_write::<Hash>(ctx, &argv[1]) {
        Err(e) => return e,
        Ok(h) => match h.and_then(|h| h.get(&argv[2])) {
            None => 0,
            Some(v) => match crate::protocol::request::parse_i64_strict(v) {
                Some(n) => n,
                None => return Reply::err("ERR hash value is not an integer"),
            },
        },
    };
    let Some(new) = cur.checked_add(incr) else {
        return Reply::err("ERR increment or decrement would overflow");
    };
    let r = coll::write(ctx, &argv[1], Some(Hash::new), |h: &mut Hash| {
        h.set(&argv[2], new.to_string().into_bytes(), &lim);
    });
    match r {
        Ok(_) => Reply::Int(new),
        Err(e) => e,
    }
}

fn hincrbyfloat(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let Ok(incr) = LongDouble::parse(&argv[3]) else {
        return Reply::err("ERR value is not a valid float");
    };
    if !incr.is_finite() {
        return Reply::err("ERR value is NaN or Infinity");
    }
    let lim = ctx.srv.config.encoding_limits();
    let cur = match coll::peek_for_write::<Hash>(ctx, &argv[1]) {
        Err(e) => return e,
        Ok(h) => match h.and_then(|h| h.get(&argv[2])) {
            None => LongDouble::from_i64(0),
            Some(v) => match LongDouble::parse(v) {
                Ok(n) => n,
                Err(_) => return Reply::err("ERR hash value is not a float"),
            },
        },
    };
    let sum = match cur.add(&incr) {
        Some(s) if s.is_finite() => s,
        _ => return Reply::err("ERR increment would produce NaN or Infinity"),
    };
    let text = sum.to_human_string().into_bytes();
    let r = coll::write(ctx, &argv[1], Some(Hash::new), |h: &mut Hash| {
        h.set(&argv[2], text.clone(), &lim);
    });
    match r {
        Ok(_) => Reply::Bulk(text),
        Err(e) => e,
    }
}

fn pair_reply(out: &mut Vec<Reply>, f: &[u8], v: &[u8], withvalues: bool, resp3: bool) {
    if withvalues && resp3 {
        out.push(Reply::Array(vec![Reply::bulk(f), Reply::bulk(v)]));
    } else {
        out.push(Reply::bulk(f));
        if withvalues {
            out.push(Reply::bulk(v));
        }
    }
}

fn hrandfield(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let resp3 = ctx.client().is_some_and(|c| c.resp >= 3);
    if argv.len() == 2 {
        let h = match coll::read::<Hash>(ctx, &argv[1]) {
            Ok(Some(h)) => h.clone(),
            Ok(None) => return Reply::Nil,
            Err(e) => return e,
        };
        let i = ctx.srv.rng.below(h.len());
        return h
            .get_index(i)
            .map(|(f, _)| Reply::bulk(f))
            .unwrap_or(Reply::Nil);
    }
    let (count, uniq, withvalues) = match coll::parse_rand_count(argv, "withvalues") {
        Ok(c) => c,
        Err(e) => return e,
    };
    let h = match coll::read::<Hash>(ctx, &argv[1]) {
        Ok(Some(h)) => h.clone(),
        Ok(None) => return Reply::Array(Vec::new()),
        Err(e) => return e,
    };
    let listpack = matches!(h, Hash::Listpack { .. });
    let mut out = Vec::new();
    for i in coll::rand_positions(&mut ctx.srv.rng, h.len(), count, uniq, listpack) {
        let (f, v) = h.get_index(i).expect("index below len");
        pair_reply(&mut out, f, v, withvalues, resp3);
    }
    Reply::Array(out)
}

fn hscan(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let cursor = match parse_cursor(&argv[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let h = match coll::read::<Hash>(ctx, &argv[1]) {
        Ok(Some(h)) => h,
        Ok(None) => return scan_reply(0, Vec::new()),
        Err(e) => return e,
    };
    let opts = match parse_scan_opts(&argv[3..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match h.table() {
        None => scan_reply(
            0,
            h.iter()
                .filter(|(f, _)| opts.matches(f))
                .flat_map(|(f, v)| [Reply::bulk(f), Reply::bulk(v)])
                .collect(),
        ),
        Some(map) => scan_table(cursor, map.len(), &opts, |i| {
            let (f, v) = map.get_index(i).expect("index below len");
            if opts.matches(f) {
                vec![Reply::bulk(f), Reply::bulk(v)]
            } else {
                Vec::new()
            }
        }),
    }
}
