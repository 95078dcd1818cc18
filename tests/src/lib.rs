//! Test harness shared by the cross-crate tests: start a real `redis-server`
//! on a free loopback port, start `cachelab-server` in-process, talk RESP to
//! either, and drive an in-process `Node` with injected time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod dataset;
pub mod pair;
pub mod workload;

use cachelab_engine::protocol::{parse_reply, Reply};
use cachelab_engine::{ConnId, Input, Millis, Node, Output};

pub use cachelab_engine::protocol::encode_request;

pub fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// A loopback port for a server the test starts, never handed out twice in
/// this process, from 12000–17999: below the kernel's ephemeral range
/// (32768+ here), so no client socket's local port can take it between this
/// call and the server's bind, and so is `port + 10000`, the cluster bus port
/// Redis derives from it. (Port 0 would be ephemeral: a cluster test once
/// failed because an outgoing connection took the bus port it was given.)
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 12000;
    const COUNT: u32 = 6000;
    // Processes start at different places so two test binaries run at once
    // rarely meet; the bind check below catches the rest.
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % COUNT,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok()
        {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT);
}

/// A blocking RESP connection.
pub struct RespConn {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl RespConn {
    pub fn connect(port: u16) -> RespConn {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(sock) => {
                    sock.set_read_timeout(Some(Duration::from_secs(10)))
                        .expect("timeout");
                    sock.set_nodelay(true).expect("nodelay");
                    return RespConn {
                        sock,
                        buf: Vec::new(),
                    };
                }
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot connect to 127.0.0.1:{port}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("write");
    }
    /// Reads one reply; returns its exact bytes. `None` if the server closed.
    pub fn read_reply_bytes(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some((_, n)) = parse_reply(&self.buf).expect("server sent malformed RESP") {
                let bytes = self.buf[..n].to_vec();
                self.buf.drain(..n);
                return Some(bytes);
            }
            let mut chunk = [0u8; 65536];
            let n = self.sock.read(&mut chunk).expect("read");
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
    pub fn call(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
        self.send_raw(&encode_request(argv));
        self.read_reply_bytes().expect("connection closed")
    }
    /// One reply if it arrives within `wait`, else `None` (a blocked client's
    /// late answer).
    pub fn try_read_reply(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(Some((_, n))) = parse_reply(&self.buf) {
                let bytes = self.buf[..n].to_vec();
                self.buf.drain(..n);
                return Some(bytes);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock.set_read_timeout(Some(left)).expect("timeout");
            let mut chunk = [0u8; 65536];
            let r = self.sock.read(&mut chunk);
            self.sock
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            match r {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }
    pub fn call_str(&mut self, parts: &[&str]) -> Reply {
        let bytes = self.call(&args(parts));
        parse_reply(&bytes).expect("valid").expect("complete").0
    }
    /// The socket itself, for reading raw bytes (nothing buffered is lost:
    /// it must hold no unread reply).
    pub fn into_socket(self) -> TcpStream {
        assert!(self.buf.is_empty(), "unread bytes: {}", show(&self.buf));
        self.sock
    }
    /// True once the server has closed the connection.
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.sock.read(&mut b), Ok(0))
    }
}

/// A real `redis-server` (Debian's package) on a free loopback port, killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// `None` when redis-server is not installed (`cargo xtask test` installs it).
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[])
    }

    /// A redis-server with extra command-line arguments (e.g. `--replicaof`).
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        RedisServer::start_on(free_port(), extra)
    }

    /// The same on a given port (a node restarted where it was).
    pub fn start_on(port: u16, extra: &[&str]) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args([
                "--enable-debug-command",
                "yes",
                "--daemonize",
                "no",
                "--dir",
                &std::env::temp_dir().to_string_lossy(),
                // A name no other server uses: Redis loads an existing
                // dump.rdb at start (a replica writes one on full sync).
                "--dbfilename",
                &format!("cachelab-test-{}-{port}.rdb", std::process::id()),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer { child, port };
        let mut c = RespConn::connect(port);
        // A server loading a big dump answers LOADING for a while.
        let start = std::time::Instant::now();
        loop {
            match c.call_str(&["PING"]) {
                Reply::Error(e) if e.starts_with("LOADING") && start.elapsed().as_secs() < 30 => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => {
                    assert_eq!(r, Reply::Simple("PONG".into()));
                    break;
                }
            }
        }
        Some(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real `memcached` (Debian's package) on a free loopback port, killed on drop.
pub struct MemcachedServer {
    child: Child,
    pub port: u16,
}

impl MemcachedServer {
    /// `None` when memcached is not installed (`cargo xtask test` installs it).
    pub fn start() -> Option<MemcachedServer> {
        MemcachedServer::start_with(&[])
    }

    /// With extra command-line arguments (e.g. `-m 2` for a 2 MB limit).
    pub fn start_with(extra: &[&str]) -> Option<MemcachedServer> {
        let port = free_port();
        let child = Command::new("memcached")
            // -u only matters (and is required) when running as root.
            .args([
                "-u",
                "root",
                "-l",
                "127.0.0.1",
                "-U",
                "0",
                "-p",
                &port.to_string(),
            ])
            // No background LRU maintainer or crawler: they hold references
            // and reclaim items at moments a client cannot observe (an incr
            // then replaces the item instead of updating it in place).
            .args(["-o", "no_lru_crawler,no_lru_maintainer"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(MemcachedServer { child, port });
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        None
    }
}

impl Drop for MemcachedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// cachelab-server running in-process on a free port; stopped on drop.
pub struct CachelabServer {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CachelabServer {
    pub fn start() -> CachelabServer {
        CachelabServer::start_with(cachelab_server::Options::default())
    }

    /// A server started with options (e.g. as a replica of another port),
    /// DEBUG enabled as the harness enables it on redis-server.
    pub fn start_with(opts: cachelab_server::Options) -> CachelabServer {
        CachelabServer::start_on(0, opts)
    }

    /// The same on a given port (0: any free one).
    pub fn start_on(port: u16, mut opts: cachelab_server::Options) -> CachelabServer {
        opts.config
            .insert(0, ("enable-debug-command".into(), "yes".into()));
        let port = if port == 0 { free_port() } else { port };
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            cachelab_server::run_blocking_with(listener, opts, None, async {
                let _ = rx.await;
            })
            .expect("server runs");
        });
        CachelabServer {
            port,
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for CachelabServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An in-process node with one connected client (and any others opened
/// with [`EngineClient::connect`]), time injected by the caller.
pub struct EngineClient {
    pub node: Node,
    conn: ConnId,
    pub closed: bool,
    /// Bytes written to each connection and not read yet.
    pending: std::collections::HashMap<ConnId, Vec<u8>>,
}

impl EngineClient {
    pub fn new(seed: u64, now: Millis) -> EngineClient {
        let mut node = Node::new(seed);
        node.start(now, 6379);
        // As the harness starts redis-server: DEBUG DIGEST and friends.
        node.set_startup_config("enable-debug-command", "yes")
            .expect("a known directive");
        let conn = ConnId(1);
        node.handle(
            now,
            Input::ConnOpened {
                conn,
                peer: "127.0.0.1:50000".into(),
                local: "127.0.0.1:6379".into(),
            },
        );
        EngineClient {
            node,
            conn,
            closed: false,
            pending: std::collections::HashMap::new(),
        }
    }
    /// Opens another connection `id` (ids other than 1).
    pub fn connect(&mut self, now: Millis, id: u64) -> ConnId {
        let conn = ConnId(id);
        self.node.handle(
            now,
            Input::ConnOpened {
                conn,
                peer: format!("127.0.0.1:{}", 50000 + id),
                local: "127.0.0.1:6379".into(),
            },
        );
        self.drain();
        conn
    }
    fn drain(&mut self) {
        while let Some(o) = self.node.poll_output() {
            match o {
                Output::ToClient { conn, bytes } => {
                    self.pending.entry(conn).or_default().extend(bytes)
                }
                Output::CloseConn { conn } if conn == self.conn => self.closed = true,
                _ => {}
            }
        }
    }
    /// Sends raw bytes on connection `conn`; returns what the node has
    /// written to it so far.
    pub fn send_on(&mut self, now: Millis, conn: ConnId, bytes: &[u8]) -> Vec<u8> {
        self.node.handle(now, Input::ClientBytes { conn, bytes });
        self.drain();
        self.take(conn)
    }
    /// What the node has written to `conn` and nobody has read yet.
    pub fn take(&mut self, conn: ConnId) -> Vec<u8> {
        self.pending.remove(&conn).unwrap_or_default()
    }
    /// Advances time (timers, blocked clients' deadlines).
    pub fn tick(&mut self, now: Millis) {
        self.node.handle(now, Input::Tick);
        self.drain();
    }
    /// Sends raw bytes; returns every byte the node wrote back.
    pub fn send_raw(&mut self, now: Millis, bytes: &[u8]) -> Vec<u8> {
        let conn = self.conn;
        self.send_on(now, conn, bytes)
    }
    pub fn call(&mut self, now: Millis, argv: &[Vec<u8>]) -> Vec<u8> {
        self.send_raw(now, &encode_request(argv))
    }
}

/// Wall-clock now, for harnesses that race a real server.
pub fn wall_now() -> Millis {
    Millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64,
    )
}

/// Shows bytes readably in failure messages.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace("\r\n", "⏎")
}

/// A numeric knob from the environment (a seed, a command count), or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
