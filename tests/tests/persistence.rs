//! Redis persistence on cachelab-server: SAVE and BGSAVE write an RDB file
//! atomically that redis-server loads; a restart loads it back; a file
//! written by redis-server (LZF-compressed) loads; a truncated or corrupted
//! file stops the start; a failed background save stops writes (MISCONF)
//! until it is fixed; INFO persistence and LASTSAVE as Redis reports them.

use std::time::{Duration, Instant};

use cachelab_tests::{args, show, CachelabServer, RedisServer, RespConn};

fn call(c: &mut RespConn, line: &[&str]) -> String {
    show(&c.call(&args(line))).trim_end_matches('⏎').to_string()
}

fn info_field(c: &mut RespConn, field: &str) -> String {
    let info =
        String::from_utf8_lossy(&c.call(&args(&["INFO", "persistence", "stats"]))).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_string()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cachelab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(dir: &std::path::Path, file: &str) -> cachelab_server::Options {
    cachelab_server::Options {
        config: vec![
            ("dir".into(), dir.to_string_lossy().into_owned()),
            ("dbfilename".into(), file.into()),
        ],
        ..Default::default()
    }
}

fn wait_bgsave(c: &mut RespConn) {
    let start = Instant::now();
    while info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "BGSAVE never ended"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn save_bgsave_restart_and_redis_server_loads_the_file() {
    let dir = temp_dir("persist");
    let server = CachelabServer::start_with(opts(&dir, "dump.rdb"));
    let mut c = RespConn::connect(server.port);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    for i in 0..100 {
        call(&mut c, &["SET", &format!("k{i}"), &"x".repeat(i)]);
    }
    call(&mut c, &["RPUSH", "list", "a", "b", "c"]);
    call(&mut c, &["HSET", "hash", "f", "v"]);
    call(&mut c, &["SET", "ttl", "v", "EX", "1000"]);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "103");
    let before = call(&mut c, &["LASTSAVE"]);
    assert_eq!(call(&mut c, &["SAVE"]), "+OK");
    assert!(call(&mut c, &["LASTSAVE"]) >= before);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    // Errors and refusals in Redis's words.
    assert_eq!(call(&mut c, &["BGSAVE", "NOW"]), "-ERR syntax error");
    assert_eq!(call(&mut c, &["MULTI"]), "+OK");
    assert_eq!(
        call(&mut c, &["SAVE"]),
        "-ERR Command not allowed inside a transaction"
    );
    assert_eq!(call(&mut c, &["DISCARD"]), "+OK");
    call(&mut c, &["SET", "after", "1"]);
    assert_eq!(info_field(&mut c, "total_forks"), "0", "SAVE does not fork");
    assert_eq!(call(&mut c, &["BGSAVE"]), "+Background saving started");
    wait_bgsave(&mut c);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    // The background save's cost, as Redis names it: the pause (measured)
    // and the copy it held until the file was written.
    assert_eq!(info_field(&mut c, "total_forks"), "1");
    assert!(info_field(&mut c, "latest_fork_usec")
        .parse::<u64>()
        .is_ok());
    let cow: u64 = info_field(&mut c, "rdb_last_cow_size").parse().unwrap();
    assert!(cow > 100, "the copy held: {cow} bytes");
    assert_eq!(info_field(&mut c, "current_cow_size"), "0");
    // Inside EXEC, BGSAVE is scheduled (it starts at the next cron).
    assert_eq!(call(&mut c, &["MULTI"]), "+OK");
    call(&mut c, &["BGSAVE"]);
    let exec = call(&mut c, &["EXEC"]);
    assert_eq!(exec, "*1⏎+Background saving scheduled");
    let start = Instant::now();
    while info_field(&mut c, "rdb_saves") != "3" {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the scheduled BGSAVE never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_bgsave(&mut c);
    drop(c);
    drop(server);
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("temp-")));
    // A restart loads everything back.
    let server = CachelabServer::start_with(opts(&dir, "dump.rdb"));
    let mut c = RespConn::connect(server.port);
    assert_eq!(call(&mut c, &["DBSIZE"]), ":104");
    assert_eq!(
        call(&mut c, &["LRANGE", "list", "0", "-1"]),
        "*3⏎$1⏎a⏎$1⏎b⏎$1⏎c"
    );
    let ttl = call(&mut c, &["TTL", "ttl"]);
    assert!(ttl == ":1000" || ttl == ":999", "{ttl}");
    // redis-server loads cachelab's file.
    if let Some(r) =
        RedisServer::start_with(&["--dir", &dir.to_string_lossy(), "--dbfilename", "dump.rdb"])
    {
        let mut rc = RespConn::connect(r.port);
        assert_eq!(call(&mut rc, &["DBSIZE"]), ":104");
        assert_eq!(call(&mut rc, &["HGET", "hash", "f"]), "$1⏎v");
        assert_eq!(
            call(&mut rc, &["GET", "k99"]),
            format!("$99⏎{}", "x".repeat(99))
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dump_from_redis_server_loads_and_a_damaged_one_is_refused() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = temp_dir("fromredis");
    let mut r = RespConn::connect(redis.port);
    call(&mut r, &["CONFIG", "SET", "rdbcompression", "yes"]);
    for i in 0..200 {
        // Long, repetitive values: redis-server LZF-compresses them.
        call(
            &mut r,
            &[
                "SET",
                &format!("key:{i}"),
                &format!("value-{i}-").repeat(20),
            ],
        );
    }
    call(&mut r, &["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(call(&mut r, &["SAVE"]), "+OK");
    let their = std::path::PathBuf::from(info_dir(&mut r)).join(info_dbfilename(&mut r));
    std::fs::copy(&their, dir.join("dump.rdb")).unwrap();
    let server = CachelabServer::start_with(opts(&dir, "dump.rdb"));
    let mut c = RespConn::connect(server.port);
    assert_eq!(call(&mut c, &["DBSIZE"]), ":201");
    assert_eq!(
        call(&mut c, &["GET", "key:7"]),
        format!("$160⏎{}", "value-7-".repeat(20))
    );
    assert_eq!(call(&mut c, &["ZSCORE", "z", "b"]), "$1⏎2");
    drop(c);
    drop(server);
    // Truncated, then one byte flipped: the start fails, nothing half-loaded.
    let bytes = std::fs::read(dir.join("dump.rdb")).unwrap();
    for damaged in [bytes[..bytes.len() / 2].to_vec(), {
        let mut b = bytes.clone();
        let at = b.len() / 2;
        b[at] ^= 0x55;
        b
    }] {
        std::fs::write(dir.join("bad.rdb"), &damaged).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let result =
            cachelab_server::run_blocking_with(listener, opts(&dir, "bad.rdb"), None, async {});
        assert!(result.is_err(), "a damaged dump must stop the start");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn info_dir(c: &mut RespConn) -> String {
    call(c, &["CONFIG", "GET", "dir"])
        .split('⏎')
        .nth(4)
        .unwrap_or("")
        .to_string()
}

fn info_dbfilename(c: &mut RespConn) -> String {
    call(c, &["CONFIG", "GET", "dbfilename"])
        .split('⏎')
        .nth(4)
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_failed_background_save_stops_writes_until_fixed() {
    let dir = temp_dir("misconf");
    let server = CachelabServer::start_with(opts(&dir.join("no-such-dir"), "dump.rdb"));
    let mut c = RespConn::connect(server.port);
    call(&mut c, &["SET", "a", "1"]);
    assert_eq!(call(&mut c, &["SAVE"]), "-ERR");
    assert_eq!(call(&mut c, &["BGSAVE"]), "+Background saving started");
    wait_bgsave(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    let misconf = call(&mut c, &["SET", "b", "2"]);
    assert!(
        misconf.starts_with("-MISCONF Redis is configured to save RDB snapshots"),
        "{misconf}"
    );
    assert!(call(&mut c, &["PING"]).starts_with("-MISCONF"));
    assert_eq!(call(&mut c, &["GET", "a"]), "$1⏎1");
    assert_eq!(
        call(
            &mut c,
            &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]
        ),
        "+OK"
    );
    assert_eq!(call(&mut c, &["SET", "b", "2"]), "+OK");
    let _ = std::fs::remove_dir_all(&dir);
}

/// FLUSHALL with `save` points writes the empty dump at once: a restart
/// does not bring the flushed data back.
#[test]
fn flushall_saves_so_a_restart_stays_empty() {
    let dir = temp_dir("flushall");
    let server = CachelabServer::start_with(opts(&dir, "dump.rdb"));
    let mut c = RespConn::connect(server.port);
    call(&mut c, &["SET", "a", "1"]);
    assert_eq!(call(&mut c, &["SAVE"]), "+OK");
    assert_eq!(call(&mut c, &["FLUSHALL"]), "+OK");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    drop(c);
    drop(server);
    let server = CachelabServer::start_with(opts(&dir, "dump.rdb"));
    let mut c = RespConn::connect(server.port);
    assert_eq!(call(&mut c, &["DBSIZE"]), ":0");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same 100,000 mixed keys in redis-server and in cachelab, each saved:
/// cachelab's file (compact encodings as Redis's blobs, LZF) is within 2 %
/// of redis-server's size, and redis-server loads it with the same DEBUG
/// DIGEST as the original data.
#[test]
fn a_dump_of_mixed_keys_matches_redis_server_in_size_and_digest() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = temp_dir("mixed");
    let server = CachelabServer::start_with(opts(&dir, "cachelab.rdb"));
    let mut rng = cachelab_engine::rng::Rng::new(11);
    let mut batch = Vec::new();
    for i in 0..100_000usize {
        let cmd: Vec<String> = match i % 5 {
            0 => vec![
                "SET".into(),
                format!("str:{i}"),
                format!("value-{}", rng.below(1_000_000_000)),
            ],
            1 => vec![
                "HSET".into(),
                format!("hash:{i}"),
                "name".into(),
                format!("user{i}"),
                "age".into(),
                rng.below(90).to_string(),
                "city".into(),
                ["paris", "tokyo", "lima"][rng.below(3)].into(),
            ],
            2 => std::iter::once("RPUSH".to_string())
                .chain(std::iter::once(format!("list:{i}")))
                .chain((0..5).map(|j| format!("item{j}")))
                .collect(),
            3 => std::iter::once("SADD".to_string())
                .chain(std::iter::once(format!("set:{i}")))
                .chain((0..4).map(|_| rng.below(1000).to_string()))
                .collect(),
            _ => {
                let mut v = vec!["ZADD".to_string(), format!("zset:{i}")];
                for j in 0..4 {
                    v.push(format!("{}.{}", rng.below(100), rng.below(1000)));
                    v.push(format!("m{j}"));
                }
                v
            }
        };
        let argv: Vec<Vec<u8>> = cmd.into_iter().map(String::into_bytes).collect();
        batch.extend(cachelab_tests::encode_request(&argv));
    }
    for port in [redis.port, server.port] {
        let mut c = RespConn::connect(port);
        c.send_raw(&batch);
        for _ in 0..100_000 {
            c.read_reply_bytes().expect("a reply");
        }
        assert_eq!(call(&mut c, &["DBSIZE"]), ":100000");
        assert_eq!(call(&mut c, &["SAVE"]), "+OK");
    }
    let mut r = RespConn::connect(redis.port);
    let digest = call(&mut r, &["DEBUG", "DIGEST"]);
    let theirs = std::path::PathBuf::from(info_dir(&mut r)).join(info_dbfilename(&mut r));
    let (a, b) = (
        std::fs::metadata(&theirs).unwrap().len() as f64,
        std::fs::metadata(dir.join("cachelab.rdb")).unwrap().len() as f64,
    );
    assert!(
        (b - a).abs() / a < 0.02,
        "redis-server {a} bytes, cachelab {b} bytes"
    );
    drop(server);
    let loaded = RedisServer::start_with(&[
        "--dir",
        &dir.to_string_lossy(),
        "--dbfilename",
        "cachelab.rdb",
    ])
    .expect("redis-server");
    let mut l = RespConn::connect(loaded.port);
    assert_eq!(call(&mut l, &["DBSIZE"]), ":100000");
    assert_eq!(call(&mut l, &["DEBUG", "DIGEST"]), digest);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kill -9` while a BGSAVE writes: the previous dump stays whole (the new
/// one is written to a temporary file and renamed over it only when
/// complete), so the restart loads either the old data or the new, never
/// half a file.
#[test]
fn kill_during_bgsave_leaves_the_previous_dump_whole() {
    let dir = temp_dir("kill9");
    let port = cachelab_tests::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cachelab-node"))
        .args([&port.to_string(), "--dir", &dir.to_string_lossy()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut c = RespConn::connect(port);
    call(&mut c, &["SET", "old", "1"]);
    assert_eq!(call(&mut c, &["SAVE"]), "+OK");
    let first = std::fs::read(dir.join("dump.rdb")).unwrap();
    // Enough data that the background write takes a moment.
    let mut batch = Vec::new();
    for i in 0..200_000 {
        batch.extend(cachelab_tests::encode_request(&args(&[
            "SET",
            &format!("key:{i}"),
            &format!("{i}-{}", "x".repeat(40)),
        ])));
    }
    c.send_raw(&batch);
    for _ in 0..200_000 {
        c.read_reply_bytes().unwrap();
    }
    assert_eq!(call(&mut c, &["BGSAVE"]), "+Background saving started");
    child.kill().unwrap();
    child.wait().unwrap();
    let now = std::fs::read(dir.join("dump.rdb")).unwrap();
    // Either the old file, untouched, or a complete new one.
    if now != first {
        let node = cachelab_engine::Node::new(1);
        let mut node = node;
        node.load_rdb(&now, cachelab_engine::Millis(0))
            .expect("a replaced dump is complete");
    }
    let server = CachelabServer::start_with(opts(&dir, "dump.rdb"));
    let mut c = RespConn::connect(server.port);
    assert_eq!(call(&mut c, &["GET", "old"]), "$1⏎1");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rdbchecksum no`: the file ends in eight zero bytes, and both
/// redis-server and cachelab load it without a check.
#[test]
fn a_file_saved_without_checksum_loads_everywhere() {
    let dir = temp_dir("nocrc");
    // Immutable, as in Redis: a start-up directive.
    let mut o = opts(&dir, "dump.rdb");
    o.config.push(("rdbchecksum".into(), "no".into()));
    let server = CachelabServer::start_with(o);
    let mut c = RespConn::connect(server.port);
    assert!(call(&mut c, &["CONFIG", "SET", "rdbchecksum", "yes"])
        .contains("can't set immutable config"));
    call(&mut c, &["SET", "k", "v"]);
    assert_eq!(call(&mut c, &["SAVE"]), "+OK");
    let bytes = std::fs::read(dir.join("dump.rdb")).unwrap();
    assert_eq!(&bytes[bytes.len() - 8..], &[0u8; 8]);
    drop(c);
    drop(server);
    let server = CachelabServer::start_with(opts(&dir, "dump.rdb"));
    assert_eq!(
        call(&mut RespConn::connect(server.port), &["GET", "k"]),
        "$1⏎v"
    );
    if let Some(r) =
        RedisServer::start_with(&["--dir", &dir.to_string_lossy(), "--dbfilename", "dump.rdb"])
    {
        assert_eq!(call(&mut RespConn::connect(r.port), &["GET", "k"]), "$1⏎v");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
