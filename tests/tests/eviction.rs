//! Eviction under maxmemory, per policy, on redis-server and on cachelab
//! with the same workload: 2,000 "cold" keys, then 40 "hot" keys read again
//! and again (a second later: Redis's LRU clock ticks in seconds), a
//! third of all keys with a TTL, maxmemory 200 KB above that, then 500
//! more keys written while the hot ones are read.
//! Each side must keep the policy's contract — noeviction answers OOM in
//! Redis's words, volatile-* never evict a key without a TTL (and answer
//! OOM once none is left), LRU/LFU keep the hot set, volatile-ttl evicts
//! the nearest expiries first — and the report prints how many keys
//! survive on each side and how alike the survivors are (sampling makes
//! them differ key by key).

use std::collections::HashSet;

use cachelab_engine::protocol::Reply;
use cachelab_tests::{args, wall_now, EngineClient, RedisServer, RespConn};

/// How far above the loaded data set maxmemory is put.
const HEADROOM: i64 = 200 * 1024;

struct Side {
    redis: Option<RespConn>,
    engine: Option<EngineClient>,
}

impl Side {
    fn call(&mut self, parts: &[&str]) -> Reply {
        let argv = args(parts);
        match (&mut self.redis, &mut self.engine) {
            (Some(r), _) => cachelab_tests::pair::parse(&r.call(&argv)),
            (_, Some(e)) => cachelab_tests::pair::parse(&e.call(wall_now(), &argv)),
            _ => unreachable!(),
        }
    }
    fn name(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "cachelab"
        }
    }
}

struct Outcome {
    survivors: HashSet<String>,
    evicted: i64,
    oom: Option<String>,
}

fn info_field(r: &Reply, field: &str) -> i64 {
    let (Reply::Bulk(b) | Reply::Verbatim(_, b)) = r else {
        return -1;
    };
    String::from_utf8_lossy(b)
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().parse().unwrap_or(-1))
        })
        .unwrap_or(-1)
}

