//! `client-output-buffer-limit` over real sockets, the same steps against
//! redis-server and cachelab-server (after Redis's tests/unit/obuf-limits.tcl):
//! CONFIG SET/GET byte for byte; a subscriber that never reads is dropped
//! at its class's hard limit while the publisher and others are served;
//! a reply over the normal class's limit is never sent, the client is
//! dropped, and nothing after it in its pipeline runs. The soft limit's
//! seconds are tested in virtual time (engine/tests/obuf.rs).

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cachelab_tests::{args, show, CachelabServer, RedisServer, RespConn};

const NAME: &str = "client-output-buffer-limit";

fn client_list(c: &mut RespConn) -> String {
    String::from_utf8_lossy(&c.call(&args(&["CLIENT", "LIST"]))).into_owned()
}

/// What `sock` still receives before the server closes it (`None`: it
/// stays open for 10 s).
fn read_to_close(sock: &mut TcpStream) -> Option<Vec<u8>> {
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(got),
            Err(_) => return None,
        }
    }
}

fn servers() -> Option<(RedisServer, CachelabServer)> {
    let Some(redis) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`, which installs it (apt-get install redis-server)");
    };
    Some((redis, CachelabServer::start()))
}

#[test]
fn config_set_and_get_match_redis() {
    let (redis, ours) = servers().expect("servers");
    let steps: &[&str] = &[
        "wrong number",
        "invalid_class 10mb 10mb 60",
        "master 10mb 10mb 60",
        "normal 10mbs 10mb 60",
        "replica 10mb 10mbs 60",
        "pubsub 10mb 10mb 60s",
        "pubsub 10mb 10mb -1",
        "normal 1mb 2mb 60 replica 3mb 4mb 70 pubsub 5mb 6mb 80",
        "PubSub 1gb 1k 0",
        "normal 1 1 1 pubsub x 1 1",
        "slave 0 0 0",
    ];
    let mut r = RespConn::connect(redis.port);
    let mut o = RespConn::connect(ours.port);
    for v in steps {
        let set = args(&["CONFIG", "SET", NAME, v]);
        let get = args(&["CONFIG", "GET", NAME]);
        assert_eq!(
            show(&o.call(&set)),
            show(&r.call(&set)),
            "CONFIG SET {NAME} {v:?}"
        );
        assert_eq!(
            show(&o.call(&get)),
            show(&r.call(&get)),
            "CONFIG GET after {v:?}"
        );
    }
}

/// Publishes 10 KB messages until the subscriber named `slowsub` is gone
/// from CLIENT LIST; returns the bytes published and the last `omem` seen.
fn publish_until_dropped(port: u16) -> (usize, u64) {
    let mut admin = RespConn::connect(port);
    assert_eq!(
        show(&admin.call(&args(&["CONFIG", "SET", NAME, "pubsub 1mb 0 0"]))),
        "+OK⏎"
    );
    let mut sub = RespConn::connect(port);
    sub.call(&args(&["CLIENT", "SETNAME", "slowsub"]));
    sub.call(&args(&["SUBSCRIBE", "foo"]));
    let mut other = RespConn::connect(port);
    other.call(&args(&["CLIENT", "SETNAME", "bystander"]));
    let payload = "x".repeat(10_000);
    let msg = args(&["PUBLISH", "foo", &payload]);
    let (mut sent, mut omem) = (0usize, 0u64);
    let start = Instant::now();
    loop {
        for _ in 0..20 {
            admin.call(&msg);
            sent += payload.len();
        }
        let list = client_list(&mut admin);
        let Some(line) = list.lines().find(|l| l.contains("name=slowsub")) else {
            break;
        };
        omem = line
            .split(' ')
            .find_map(|f| f.strip_prefix("omem="))
            .and_then(|v| v.parse().ok())
            .expect("omem=");
        assert!(omem < 2 << 20, "omem {omem} went past the 1 MB hard limit");
        assert!(
            sent < 256 << 20 && start.elapsed() < Duration::from_secs(60),
            "the subscriber was never dropped ({sent} bytes published, omem {omem})"
        );
    }
    // The publisher and a bystander are served; the subscriber is gone.
    assert_eq!(show(&admin.call(&msg)), ":0⏎");
    assert_eq!(show(&other.call(&args(&["PING"]))), "+PONG⏎");
    assert!(client_list(&mut admin).contains("name=bystander"));
    // It may still read what its socket held, then the connection ends.
    let mut raw = sub.into_socket();
    let rest = read_to_close(&mut raw).expect("the subscriber's connection is closed");
    assert!(rest.len() < sent, "it received less than was published");
    (sent, omem)
}

#[test]
fn a_subscriber_that_never_reads_is_dropped_at_the_hard_limit() {
    let (redis, ours) = servers().expect("servers");
    let (r_sent, r_omem) = publish_until_dropped(redis.port);
    let (o_sent, o_omem) = publish_until_dropped(ours.port);
    // How much the kernel's buffers hold first is the machine's; both
    // servers drop the client with at most the limit waiting.
    eprintln!(
        "dropped after {r_sent} bytes (redis-server, last omem {r_omem}), {o_sent} (cachelab, last omem {o_omem})"
    );
}

fn big_reply_then_pipeline(port: u16) {
    let mut admin = RespConn::connect(port);
    let item = "x".repeat(1000);
    for _ in 0..150 {
        admin.call(&args(&["LPUSH", "mylist", &item]));
    }
    admin.call(&args(&["SET", "bigkey", &"y".repeat(10_000)]));
    admin.call(&args(&["CONFIG", "SET", NAME, "normal 100000 0 0"]));
    // One reply over the limit: no reply at all, the connection closed.
    let mut rd = RespConn::connect(port);
    rd.call(&args(&["CLIENT", "SETNAME", "mybiglist"]));
    rd.send_raw(&cachelab_engine::protocol::encode_request(&args(&[
        "LRANGE", "mylist", "0", "-1",
    ])));
    let mut raw = rd.into_socket();
    assert_eq!(read_to_close(&mut raw).expect("closed"), b"");
    assert!(!client_list(&mut admin).contains("name=mybiglist"));
    // A pipeline in one write: nothing is answered and the commands after
    // the limit is reached never run.
    let mut pipe = Vec::new();
    for i in 0..15 {
        for cmd in [
            vec!["SET".to_string(), format!("k{i}"), "v".into()],
            vec!["GET".to_string(), "bigkey".into()],
        ] {
            let argv: Vec<Vec<u8>> = cmd.iter().map(|a| a.as_bytes().to_vec()).collect();
            pipe.extend(cachelab_engine::protocol::encode_request(&argv));
        }
    }
    let mut rd = RespConn::connect(port);
    rd.send_raw(&pipe);
    let mut raw = rd.into_socket();
    assert_eq!(read_to_close(&mut raw).expect("closed"), b"");
    assert_eq!(show(&admin.call(&args(&["EXISTS", "k0"]))), ":1⏎");
    assert_eq!(show(&admin.call(&args(&["EXISTS", "k14"]))), ":0⏎");
    assert_eq!(show(&admin.call(&args(&["PING"]))), "+PONG⏎");
    admin.call(&args(&["CONFIG", "SET", NAME, "normal 0 0 0"]));
}

#[test]
fn a_reply_over_the_normal_limit_is_never_sent() {
    let (redis, ours) = servers().expect("servers");
    big_reply_then_pipeline(redis.port);
    big_reply_then_pipeline(ours.port);
}
