//! A server's whole dataset read over RESP, in a form two servers can be
//! compared by: every key of every database (SCAN), its type, its value
//! (collections in a canonical order where the type has none) and its
//! absolute expiry (PEXPIRETIME). Used where DEBUG DIGEST is not shared.

use std::collections::BTreeMap;

use cachelab_engine::protocol::{parse_reply, Reply};

use crate::{args, RespConn};

/// (database, key) → "type | value | expiry".
pub type Dataset = BTreeMap<(usize, Vec<u8>), String>;

fn call(c: &mut RespConn, argv: &[Vec<u8>]) -> Reply {
    let bytes = c.call(argv);
    parse_reply(&bytes).expect("valid RESP").expect("whole").0
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Reply::Simple(s) => s.clone(),
        Reply::Int(n) => n.to_string(),
        Reply::Array(v) => format!("[{}]", v.iter().map(text).collect::<Vec<_>>().join(",")),
        other => format!("{other:?}"),
    }
}

fn items(r: Reply) -> Vec<String> {
    match r {
        Reply::Array(v) => v.iter().map(text).collect(),
        other => vec![text(&other)],
    }
}

/// Every key of databases `0..dbs` with its type, value and expiry.
pub fn read(c: &mut RespConn, dbs: usize) -> Dataset {
    let mut out = Dataset::new();
    for db in 0..dbs {
        call(c, &args(&["SELECT", &db.to_string()]));
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        loop {
            let r = call(c, &args(&["SCAN", &cursor, "COUNT", "1000"]));
            let Reply::Array(parts) = r else {
                panic!("SCAN answered {r:?}")
            };
            let (Some(Reply::Bulk(next)), Some(Reply::Array(found))) =
                (parts.first(), parts.get(1))
            else {
                panic!("SCAN answered {parts:?}")
            };
            for k in found {
                if let Reply::Bulk(k) = k {
                    keys.push(k.clone());
                }
            }
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
        for key in keys {
            let k = |cmd: &[&str]| -> Vec<Vec<u8>> {
                let mut v: Vec<Vec<u8>> = vec![cmd[0].as_bytes().to_vec(), key.clone()];
                v.extend(cmd[1..].iter().map(|a| a.as_bytes().to_vec()));
                v
            };
            let typ = text(&call(c, &k(&["TYPE"])));
            let value = match typ.as_str() {
                "string" => text(&call(c, &k(&["GET"]))),
                "list" => text(&call(c, &k(&["LRANGE", "0", "-1"]))),
                "hash" => {
                    let flat = items(call(c, &k(&["HGETALL"])));
                    let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "set" => {
                    let mut m = items(call(c, &k(&["SMEMBERS"])));
                    m.sort();
                    m.join(",")
                }
                "zset" => text(&call(c, &k(&["ZRANGE", "0", "-1", "WITHSCORES"]))),
                "stream" => format!(
                    "{} len {}",
                    text(&call(c, &k(&["XRANGE", "-", "+"]))),
                    text(&call(c, &k(&["XLEN"])))
                ),
                // Gone between SCAN and TYPE.
                "none" => continue,
                t => panic!("unexpected type {t}"),
            };
            let expiry = text(&call(c, &k(&["PEXPIRETIME"])));
            out.insert((db, key), format!("{typ} | {value} | {expiry}"));
        }
    }
    call(c, &args(&["SELECT", "0"]));
    out
}

/// The first differences between two datasets, in words.
pub fn differences(a: &Dataset, b: &Dataset, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (k, va) in a {
        match b.get(k) {
            None => out.push(format!(
                "db {} key {:?}: only on the first",
                k.0,
                String::from_utf8_lossy(&k.1)
            )),
            Some(vb) if vb != va => out.push(format!(
                "db {} key {:?}: {va} / {vb}",
                k.0,
                String::from_utf8_lossy(&k.1)
            )),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            out.push(format!(
                "db {} key {:?}: only on the second",
                k.0,
                String::from_utf8_lossy(&k.1)
            ));
        }
    }
    out.truncate(limit);
    out
}
