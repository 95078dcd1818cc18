//! DUMP and RESTORE: a key's value as Redis's serialisation payload (the RDB
//! object, the RDB version and a CRC-64), so a payload DUMPed by
//! redis-server RESTOREs here and the reverse. Strings come out byte for
//! byte as redis-server's (LZF-compressed over 20 bytes with
//! `rdbcompression`); compact collections as Redis 7.0's blobs (listpack,
//! intset, quicklist), the others in the plain types.

use super::keys::lookup_read;
use super::{eq_ic, err_syntax, parse_int, Ctx, Handler};
use crate::persistence::rdb::{dump_payload, restore_payload, PayloadError};
use crate::protocol::Reply;
use crate::time::Millis;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "dump" => dump,
        "restore" | "restore-asking" => restore,
        _ => return None,
    })
}

fn dump(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    if !lookup_read(ctx, &argv[1], now) {
        return Reply::Nil;
    }
    let compress = ctx.srv.config.get("rdbcompression") != Some("no");
    match ctx.db().peek(&argv[1]) {
        Some(e) => {
            let payload =
                crate::persistence::rdb::with_compression(compress, || dump_payload(&e.value));
            Reply::Bulk(payload)
        }
        None => Reply::Nil,
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], with
/// `restoreCommand`'s checks in its order: options, an existing key, the
/// TTL, the payload's footer, the object.
fn restore(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (i64, i64) = (-1, -1);
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        let a = &argv[j];
        if eq_ic(a, "replace") {
            replace = true;
        } else if eq_ic(a, "absttl") {
            absttl = true;
        } else if eq_ic(a, "idletime") && more >= 1 && freq == -1 {
            idle = match parse_int(&argv[j + 1]) {
                Ok(v) if v < 0 => return Reply::err("ERR Invalid IDLETIME value, must be >= 0"),
                Ok(v) => v,
                Err(e) => return e,
            };
            j += 1;
        } else if eq_ic(a, "freq") && more >= 1 && idle == -1 {
            freq = match parse_int(&argv[j + 1]) {
                Ok(v) if !(0..=255).contains(&v) => {
                    return Reply::err("ERR Invalid FREQ value, must be >= 0 and <= 255")
                }
                Ok(v) => v,
                Err(e) => return e,
            };
            j += 1;
        } else {
            return err_syntax();
        }
        j += 1;
    }
    let key = &argv[1];
    if !replace && ctx.db().get(key, now).is_some() {
        return Reply::err("BUSYKEY Target key name already exists.");
    }
    let ttl = match parse_int(&argv[2]) {
        Ok(t) if t < 0 => return Reply::err("ERR Invalid TTL value, must be >= 0"),
        Ok(t) => t,
        Err(e) => return e,
    };
    let lim = ctx.srv.config.encoding_limits();
    let value = match restore_payload(&argv[3], &lim) {
        Ok(v) => v,
        Err(PayloadError::VersionOrChecksum) => {
            return Reply::err("ERR DUMP payload version or checksum are wrong")
        }
        Err(PayloadError::BadFormat) => return Reply::err("ERR Bad data format"),
    };
    let replica = ctx.srv.repl.is_replica();
    let db = ctx.db();
    if replace {
        db.remove(key);
    }
    let at = match ttl {
        0 => None,
        t if absttl => Some(Millis(t as u64)),
        t => Some(Millis(now.0.saturating_add(t as u64))),
    };
    // An expiry already past: the key is not created (a replaced key stays
    // deleted), as `checkAlreadyExpired`, except on a replica.
    if at.is_some_and(|at| at <= now) && !replica {
        return Reply::ok();
    }
    db.set(key, value, now, false);
    if let Some(at) = at {
        db.set_expire(key, at);
    }
    let i = ctx.db_index();
    super::keys::signal_new_key(ctx.srv, i, key);
    let lfu = ctx.srv.config.lfu_policy();
    if let Some((atime, counter)) = ctx.db().access_mut(key) {
        if lfu && freq >= 0 {
            *counter = freq as u8;
        } else if !lfu && idle >= 0 {
            *atime = crate::store::db::Atime::idle_before(now, idle as u64);
        }
    }
    Reply::ok()
}
