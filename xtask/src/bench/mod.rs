//! `cargo xtask bench`: cachelab against the real servers, side by side in
//! one run. Both servers pinned to core 1, the load generator to core 0;
//! rounds alternate A B then B A; the median of 3 rounds per test; the
//! geometric mean of the ratios. Also engine-only ops/s natively and in wasm
//! (Node.js), and the page's wasm sizes.

use std::process::{Child, Command, Stdio};

use crate::{have, root, run};

mod eviction;

const ROUNDS: usize = 3;
const REQUESTS: &str = "200000";

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(7399)
}

/// A redis-server and a cachelab-server side by side on free loopback
/// ports, without persistence, pinned to `core` when one is given, each
/// in an empty directory of its own (a dump.rdb where the bench runs would
/// be loaded, and redis-server then keeps a 1 MB replication backlog);
/// both accept connections when this returns, and both end when it is
/// dropped.
struct Servers {
    redis: Proc,
    cachelab: Proc,
    rp: u16,
    cp: u16,
}

fn spawn_pair(core: Option<&str>) -> crate::Result<Servers> {
    let (rp, cp) = (free_port(), free_port());
    let pinned = |bin: &std::ffi::OsStr, port: u16| -> crate::Result<Command> {
        let dir = std::env::temp_dir().join(format!("cachelab-bench-{port}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut c = match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.args(["-c", core]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        c.current_dir(dir).stdout(Stdio::null());
        Ok(c)
    };
    let redis = Proc(
        pinned("redis-server".as_ref(), rp)?
            .args(["--port", &rp.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let cachelab = Proc(
        pinned(
            root().join("target/release/cachelab-server").as_os_str(),
            cp,
        )?
        .args(["--port", &cp.to_string()])
        .spawn()
        .map_err(|e| e.to_string())?,
    );
    wait_port(rp);
    wait_port(cp);
    Ok(Servers {
        redis,
        cachelab,
        rp,
        cp,
    })
}

fn wait_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// redis-benchmark on core 0 against `port`, `-c 50 -n REQUESTS` and
/// `options`, the test named by `test`: a `-t` test name, or a whole
/// command line (`ZRANGE myzset 0 9`; it comes last: redis-benchmark reads
/// everything after it as the command).
fn benchmark_command(port: u16, options: &[&str], test: &str) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0", "redis-benchmark", "-h", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-c", "50", "-n", REQUESTS])
        .args(options);
    if test.contains(' ') {
        cmd.args(test.split(' '));
    } else {
        cmd.args(["-t", test]);
    }
    cmd
}

/// Target 1's table: the issue's redis-benchmark tests at `-P 1` and
/// `-P 16`, side by side, and the geometric mean of the ratios at each.
fn throughput(rp: u16, cp: u16) {
    println!("redis-benchmark -c 50 -n {REQUESTS}, servers on core 1, load on core 0, median of {ROUNDS} alternating rounds");
    println!(
        "{:<10} {:>3} {:>14} {:>14} {:>7}",
        "test", "P", "redis ops/s", "cachelab ops/s", "ratio"
    );
    for pipeline in [1, 16] {
        let mut ratios = Vec::new();
        // In this order: RPOP pops what LPUSH pushed, ZPOPMIN what ZADD added.
        for test in [
            "set",
            "get",
            "incr",
            "lpush",
            "rpop",
            "sadd",
            "hset",
            "zadd",
            "zpopmin",
            "lrange_100",
            "mset",
        ] {
            let (rm, cm) = side_by_side(
                || redis_benchmark(rp, test, pipeline),
                || redis_benchmark(cp, test, pipeline),
            );
            let ratio = if rm > 0.0 { cm / rm } else { 0.0 };
            ratios.push(ratio);
            let name = test.to_uppercase();
            println!("{name:<10} {pipeline:>3} {rm:>14.0} {cm:>14.0} {ratio:>7.2}");
        }
        let geo = ratios.iter().map(|r| r.max(1e-9).ln()).sum::<f64>() / ratios.len() as f64;
        let worst = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
        println!(
            "-P {pipeline}: geometric mean {:.2}x redis-server, lowest {worst:.2}x",
            geo.exp()
        );
    }
}

fn redis_benchmark(port: u16, test: &str, pipeline: usize) -> f64 {
    let mut cmd = benchmark_command(port, &["-P", &pipeline.to_string(), "--csv"], test);
    csv_rate(&cmd.output().expect("redis-benchmark runs").stdout)
}

/// Latency in ms of redis-benchmark `-c 50 -P 1 -t test` against `port`
/// (its full report): p50 and p99 from its summary, and p99.9 as the first
/// point of its percentile distribution at or past 99.9 %.
fn latencies(port: u16, test: &str) -> Option<(f64, f64, f64)> {
    let out = crate::output(&mut benchmark_command(port, &[], test))?;
    let lines: Vec<&str> = out.lines().collect();
    // "          avg       min       p50       p95       p99       max"
    // "        0.311     0.112     0.303     0.431     0.535     1.319"
    let at = lines.iter().position(|l| l.contains("latency summary"))?;
    let summary: Vec<f64> = lines
        .get(at + 2)?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // "99.902% <= 3.303 milliseconds (cumulative count 49952)"
    let p999 = lines.iter().find_map(|l| {
        let (pct, rest) = l.split_once("% <= ")?;
        let pct: f64 = pct.trim().parse().ok()?;
        let ms: f64 = rest.split_whitespace().next()?.parse().ok()?;
        (pct >= 99.9).then_some(ms)
    })?;
    Some((*summary.get(2)?, *summary.get(4)?, p999))
}

/// redis-benchmark's latency percentiles at `-c 50 -P 1`, both servers,
/// alternating which goes first; the median of 3 rounds of each figure.
fn latency_table(rp: u16, cp: u16) {
    println!("latency, redis-benchmark -c 50 -P 1 -n {REQUESTS}, ms (median of {ROUNDS} rounds)");
    println!(
        "{:<6} {:>22} {:>22}",
        "test", "redis p50/p99/p99.9", "cachelab p50/p99/p99.9"
    );
    for test in ["SET", "GET", "INCR", "LPUSH", "HSET"] {
        let mut runs: [Vec<(f64, f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for round in 0..ROUNDS {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                if let Some(l) = latencies([rp, cp][i], test) {
                    runs[i].push(l);
                }
            }
        }
        let med = |v: &[(f64, f64, f64)], f: fn(&(f64, f64, f64)) -> f64| {
            median(v.iter().map(f).collect())
        };
        let show = |v: &[(f64, f64, f64)]| {
            if v.is_empty() {
                return "failed".to_string();
            }
            format!(
                "{:.3}/{:.3}/{:.3}",
                med(v, |l| l.0),
                med(v, |l| l.1),
                med(v, |l| l.2)
            )
        };
        println!("{test:<6} {:>22} {:>22}", show(&runs[0]), show(&runs[1]));
    }
}

/// The requests per second of redis-benchmark's `--csv` output:
/// "test","rps",… then "SET","123456.78",…
fn csv_rate(stdout: &[u8]) -> f64 {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.starts_with("\"test\""))
        .filter_map(|l| l.split(',').nth(1))
        .filter_map(|v| v.trim_matches('"').parse().ok())
        // The last test's: `-t lrange_100` reports its LPUSH fill first.
        .next_back()
        .unwrap_or(0.0)
}

/// ROUNDS alternating rounds (A B, then B A, …) of the real server's and
/// cachelab's measurement; the median of each.
fn side_by_side(mut real: impl FnMut() -> f64, mut ours: impl FnMut() -> f64) -> (f64, f64) {
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            r.push(real());
            c.push(ours());
        } else {
            c.push(ours());
            r.push(real());
        }
    }
    (median(r), median(c))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// INFO replication's numeric field `key`.
fn info_field(port: u16, key: &str) -> Option<u64> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "replication"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
}

