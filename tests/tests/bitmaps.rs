//! Differential test of the bitmap commands (the analytics use case):
//! 20,000 seeded SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO
//! commands — good and bad offsets, ranges in bytes and bits, every BITOP,
//! BITFIELD types, overflow modes and `#` offsets — mixed with the string
//! commands that share their values (GET SET APPEND SETRANGE STRLEN) and with
//! MEMORY USAGE and OBJECT ENCODING, so the padding and growth of the string
//! are checked too. Every reply must be byte-identical to redis-server's.
//! CACHELAB_BITS_SEED / CACHELAB_BITS_COMMANDS reproduce or extend.

use cachelab_engine::rng::Rng;
use cachelab_tests::{args, env_number, show, wall_now, EngineClient, RedisServer, RespConn};

const KEYS: &[&str] = &["b0", "b1", "b2", "dst", "n", "missing"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

fn offset(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "-1".into(),
        1 => "x".into(),
        2 => "4294967296".into(),
        3 => (rng.below(3000)).to_string(),
        4 => "9999999999999".into(),
        _ => rng.below(80).to_string(),
    }
}

fn index(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => format!("-{}", rng.below(20)),
        1 => "a".into(),
        2 => "9223372036854775807".into(),
        _ => rng.below(20).to_string(),
    }
}

fn bftype(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "u64".into(),
        1 => "i65".into(),
        2 => "x8".into(),
        3 => "i0".into(),
        4 => format!("i{}", 1 + rng.below(64)),
        _ => format!("{}{}", pick(rng, &["u", "i"]), 1 + rng.below(63)),
    }
}

fn bfvalue(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => "9223372036854775807".into(),
        1 => "-9223372036854775808".into(),
        2 => "v".into(),
        3 => format!("-{}", rng.below(300)),
        _ => rng.below(300).to_string(),
    }
}

fn gen(rng: &mut Rng) -> Vec<Vec<u8>> {
    let k = s(pick(rng, KEYS));
    match rng.below(24) {
        0..=3 => {
            let bit = pick(rng, &["0", "1", "1", "2", "-1", "x"]);
            vec![s("SETBIT"), k, s(&offset(rng)), s(bit)]
        }
        4 | 5 => vec![s("GETBIT"), k, s(&offset(rng))],
        6 | 7 => {
            let mut a = vec![s("BITCOUNT"), k];
            match rng.below(5) {
                0 => {}
                1 => a.push(s(&index(rng))),
                _ => {
                    a.push(s(&index(rng)));
                    a.push(s(&index(rng)));
                    if rng.below(2) == 0 {
                        a.push(s(pick(rng, &["BIT", "byte", "bits"])));
                    }
                }
            }
            a
        }
        8 | 9 => {
            let mut a = vec![s("BITPOS"), k, s(pick(rng, &["0", "1", "1", "2", "z"]))];
            for _ in 0..rng.below(4) {
                if a.len() < 5 {
                    a.push(s(&index(rng)));
                } else {
                    a.push(s(pick(rng, &["BIT", "BYTE", "x"])));
                }
            }
            a
        }
        10 | 11 => {
            let op = pick(rng, &["AND", "or", "XOR", "NOT", "nand"]);
            let mut a = vec![s("BITOP"), s(op), s(pick(rng, KEYS))];
            for _ in 0..1 + rng.below(3) {
                a.push(s(pick(rng, KEYS)));
            }
            a
        }
        12..=15 => {
            let mut a = vec![s(pick(rng, &["BITFIELD", "BITFIELD", "BITFIELD_RO"])), k];
            for _ in 0..1 + rng.below(4) {
                match rng.below(9) {
                    0..=2 => a.extend([s("GET"), s(&bftype(rng)), s(&field_offset(rng))]),
                    3 | 4 => a.extend([
                        s("SET"),
                        s(&bftype(rng)),
                        s(&field_offset(rng)),
                        s(&bfvalue(rng)),
                    ]),
                    5 | 6 => a.extend([
                        s(pick(rng, &["INCRBY", "incrby"])),
                        s(&bftype(rng)),
                        s(&field_offset(rng)),
                        s(&bfvalue(rng)),
                    ]),
                    7 => a.extend([
                        s("OVERFLOW"),
                        s(pick(rng, &["WRAP", "sat", "FAIL", "bogus"])),
                    ]),
                    _ => a.push(s(pick(rng, &["GET", "OVERFLOW", "nope"]))),
                }
            }
            a
        }
        16 => vec![
            s("SET"),
            k,
            s(pick(
                rng,
                &["12345", "hello", "", "\u{ff}\u{0}x", &"a".repeat(50)],
            )),
        ],
        17 => vec![s("GET"), k],
        18 => vec![s("APPEND"), k, s(pick(rng, &["x", "\u{80}", "12"]))],
        19 => vec![s("SETRANGE"), k, s(&rng.below(40).to_string()), s("ab")],
        20 => vec![s("MEMORY"), s("USAGE"), k],
        21 => vec![s("OBJECT"), s("ENCODING"), k],
        22 => vec![s("DEL"), k],
        _ => vec![s("STRLEN"), k],
    }
}

fn field_offset(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => format!("#{}", rng.below(10)),
        1 => "#-1".into(),
        _ => offset(rng),
    }
}

#[test]
fn random_bitmap_commands_match_redis() {
    let Some(redis) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`, which installs it (apt-get install redis-server)");
    };
    let seed: u64 = env_number("CACHELAB_BITS_SEED", 0xB17);
    let total: usize = env_number("CACHELAB_BITS_COMMANDS", 20_000);
    let mut r = RespConn::connect(redis.port);
    let mut c = EngineClient::new(seed, wall_now());
    let mut rng = Rng::new(seed);
    let stats = |reply: Vec<u8>| -> Vec<String> {
        String::from_utf8_lossy(&reply)
            .lines()
            .filter(|l| l.starts_with("keyspace_"))
            .map(str::to_string)
            .collect()
    };
    for i in 0..total {
        let cmd = gen(&mut rng);
        let want = r.call(&cmd);
        let got = c.call(wall_now(), &cmd);
        if std::env::var("CACHELAB_BITS_TRACE").is_ok() {
            eprintln!(
                "#{i} {:?} -> {}",
                cmd.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>(),
                show(&want[..want.len().min(80)])
            );
        }
        if std::env::var("CACHELAB_BITS_STATS_EACH").is_ok() {
            let info = args(&["INFO", "stats"]);
            let (a, b) = (stats(r.call(&info)), stats(c.call(wall_now(), &info)));
            assert_eq!(a, b, "keyspace stats differ after #{i} {cmd:?}");
        }
        if want != got {
            let line: Vec<String> = cmd
                .iter()
                .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
                .collect();
            panic!(
                "seed {seed}, command #{i} differs: {}\n  redis:    {}\n  cachelab: {}\n(reproduce: CACHELAB_BITS_SEED={seed} cargo test -p cachelab-tests --test bitmaps)",
                line.join(" "),
                show(&want[..want.len().min(400)]),
                show(&got[..got.len().min(400)])
            );
        }
    }
    // The keyspace statistics the reads moved are the same too.
    let cmd = args(&["INFO", "stats"]);
    assert_eq!(stats(r.call(&cmd)), stats(c.call(wall_now(), &cmd)));
}
