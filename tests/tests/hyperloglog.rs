//! Differential test of HyperLogLog (the unique-visitor counter): 20,000
//! seeded PFADD PFCOUNT PFMERGE commands — small and large element sets so
//! HLLs stay sparse, grow and turn dense, merges of sparse and dense, bad
//! values — and GET of the keys after them, so not only the counts but the
//! representation (sparse opcodes, dense registers, the cached cardinality)
//! must be byte-identical to redis-server's, as must MEMORY USAGE.
//! CACHELAB_HLL_SEED / CACHELAB_HLL_COMMANDS reproduce or extend.

use cachelab_engine::rng::Rng;
use cachelab_tests::{env_number, show, wall_now, EngineClient, RedisServer, RespConn};

const KEYS: &[&str] = &["h0", "h1", "h2", "dst", "s", "missing"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn gen(rng: &mut Rng) -> Vec<Vec<u8>> {
    let k = s(KEYS[rng.below(KEYS.len())]);
    match rng.below(60) {
        0..=23 => {
            let mut a = vec![s("PFADD"), k];
            let n = match rng.below(10) {
                0 => 0,
                1 | 2 => 300 + rng.below(1200),
                _ => 1 + rng.below(12),
            };
            let base = rng.below(20_000);
            for i in 0..n {
                a.push(format!("user:{}", base + i * (1 + rng.below(3))).into_bytes());
            }
            a
        }
        24..=33 => {
            let mut a = vec![s("PFCOUNT"), k];
            for _ in 0..rng.below(3) {
                a.push(s(KEYS[rng.below(KEYS.len())]));
            }
            a
        }
        34..=39 => {
            let mut a = vec![s("PFMERGE"), k];
            for _ in 0..rng.below(3) {
                a.push(s(KEYS[rng.below(KEYS.len())]));
            }
            a
        }
        40..=51 => vec![s("GET"), k],
        52..=55 => vec![s("MEMORY"), s("USAGE"), k],
        56 => vec![s("SET"), k, s(["12", "HYLLxxxx", "hello"][rng.below(3)])],
        57 => vec![s("DEL"), k],
        _ => vec![s("STRLEN"), k],
    }
}

#[test]
fn random_hyperloglog_commands_match_redis() {
    let Some(redis) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`, which installs it (apt-get install redis-server)");
    };
    let seed: u64 = env_number("CACHELAB_HLL_SEED", 0x411);
    let total: usize = env_number("CACHELAB_HLL_COMMANDS", 20_000);
    let mut r = RespConn::connect(redis.port);
    let mut c = EngineClient::new(seed, wall_now());
    let mut rng = Rng::new(seed);
    // The representations the run went through (GET replies of HLLs).
    let (mut sparse, mut dense) = (0, 0);
    for i in 0..total {
        let cmd = gen(&mut rng);
        let want = r.call(&cmd);
        let got = c.call(wall_now(), &cmd);
        if cmd[0] == b"GET"
            && want.len() > 20
            && &want[want.iter().position(|&b| b == b'\n').unwrap_or(0) + 1..][..4] == b"HYLL"
        {
            if want.len() > 12_000 {
                dense += 1;
            } else {
                sparse += 1;
            }
        }
        if want != got {
            let line: Vec<String> = cmd
                .iter()
                .take(6)
                .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
                .collect();
            panic!(
                "seed {seed}, command #{i} differs: {} ({} args)\n  redis:    {}\n  cachelab: {}\n(reproduce: CACHELAB_HLL_SEED={seed} cargo test -p cachelab-tests --test hyperloglog)",
                line.join(" "),
                cmd.len(),
                show(&want[..want.len().min(300)]),
                show(&got[..got.len().min(300)])
            );
        }
    }
    eprintln!("HLL GETs compared: {sparse} sparse, {dense} dense");
    assert!(
        sparse > 100 && dense > 100,
        "{sparse} sparse, {dense} dense"
    );
}