/// One primary/replica pair under `redis-benchmark -t SET -P 16`: the
/// primary's write rate, the replica's worst lag in bytes seen while the
/// load ran, and how long after the load ended the replica caught up.
fn replication_run(primary: u16, replica: u16, test: &str) -> (f64, u64, u128) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let sampler = std::thread::spawn(move || {
        let mut worst = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            // The replica first: the primary's offset read just after is an
            // upper bound of where the stream was when the replica was read.
            let r = info_field(replica, "slave_repl_offset");
            let p = info_field(primary, "master_repl_offset");
            if let (Some(p), Some(r)) = (p, r) {
                worst = worst.max(p.saturating_sub(r));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        worst
    });
    let ops = redis_benchmark(primary, test, 16);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let worst = sampler.join().unwrap_or(0);
    let start = std::time::Instant::now();
    let target = info_field(primary, "master_repl_offset").unwrap_or(0);
    while info_field(replica, "slave_repl_offset").unwrap_or(0) < target
        && start.elapsed().as_secs() < 30
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    (ops, worst, start.elapsed().as_millis())
}

/// `replication_run` for each pair, `ROUNDS` rounds alternating which pair
/// goes first; prints each pair's medians and the ratios of cachelab's to
/// redis's (the first pair is redis's).
fn pair_table(pairs: &[(&str, u16, u16)], test: &str) {
    let requests: f64 = REQUESTS.parse().unwrap_or(1.0);
    let mut runs: Vec<Vec<(f64, u64, u128)>> = vec![Vec::new(); pairs.len()];
    for round in 0..ROUNDS {
        for k in 0..pairs.len() {
            let k = if round % 2 == 0 {
                k
            } else {
                pairs.len() - 1 - k
            };
            let (_, p, r) = pairs[k];
            runs[k].push(replication_run(p, r, test));
        }
    }
    println!(
        "{:<10} {:>14} {:>22} {:>20} {:>22}",
        "pair", "writes/s", "worst lag (bytes)", "catch-up after (ms)", "replicated writes/s"
    );
    let mut rates = Vec::new();
    for ((name, _, _), runs) in pairs.iter().zip(&runs) {
        let ops = median(runs.iter().map(|r| r.0).collect());
        let worst = median(runs.iter().map(|r| r.1 as f64).collect());
        let catchup = median(runs.iter().map(|r| r.2 as f64).collect());
        let replicated = median(
            runs.iter()
                .map(|r| requests / (requests / r.0.max(1.0) + r.2 as f64 / 1000.0))
                .collect(),
        );
        println!("{name:<10} {ops:>14.0} {worst:>22.0} {catchup:>20.0} {replicated:>22.0}");
        rates.push((ops, replicated));
    }
    let (base, ours) = (rates[0], rates[rates.len() - 1]);
    println!(
        "{:<10} {:>14.2}x {:>65.2}x",
        "ratio",
        ours.0 / base.0.max(1.0),
        ours.1 / base.1.max(1.0)
    );
}

