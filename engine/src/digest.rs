//! Redis's dataset digest (debug.c: `xorDigest`, `mixDigest`,
//! `xorObjectDigest`, `computeDatasetDigest`), byte for byte, so DEBUG
//! DIGEST and DEBUG DIGEST-VALUE compare across cachelab and redis-server:
//! order-sensitive SHA-1 mixing for strings, lists and streams, xor (order
//! free) for sets, sorted sets and hashes, the type and a marker for an
//! expiry mixed in, each database's number mixed before its keys.

use crate::sha1::sha1;
use crate::store::number::format_g17;
use crate::store::value::Value;
use crate::store::Keyspace;

/// digest ^= SHA1(data).
fn xor(digest: &mut [u8; 20], data: &[u8]) {
    let h = sha1(data);
    for (d, x) in digest.iter_mut().zip(h) {
        *d ^= x;
    }
}

/// digest = SHA1(digest ^ SHA1(data)): order matters.
fn mix(digest: &mut [u8; 20], data: &[u8]) {
    xor(digest, data);
    *digest = sha1(&digest[..]);
}

/// Redis's object type codes (OBJ_STRING … OBJ_STREAM).
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// `xorObjectDigest`: one value (and whether its key has an expiry) into
/// `digest`.
pub fn value_into(digest: &mut [u8; 20], v: &Value, has_expire: bool) {
    mix(digest, &type_code(v).to_be_bytes());
    match v {
        Value::Str(s) => mix(digest, &s.to_bytes()),
        Value::List(l) => {
            for e in l.items.iter() {
                mix(digest, e);
            }
        }
        Value::Set(s) => {
            for m in s.members() {
                xor(digest, &m);
            }
        }
        Value::ZSet(z) => {
            for (m, score) in z.all() {
                let mut e = [0u8; 20];
                mix(&mut e, &m);
                mix(&mut e, format_g17(score).as_bytes());
                xor(digest, &e);
            }
        }
        Value::Hash(h) => {
            for (f, val) in h.iter() {
                let mut e = [0u8; 20];
                mix(&mut e, f);
                mix(&mut e, val);
                xor(digest, &e);
            }
        }
        Value::Stream(x) => {
            use crate::store::stream::StreamId;
            for entry in x.range(StreamId::MIN, StreamId::MAX, false) {
                mix(
                    digest,
                    format!("{}.{}", entry.id.ms, entry.id.seq).as_bytes(),
                );
                for (f, val) in &entry.fields {
                    mix(digest, f);
                    mix(digest, val);
                }
            }
        }
    }
    if has_expire {
        xor(digest, b"!!expire!!");
    }
}

/// DEBUG DIGEST-VALUE of one key: 20 zero bytes when it is missing.
pub fn key_value(v: Option<&Value>, has_expire: bool) -> [u8; 20] {
    let mut d = [0u8; 20];
    if let Some(v) = v {
        value_into(&mut d, v, has_expire);
    }
    d
}

/// DEBUG DIGEST: the whole dataset (logically expired keys included, as
/// they are still in the dictionary).
pub fn dataset(ks: &Keyspace) -> [u8; 20] {
    let mut fin = [0u8; 20];
    for (i, db) in ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        mix(&mut fin, &(i as u32).to_be_bytes());
        for (k, e) in db.entries() {
            let mut d = [0u8; 20];
            mix(&mut d, k);
            value_into(&mut d, &e.value, db.expire_at(k).is_some());
            xor(&mut fin, &d);
        }
    }
    fin
}

/// The 40 hex digits DEBUG answers.
pub fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
