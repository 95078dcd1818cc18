//! cachelab-server end to end with real clients: raw pipelining, protocol
//! errors, concurrent clients, CLIENT KILL, redis-cli, redis-benchmark, redis-py.

use std::process::Command;

use cachelab_engine::protocol::Reply;
use cachelab_tests::{args, show, CachelabServer, RespConn};

#[test]
fn pipelined_commands_are_answered_in_order() {
    let server = CachelabServer::start();
    let mut c = RespConn::connect(server.port);
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend(cachelab_tests::encode_request(&args(&[
            "SET",
            &format!("k{i}"),
            &i.to_string(),
        ])));
        batch.extend(cachelab_tests::encode_request(&args(&[
            "INCR",
            &format!("k{i}"),
        ])));
    }
    c.send_raw(&batch);
    for i in 0..1000 {
        assert_eq!(c.read_reply_bytes().unwrap(), b"+OK\r\n");
        assert_eq!(
            c.read_reply_bytes().unwrap(),
            format!(":{}\r\n", i + 1).into_bytes()
        );
    }
    // Inline commands too.
    c.send_raw(b"PING\r\nECHO \"a b\"\r\n");
    assert_eq!(c.read_reply_bytes().unwrap(), b"+PONG\r\n");
    assert_eq!(c.read_reply_bytes().unwrap(), b"$3\r\na b\r\n");
}