fn replication() -> crate::Result<()> {
    let (rp, rr, cp) = (free_port(), free_port(), free_port());
    let redis = |port: u16, extra: &[&str]| {
        Command::new("taskset")
            .args([
                "-c",
                "1",
                "redis-server",
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--repl-diskless-sync-delay",
                "0",
            ])
            .args([
                "--dbfilename",
                &format!("bench-{port}.rdb"),
                "--dir",
                "/tmp",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .map(Proc)
            .map_err(|e| e.to_string())
    };
    let _p = redis(rp, &[])?;
    wait_port(rp);
    let _r = redis(rr, &["--replicaof", "127.0.0.1", &rp.to_string()])?;
    wait_port(rr);
    let _c = Proc(
        Command::new("taskset")
            .args(["-c", "1"])
            .arg(root().join("target/release/cachelab-server"))
            .args(["--port", &cp.to_string(), "--replicas", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    wait_port(cp);
    wait_port(cp + 1);
    for port in [rr, cp + 1] {
        for _ in 0..400 {
            let up = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "info", "replication"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("master_link_status:up"))
                .unwrap_or(false);
            if up {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
    println!("replication: redis-benchmark -t SET -P 16 -c 50 -n {REQUESTS} on the primary, replica on the same core, median of {ROUNDS} alternating rounds");
    println!(
        "(replicated writes/s counts until the replica has caught up: requests / (run + catch-up))"
    );
    pair_table(&[("redis", rp, rr), ("cachelab", cp, cp + 1)], "SET");
    // Big collections: a write to a 1,000,000-member sorted set or hash
    // must cost the stream the command, not the value.
    for port in [rp, cp] {
        pipe(
            port,
            (0..1000).map(|c| {
                let mut z = vec!["ZADD".to_string(), "big:z".to_string()];
                for i in c * 1000..(c + 1) * 1000 {
                    z.push(i.to_string());
                    z.push(format!("m:{i}"));
                }
                z
            }),
        )?;
        pipe(
            port,
            (0..1000).map(|c| {
                let mut h = vec!["HSET".to_string(), "big:h".to_string()];
                for i in c * 1000..(c + 1) * 1000 {
                    h.push(format!("f:{i}"));
                    h.push(i.to_string());
                }
                h
            }),
        )?;
    }
    for (p, r) in [(rp, rr), (cp, cp + 1)] {
        let target = info_field(p, "master_repl_offset").unwrap_or(0);
        for _ in 0..2400 {
            if info_field(r, "slave_repl_offset").unwrap_or(0) >= target {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
    for (label, line) in [
        (
            "ZADD into a 1,000,000-member sorted set",
            "-r 1000000 ZADD big:z __rand_int__ m:__rand_int__",
        ),
        (
            "HSET into a 1,000,000-field hash",
            "-r 1000000 HSET big:h f:__rand_int__ __rand_int__",
        ),
    ] {
        println!("replication: {label}, -P 16 -c 50 -n {REQUESTS}, one replica, median of {ROUNDS} alternating rounds");
        pair_table(&[("redis", rp, rr), ("cachelab", cp, cp + 1)], line);
    }
    Ok(())
}

/// A memcached benchmark's request: `set`, `get` of one key, or one `get`
/// of `pipeline` keys (the multi-get memcached clients batch reads with;
/// memcached writes each pipelined one-key `get`'s reply with its own
/// sendmsg, so a pipeline of them is far slower there than one multi-get).
#[derive(Clone, Copy, PartialEq)]
enum McOp {
    Set,
    Get,
    MultiGet,
}

/// One memcached load run: `conns` threads, each with its own connection,
/// sending `pipeline` requests per round trip until `total` are answered.
/// The same generator drives both servers. Returns ops/s.
fn memcached_load(port: u16, op: McOp, pipeline: usize, conns: usize, total: usize) -> f64 {
    use std::io::{Read, Write};
    let per = total / conns;
    let start = std::time::Instant::now();
    let threads: Vec<_> = (0..conns)
        .map(|t| {
            std::thread::spawn(move || {
                let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    return 0usize;
                };
                let _ = s.set_nodelay(true);
                let value = [b'x'; 32];
                let mut buf = vec![0u8; 1 << 16];
                let mut done = 0;
                let mut i = 0usize;
                while done < per {
                    let mut req = Vec::new();
                    let n = pipeline.min(per - done);
                    if op == McOp::MultiGet {
                        req.extend_from_slice(b"get");
                    }
                    for _ in 0..n {
                        let key = format!("key:{}", (t * per + i) % 10_000);
                        i += 1;
                        match op {
                            McOp::Get => req.extend_from_slice(format!("get {key}\r\n").as_bytes()),
                            McOp::MultiGet => req.extend_from_slice(format!(" {key}").as_bytes()),
                            McOp::Set => {
                                req.extend_from_slice(format!("set {key} 0 0 32\r\n").as_bytes());
                                req.extend_from_slice(&value);
                                req.extend_from_slice(b"\r\n");
                            }
                        }
                    }
                    if op == McOp::MultiGet {
                        req.extend_from_slice(b"\r\n");
                    }
                    if s.write_all(&req).is_err() {
                        return done;
                    }
                    let marker: &[u8] = if op == McOp::Set {
                        b"STORED\r\n"
                    } else {
                        b"END\r\n"
                    };
                    // One END ends a multi-get of n keys.
                    let replies = if op == McOp::MultiGet { 1 } else { n };
                    let mut seen = 0;
                    let mut carry: Vec<u8> = Vec::new();
                    while seen < replies {
                        let Ok(k) = s.read(&mut buf) else { return done };
                        if k == 0 {
                            return done;
                        }
                        carry.extend_from_slice(&buf[..k]);
                        seen += carry.windows(marker.len()).filter(|w| *w == marker).count();
                        let keep = carry.len().saturating_sub(marker.len() - 1);
                        // Keep a tail so a marker split across reads is still seen once.
                        let tail = carry.split_off(keep);
                        carry = tail;
                    }
                    done += n;
                }
                done
            })
        })
        .collect();
    let done: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    done as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

fn memcached() -> crate::Result<()> {
    if !have("memcached") {
        return Err("memcached is needed for the benchmark (cargo xtask test installs it)".into());
    }
    let (mp, cp) = (free_port(), free_port());
    let _m = Proc(
        Command::new("taskset")
            .args([
                "-c",
                "1",
                "memcached",
                "-u",
                "root",
                "-l",
                "127.0.0.1",
                "-U",
                "0",
                // The same thread count as a cachelab node's one.
                "-t",
                "1",
            ])
            .args(["-p", &mp.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let _c = Proc(
        Command::new("taskset")
            .args(["-c", "1"])
            .arg(root().join("target/release/cachelab-server"))
            .args(["--memcached", "1", "--memcached-port", &cp.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    wait_port(mp);
    wait_port(cp);
    // The load generator runs on core 0, the servers on core 1.
    let _ = Command::new("taskset")
        .args(["-cp", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    let total = 200_000;
    println!("memcached: text protocol, 32-byte values, 10,000 keys, 8 connections, {total} requests, one server thread each (memcached -t 1), median of {ROUNDS} alternating rounds");
    println!(
        "{:<6} {:>3} {:>16} {:>14} {:>7}",
        "test", "P", "memcached ops/s", "cachelab ops/s", "ratio"
    );
    for pipeline in [1, 16] {
        for op in [McOp::Set, McOp::Get, McOp::MultiGet] {
            if op == McOp::MultiGet && pipeline == 1 {
                continue;
            }
            let (mm, cm) = side_by_side(
                || memcached_load(mp, op, pipeline, 8, total),
                || memcached_load(cp, op, pipeline, 8, total),
            );
            let name = match op {
                McOp::Set => "set",
                McOp::Get => "get",
                McOp::MultiGet => "mget",
            };
            println!(
                "{name:<6} {pipeline:>3} {mm:>16.0} {cm:>14.0} {:>7.2}",
                cm / mm.max(1.0)
            );
        }
    }
    let cores = format!(
        "0-{}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            - 1
    );
    let _ = Command::new("taskset")
        .args(["-cp", &cores, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    Ok(())
}

/// INFO memory's numeric field `key`.
fn memory_field(port: u16, key: &str) -> u64 {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "memory"])
        .output();
    let Ok(out) = out else {
        return 0;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `redis-benchmark` of one command line with `n` requests from `clients`
/// connections (the heavy commands: few requests, each a lot of work).
fn redis_benchmark_n(port: u16, line: &[String], n: usize, clients: usize) -> f64 {
    let out = Command::new("taskset")
        .args(["-c", "0", "redis-benchmark", "-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-c", &clients.to_string(), "-n", &n.to_string(), "--csv"])
        .args(line)
        .output()
        .expect("redis-benchmark runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\"test\""))
        .filter_map(|l| l.split(',').nth(1))
        .filter_map(|v| v.trim_matches('"').parse().ok())
        .next()
        .unwrap_or(0.0)
}

/// The issue's heavy commands, side by side: EVALSHA of a 5-call script,
/// SORT of a 10,000-element list BY a pattern, LCS of two 10 KB strings,
/// KEYS with a 10-star pattern over 100,000 keys.
fn heavy_commands(rp: u16, cp: u16) -> crate::Result<()> {
    let script = "redis.call('SET', KEYS[1], ARGV[1]) redis.call('GET', KEYS[1]) redis.call('INCR', 'bench:ctr') redis.call('LPUSH', 'bench:list', ARGV[1]) redis.call('LTRIM', 'bench:list', 0, 99) return 1";
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let dna = |next: &mut dyn FnMut() -> u64| -> String {
        (0..10_000)
            .map(|_| ['A', 'C', 'G', 'T'][(next() % 4) as usize])
            .collect()
    };
    let (a, b) = (dna(&mut next), dna(&mut next));
    let weights: Vec<u64> = (0..10_000).map(|_| next() % 1_000_000).collect();
    for port in [rp, cp] {
        let mut cmds: Vec<Vec<String>> = vec![
            vec!["SCRIPT".into(), "LOAD".into(), script.into()],
            vec!["SET".into(), "lcs:a".into(), a.clone()],
            vec!["SET".into(), "lcs:b".into(), b.clone()],
        ];
        for (i, w) in weights.iter().enumerate() {
            cmds.push(vec!["RPUSH".into(), "sort:list".into(), i.to_string()]);
            cmds.push(vec!["SET".into(), format!("sort:w:{i}"), w.to_string()]);
        }
        for i in 0..100_000 {
            cmds.push(vec!["SET".into(), format!("key:{i:06}"), "v".into()]);
        }
        pipe(port, cmds.into_iter())?;
    }
    let sha = crate::output(Command::new("redis-cli").args([
        "-p",
        &rp.to_string(),
        "SCRIPT",
        "LOAD",
        script,
    ]))
    .unwrap_or_default()
    .trim()
    .to_string();
    let line = |s: &str| s.split(' ').map(String::from).collect::<Vec<String>>();
    let cases: Vec<(&str, Vec<String>, usize, usize)> = vec![
        (
            "EVALSHA (5 calls)",
            line(&format!("EVALSHA {sha} 1 bench:key value")),
            100_000,
            50,
        ),
        (
            "SORT 10k BY pattern",
            line("SORT sort:list BY sort:w:* LIMIT 0 10"),
            300,
            1,
        ),
        ("LCS 10 KB x 10 KB", line("LCS lcs:a lcs:b LEN"), 6, 1),
        (
            "KEYS 10 stars / 100k",
            line("KEYS *1*2*3*4*5*6*7*8*9*0*"),
            60,
            1,
        ),
    ];
    println!("heavy commands (redis-benchmark, servers on core 1):");
    println!(
        "{:<22} {:>14} {:>14} {:>7}",
        "command", "redis ops/s", "cachelab ops/s", "ratio"
    );
    for (name, cmd, n, clients) in cases {
        let (rm, cm) = side_by_side(
            || redis_benchmark_n(rp, &cmd, n, clients),
            || redis_benchmark_n(cp, &cmd, n, clients),
        );
        let ratio = if rm > 0.0 { cm / rm } else { 0.0 };
        println!("{name:<22} {rm:>14.1} {cm:>14.1} {ratio:>7.2}");
    }
    Ok(())
}

/// Streams RESP commands into a server with `redis-cli --pipe`.
fn pipe(port: u16, commands: impl Iterator<Item = Vec<String>>) -> crate::Result<()> {
    use std::io::Write;
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().ok_or("no stdin")?);
        for argv in commands {
            let mut b = format!("*{}\r\n", argv.len());
            for a in &argv {
                b.push_str(&format!("${}\r\n{}\r\n", a.len(), a));
            }
            stdin.write_all(b.as_bytes()).map_err(|e| e.to_string())?;
        }
    }
    child.wait().map_err(|e| e.to_string())?;
    Ok(())
}

/// CPU time a process has used, user and system, in seconds (/proc).
fn cpu_seconds(pid: u32) -> f64 {
    let ticks = crate::output(Command::new("getconf").arg("CLK_TCK"))
        .and_then(|t| t.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name's closing parenthesis: utime
            // and stime are the 12th and 13th.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks)
        })
        .unwrap_or(0.0)
}

/// CACHELAB_BENCH=idle: an idle server should sleep. redis-server (hz 10)
/// and cachelab-server side by side, both measured over the same 30 s:
/// with no clients, with 1,000 idle connections, and holding 100,000 keys
/// whose TTLs are far in the future; CPU seconds used and % of a core.
fn idle() -> crate::Result<()> {
    const SECS: u64 = 30;
    let servers = spawn_pair(None)?;
    let (rp, cp) = (servers.rp, servers.cp);
    let (rpid, cpid) = (servers.redis.0.id(), servers.cachelab.0.id());
    let over_30s = |what: &str| {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let (r0, c0) = (cpu_seconds(rpid), cpu_seconds(cpid));
        std::thread::sleep(std::time::Duration::from_secs(SECS));
        let (r, c) = (cpu_seconds(rpid) - r0, cpu_seconds(cpid) - c0);
        let pct = |s: f64| 100.0 * s / SECS as f64;
        println!(
            "idle: {what:<32} redis-server {r:.2} CPU s ({:.2} % of a core), cachelab {c:.2} CPU s ({:.2} %)",
            pct(r),
            pct(c)
        );
    };
    println!("idle: CPU used over {SECS} s by servers doing nothing");
    over_30s("no clients");
    let conns: Vec<std::net::TcpStream> = [rp, cp]
        .iter()
        .flat_map(|&p| {
            (0..1000).filter_map(move |_| std::net::TcpStream::connect(("127.0.0.1", p)).ok())
        })
        .collect();
    over_30s(&format!("{} idle connections each", conns.len() / 2));
    drop(conns);
    for port in [rp, cp] {
        pipe(
            port,
            (0..100_000).map(|i| {
                vec![
                    "SET".into(),
                    format!("k:{i}"),
                    "v".into(),
                    "EX".into(),
                    "1000000".into(),
                ]
            }),
        )?;
    }
    over_30s("100,000 keys with far TTLs");
    Ok(())
}

/// CACHELAB_BENCH=maxclients: 10,000 connections held at the default
/// `maxclients`, redis-server and cachelab-server side by side: the time to
/// open them all and have each answer a PING, each server's resident
/// memory with them held, PING round trips of one of them meanwhile, and
/// the answer to the 10,001st.
fn maxclients() -> crate::Result<()> {
    use std::io::{Read, Write};
    use std::time::Instant;
    const HELD: usize = 10_000;
    let servers = spawn_pair(Some("0"))?;
    let (rp, cp) = (servers.rp, servers.cp);
    println!(
        "maxclients: {HELD} connections held at the default maxclients 10000 (servers on core 0)"
    );
    for (name, port, pid) in [
        ("redis-server", rp, servers.redis.0.id()),
        ("cachelab", cp, servers.cachelab.0.id()),
    ] {
        let rss0 = rss(pid);
        let start = Instant::now();
        let mut conns = Vec::with_capacity(HELD);
        for _ in 0..HELD {
            match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(c) => conns.push(c),
                Err(e) => {
                    println!("maxclients: {name}: connection {} failed: {e} (this process's 'ulimit -n' is too low?)", conns.len() + 1);
                    break;
                }
            }
        }
        let mut served = 0;
        for c in conns.iter_mut() {
            let _ = c.write_all(b"PING\r\n");
        }
        for c in conns.iter_mut() {
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut b = [0u8; 64];
            if matches!(c.read(&mut b), Ok(n) if b[..n].starts_with(b"+PONG")) {
                served += 1;
            }
        }
        let opened = start.elapsed();
        let held_rss = rss(pid).saturating_sub(rss0);
        // One held connection's PING round trips while the rest wait.
        let probe = &mut conns[HELD / 2];
        let mut rtts = Vec::with_capacity(2000);
        for _ in 0..2000 {
            let t = Instant::now();
            let _ = probe.write_all(b"PING\r\n");
            let mut b = [0u8; 16];
            let _ = probe.read(&mut b);
            rtts.push(t.elapsed().as_micros() as u64);
        }
        rtts.sort_unstable();
        let pct = |q: f64| rtts[((rtts.len() as f64 * q) as usize).min(rtts.len() - 1)];
        // The next one.
        let mut next = String::new();
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let _ = c.write_all(b"PING\r\n");
            let mut b = [0u8; 128];
            if let Ok(n) = c.read(&mut b) {
                next = String::from_utf8_lossy(&b[..n]).trim_end().to_string();
            }
        }
        println!(
            "maxclients: {name:<12} {served}/{} answered in {:.2} s; {:.1} KB RSS per connection; PING p50 {} us p99 {} us; the next: {next}",
            conns.len(),
            opened.as_secs_f64(),
            held_rss as f64 / 1024.0 / conns.len().max(1) as f64,
            pct(0.5),
            pct(0.99)
        );
    }
    Ok(())
}

/// CACHELAB_BENCH=hostile: slow and hostile clients must not hurt the
/// others. redis-benchmark's GET latency (-c 50 -P 1, median of 3 runs)
/// on each server alone, then while 100 other clients misbehave: 50 each
/// declare a 512 MB bulk argument and send its bytes one a second, 50
/// trickle `PING\r\n` a byte a second; the p99 ratio (target < 1.2).
fn hostile() -> crate::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let servers = spawn_pair(Some("1"))?;
    let (rp, cp) = (servers.rp, servers.cp);
    println!("hostile: GET p50/p99 (ms) of redis-benchmark -c 50 -P 1, alone and beside 100 clients trickling a 512 MB bulk or a PING a byte a second");
    let p = |port: u16| {
        let runs: Vec<(f64, f64, f64)> = (0..3).filter_map(|_| latencies(port, "GET")).collect();
        (
            median(runs.iter().map(|r| r.0).collect()),
            median(runs.iter().map(|r| r.1).collect()),
        )
    };
    for (name, port) in [("redis-server", rp), ("cachelab", cp)] {
        let alone = p(port);
        let stop = Arc::new(AtomicBool::new(false));
        let trickle = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut conns: Vec<(std::net::TcpStream, bool)> = (0..100)
                    .filter_map(|i| {
                        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
                        let bulk = i % 2 == 0;
                        if bulk {
                            c.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhuge\r\n$536870912\r\n")
                                .ok()?;
                        }
                        Some((c, bulk))
                    })
                    .collect();
                let ping = b"PING\r\n";
                let mut tick = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    for (c, bulk) in conns.iter_mut() {
                        let byte = if *bulk { b'x' } else { ping[tick % ping.len()] };
                        let _ = c.write_all(&[byte]);
                    }
                    tick += 1;
                    for _ in 0..10 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
                conns.len()
            })
        };
        std::thread::sleep(std::time::Duration::from_secs(1));
        let under = p(port);
        stop.store(true, Ordering::Relaxed);
        let n = trickle.join().unwrap_or(0);
        println!(
            "hostile: {name:<12} alone {:.3}/{:.3}, beside {n} trickling clients {:.3}/{:.3}: p99 {:.2}x",
            alone.0,
            alone.1,
            under.0,
            under.1,
            under.1 / alone.1.max(0.001)
        );
    }
    Ok(())
}

/// The process's resident set (VmRSS), bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Memory per element after loading 1,000,000 small hashes, and one
/// 1,000,000-member sorted set, each into a fresh redis-server and a fresh
/// cachelab-server: INFO used_memory (Redis's allocator figure; cachelab's
/// model of it) and the process's resident memory (what each really takes).
fn memory_per_key() -> crate::Result<()> {
    const N: usize = 1_000_000;
    println!("memory: growth per element after loading, fresh servers per dataset");
    println!(
        "{:<30} {:>9} {:>11} {:>6} {:>9} {:>11} {:>6}",
        "dataset", "redis B", "cachelab B", "ratio", "redis RSS", "cachelab RSS", "ratio"
    );
    type Gen = fn(usize) -> Vec<String>;
    let hashes: Gen = |i| {
        vec![
            "HSET".into(),
            format!("session:{i}"),
            "user".into(),
            format!("u{i}"),
            "cart".into(),
            "3".into(),
            "seen".into(),
            "1700000000".into(),
        ]
    };
    let zset: Gen = |i| {
        vec![
            "ZADD".into(),
            "leaderboard".into(),
            ((i * 7919) % 1_000_003).to_string(),
            format!("player:{i}"),
        ]
    };
    let strings: Gen = |i| vec!["SET".into(), format!("user:{i}"), format!("v{i}")];
    let ttls: Gen = |i| {
        vec![
            "SET".into(),
            format!("user:{i}"),
            format!("v{i}"),
            "EX".into(),
            "1000000".into(),
        ]
    };
    for (name, gen) in [
        ("1M small strings", strings),
        ("1M small strings with TTLs", ttls),
        ("1M hashes, 3 small fields", hashes),
        ("1 sorted set, 1M members", zset),
    ] {
        let servers = spawn_pair(Some("1"))?;
        let (rp, cp) = (servers.rp, servers.cp);
        let mut per = Vec::new();
        for (port, pid) in [(rp, servers.redis.0.id()), (cp, servers.cachelab.0.id())] {
            let (used, resident) = (memory_field(port, "used_memory"), rss(pid));
            pipe(port, (0..N).map(gen))?;
            per.push((
                memory_field(port, "used_memory").saturating_sub(used) as f64 / N as f64,
                rss(pid).saturating_sub(resident) as f64 / N as f64,
            ));
        }
        let ratio = |a: f64, b: f64| if a > 0.0 { b / a } else { 0.0 };
        println!(
            "{name:<30} {:>9.1} {:>11.1} {:>6.2} {:>9.1} {:>11.1} {:>6.2}",
            per[0].0,
            per[1].0,
            ratio(per[0].0, per[1].0),
            per[0].1,
            per[1].1,
            ratio(per[0].1, per[1].1)
        );
    }
    Ok(())
}

/// A one-line answer of redis-cli (`None` if the server is not answering).
fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn persistence_field(port: u16, key: &str) -> Option<String> {
    let info = cli(port, &["info", "all"])?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
}

/// BGSAVE of 1,000,000 keys on each server: how long it takes, the writes
/// per second one pipelined client gets done meanwhile, the fork's pause
/// (latest_fork_usec) and copy (rdb_last_cow_size); then how long each
/// takes to start on that dump (until it answers PING).
fn bgsave() -> crate::Result<()> {
    use std::io::{Read, Write};
    const N: usize = 1_000_000;
    println!(
        "BGSAVE of {N} keys (SET key:N with a 32-byte value), servers on core 1, writer on core 0"
    );
    println!(
        "{:<9} {:>9} {:>12} {:>11} {:>11} {:>10} {:>9}",
        "server", "bgsave s", "writes/s in", "fork usec", "cow bytes", "file bytes", "load s"
    );
    let dir = std::env::temp_dir().join(format!("cachelab-bench-bgsave-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (name, real) in [("redis", true), ("cachelab", false)] {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).map_err(|e| e.to_string())?;
        let start_server = |port: u16| -> crate::Result<Proc> {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", "1"]);
            if real {
                cmd.arg("redis-server");
            } else {
                cmd.arg(root().join("target/release/cachelab-server"));
            }
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--dir", &sub.to_string_lossy(), "--dbfilename", "dump.rdb"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null());
            Ok(Proc(cmd.spawn().map_err(|e| e.to_string())?))
        };
        let port = free_port();
        let server = start_server(port)?;
        wait_port(port);
        let value = "v".repeat(32);
        pipe(
            port,
            (0..N).map(|i| vec!["SET".into(), format!("key:{i}"), value.clone()]),
        )?;
        // A writer: pipelined SETs (16 in flight) until told to stop.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let writer = std::thread::spawn(move || -> u64 {
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return 0;
            };
            let mut done = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            let batch: Vec<u8> = (0..16)
                .flat_map(|i| {
                    format!("*3\r\n$3\r\nSET\r\n$5\r\nw:{i:03}\r\n$1\r\nx\r\n").into_bytes()
                })
                .collect();
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                if s.write_all(&batch).is_err() {
                    break;
                }
                let mut got = 0;
                while got < 16 * 5 {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return done,
                        Ok(n) => got += n,
                    }
                }
                done += 16;
            }
            done
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let t0 = std::time::Instant::now();
        cli(port, &["BGSAVE"]);
        // Wait for the save to start and end.
        std::thread::sleep(std::time::Duration::from_millis(5));
        while persistence_field(port, "rdb_bgsave_in_progress").as_deref() == Some("1") {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let secs = t0.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let writes = writer.join().unwrap_or(0);
        let fork = persistence_field(port, "latest_fork_usec").unwrap_or_default();
        let cow = persistence_field(port, "rdb_last_cow_size").unwrap_or_default();
        drop(server);
        let file = std::fs::metadata(sub.join("dump.rdb"))
            .map(|m| m.len())
            .unwrap_or(0);
        // Start again on the dump: until PING answers PONG (not LOADING).
        let port2 = free_port();
        let t1 = std::time::Instant::now();
        let again = start_server(port2)?;
        let mut load = f64::NAN;
        for _ in 0..6000 {
            if cli(port2, &["PING"]).as_deref() == Some("PONG") {
                load = t1.elapsed().as_secs_f64();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let keys = cli(port2, &["DBSIZE"]).unwrap_or_default();
        drop(again);
        // The writer's rate over the whole measured window (it ran 0.3 s
        // before the BGSAVE too).
        let rate = writes as f64 / (secs + 0.3);
        println!(
            "{name:<9} {secs:>9.2} {rate:>12.0} {fork:>11} {cow:>11} {file:>10} {load:>9.2}   ({keys} keys after restart)"
        );
        rows.push((secs, rate, load));
    }
    if rows.len() == 2 {
        println!(
            "ratios cachelab/redis: bgsave time {:.2}, writes/s during it {:.2}, load time {:.2}",
            rows[1].0 / rows[0].0,
            rows[1].1 / rows[0].1,
            rows[1].2 / rows[0].2
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    cme_scale()
}

/// The simulator running ElastiCache's largest cluster-mode group, 500
/// shards × 2 nodes: how long creating it takes, simulated seconds per
/// wall second once it is settled, and peak memory (the `cme_scale`
/// example, on core 1).
fn cme_scale() -> crate::Result<()> {
    run(crate::cargo().args([
        "build",
        "-q",
        "--release",
        "-p",
        "cachelab-engine",
        "--example",
        "cme_scale",
    ]))?;
    println!("simulator: a cluster-mode group of 500 shards × 2 nodes (1,000 nodes) on virtual time, one core");
    run(Command::new("taskset")
        .args(["-c", "1"])
        .arg(root().join("target/release/examples/cme_scale"))
        .args(["--shards", "500", "--replicas", "1", "--seconds", "30"]))
}

pub fn run_all() -> crate::Result<()> {
    for bin in ["redis-server", "redis-benchmark", "taskset", "node", "gzip"] {
        if !have(bin) {
            return Err(format!("{bin} is needed for the benchmark (cargo xtask test installs redis; taskset is util-linux)"));
        }
    }
    // CACHELAB_BENCH=<part>: only that part (the README lists them).
    let only = std::env::var("CACHELAB_BENCH").unwrap_or_default();
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
            "build",
            "--release",
            "-p",
            "cachelab-server",
        ]),
    )?;
    let alone: Option<fn() -> crate::Result<()>> = match only.as_str() {
        "memory" => Some(memory_per_key),
        "replication" => Some(replication),
        "cluster" => Some(cluster),
        "cme-scale" => Some(cme_scale),
        "idle" => Some(idle),
        "hostile" => Some(hostile),
        "maxclients" => Some(maxclients),
        "embed" => Some(embed),
        "eviction" => Some(eviction::run),
        "bgsave" => Some(bgsave),
        "memcached" => Some(memcached),
        _ => None,
    };
    if let Some(part) = alone {
        return part();
    }
    let servers = spawn_pair(Some("1"))?;
    let (rp, cp) = (servers.rp, servers.cp);
    if only == "latency" {
        latency_table(rp, cp);
        return Ok(());
    }
    if only == "heavy" {
        return heavy_commands(rp, cp);
    }
    if only == "throughput" {
        throughput(rp, cp);
        return Ok(());
    }
    throughput(rp, cp);
    latency_table(rp, cp);
    heavy_commands(rp, cp)?;
    drop(servers);
    memory_per_key()?;
    eviction::run()?;
    idle()?;
    maxclients()?;
    hostile()?;
    bgsave()?;
    replication()?;
    memcached()?;

    // Engine only: the same request loop natively and in wasm (Node.js).
    let n = 300_000;
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "cachelab-engine",
            "--example",
            "engine_bench",
            "--",
        ])
        .arg(n.to_string())
        .current_dir(root())
        .output()
        .map_err(|e| e.to_string())?;
    let native: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    let dist = crate::build_web(true)?;
    // The worker module again, with the simulator benchmark compiled in
    // (the page's copy in dist/ leaves it out).
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--target",
                "wasm32-unknown-unknown",
                "--profile",
                "wasm-release",
            ])
            .args(["-p", "cachelab-wasm", "--features", "sim-bench"]),
    )?;
    let node_dir = root().join("target/bench-node");
    run(Command::new("wasm-bindgen")
        .args(["--target", "nodejs", "--no-typescript", "--out-dir"])
        .arg(&node_dir)
        .arg(root().join("target/wasm32-unknown-unknown/wasm-release/cachelab_wasm.wasm")))?;
    // Warm the JIT up, then take the median of three timed runs.
    let script = format!(
        "const m = require('{}/cachelab_wasm.js'); m.bench_engine(100000); const r = [0, 1, 2].map(() => m.bench_engine({n})).sort((a, b) => a - b); console.log(r[1]);",
        node_dir.display()
    );
    let out = Command::new("node")
        .args(["-e", &script])
        .output()
        .map_err(|e| e.to_string())?;
    let wasm: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    println!("engine only (SET+GET, no I/O): native {native:.0} ops/s, wasm (Node.js) {wasm:.0} ops/s, ratio {:.2}", wasm / native);

    // Simulator speed: simulated node-seconds per wall second.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "cachelab-engine",
            "--example",
            "sim",
            "--",
            "--seeds",
            "20",
        ])
        .current_dir(root())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let sim_native: f64 = text
        .split("; ")
        .find(|p| p.contains("simulated node-seconds"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let script = format!(
        "const m = require('{}/cachelab_wasm.js'); console.log(m.bench_sim(20));",
        node_dir.display()
    );
    let out = Command::new("node")
        .args(["-e", &script])
        .output()
        .map_err(|e| e.to_string())?;
    let sim_wasm: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    println!(
        "simulator (20 seeds of the fault soak): native {sim_native:.0}, wasm (Node.js) {sim_wasm:.0} simulated node-seconds per wall second"
    );

    for f in ["app_bg.wasm", "node_bg.wasm"] {
        let (raw, gz) = sizes(&dist.join(f));
        println!("{f}: {} KB raw, {} KB gzipped", raw / 1024, gz / 1024);
    }
    embed()
}

/// A file's size and its size gzipped (`gzip -9`), in bytes.
fn sizes(path: &std::path::Path) -> (u64, u64) {
    let raw = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let gz = Command::new("sh")
        .args(["-c", &format!("gzip -9 -c '{}' | wc -c", path.display())])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    (raw, gz)
}

/// CACHELAB_BENCH=embed: what a docs page loads for a `<cachelab-demo>`
/// (gzipped, against the 600 KB budget), the time from navigation to its
/// first rendered step in headless Chromium (fresh context each run), and
/// the npm package in Node.js: load, `Cluster.create` per kind, SET/GET per
/// second through `send`.
fn embed() -> crate::Result<()> {
    let dist = crate::build_web(true)?;
    let mut total = 0;
    for f in [
        "embed.js",
        "embed-worker.js",
        "cachelab_npm.js",
        "cachelab_npm_bg.wasm",
    ] {
        let (raw, gz) = sizes(&dist.join(f));
        total += gz;
        println!(
            "embed: {f}: {} KB raw, {} KB gzipped",
            raw / 1024,
            gz / 1024
        );
    }
    println!(
        "embed: a demo loads {} KB gzipped in all (budget 600 KB)",
        total / 1024
    );
    crate::ensure_system()?;
    let server = crate::serve::spawn(&dist, 0)?;
    let out = crate::output(
        Command::new("node")
            .arg("bench-embed.js")
            .arg(format!("http://127.0.0.1:{}/", server.port))
            .arg("5")
            .current_dir(root().join("tests/e2e")),
    )
    .ok_or("the Chromium embed benchmark failed")?;
    println!(
        "embed: navigation to the first rendered step (failover), 5 fresh loads, ms: {}",
        out.trim()
    );

    let tgz = crate::pack::pack()?;
    let dir = crate::pack::install(&tgz, "bench")?;
    std::fs::copy(root().join("tests/npm/bench.mjs"), dir.join("bench.mjs"))
        .map_err(|e| e.to_string())?;
    let out = crate::output(Command::new("node").arg("bench.mjs").current_dir(&dir))
        .ok_or("the npm package benchmark failed")?;
    println!("npm (Node.js): {}", out.trim());
    println!("npm: the package {} KB gzipped", sizes(&tgz).0 / 1024);
    Ok(())
}

/// Three cluster-mode nodes of one kind (`redis-server` or
/// `cachelab-server`) on core 1, assembled with `redis-cli --cluster
/// create`; their ports. The processes end when the `Proc`s drop.
fn cluster_of(kind: &str, dir: &std::path::Path) -> crate::Result<(Vec<Proc>, Vec<u16>)> {
    let mut procs = Vec::new();
    let mut ports = Vec::new();
    for i in 0..3 {
        let (port, cport) = (free_port(), free_port());
        let conf = dir.join(format!("{kind}-{i}.conf"));
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "1"]);
        if kind == "redis" {
            cmd.arg("redis-server");
        } else {
            cmd.arg(root().join("target/release/cachelab-server"));
        }
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--cluster-enabled",
                "yes",
            ])
            .args(["--cluster-port", &cport.to_string()])
            .args(["--cluster-config-file", &conf.to_string_lossy()])
            .current_dir(dir)
            .stdout(Stdio::null());
        procs.push(Proc(cmd.spawn().map_err(|e| e.to_string())?));
        ports.push(port);
    }
    for &p in &ports {
        wait_port(p);
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .arg("--cluster-yes")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{kind}: redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    // Every node agrees and is ok before anything is measured.
    for _ in 0..200 {
        let ok = ports
            .iter()
            .all(|&p| cli(p, &["cluster", "info"]).is_some_and(|i| i.contains("cluster_state:ok")));
        if ok {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok((procs, ports))
}

fn cluster_benchmark(port: u16, args: &[&str]) -> f64 {
    let out = Command::new("taskset")
        .args([
            "-c",
            "0",
            "redis-benchmark",
            "--cluster",
            "-p",
            &port.to_string(),
        ])
        .args(["-c", "50", "--csv"])
        .args(args)
        .output()
        .expect("redis-benchmark runs");
    csv_rate(&out.stdout)
}

/// CACHELAB_BENCH=cluster: a 3-shard cachelab cluster against a 3-shard
/// redis-server cluster — `redis-benchmark --cluster` SET and GET, then
/// `redis-cli --cluster reshard` of 5,000 slots (with their keys) from one
/// shard to another after about 1,000,000 keys were written.
fn cluster() -> crate::Result<()> {
    let dir = std::env::temp_dir().join(format!("cachelab-bench-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (_r, rports) = cluster_of("redis", &dir)?;
    let (_c, cports) = cluster_of("cachelab", &dir)?;
    println!("redis-benchmark --cluster -c 50 -r 100000 (-n 200000 at -P 1, 2000000 at -P 16: its clock ticks every 250 ms), 3 primaries per kind on core 1, load on core 0, median of {ROUNDS} alternating rounds");
    println!(
        "{:<6} {:>3} {:>14} {:>14} {:>7}",
        "test", "P", "redis ops/s", "cachelab ops/s", "ratio"
    );
    for (pipeline, n) in [("1", "200000"), ("16", "2000000")] {
        for test in ["set", "get"] {
            let args = ["-t", test, "-n", n, "-r", "100000", "-P", pipeline];
            let (r, c) = side_by_side(
                || cluster_benchmark(rports[0], &args),
                || cluster_benchmark(cports[0], &args),
            );
            let ratio = if r > 0.0 { c / r } else { 0.0 };
            println!(
                "{:<6} {pipeline:>3} {r:>14.0} {c:>14.0} {ratio:>7.2}",
                test.to_uppercase()
            );
        }
    }
    // About a million keys, then 5,000 slots resharded with their keys.
    println!(
        "resharding 5,000 slots after ~1,000,000 keys (redis-cli --cluster reshard, pipeline 100)"
    );
    println!(
        "{:<9} {:>10} {:>12} {:>9} {:>11}",
        "server", "keys", "keys moved", "seconds", "keys/s"
    );
    let mut rates = Vec::new();
    for (name, ports) in [("redis", &rports), ("cachelab", &cports)] {
        cluster_benchmark(
            ports[0],
            &[
                "-t", "set", "-n", "3000000", "-r", "1000000", "-P", "32", "-q",
            ],
        );
        let keys: u64 = ports
            .iter()
            .filter_map(|&p| cli(p, &["dbsize"]).and_then(|s| s.parse::<u64>().ok()))
            .sum();
        let id = |p: u16| cli(p, &["cluster", "myid"]).unwrap_or_default();
        let before = cli(ports[1], &["dbsize"])
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let started = std::time::Instant::now();
        let out = Command::new("taskset")
            .args(["-c", "0", "redis-cli", "--cluster", "reshard"])
            .arg(format!("127.0.0.1:{}", ports[0]))
            .args([
                "--cluster-from",
                &id(ports[0]),
                "--cluster-to",
                &id(ports[1]),
            ])
            .args([
                "--cluster-slots",
                "5000",
                "--cluster-yes",
                "--cluster-pipeline",
                "100",
            ])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        let secs = started.elapsed().as_secs_f64();
        if !out.success() {
            return Err(format!("{name}: redis-cli --cluster reshard failed"));
        }
        let after = cli(ports[1], &["dbsize"])
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let moved = after.saturating_sub(before);
        let rate = moved as f64 / secs;
        println!("{name:<9} {keys:>10} {moved:>12} {secs:>9.2} {rate:>11.0}");
        rates.push(rate);
    }
    if rates.len() == 2 && rates[0] > 0.0 {
        println!(
            "ratio cachelab/redis, keys moved per second: {:.2}",
            rates[1] / rates[0]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
