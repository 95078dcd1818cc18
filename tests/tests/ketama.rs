//! Ketama against libmemcached itself: pylibmc (libmemcached underneath)
//! with the `ketama_weighted` behaviour stores 2,000 keys on three real
//! memcached servers; each key must be on the server cachelab's `Ketama`
//! picks for the same server list. Also for two and five servers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use cachelab_engine::memcached::hashing::Ketama;
use cachelab_tests::MemcachedServer;

fn holds(port: u16, key: &str) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("get {key}\r\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while !out.ends_with(b"END\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        out.extend_from_slice(&buf[..n]);
    }
    out.starts_with(b"VALUE")
}

fn check(n: usize) {
    let servers: Vec<MemcachedServer> = (0..n)
        .map(|_| MemcachedServer::start().expect("memcached is installed by cargo xtask test"))
        .collect();
    let addrs: Vec<String> = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let script = "import pylibmc, sys\n\
c = pylibmc.Client(sys.argv[1:], behaviors={'ketama_weighted': True})\n\
for i in range(2000):\n    c.set('key:%d' % i, 'x')\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .args(&addrs)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pylibmc failed (cargo xtask test installs it: pip install pylibmc): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<(&str, u16)> = servers.iter().map(|s| ("127.0.0.1", s.port)).collect();
    let ring = Ketama::new(&list);
    let mut per = vec![0usize; n];
    for i in 0..2000 {
        let key = format!("key:{i}");
        let ours = ring.server_for(key.as_bytes()).unwrap();
        per[ours] += 1;
        assert!(
            holds(servers[ours].port, &key),
            "{key}: cachelab's ketama says server {ours} ({}), libmemcached put it elsewhere",
            addrs[ours]
        );
    }
    // Every server got a share.
    assert!(per.iter().all(|&c| c > 2000 / n / 3), "{per:?}");
}

#[test]
fn ketama_maps_keys_as_libmemcached_does() {
    for n in [2, 3, 5] {
        check(n);
    }
}