#[test]
fn a_protocol_error_closes_only_that_connection() {
    let server = CachelabServer::start();
    let mut bad = RespConn::connect(server.port);
    let mut good = RespConn::connect(server.port);
    good.call_str(&["SET", "k", "v"]);
    bad.send_raw(b"*1\r\n$-7\r\n");
    assert_eq!(
        bad.read_reply_bytes().unwrap(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    assert!(bad.is_closed());
    assert_eq!(good.call_str(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn many_concurrent_clients_and_client_kill() {
    let server = CachelabServer::start();
    let port = server.port;
    let handles: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = RespConn::connect(port);
                for i in 0..200 {
                    c.call_str(&["INCR", "shared"]);
                    assert_eq!(c.call_str(&["SET", &format!("t{t}:{i}"), "x"]), Reply::ok());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut c = RespConn::connect(port);
    assert_eq!(c.call_str(&["GET", "shared"]), Reply::bulk("3200"));
    assert_eq!(c.call_str(&["DBSIZE"]), Reply::Int(3201));
    let mut victim = RespConn::connect(port);
    let Reply::Int(id) = victim.call_str(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    assert_eq!(
        c.call_str(&["CLIENT", "KILL", "ID", &id.to_string()]),
        Reply::Int(1)
    );
    assert!(victim.is_closed());
    c.call_str(&["QUIT"]);
    assert!(c.is_closed());
}

fn tool(name: &str) -> Command {
    if Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        panic!("{name} is not installed: run `cargo xtask test`, which installs redis-tools");
    }
    Command::new(name)
}

#[test]
fn redis_cli_works_unmodified() {
    let server = CachelabServer::start();
    let p = server.port.to_string();
    let cli = |a: &[&str]| {
        let out = tool("redis-cli")
            .args(["-p", &p])
            .args(a)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(cli(&["SET", "foo", "bar"]), "OK\n");
    assert_eq!(cli(&["GET", "foo"]), "bar\n");
    assert_eq!(cli(&["INCRBYFLOAT", "f", "0.1"]), "0.1\n");
    assert_eq!(cli(&["DBSIZE"]), "2\n");
    assert!(cli(&["INFO", "server"]).contains("redis_version:7.0.15"));
    assert!(cli(&["COMMAND", "DOCS", "get"]).contains("Get the value of a key"));
    let out = tool("redis-cli")
        .args(["-p", &p, "--no-raw", "MGET", "foo", "nope"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1) \"bar\"\n2) (nil)\n"
    );
}

#[test]
fn redis_benchmark_works_unmodified() {
    let server = CachelabServer::start();
    let out = tool("redis-benchmark")
        .args([
            "-p",
            &server.port.to_string(),
            "-n",
            "2000",
            "-c",
            "10",
            "-t",
            "set,get,incr",
            "-P",
            "4",
            "--csv",
        ])
        .output()
        .expect("redis-benchmark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for t in ["SET", "GET", "INCR"] {
        assert!(
            text.contains(&format!("\"{t}\"")),
            "no {t} result in:\n{text}"
        );
    }
    let mut c = RespConn::connect(server.port);
    assert_eq!(
        c.call_str(&["GET", "counter:__rand_int__"]),
        Reply::bulk("2000")
    );
}

#[test]
fn redis_py_works_unmodified() {
    let server = CachelabServer::start();
    let script = r#"
import sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
assert r.ping()
assert r.set("user:1", "alice", ex=100)
assert r.get("user:1") == "alice"
assert 99 <= r.ttl("user:1") <= 100
assert r.incrby("n", 5) == 5
p = r.pipeline(transaction=False)
for i in range(100): p.set(f"k{i}", i)
assert all(p.execute())
assert r.mget(["k1", "k2", "nope"]) == ["1", "2", None]
assert sorted(r.scan_iter(match="k*", count=7)) == sorted(f"k{i}" for i in range(100))
assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
try:
    r.execute_command("NOSUCH")
    raise SystemExit("no error")
except redis.ResponseError as e:
    assert "unknown command" in str(e)
r3 = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), protocol=3, decode_responses=True)
assert r3.get("user:1") == "alice"
print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", script, &server.port.to_string()])
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "redis-py failed (install with `python3 -m pip install redis==5.0.8`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_client_over_maxclients_is_told_and_dropped() {
    let server = CachelabServer::start();
    let mut admin = RespConn::connect(server.port);
    assert_eq!(
        admin.call_str(&["CONFIG", "SET", "maxclients", "1"]),
        Reply::ok()
    );
    let mut extra = RespConn::connect(server.port);
    assert_eq!(
        extra.read_reply_bytes().unwrap(),
        b"-ERR max number of clients reached\r\n"
    );
    assert!(extra.is_closed());
    assert_eq!(admin.call_str(&["PING"]), Reply::Simple("PONG".into()));
}

/// SHUTDOWN as redis-server answers it: its errors in Redis's words, a save
/// that cannot be written refused (the node serves on), then a real
/// shutdown that writes an RDB file redis-server loads, and the server
/// stops (its connections end).
#[test]
fn shutdown_saves_a_file_redis_server_loads_and_stops_the_server() {
    let dir = std::env::temp_dir().join(format!("cachelab-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = "shutdown-test.rdb";
    let _ = std::fs::remove_file(dir.join(file));
    let opts = cachelab_server::Options {
        config: vec![
            (
                "dir".into(),
                dir.join("missing").to_string_lossy().into_owned(),
            ),
            ("dbfilename".into(), file.into()),
        ],
        ..Default::default()
    };
    let server = CachelabServer::start_with(opts);
    let mut c = RespConn::connect(server.port);
    // The same error words as redis-server, compared side by side.
    let redis = cachelab_tests::RedisServer::start();
    for line in [
        "SHUTDOWN ABORT",
        "SHUTDOWN NOW ABORT",
        "SHUTDOWN SAVE NOSAVE",
        "SHUTDOWN SOON",
    ] {
        let argv = args(&line.split(' ').collect::<Vec<_>>());
        let got = c.call(&argv);
        if let Some(r) = &redis {
            let want = RespConn::connect(r.port).call(&argv);
            assert_eq!(
                cachelab_tests::show(&got),
                cachelab_tests::show(&want),
                "{line}"
            );
        }
        assert!(got.starts_with(b"-ERR"), "{line}");
    }
    assert_eq!(c.call(&args(&["MULTI"])), b"+OK\r\n");
    assert_eq!(
        c.call(&args(&["SHUTDOWN"])),
        b"-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(c.call(&args(&["DISCARD"])), b"+OK\r\n");
    // `dir` does not exist: the save fails, the node serves on.
    assert_eq!(c.call(&args(&["SET", "k", "v"])), b"+OK\r\n");
    assert_eq!(c.call(&args(&["HSET", "h", "f", "1"])), b":1\r\n");
    assert_eq!(
        c.call(&args(&["SHUTDOWN", "SAVE"])),
        b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert_eq!(c.call(&args(&["PING"])), b"+PONG\r\n");
    assert!(!dir.join("missing").exists());
    // CONFIG SET dir is refused (protected), so a second server saves for real.
    drop(c);
    drop(server);
    let opts = cachelab_server::Options {
        config: vec![
            ("dir".into(), dir.to_string_lossy().into_owned()),
            ("dbfilename".into(), file.into()),
        ],
        ..Default::default()
    };
    let server = CachelabServer::start_with(opts);
    let mut c = RespConn::connect(server.port);
    let mut other = RespConn::connect(server.port);
    assert_eq!(c.call(&args(&["SET", "k", "v"])), b"+OK\r\n");
    assert_eq!(c.call(&args(&["RPUSH", "l", "a", "b"])), b":2\r\n");
    // The default `save` points are set: a plain SHUTDOWN saves. No reply;
    // every connection ends with the node.
    c.send_raw(&cachelab_tests::encode_request(&args(&["SHUTDOWN"])));
    assert_eq!(c.read_reply_bytes(), None);
    assert_eq!(
        other.try_read_reply(std::time::Duration::from_secs(5)),
        None
    );
    assert!(other.is_closed());
    drop(server);
    let saved = std::fs::read(dir.join(file)).expect("the RDB file was written");
    assert!(saved.starts_with(b"REDIS0010"));
    assert!(!dir.read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("temp-")));
    if let Some(r) = cachelab_tests::RedisServer::start_with(&[
        "--dir",
        &dir.to_string_lossy(),
        "--dbfilename",
        file,
    ]) {
        let mut rc = RespConn::connect(r.port);
        assert_eq!(rc.call(&args(&["GET", "k"])), b"$1\r\nv\r\n");
        assert_eq!(rc.call(&args(&["LLEN", "l"])), b":2\r\n");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// LOLWUT's art is random in Redis too (rand()), so it is compared by
/// shape: the same lines, the same visible width, the same fixed parts
/// (version 5's first rows are never rotated), and the same errors.
#[test]
fn lolwut_draws_what_redis_draws() {
    let Some(redis) = cachelab_tests::RedisServer::start() else {
        return;
    };
    let server = CachelabServer::start();
    let (mut ours, mut theirs) = (
        RespConn::connect(server.port),
        RespConn::connect(redis.port),
    );
    let visible = |b: &[u8]| -> Vec<usize> {
        let s = String::from_utf8_lossy(b);
        let mut plain = String::new();
        let mut esc = false;
        for ch in s.chars() {
            match ch {
                '\x1b' => esc = true,
                'm' if esc => esc = false,
                _ if esc => {}
                c => plain.push(c),
            }
        }
        plain.lines().map(|l| l.chars().count()).collect()
    };
    for line in [
        "LOLWUT",
        "LOLWUT VERSION 5",
        "LOLWUT VERSION 5 20 3 2",
        "LOLWUT VERSION 5 0 999 -3",
        "LOLWUT VERSION 6",
        "LOLWUT VERSION 6 30 4",
        "LOLWUT VERSION 6 0 0",
        "LOLWUT VERSION 5 x",
        "LOLWUT VERSION y",
        "LOLWUT VERSION 9 1 2",
    ] {
        let argv = args(&line.split(' ').collect::<Vec<_>>());
        let (a, b) = (ours.call(&argv), theirs.call(&argv));
        assert_eq!(visible(&a), visible(&b), "{line}");
        if line.contains("VERSION 5") && !line.contains(" 0 ") {
            let first = |b: &[u8]| {
                String::from_utf8_lossy(b)
                    .lines()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(first(&a), first(&b), "{line}: unrotated top rows");
        }
        if !line.contains("VERSION 5") && !line.contains("VERSION 6") {
            assert_eq!(show(&a), show(&b), "{line}");
        }
    }
}
