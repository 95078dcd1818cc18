//! CACHELAB_BENCH=eviction (issue 20, target 5): how well each server
//! chooses what to evict. One seeded workload — 2,000,000 requests over
//! 1,000,000 keys drawn from Zipf(0.99), 90 % reads that fill the cache on a
//! miss (cache-aside) and 10 % writes, half the keys with TTLs of one to two
//! hours, after 1,000,000 requests of the same kind that warm the cache and
//! are not counted — runs against redis-server and cachelab-server side by side under
//! each `maxmemory-policy`, with `maxmemory` at a third of what the whole
//! data set takes in redis-server (the same limit for both). The figure is
//! the hit ratio of the reads; the table also shows keys evicted, keys held
//! at the end and writes refused (OOM) for each server.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;

use super::{cli, spawn_pair};

const KEYS: u32 = 1_000_000;
const REQUESTS: usize = 2_000_000;
/// Requests before the measured ones, not counted.
const WARM: usize = 1_000_000;
const ZIPF_S: f64 = 0.99;
const VALUE_BYTES: usize = 100;
/// Requests sent per pipeline (then the fills for its misses).
const BATCH: usize = 256;
const POLICIES: [&str; 8] = [
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// splitmix64: the workload's generator (seeded, the same for both).
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One request: the key's id and whether it is a write.
#[derive(Clone, Copy)]
struct Req {
    id: u32,
    write: bool,
}

/// The requests, in order: Zipf ranks by inverting the cumulative
/// distribution, each rank mapped to a key id by a fixed permutation (so
/// the hot keys are not neighbours in any order a server keeps).
fn workload(seed: u64) -> Vec<Req> {
    let mut cdf = Vec::with_capacity(KEYS as usize);
    let mut sum = 0.0;
    for k in 1..=KEYS {
        sum += 1.0 / (k as f64).powf(ZIPF_S);
        cdf.push(sum);
    }
    let mut rng = Mix(seed);
    (0..WARM + REQUESTS)
        .map(|_| {
            let u = rng.unit() * sum;
            let rank = cdf.partition_point(|&c| c < u).min(KEYS as usize - 1) as u64;
            // 611,953 is prime and does not divide 10^6: a permutation.
            let id = (rank * 611_953 % KEYS as u64) as u32;
            Req {
                id,
                write: rng.next().is_multiple_of(10),
            }
        })
        .collect()
}

/// The SET a request (or a miss's fill) sends: even ids carry a TTL.
fn set_command(buf: &mut Vec<u8>, id: u32, value: &[u8]) {
    let key = format!("key:{id}");
    if id.is_multiple_of(2) {
        let ttl = (3600 + id % 3600).to_string();
        write!(
            buf,
            "*5\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n",
            key.len(),
            value.len()
        )
        .unwrap();
        buf.extend_from_slice(value);
        write!(buf, "\r\n$2\r\nEX\r\n${}\r\n{ttl}\r\n", ttl.len()).unwrap();
    } else {
        write!(
            buf,
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n",
            key.len(),
            value.len()
        )
        .unwrap();
        buf.extend_from_slice(value);
        buf.extend_from_slice(b"\r\n");
    }
}

fn get_command(buf: &mut Vec<u8>, id: u32) {
    let key = format!("key:{id}");
    write!(buf, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).unwrap();
}

/// One reply, as far as this client cares.
#[derive(PartialEq)]
enum Got {
    Nil,
    Value,
    Ok,
    Oom,
}

fn read_reply(r: &mut BufReader<TcpStream>, line: &mut String) -> Result<Got, String> {
    line.clear();
    r.read_line(line).map_err(|e| e.to_string())?;
    match line.as_bytes().first() {
        Some(b'$') if line.starts_with("$-1") => Ok(Got::Nil),
        Some(b'$') => {
            let n: usize = line[1..]
                .trim()
                .parse()
                .map_err(|_| format!("bad bulk {line:?}"))?;
            let mut skip = vec![0; n + 2];
            std::io::Read::read_exact(r, &mut skip).map_err(|e| e.to_string())?;
            Ok(Got::Value)
        }
        Some(b'+') => Ok(Got::Ok),
        Some(b'-') if line.starts_with("-OOM") => Ok(Got::Oom),
        _ => Err(format!("unexpected reply {line:?}")),
    }
}

/// What one server did with the workload under one policy.
struct Run {
    hits: u64,
    reads: u64,
    oom: u64,
}

fn play(port: u16, reqs: &[Req]) -> Result<Run, String> {
    let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let mut w = sock.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::with_capacity(1 << 16, sock);
    let value = vec![b'v'; VALUE_BYTES];
    let (mut buf, mut line) = (Vec::new(), String::new());
    let mut run = Run {
        hits: 0,
        reads: 0,
        oom: 0,
    };
    for batch in reqs.chunks(BATCH) {
        buf.clear();
        for q in batch {
            if q.write {
                set_command(&mut buf, q.id, &value);
            } else {
                get_command(&mut buf, q.id);
            }
        }
        w.write_all(&buf).map_err(|e| e.to_string())?;
        let mut misses = Vec::new();
        for q in batch {
            let got = read_reply(&mut r, &mut line)?;
            if q.write {
                run.oom += (got == Got::Oom) as u64;
            } else {
                run.reads += 1;
                match got {
                    Got::Value => run.hits += 1,
                    _ => misses.push(q.id),
                }
            }
        }
        // Cache-aside: each miss is read from the database and written
        // back, in the same order on both servers.
        buf.clear();
        for &id in &misses {
            set_command(&mut buf, id, &value);
        }
        w.write_all(&buf).map_err(|e| e.to_string())?;
        for _ in &misses {
            run.oom += (read_reply(&mut r, &mut line)? == Got::Oom) as u64;
        }
    }
    Ok(run)
}

/// A field of INFO's `section`.
fn info(port: u16, section: &str, key: &str) -> Option<u64> {
    cli(port, &["INFO", section])?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// Sends commands and reads their replies, which must not be errors.
fn admin(port: u16, lines: &[&[&str]]) -> Result<(), String> {
    for argv in lines {
        let out = cli(port, argv).ok_or_else(|| format!("redis-cli {argv:?} failed"))?;
        if out.starts_with("ERR") || out.contains("(error)") {
            return Err(format!("{argv:?}: {out}"));
        }
    }
    Ok(())
}

/// used_memory with every key of the workload written once.
fn data_set(port: u16) -> Result<(u64, u64), String> {
    admin(port, &[&["CONFIG", "SET", "maxmemory", "0"], &["FLUSHALL"]])?;
    let base = info(port, "memory", "used_memory").unwrap_or(0);
    let all: Vec<Req> = (0..KEYS).map(|id| Req { id, write: true }).collect();
    play(port, &all)?;
    let full = info(port, "memory", "used_memory").unwrap_or(0);
    admin(port, &[&["FLUSHALL"]])?;
    Ok((base, full.saturating_sub(base)))
}

pub fn run() -> crate::Result<()> {
    let servers = spawn_pair(None)?;
    let (rp, cp) = (servers.rp, servers.cp);
    let reqs = Arc::new(workload(0xE71C));
    let (rbase, rdata) = data_set(rp)?;
    let (_, cdata) = data_set(cp)?;
    let maxmemory = rbase + rdata / 3;
    println!(
        "eviction: {REQUESTS} requests (after {WARM} not counted) over {KEYS} keys, Zipf({ZIPF_S}), 90 % reads filling on a miss, 10 % writes, {VALUE_BYTES}-byte values, half the keys with TTLs"
    );
    println!(
        "eviction: the data set takes {:.1} MB in redis-server, {:.1} MB in cachelab (used_memory); maxmemory {maxmemory} for both",
        rdata as f64 / 1e6,
        cdata as f64 / 1e6
    );
    println!(
        "{:<16} {:>9} {:>9} {:>7} {:>10} {:>10} {:>9} {:>9} {:>8} {:>8}",
        "policy",
        "redis hit",
        "ours hit",
        "diff pp",
        "redis evic",
        "ours evic",
        "redis keys",
        "ours keys",
        "redis OOM",
        "ours OOM"
    );
    let mut worst: f64 = 0.0;
    for policy in POLICIES {
        let mm = maxmemory.to_string();
        for port in [rp, cp] {
            admin(
                port,
                &[
                    &["CONFIG", "SET", "maxmemory", "0"],
                    &["FLUSHALL"],
                    &["CONFIG", "SET", "maxmemory-policy", policy],
                    &["CONFIG", "SET", "maxmemory", &mm],
                    &["CONFIG", "RESETSTAT"],
                ],
            )?;
        }
        // Both servers at once: the figure is a ratio of hits, not a speed.
        let played: Vec<Result<Run, String>> = [rp, cp]
            .map(|port| {
                let reqs = Arc::clone(&reqs);
                std::thread::spawn(move || {
                    play(port, &reqs[..WARM])?;
                    let hits = info(port, "stats", "keyspace_hits").unwrap_or(0);
                    let misses = info(port, "stats", "keyspace_misses").unwrap_or(0);
                    let run = play(port, &reqs[WARM..])?;
                    // The server's own counts say the same.
                    let hits = info(port, "stats", "keyspace_hits").unwrap_or(0) - hits;
                    let misses = info(port, "stats", "keyspace_misses").unwrap_or(0) - misses;
                    if (hits, hits + misses) != (run.hits, run.reads) {
                        return Err(format!(
                            "port {port}: INFO counts {hits} hits of {} reads, the client {} of {}",
                            hits + misses,
                            run.hits,
                            run.reads
                        ));
                    }
                    Ok(run)
                })
            })
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("the client panicked".into()))
            })
            .collect();
        let (mut rows, mut pct) = (Vec::new(), Vec::new());
        for (port, run) in [rp, cp].into_iter().zip(played) {
            let run = run?;
            pct.push(100.0 * run.hits as f64 / run.reads.max(1) as f64);
            let keys = cli(port, &["DBSIZE"]).unwrap_or_default();
            rows.push((
                info(port, "stats", "evicted_keys").unwrap_or(0),
                keys.trim().parse::<u64>().unwrap_or(0),
                run.oom,
            ));
        }
        let diff = pct[1] - pct[0];
        worst = worst.max(diff.abs());
        println!(
            "{policy:<16} {:>8.2}% {:>8.2}% {diff:>+7.2} {:>10} {:>10} {:>9} {:>9} {:>8} {:>8}",
            pct[0], pct[1], rows[0].0, rows[1].0, rows[0].1, rows[1].1, rows[0].2, rows[1].2
        );
    }
    println!("eviction: the largest hit-ratio difference is {worst:.2} percentage points (target: within 1)");
    drop(servers);
    Ok(())
}