fn run(side: &mut Side, policy: &str) -> Outcome {
    assert_eq!(side.call(&["FLUSHALL"]), Reply::Simple("OK".into()));
    side.call(&["CONFIG", "RESETSTAT"]);
    side.call(&["CONFIG", "SET", "maxmemory", "0"]);
    side.call(&["CONFIG", "SET", "maxmemory-policy", policy]);
    let value = "v".repeat(1000);
    let mut i = 0;
    while i < COLD {
        let k = format!("cold:{i}");
        if i % 3 == 0 {
            // Distinct TTLs: cold:0 expires soonest.
            side.call(&["SET", &k, &value, "EX", &(1000 + i).to_string()]);
        } else {
            side.call(&["SET", &k, &value]);
        }
        i += 1;
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for i in 0..40 {
        let k = format!("hot:{i}");
        side.call(&["SET", &k, &value, "EX", "100000"]);
    }
    let limit = info_field(&side.call(&["INFO", "memory"]), "used_memory") + HEADROOM;
    side.call(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    let mut oom = None;
    for round in 0..10 {
        for i in 0..40 {
            side.call(&["GET", &format!("hot:{i}")]);
        }
        for i in 0..50 {
            let k = format!("new:{round}:{i}");
            let ttl = (i % 2 == 0).then(|| (5000 + round * 50 + i).to_string());
            let r = match &ttl {
                Some(t) => side.call(&["SET", &k, &value, "EX", t]),
                None => side.call(&["SET", &k, &value]),
            };
            if let Reply::Error(e) = r {
                oom = Some(e);
                break;
            }
        }
        if oom.is_some() {
            break;
        }
    }
    let evicted = info_field(&side.call(&["INFO", "stats"]), "evicted_keys");
    let used = info_field(&side.call(&["INFO", "memory"]), "used_memory");
    assert!(
        used <= limit + 64 * 1024,
        "{} {policy}: used_memory {used} over the limit {limit}",
        side.name()
    );
    let Reply::Array(keys) = side.call(&["KEYS", "*"]) else {
        panic!("KEYS")
    };
    let survivors = keys
        .iter()
        .map(|k| match k {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        })
        .collect();
    side.call(&["CONFIG", "SET", "maxmemory", "0"]);
    Outcome {
        survivors,
        evicted,
        oom,
    }
}

/// Keys written without a TTL.
/// Keys loaded before maxmemory is set.
const COLD: u32 = 2000;

fn persistent(k: &str) -> bool {
    if let Some(n) = k.strip_prefix("cold:") {
        return n.parse::<u32>().unwrap() % 3 != 0;
    }
    if let Some(rest) = k.strip_prefix("new:") {
        return rest.split(':').nth(1).unwrap().parse::<u32>().unwrap() % 2 == 1;
    }
    false
}

fn check_contract(policy: &str, who: &str, o: &Outcome) {
    let all_persistent: Vec<String> = (0..COLD)
        .map(|i| format!("cold:{i}"))
        .filter(|k| persistent(k))
        .collect();
    let hot = (0..40)
        .filter(|i| o.survivors.contains(&format!("hot:{i}")))
        .count();
    match policy {
        "noeviction" => {
            assert_eq!(o.evicted, 0, "{who}");
            assert_eq!(
                o.oom.as_deref(),
                Some("OOM command not allowed when used memory > 'maxmemory'."),
                "{who}"
            );
        }
        p if p.starts_with("volatile") => {
            assert!(o.evicted > 0, "{who} {p}: nothing evicted");
            for k in &all_persistent {
                assert!(
                    o.survivors.contains(k),
                    "{who} {p} evicted {k}, which has no TTL"
                );
            }
            for k in &o.survivors {
                if k.starts_with("new:") {
                    continue;
                }
            }
            if p == "volatile-ttl" {
                // The nearest expiries went first: the cold volatile keys
                // (TTL ≈ 1000 s) before the hot ones (100000 s).
                let cold_volatile_left = (0..COLD)
                    .filter(|i| i % 3 == 0 && o.survivors.contains(&format!("cold:{i}")))
                    .count();
                assert!(
                    hot >= 36,
                    "{who} volatile-ttl kept only {hot}/40 hot keys (longest TTL)"
                );
                assert!(
                    cold_volatile_left < (COLD as usize).div_ceil(3),
                    "{who} volatile-ttl kept every short-TTL key"
                );
            }
            if p == "volatile-lru" || p == "volatile-lfu" {
                assert!(hot >= 36, "{who} {p} kept only {hot}/40 hot keys");
            }
        }
        p => {
            assert!(o.evicted > 0, "{who} {p}: nothing evicted");
            assert!(o.oom.is_none(), "{who} {p}: {:?}", o.oom);
            if p == "allkeys-lru" || p == "allkeys-lfu" {
                assert!(hot >= 36, "{who} {p} kept only {hot}/40 hot keys");
            }
        }
    }
}

#[test]
fn every_policy_keeps_its_contract_on_both_servers() {
    let Some(server) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`, which installs it (apt-get install redis-server)");
    };
    let mut redis = Side {
        redis: Some(RespConn::connect(server.port)),
        engine: None,
    };
    let mut engine = Side {
        redis: None,
        engine: Some(EngineClient::new(7, wall_now())),
    };
    for policy in [
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let a = run(&mut redis, policy);
        let b = run(&mut engine, policy);
        check_contract(policy, "redis", &a);
        check_contract(policy, "cachelab", &b);
        let common = a.survivors.intersection(&b.survivors).count();
        let union = a.survivors.union(&b.survivors).count().max(1);
        println!(
            "{policy:16} survivors redis {:4} cachelab {:4}  evicted redis {:5} cachelab {:5}  same keys {:5.1}%  {}",
            a.survivors.len(),
            b.survivors.len(),
            a.evicted,
            b.evicted,
            100.0 * common as f64 / union as f64,
            a.oom.as_deref().map_or(String::new(), |e| format!("OOM: {e}"))
        );
    }
}

/// maxmemory holds as many keys here as in Redis: `used_memory` grows by
/// the same bytes for the same keys (strings of 100 bytes, half of them
/// with a TTL; jemalloc's 32 bytes for each 24-byte dict entry, the
/// buckets of the keys' and the expiries' tables). Within 2 %: the
/// clients' buffers differ a little (6 % apart when the entries were
/// counted at 24 bytes).
#[test]
fn used_memory_grows_per_key_as_redis_does() {
    let Some(server) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`, which installs it (apt-get install redis-server)");
    };
    let mut sides = [
        Side {
            redis: Some(RespConn::connect(server.port)),
            engine: None,
        },
        Side {
            redis: None,
            engine: Some(EngineClient::new(7, wall_now())),
        },
    ];
    const N: usize = 20_000;
    let value = "v".repeat(100);
    let mut growth = Vec::new();
    for side in &mut sides {
        let before = info_field(&side.call(&["INFO", "memory"]), "used_memory");
        for i in 0..N {
            let key = format!("key:{i}");
            let reply = if i % 2 == 0 {
                side.call(&["SET", &key, &value, "EX", "3600"])
            } else {
                side.call(&["SET", &key, &value])
            };
            assert_eq!(reply, Reply::Simple("OK".into()), "{}", side.name());
        }
        let after = info_field(&side.call(&["INFO", "memory"]), "used_memory");
        growth.push((after - before) as f64 / N as f64);
    }
    let (redis, ours) = (growth[0], growth[1]);
    println!("used_memory per key: redis {redis:.1} B, cachelab {ours:.1} B");
    assert!(
        (ours - redis).abs() <= redis * 0.02,
        "used_memory per key: redis {redis:.1} B, cachelab {ours:.1} B"
    );
}
