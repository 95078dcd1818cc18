//! `maxclients` over real sockets, the same steps against redis-server and
//! cachelab-server: with `maxclients 1000`, 1,000 connections are held and
//! served, the next is answered "max number of clients reached" and
//! closed, and once one leaves a new one is served. (10,000 connections at
//! the default `maxclients` are in `cargo xtask bench`, on the release
//! binaries: this test's server shares the test process's descriptors.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cachelab_tests::{args, show, CachelabServer, RedisServer, RespConn};

const HELD: usize = 1000;

fn connected_clients(c: &mut RespConn) -> usize {
    let info = String::from_utf8_lossy(&c.call(&args(&["INFO", "clients"]))).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("connected_clients")
}

/// A fresh connection's answer to PING, or what it got instead, up to close.
fn ping_raw(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(b"PING\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.ends_with(b"\r\n") && got.starts_with(b"+PONG") {
            break;
        }
    }
    show(&got)
}

fn hold_and_refuse(port: u16) -> Vec<String> {
    let mut admin = RespConn::connect(port);
    assert_eq!(
        show(&admin.call(&args(&["CONFIG", "SET", "maxclients", &HELD.to_string()]))),
        "+OK⏎"
    );
    let mut held: Vec<RespConn> = (1..HELD).map(|_| RespConn::connect(port)).collect();
    for c in held.iter_mut() {
        assert_eq!(show(&c.call(&args(&["PING"]))), "+PONG⏎");
    }
    let mut seen = vec![format!(
        "connected_clients:{}",
        connected_clients(&mut admin)
    )];
    // One more: refused in Redis's words, and closed.
    seen.push(ping_raw(port));
    // The held ones are still served.
    seen.push(show(&held[HELD / 2].call(&args(&["PING"]))));
    // One leaves: the next is served (once the server has seen the close).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    while connected_clients(&mut admin) >= HELD && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    seen.push(ping_raw(port));
    seen.push(format!("rejected_connections:{}", {
        let info = String::from_utf8_lossy(&admin.call(&args(&["INFO", "stats"]))).into_owned();
        info.lines()
            .find_map(|l| l.strip_prefix("rejected_connections:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }));
    seen
}

#[test]
fn maxclients_connections_are_held_and_the_next_is_refused() {
    let Some(redis) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`, which installs it (apt-get install redis-server)");
    };
    let ours = CachelabServer::start();
    let r = hold_and_refuse(redis.port);
    let o = hold_and_refuse(ours.port);
    assert_eq!(
        r,
        [
            "connected_clients:1000",
            "-ERR max number of clients reached⏎",
            "+PONG⏎",
            "+PONG⏎",
            "rejected_connections:1"
        ]
    );
    assert_eq!(o, r);
}
