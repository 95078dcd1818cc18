//! `cachelab-server --memcached 3`, driven by real, unmodified memcached
//! clients: libmemcached's command-line tools (memccp, memccat, memcstat,
//! memcdump, memctouch, memcrm, memcflush), pymemcache, and the npm package
//! memcached-elasticache with ElastiCache auto discovery — which must also
//! follow the cluster when a node is added (the configuration version goes
//! up). Admin commands go to the server's stdin.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{free_base, wait_until};

/// One text command and everything it answers within 300 ms.
fn call(port: u16, cmd: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.ends_with(b"END\r\n") || out.ends_with(b"STORED\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Cluster {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    base: u16,
}

impl Cluster {
    fn start(n: u16) -> Cluster {
        let base = free_base(n + 2);
        let mut child = Command::new(env!("CARGO_BIN_EXE_cachelab-server"))
            .args([
                "--memcached",
                &n.to_string(),
                "--memcached-port",
                &base.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        for p in base..base + n {
            wait_until("a memcached node listens", 10, || {
                TcpStream::connect(("127.0.0.1", p)).is_ok()
            });
        }
        Cluster {
            child,
            stdin,
            lines,
            base,
        }
    }

    /// Sends an admin command and waits for a stdout line containing `want`.
    fn admin(&mut self, cmd: &str, want: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        let start = Instant::now();
        loop {
            let left = Duration::from_secs(10).saturating_sub(start.elapsed());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {want:?} after {cmd:?}"));
            if line.contains(want) {
                return line;
            }
        }
    }

    fn servers(&self, n: u16) -> String {
        (self.base..self.base + n)
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(name: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e} (cargo xtask test installs libmemcached-tools)"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_configuration_endpoint_and_the_admin_commands() {
    let mut c = Cluster::start(3);
    let base = c.base;
    let cfg = |v: u32, ports: &[u16]| {
        let nodes: Vec<String> = ports
            .iter()
            .map(|p| format!("127.0.0.1|127.0.0.1|{p}"))
            .collect();
        let payload = format!("{v}\n{}\n", nodes.join(" "));
        format!("CONFIG cluster 0 {}\r\n{payload}\r\nEND\r\n", payload.len())
    };
    for p in base..base + 3 {
        assert_eq!(
            call(p, "config get cluster"),
            cfg(1, &[base, base + 1, base + 2])
        );
    }
    // Each node is its own cache: a key lives where it was set.
    assert_eq!(call(base, "set k 0 0 1\r\nv"), "STORED\r\n");
    assert_eq!(call(base, "get k"), "VALUE k 0 1\r\nv\r\nEND\r\n");
    assert_eq!(call(base + 1, "get k"), "END\r\n");

    // Adding a node: the version goes up on every node.
    let added = added_port(&c.admin("add", "configuration version 2"));
    let all = [base, base + 1, base + 2, added];
    for p in all {
        assert_eq!(call(p, "config get cluster"), cfg(2, &all));
    }
    // A failed node stays listed (ElastiCache replaces it at the same
    // endpoint); the replacement is empty.
    c.admin(&format!("kill {base}"), "stays listed");
    assert!(TcpStream::connect(("127.0.0.1", base)).is_err());
    assert_eq!(call(base + 1, "config get cluster"), cfg(2, &all));
    c.admin(&format!("replace {base}"), "replaced");
    wait_until("the replacement listens", 10, || {
        TcpStream::connect(("127.0.0.1", base)).is_ok()
    });
    assert_eq!(call(base, "get k"), "END\r\n");
    assert_eq!(call(base, "config get cluster"), cfg(2, &all));
    // Removing one: version 3.
    c.admin(&format!("remove {added}"), "configuration version 3");
    assert_eq!(
        call(base, "config get cluster"),
        cfg(3, &[base, base + 1, base + 2])
    );
    c.admin("remove 1", "no node on port 1");
}

#[test]
fn libmemcached_tools_work_unmodified() {
    let c = Cluster::start(3);
    let servers = format!("--servers={}", c.servers(3));
    let dir = std::env::temp_dir().join(format!("cachelab-memc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..12 {
        let f = dir.join(format!("file{i}.txt"));
        std::fs::write(&f, format!("contents of file {i}\n").repeat(i + 1)).unwrap();
        files.push(f);
    }
    let paths: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let mut args = vec![servers.as_str()];
    args.extend(&paths);
    let (ok, out) = tool("memccp", &args);
    assert!(ok, "memccp: {out}");
    // Back, byte for byte, from whichever node libmemcached put each on.
    for i in [0usize, 5, 11] {
        let key = format!("file{i}.txt");
        let (ok, out) = tool("memccat", &[&servers, &key]);
        assert!(ok, "memccat {key}: {out}");
        // memccat ends what it prints with a newline (so does it with memcached).
        assert_eq!(out, format!("contents of file {i}\n").repeat(i + 1) + "\n");
    }
    // The keys are spread over the three nodes.
    let items: Vec<u64> = (c.base..c.base + 3)
        .map(|p| {
            call(p, "stats")
                .lines()
                .find_map(|l| l.strip_prefix("STAT curr_items "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap()
        })
        .collect();
    assert_eq!(items.iter().sum::<u64>(), 12);
    assert!(items.iter().filter(|&&n| n > 0).count() >= 2, "{items:?}");
    let (ok, out) = tool("memcstat", &[&servers]);
    assert!(ok, "memcstat: {out}");
    assert_eq!(out.matches("curr_items").count(), 3, "{out}");
    assert!(out.contains("version: 1.6.18"), "{out}");
    // memcdump lists keys through `stats items` and `stats cachedump`.
    let (ok, out) = tool("memcdump", &[&servers]);
    assert!(ok, "memcdump: {out}");
    for i in 0..12 {
        assert!(out.contains(&format!("file{i}.txt")), "memcdump: {out}");
    }
    let (ok, out) = tool("memctouch", &[&servers, "--expire=100", "file3.txt"]);
    assert!(ok, "memctouch: {out}");
    let (ok, out) = tool("memcrm", &[&servers, "file3.txt"]);
    assert!(ok, "memcrm: {out}");
    let (ok, _) = tool("memccat", &[&servers, "file3.txt"]);
    assert!(!ok, "file3.txt was removed");
    let (ok, out) = tool("memcflush", &[&servers]);
    assert!(ok, "memcflush: {out}");
    let (ok, _) = tool("memccat", &[&servers, "file0.txt"]);
    assert!(!ok, "flushed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pymemcache_works_unmodified() {
    let c = Cluster::start(3);
    let servers: Vec<String> = (c.base..c.base + 3)
        .map(|p| format!("('127.0.0.1', {p})"))
        .collect();
    let script = format!(
        r#"
import sys
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
one = Client(('127.0.0.1', {base}), default_noreply=False)
assert one.set('k', b'v', expire=100) is True
assert one.get('k') == b'v'
assert one.add('k', b'w') is False
v, cas = one.gets('k')
assert v == b'v'
assert one.cas('k', b'w', cas) is True
assert one.cas('k', b'x', cas) is False
assert one.get('k') == b'w'
assert one.set('n', b'10') is True
assert one.incr('n', 5) == 15
assert one.decr('n', 20) == 0
assert one.append('k', b'!') is True
assert one.get('k') == b'w!'
assert one.touch('k', 10) is True
assert one.delete('k') is True
assert one.get('k') is None
assert one.version() == b'1.6.18'
stats = one.stats()
assert stats[b'cmd_get'] >= 3, stats
try:
    one.set('bad key', b'v')
    raise SystemExit('a key with a space was accepted')
except Exception as e:
    assert 'bad key' in str(e) or 'whitespace' in str(e).lower() or 'illegal' in str(e).lower(), e
many = HashClient([{servers}])
for i in range(300):
    many.set('key:%d' % i, b'value-%d' % i)
got = many.get_many(['key:%d' % i for i in range(300)])
assert len(got) == 300, len(got)
assert got['key:7'] == b'value-7'
counts = [Client(('127.0.0.1', p)).stats()[b'curr_items'] for p in range({base}, {base} + 3)]
assert sum(counts) == 301 and min(counts) > 30, counts
print('ok', counts)
"#,
        base = c.base,
        servers = servers.join(", ")
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pymemcache (cargo xtask test installs it: pip install pymemcache==4.0.0): {text}"
    );
    assert!(text.starts_with("ok"), "{text}");
}

fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/node_modules")
}

#[test]
fn memcached_elasticache_discovers_the_cluster_and_follows_an_added_node() {
    let mut c = Cluster::start(3);
    let modules = node_modules();
    assert!(
        modules.join("memcached-elasticache").exists(),
        "npm package memcached-elasticache missing: cargo xtask test installs it (npm ci in tests/e2e)"
    );
    // The script reports what it discovered and stores keys through it;
    // it waits for a line on stdin before checking the next discovery.
    let script = format!(
        r#"
const Memcached = require('memcached-elasticache');
const m = new Memcached('127.0.0.1:{base}', {{ autoDiscoverInterval: 300 }});
const readline = require('readline');
const rl = readline.createInterface({{ input: process.stdin }});
let seen = [];
m.on('autoDiscover', (nodes) => {{ seen = nodes; console.log('discovered ' + nodes.join(',')); }});
const wait = (f) => new Promise((res) => {{ const t = setInterval(() => {{ if (f()) {{ clearInterval(t); res(); }} }}, 50); }});
const set = (k, v) => new Promise((res, rej) => m.set(k, v, 100, (e) => e ? rej(e) : res()));
const get = (k) => new Promise((res, rej) => m.get(k, (e, d) => e ? rej(e) : res(d)));
(async () => {{
  await wait(() => seen.length === 3);
  for (let i = 0; i < 60; i++) await set('key:' + i, 'value-' + i);
  for (let i = 0; i < 60; i++) {{ const v = await get('key:' + i); if (v !== 'value-' + i) throw new Error('key:' + i + ' = ' + v); }}
  console.log('stored 60');
  await new Promise((res) => rl.once('line', res));
  await wait(() => seen.length === 4);
  for (let i = 0; i < 60; i++) await set('more:' + i, 'v');
  console.log('stored more');
  m.end();
  process.exit(0);
}})().catch((e) => {{ console.log('error ' + e); process.exit(1); }});
"#,
        base = c.base
    );
    let mut node = Command::new("node")
        .args(["-e", &script])
        .env("NODE_PATH", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut node_in = node.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let out = node.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let expect = |want: &str| -> String {
        loop {
            let l = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("memcached-elasticache: no {want:?}"));
            assert!(!l.starts_with("error"), "memcached-elasticache: {l}");
            if l.starts_with(want) {
                return l;
            }
        }
    };
    let first = expect("discovered");
    for p in c.base..c.base + 3 {
        assert!(first.contains(&format!("127.0.0.1:{p}")), "{first}");
    }
    expect("stored 60");
    let items = |p: u16| -> u64 {
        call(p, "stats")
            .lines()
            .find_map(|l| l.strip_prefix("STAT curr_items "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let spread: Vec<u64> = (c.base..c.base + 3).map(items).collect();
    assert_eq!(spread.iter().sum::<u64>(), 60);
    assert!(spread.iter().all(|&n| n > 0), "{spread:?}");
    // A fourth node: the configuration version goes up; the client finds it.
    let new_port = added_port(&c.admin("add", "configuration version 2"));
    writeln!(node_in, "go").unwrap();
    let second = expect("discovered");
    assert!(
        second.contains(&format!("127.0.0.1:{new_port}")),
        "{second}"
    );
    expect("stored more");
    assert!(items(new_port) > 0, "the new node takes keys");
    let _ = node.wait();
}

/// The port of "[cluster] added node 127.0.0.1:PORT; …": the next free
/// one, not necessarily the one after the last (another socket may hold
/// that one for a moment).
fn added_port(line: &str) -> u16 {
    line.split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}
