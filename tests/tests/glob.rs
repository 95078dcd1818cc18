//! Glob patterns against redis-server: KEYS, SCAN MATCH, PUBSUB CHANNELS
//! and CONFIG GET with 5,000 seeded patterns full of metacharacters (`*`,
//! `?`, classes with `^` and ranges, escapes, unterminated classes) over keys
//! made of the same bytes, compared as multisets; then the patterns that
//! made Redis exponential before CVE-2022-36021 (30 stars against a 100-byte
//! key), which must be answered at all. CACHELAB_GLOB_SEED / _COMMANDS.

use cachelab_engine::protocol::Reply;
use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{canonical, Cmp, Pair};

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn word(rng: &mut Rng, alphabet: &[u8], max: usize) -> Vec<u8> {
    (0..rng.below(max + 1))
        .map(|_| alphabet[rng.below(alphabet.len())])
        .collect()
}

/// A SCAN reply's cursor and its keys, sorted.
fn scanned(r: Reply) -> Reply {
    match r {
        Reply::Array(mut v) if v.len() == 2 => {
            v[1] = canonical(&v[1], Cmp::Unordered);
            Reply::Array(v)
        }
        other => other,
    }
}

#[test]
fn random_patterns_match_redis() {
    let mut p = Pair::start("glob", "CACHELAB_GLOB", 0x610b);
    let mut rng = p.rng();
    let key_alpha = b"abAB-]\\*?[";
    for _ in 0..300 {
        let k = word(&mut rng, key_alpha, 7);
        p.check(&[s("SET"), k, s("v")], Cmp::Exact);
    }
    let pat_alpha = b"ab*?[]^-\\AB";
    let total = p.total(5_000);
    for i in 0..total {
        p.step = i;
        let pat = word(&mut rng, pat_alpha, 9);
        match rng.below(4) {
            0 => p.check(&[s("KEYS"), pat], Cmp::Unordered),
            1 => {
                let argv = [s("SCAN"), s("0"), s("MATCH"), pat, s("COUNT"), s("1000")];
                let (a, b) = p.both(&argv);
                let (a, b) = (scanned(a), scanned(b));
                if a != b {
                    p.fail("SCAN MATCH differs", &format!("{a:?}"), &format!("{b:?}"));
                }
            }
            2 => p.check(&[s("PUBSUB"), s("CHANNELS"), pat], Cmp::Unordered),
            _ => {
                let mut cfg = b"max".to_vec();
                cfg.extend(pat);
                p.check(&[s("CONFIG"), s("GET"), cfg], Cmp::UnorderedPairs)
            }
        }
    }
}

#[test]
fn pathological_patterns_are_answered() {
    let mut p = Pair::start("glob", "CACHELAB_GLOB", 1);
    p.check(&[s("SET"), vec![b'a'; 100], s("1")], Cmp::Exact);
    let mut pat = b"a".to_vec();
    for _ in 0..30 {
        pat.extend_from_slice(b"*a");
    }
    pat.push(b'b');
    p.check(&[s("KEYS"), pat.clone()], Cmp::Exact);
    p.check(&[s("SCAN"), s("0"), s("MATCH"), pat.clone()], Cmp::Exact);
    pat.pop();
    p.check(&[s("KEYS"), pat], Cmp::Exact);
    p.check(&[s("KEYS"), s("*")], Cmp::Exact);
}
