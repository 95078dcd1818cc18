//! cachelab-server: the sans-IO engine served over TCP by tokio.
//!
//! One `Node` lives on a single-threaded runtime (like Redis's event loop);
//! each connection task feeds it bytes and writes back what it returns.
//! Close requests addressed to another connection (CLIENT KILL) travel over
//! that connection's channel, and end it at once: what it had not yet
//! written is dropped, as Redis frees such a client. Each connection counts
//! what the node handed it and the socket has not yet taken, and reports it
//! to the node (`Input::Unwritten`) at each 16 KiB step, for
//! `client-output-buffer-limit`. A timer task ticks the node for active expiry.
//! Replication messages to other nodes go over TCP to their client port: a
//! connection that starts with [`peer::PREFACE`] and the sender's address
//! carries length-prefixed [`PeerMsg`] frames instead of RESP, one outgoing
//! connection per destination (a refused or broken one loses its messages,
//! as a network would; the replica's cron retries).
//! Owns sockets, the clock and signals; knows nothing of commands.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use cachelab_engine::commands::migrate::LinkId;
use cachelab_engine::memcached::{ClusterConfig, McNode};
use cachelab_engine::replication::peer;
use cachelab_engine::{ConnId, Input, Machine, Millis, Node, Output, PeerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A monotonic microsecond clock, lent to the node to time commands.
fn micros() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_micros() as u64
}

pub fn now() -> Millis {
    Millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

/// What the node wants a connection task to do.
enum ConnMsg {
    /// Bytes the node addressed to this connection while serving another.
    Bytes(Vec<u8>),
    Close,
}

/// A connection task's side of the node: its channel, the output handed to
/// it and not yet taken by the socket, and the signal that ends it at once.
struct ConnOut {
    tx: mpsc::UnboundedSender<ConnMsg>,
    pending: Cell<usize>,
    reported: Cell<cachelab_engine::obuf::Reporter>,
    abort: tokio::sync::Notify,
}

impl ConnOut {
    fn new(tx: mpsc::UnboundedSender<ConnMsg>) -> ConnOut {
        ConnOut {
            tx,
            pending: Cell::new(0),
            reported: Cell::new(Default::default()),
            abort: tokio::sync::Notify::new(),
        }
    }

    fn add(&self, n: usize) {
        self.pending.set(self.pending.get() + n);
    }

    fn sub(&self, n: usize) {
        self.pending.set(self.pending.get().saturating_sub(n));
    }

    /// The count to tell the node, when it crossed a 16 KiB step since the
    /// last it heard (or reached 0 after it heard of more).
    fn due(&self) -> Option<usize> {
        let mut r = self.reported.get();
        let due = r.due(self.pending.get());
        self.reported.set(r);
        due
    }
}

struct Shared {
    /// A Redis node or a memcached node: the runtime does not care which.
    node: Box<dyn Machine>,
    /// Connection tasks, for outputs addressed to another connection.
    conns: HashMap<ConnId, Rc<ConnOut>>,
    /// Outgoing peer links by destination "host:port".
    peers: HashMap<String, mpsc::UnboundedSender<PeerMsg>>,
    /// This node's own address, announced to peers.
    me: String,
    control: Option<ControlTx>,
    /// Set by SHUTDOWN: the node's serve loop ends.
    stop: Rc<tokio::sync::Notify>,
    /// Outbound links (MIGRATE's), by the node's number for them.
    links: HashMap<LinkId, mpsc::UnboundedSender<Vec<u8>>>,
    /// This state itself, for the link tasks `drain` starts.
    this: std::rc::Weak<RefCell<Shared>>,
}

/// Messages from the process (a control plane) to one node's thread.
#[derive(Debug)]
pub enum Admin {
    /// A peer message delivered in-process (health checks from the control plane).
    Peer { from: String, msg: PeerMsg },
    /// REPLICAOF host port, or NO ONE.
    ReplicaOf(Option<(String, u16)>),
    /// Stop serving: the node and its data are gone.
    Stop,
    /// A memcached node's cluster configuration changed.
    Cluster(ClusterConfig),
    /// Take the node's RDB file now for backup `name` (the control plane's
    /// snapshot) and send it back on `reply`.
    Snapshot { name: String, reply: SnapshotTx },
}

/// Where a node sends a backup's file: (backup name, the file or why not).
pub type SnapshotTx = mpsc::UnboundedSender<(String, Result<Vec<u8>, String>)>;

/// Where a node sends what it addresses to the in-process control plane.
pub type ControlTx = mpsc::UnboundedSender<(String, PeerMsg)>;

/// How to start a node.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The address peers know this node by; "127.0.0.1:<port>" when empty.
    pub announce: String,
    /// Start as a replica of this primary.
    pub replicaof: Option<(String, u16)>,
    /// Print replication events to stdout, prefixed with this label.
    pub log_label: Option<String>,
    /// Messages to [`cachelab_engine::control::CONTROL_ADDR`] go here.
    pub control: Option<ControlTx>,
    /// Serve the memcached protocol instead of RESP; with `cluster`, also
    /// answer `config get cluster` as an ElastiCache configuration endpoint.
    pub memcached: bool,
    pub cluster: Option<ClusterConfig>,
    /// A memcached node's memory limit (`-m`), in bytes; memcached's 64 MB
    /// when not set.
    pub memory: Option<usize>,
    /// Start-up directives (`--dir /data --save ""`), applied in order
    /// after the defaults; check them first with [`check_config`].
    pub config: Vec<(String, String)>,
}

/// Checks start-up directives as a node would apply them: the first bad
/// one, in Redis's words with its line.
pub fn check_config(lines: &[conf::Line]) -> Result<(), String> {
    let mut node = Node::new(0);
    for l in lines {
        node.set_startup_config(&l.name, &l.args.join(" "))
            .map_err(|e| {
                // CONFIG SET's words, as the config file loader words them.
                let reason = if e.starts_with("ERR Unknown option") {
                    "Bad directive or wrong number of arguments"
                } else {
                    e.split_once(") - ").map_or(e.as_str(), |(_, r)| r)
                };
                conf::fatal(l.num, &l.text, reason)
            })?;
    }
    Ok(())
}

/// Serves one node on `listener` until `shutdown` completes (or SHUTDOWN);
/// an error when its dump file cannot be loaded at start. Must run inside
/// a `LocalSet` on a current-thread runtime (see `run_blocking`).
pub async fn serve(
    listener: TcpListener,
    port: u16,
    opts: Options,
    admin: Option<mpsc::UnboundedReceiver<Admin>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    LOG_LABEL.with(|l| *l.borrow_mut() = opts.log_label.clone());
    // The cluster config file's lock, held while the node serves.
    let mut _cluster_lock = None;
    let node: Box<dyn Machine> = if opts.memcached {
        let mut mc = match opts.memory {
            Some(m) => McNode::with_memory(seed(), m),
            None => McNode::new(seed()),
        };
        mc.start(now(), port);
        mc.cluster = opts.cluster.clone();
        Box::new(mc)
    } else {
        let mut node = Node::new(seed());
        node.start(now(), port);
        // Replicas speak Redis's own protocol to their primary: it may be
        // a real redis-server.
        node.speak_redis_replication();
        // redis-server's `dir` is the directory it was started in.
        if let Ok(cwd) = std::env::current_dir() {
            node.set_dir(&cwd.to_string_lossy());
        }
        for (k, v) in &opts.config {
            if let Err(e) = node.set_startup_config(k, v) {
                say(&format!("bad directive {k} {v:?}: {e}"));
            }
        }
        // Room for `maxclients` connections (or fewer clients, as Redis).
        let requested = node.config().maxclients();
        let adjusted = fdlimit::adjust(requested).map_err(|e| {
            say(&e);
            std::io::Error::other(e)
        })?;
        for line in &adjusted.log {
            say(line);
        }
        if adjusted.maxclients != requested {
            let n = adjusted.maxclients.to_string();
            let _ = node.set_startup_config("maxclients", &n);
        }
        _cluster_lock = load_cluster_config(&mut node)?;
        load_at_start(&mut node)?;
        node.set_clock(micros);
        say("Ready to accept connections");
        if let Some((host, p)) = &opts.replicaof {
            node.replicaof(now(), Some((host, *p)));
        }
        Box::new(node)
    };
    // Cluster mode: the bus port, on the client port's address.
    let bus = match node.bus_port() {
        Some(p) => {
            let ip = listener.local_addr()?.ip();
            Some(TcpListener::bind((ip, p)).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on the cluster bus port {p}: {e}"),
                )
            })?)
        }
        None => None,
    };
    let me = if opts.announce.is_empty() {
        format!("127.0.0.1:{port}")
    } else {
        opts.announce.clone()
    };
    let shared = Rc::new(RefCell::new(Shared {
        node,
        conns: HashMap::new(),
        peers: HashMap::new(),
        me,
        control: opts.control.clone(),
        stop: Rc::new(tokio::sync::Notify::new()),
        links: HashMap::new(),
        this: std::rc::Weak::new(),
    }));
    shared.borrow_mut().this = Rc::downgrade(&shared);
    let stop = shared.borrow().stop.clone();
    drain(&mut shared.borrow_mut(), None);
    let ticker = tokio::task::spawn_local(ticker(shared.clone()));
    let mut next_conn = 1u64;
    tokio::pin!(shutdown);
    let mut admin = admin;
    loop {
        let next_admin = async {
            match admin.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let bus_accept = async {
            match bus.as_ref() {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (sock, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors (EMFILE) and the like: said,
                        // then a pause rather than a busy loop on a
                        // listener that stays readable.
                        say(&format!("Accepting client connection: accept: {e}"));
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let conn = ConnId(next_conn);
                next_conn += 1;
                tokio::task::spawn_local(connection(shared.clone(), sock, peer, conn));
            }
            // Another node's link: the node tells it from a client by its port.
            accepted = bus_accept => {
                let Ok((sock, peer)) = accepted else { continue };
                let conn = ConnId(next_conn);
                next_conn += 1;
                tokio::task::spawn_local(connection(shared.clone(), sock, peer, conn));
            }
            msg = next_admin => {
                let mut s = shared.borrow_mut();
                match msg {
                    Some(Admin::Peer { from, msg }) => {
                        s.node.handle(now(), Input::Peer { from: &from, msg });
                    }
                    Some(Admin::ReplicaOf(primary)) => {
                        s.node.replicaof(now(), primary.as_ref().map(|(h, p)| (h.as_str(), *p)));
                    }
                    Some(Admin::Cluster(c)) => s.node.set_cluster(c),
                    Some(Admin::Snapshot { name, reply }) => {
                        let _ = reply.send((name, s.node.snapshot(now())));
                    }
                    Some(Admin::Stop) | None => break,
                }
                drain(&mut s, None);
            }
            _ = &mut shutdown => break,
            _ = stop.notified() => break,
        }
    }
    ticker.abort();
    Ok(())
}

/// Binds `bind:port` and serves until `shutdown`, on the calling thread.
pub fn run_blocking(
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_blocking_with(listener, Options::default(), None, shutdown)
}

/// [`run_blocking`] with start-up options.
pub fn run_blocking_with(
    listener: std::net::TcpListener,
    opts: Options,
    admin: Option<mpsc::UnboundedReceiver<Admin>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let listener = TcpListener::from_std(listener)?;
        serve(listener, port, opts, admin, shutdown).await
    })
}

/// A seed from the process's own entropy: std's RandomState is randomly keyed per process.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now().0);
    h.finish()
}

async fn ticker(shared: Rc<RefCell<Shared>>) {
    loop {
        let wait = {
            let mut s = shared.borrow_mut();
            let t = now();
            s.node.handle(t, Input::Tick);
            let events = drain(&mut s, None);
            debug_assert!(events.is_empty());
            s.node
                .poll_timeout()
                .map(|at| at.saturating_sub(now()))
                .unwrap_or(100)
        };
        tokio::time::sleep(std::time::Duration::from_millis(wait.clamp(1, 1000))).await;
    }
}

/// Drains the node's outputs: bytes for `me` are returned; closes for other
/// connections go to their tasks. Returns (bytes for me, close me?) flattened.
fn drain(s: &mut Shared, me: Option<ConnId>) -> Vec<Output> {
    let mut mine = Vec::new();
    let mut reports = Vec::new();
    while let Some(out) = s.node.poll_output() {
        match &out {
            Output::ToClient { conn, .. } | Output::CloseConn { conn } if Some(*conn) == me => {
                mine.push(out)
            }
            Output::CloseConn { conn } => {
                if let Some(c) = s.conns.get(conn) {
                    let _ = c.tx.send(ConnMsg::Close);
                    c.abort.notify_one();
                }
            }
            Output::ToClient { conn, bytes } => {
                if let Some(c) = s.conns.get(conn) {
                    c.add(bytes.len());
                    let _ = c.tx.send(ConnMsg::Bytes(bytes.clone()));
                    if let Some(p) = c.due() {
                        reports.push((*conn, p));
                    }
                }
            }
            Output::ToPeer { to, msg } => send_peer(s, to, msg.clone()),
            Output::Event(
                cachelab_engine::NodeEvent::Replication { text }
                | cachelab_engine::NodeEvent::Warning { text },
            ) => {
                say_as(s.node.is_replica(), text);
            }
            Output::Event(_) => {}
            Output::Dial { link, host, port } => {
                let (tx, rx) = mpsc::unbounded_channel();
                s.links.insert(*link, tx);
                if let Some(shared) = s.this.upgrade() {
                    tokio::task::spawn_local(outbound(shared, *link, host.clone(), *port, rx));
                }
            }
            Output::LinkSend { link, bytes } => {
                if let Some(tx) = s.links.get(link) {
                    let _ = tx.send(bytes.clone());
                }
            }
            Output::LinkClose { link } => {
                s.links.remove(link);
            }
            Output::Save(req) => save_file(s, req),
            Output::SaveClusterConfig { dir, file, text } => {
                if let Err(e) = write_atomically(dir, file, text.as_bytes()) {
                    say(&format!(
                        "Could not save the cluster config file {file}: {e}"
                    ));
                }
            }
            Output::Shutdown(req) => {
                if finish_shutdown(req) {
                    s.stop.notify_one();
                } else {
                    s.node.shutdown_failed(req.conn);
                }
            }
        }
    }
    if !reports.is_empty() {
        for (conn, bytes) in reports {
            s.node.handle(now(), Input::Unwritten { conn, bytes });
        }
        mine.extend(drain(s, me));
    }
    mine
}

static LOGFILE: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

/// Log lines go to this file (appended; redis.conf's `logfile`), not stdout.
pub fn set_logfile(path: Option<&str>) {
    let file = path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| eprintln!("Can't open the log file: {e}"))
            .ok()
    });
    if let Ok(mut f) = LOGFILE.lock() {
        *f = file;
    }
}

/// One line of the log in redis-server's format (to `logfile` if set).
pub fn log(replica: bool, text: &str) {
    use std::io::Write;
    let line = redis_log_line(replica, text);
    if let Ok(mut f) = LOGFILE.lock() {
        if let Some(file) = f.as_mut() {
            let _ = writeln!(file, "{line}");
            return;
        }
    }
    println!("{line}");
}

/// A node's news: `[label] text` in a group, a Redis log line otherwise.
fn say_as(replica: bool, text: &str) {
    LOG_LABEL.with(|l| match l.borrow().as_ref() {
        Some(label) => println!("[{label}] {text}"),
        None => log(replica, text),
    });
}

fn say(text: &str) {
    say_as(false, text);
}

/// A log line in redis-server's format: `<pid>:<role> <date> * <text>`
/// (role M for a primary, S for a replica), UTC.
pub fn redis_log_line(replica: bool, text: &str) -> String {
    let ms = now().0;
    let date = cachelab_engine::backup::date(cachelab_engine::Millis(ms));
    let (y, m, d) = (&date[0..4], &date[5..7], &date[8..10]);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[m.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
    let day_ms = ms % 86_400_000;
    format!(
        "{}:{} {d} {month} {y} {:02}:{:02}:{:02}.{:03} * {text}",
        std::process::id(),
        if replica { 'S' } else { 'M' },
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// An outbound link (MIGRATE's): connects, then carries bytes both ways
/// until either side closes. The node hears of it as `LinkUp`,
/// `LinkBytes`, `LinkClosed`; a link the node closed just ends.
async fn outbound(
    shared: Rc<RefCell<Shared>>,
    link: LinkId,
    host: String,
    port: u16,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let feed = |input: Input<'_>| {
        let mut s = shared.borrow_mut();
        s.node.handle(now(), input);
        drain(&mut s, None);
    };
    let Ok(sock) = TcpStream::connect((host.as_str(), port)).await else {
        feed(Input::LinkClosed { link });
        return;
    };
    let _ = sock.set_nodelay(true);
    feed(Input::LinkUp { link });
    let (mut rd, mut wr) = sock.into_split();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(bytes) => {
                    if wr.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => return,
            },
            n = rd.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => feed(Input::LinkBytes { link, bytes: &buf[..n] }),
            },
        }
    }
    feed(Input::LinkClosed { link });
}

/// SHUTDOWN's last steps (finishShutdown): the save, if asked for,
/// written atomically — a temporary file renamed over `dbfilename`, so a
/// crash mid-save never leaves a truncated dump. False when the save
/// failed and the request was not FORCE: the node serves on.
fn finish_shutdown(req: &cachelab_engine::node::ShutdownRequest) -> bool {
    say("User requested shutdown...");
    if let Some(save) = &req.save {
        say("Saving the final RDB snapshot before exiting.");
        match write_rdb(&save.dir, &save.dbfilename, &save.rdb) {
            Ok(()) => say("DB saved on disk"),
            Err(e) => {
                say(&e.to_string());
                say("Error trying to save the DB, can't exit.");
                if !req.force {
                    return false;
                }
            }
        }
    }
    say("Redis is now ready to exit, bye bye...");
    true
}

/// Writes an RDB file as rdbSave does: to `temp-<pid>.rdb` in `dir`,
/// synced, then renamed over `dbfilename` — a crash mid-write leaves the
/// previous file whole. The error in Redis's words.
fn write_rdb(dir: &str, dbfilename: &str, rdb: &[u8]) -> Result<(), String> {
    let dir_path = std::path::Path::new(dir);
    let tmp = dir_path.join(format!("temp-{}.rdb", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, rdb)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir_path.join(dbfilename))
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!(
            "Failed opening the temp RDB file {} (in server root dir {dir}) for saving: {e}",
            tmp.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
        )
    })
}

/// A listener on `bind:port`, retried for a second: a node relaunched on
/// its port may find the old one's socket not quite gone.
pub fn bind_retrying(bind: &str, port: u16) -> Option<std::net::TcpListener> {
    (0..50).find_map(|_| {
        std::net::TcpListener::bind((bind, port)).ok().or_else(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            None
        })
    })
}

/// A small file replaced whole: written beside it, synced, renamed over.
fn write_atomically(dir: &str, file: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = std::path::Path::new(dir);
    let tmp = dir.join(format!("{file}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(file))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Cluster mode at start (`clusterInit`): the config file is locked for
/// this node alone, as redis-server locks it, and loaded if it exists, so
/// a restarted node keeps its identity, epochs, slots and role. The lock
/// lasts as long as the returned file is open.
fn load_cluster_config(node: &mut Node) -> std::io::Result<Option<std::fs::File>> {
    if node.config().get("cluster-enabled") != Some("yes") {
        return Ok(None);
    }
    let cfg = node.config();
    let dir = cfg.get("dir").unwrap_or(".").to_string();
    let name = cfg
        .get("cluster-config-file")
        .unwrap_or("nodes.conf")
        .to_string();
    let path = std::path::Path::new(&dir).join(&name);
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    if lock_file.try_lock().is_err() {
        let msg = format!(
            "Sorry, the cluster configuration file {name} is already used by a different Redis Cluster node. Please make sure that different nodes use different cluster configuration files."
        );
        say(&msg);
        return Err(std::io::Error::other(msg));
    }
    let text = std::fs::read_to_string(&path)?;
    if !text.trim().is_empty() {
        if let Err(e) = node.load_cluster_config(&text) {
            say(&e);
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        }
        say("Node configuration loaded, I'm back in the cluster.");
    }
    Ok(Some(lock_file))
}

/// Carries out `Output::Save`: SAVE's file written here and now (the node
/// waits, as redis-server's SAVE blocks); BGSAVE's on a blocking thread
/// while the node serves on, its result fed back when done.
fn save_file(s: &mut Shared, req: &cachelab_engine::persistence::save::SaveRequest) {
    if !req.background {
        let ok = match write_rdb(&req.dir, &req.dbfilename, &req.rdb) {
            Ok(()) => {
                say("DB saved on disk");
                true
            }
            Err(e) => {
                say(&e.to_string());
                false
            }
        };
        s.node.save_done(now(), req.id, ok);
        return;
    }
    say("Background saving started");
    let Some(shared) = s.this.upgrade() else {
        return;
    };
    let req = req.clone();
    tokio::task::spawn_local(async move {
        let (dir, name, rdb) = (req.dir.clone(), req.dbfilename.clone(), req.rdb);
        let result = tokio::task::spawn_blocking(move || write_rdb(&dir, &name, &rdb)).await;
        let ok = match result {
            Ok(Ok(())) => {
                say("DB saved on disk");
                true
            }
            Ok(Err(e)) => {
                say(&e.to_string());
                false
            }
            Err(_) => false,
        };
        let mut s = shared.borrow_mut();
        s.node.save_done(now(), req.id, ok);
        drain(&mut s, None);
    });
}

/// Loads `dir`/`dbfilename` at start-up as redis-server does; a file that
/// is corrupted or truncated stops the start (never half-loaded).
fn load_at_start(node: &mut Node) -> std::io::Result<()> {
    let cfg = node.config();
    let path = std::path::Path::new(cfg.get("dir").unwrap_or("."))
        .join(cfg.get("dbfilename").unwrap_or("dump.rdb"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let started = std::time::Instant::now();
    match node.load_rdb(&bytes, now()) {
        Ok(()) => {
            say(&format!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            ));
            Ok(())
        }
        Err(e) => {
            say(&e.to_string());
            say(&format!(
                "Fatal error loading the DB: {}. Exiting.",
                path.display()
            ));
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        }
    }
}

thread_local! {
    static LOG_LABEL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Queues `msg` on the outgoing link to `to`, starting the link task if needed.
fn send_peer(s: &mut Shared, to: &str, msg: PeerMsg) {
    if to == cachelab_engine::control::CONTROL_ADDR {
        if let Some(c) = &s.control {
            let _ = c.send((s.me.clone(), msg));
        }
        return;
    }
    if let Some(tx) = s.peers.get(to) {
        if tx.send(msg.clone()).is_ok() {
            return;
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(msg);
    s.peers.insert(to.to_string(), tx);
    tokio::task::spawn_local(peer_link(to.to_string(), s.me.clone(), rx));
}

/// Writes frames to one peer; (re)connects on demand. Messages that cannot
/// be written are lost, as on a network; the engine's retries recover.
async fn peer_link(to: String, me: String, mut rx: mpsc::UnboundedReceiver<PeerMsg>) {
    let mut sock: Option<TcpStream> = None;
    while let Some(msg) = rx.recv().await {
        if sock.is_none() {
            if let Ok(mut s) = TcpStream::connect(&to).await {
                let _ = s.set_nodelay(true);
                let mut hello = peer::PREFACE.to_vec();
                hello.extend_from_slice(me.as_bytes());
                hello.push(b'\n');
                if s.write_all(&hello).await.is_ok() {
                    sock = Some(s);
                }
            }
        }
        let Some(s) = sock.as_mut() else {
            continue;
        };
        let mut frame = Vec::new();
        peer::encode_frame(&msg, &mut frame);
        // Batch what else is queued into the same write.
        while let Ok(m) = rx.try_recv() {
            peer::encode_frame(&m, &mut frame);
        }
        if s.write_all(&frame).await.is_err() {
            sock = None;
        }
    }
}

/// Serves an incoming peer connection: frames in, `Input::Peer` to the node.
async fn peer_connection(shared: Rc<RefCell<Shared>>, mut sock: TcpStream, mut buf: Vec<u8>) {
    // The preface line names the sender.
    let from = loop {
        if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let from = String::from_utf8_lossy(&buf[peer::PREFACE.len()..nl]).into_owned();
            buf.drain(..=nl);
            break from;
        }
        if buf.len() > 1024 {
            return;
        }
        let mut chunk = [0u8; 1024];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut pos = 0;
        loop {
            match peer::decode_frame(&buf[pos..]) {
                Ok(Some((msg, n))) => {
                    pos += n;
                    let mut s = shared.borrow_mut();
                    s.node.handle(now(), Input::Peer { from: &from, msg });
                    drain(&mut s, None);
                }
                Ok(None) => break,
                Err(_) => return, // a corrupt frame: drop the link
            }
        }
        buf.drain(..pos);
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes `bytes`, counted in `out.pending` (and reported to the node at
/// each step) as the socket takes them; `Err` when the socket failed or
/// the connection was ended meanwhile.
async fn write_counted(
    sock: &mut TcpStream,
    bytes: &[u8],
    shared: &Rc<RefCell<Shared>>,
    conn: ConnId,
    out: &ConnOut,
) -> Result<(), ()> {
    let mut off = 0;
    while off < bytes.len() {
        match sock.try_write(&bytes[off..]) {
            Ok(0) => return Err(()),
            Ok(n) => {
                off += n;
                out.sub(n);
                if let Some(p) = out.due() {
                    let mut s = shared.borrow_mut();
                    s.node.handle(now(), Input::Unwritten { conn, bytes: p });
                    drain(&mut s, None);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::select! {
                    r = sock.writable() => r.map_err(|_| ())?,
                    _ = out.abort.notified() => return Err(()),
                }
            }
            Err(_) => return Err(()),
        }
    }
    Ok(())
}

thread_local! {
    /// The one buffer this thread's connections read into (64 KB, as a
    /// read is handed to the node whole and at once).
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 64 * 1024]);
}

/// Writes this connection's outputs; true when the connection must close.
async fn write_outputs(
    sock: &mut TcpStream,
    outs: Vec<Output>,
    shared: &Rc<RefCell<Shared>>,
    conn: ConnId,
    out: &ConnOut,
) -> bool {
    for o in &outs {
        if let Output::ToClient { bytes, .. } = o {
            out.add(bytes.len());
        }
    }
    for o in outs {
        match o {
            Output::ToClient { bytes, .. } => {
                if write_counted(sock, &bytes, shared, conn, out)
                    .await
                    .is_err()
                {
                    return true;
                }
            }
            Output::CloseConn { .. } => return true,
            Output::Event(_)
            | Output::ToPeer { .. }
            | Output::Shutdown(_)
            | Output::Dial { .. }
            | Output::LinkSend { .. }
            | Output::LinkClose { .. }
            | Output::Save(_)
            | Output::SaveClusterConfig { .. } => {}
        }
    }
    false
}

async fn connection(
    shared: Rc<RefCell<Shared>>,
    mut sock: TcpStream,
    peer: SocketAddr,
    conn: ConnId,
) {
    let _ = sock.set_nodelay(true);
    let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let out = Rc::new(ConnOut::new(tx));
    {
        let mut s = shared.borrow_mut();
        s.conns.insert(conn, out.clone());
        s.node.handle(
            now(),
            Input::ConnOpened {
                conn,
                peer: peer.to_string(),
                local,
            },
        );
    }
    // Opening may itself answer (e.g. "max number of clients reached").
    let first = drain(&mut shared.borrow_mut(), Some(conn));
    let mut closing = write_outputs(&mut sock, first, &shared, conn, &out).await;
    let mut first = true;
    while !closing {
        let n = tokio::select! {
            r = sock.readable() => match r {
                Err(_) => break,
                // Into the thread's one read buffer: an idle connection
                // holds no buffer of its own (as Redis frees an idle
                // client's query buffer).
                Ok(()) => match READ_BUF.with_borrow_mut(|b| sock.try_read(b)) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => break,
                },
            },
            msg = rx.recv() => match msg {
                Some(ConnMsg::Bytes(bytes)) => {
                    // Batch what else is queued into the same write (a
                    // replica's stream comes in many small pieces).
                    let mut batch = bytes;
                    let mut close = false;
                    while let Ok(m) = rx.try_recv() {
                        match m {
                            ConnMsg::Bytes(b) => batch.extend_from_slice(&b),
                            ConnMsg::Close => {
                                close = true;
                                break;
                            }
                        }
                    }
                    closing = write_counted(&mut sock, &batch, &shared, conn, &out).await.is_err() || close;
                    continue;
                }
                Some(ConnMsg::Close) | None => break,
            },
            _ = out.abort.notified() => {
                // Ended by the node: what the socket takes at once of what
                // was queued before, and no more.
                let mut rest = Vec::new();
                while let Ok(ConnMsg::Bytes(b)) = rx.try_recv() {
                    rest.extend_from_slice(&b);
                }
                let _ = sock.try_write(&rest);
                break;
            }
        };
        let preface = READ_BUF.with_borrow(|b| b[..n].starts_with(peer::PREFACE));
        if std::mem::take(&mut first) && preface {
            // Another node: this is a replication link, not a client.
            {
                let mut s = shared.borrow_mut();
                s.conns.remove(&conn);
                s.node.handle(now(), Input::ConnClosed { conn });
            }
            let head = READ_BUF.with_borrow(|b| b[..n].to_vec());
            peer_connection(shared, sock, head).await;
            return;
        }
        let outs = {
            let mut s = shared.borrow_mut();
            READ_BUF.with_borrow(|b| {
                s.node.handle(
                    now(),
                    Input::ClientBytes {
                        conn,
                        bytes: &b[..n],
                    },
                )
            });
            drain(&mut s, Some(conn))
        };
        closing = write_outputs(&mut sock, outs, &shared, conn, &out).await;
    }
    {
        let mut s = shared.borrow_mut();
        s.conns.remove(&conn);
        s.node.handle(now(), Input::ConnClosed { conn });
    }
    let _ = sock.shutdown().await;
}

pub mod cme;
pub mod conf;
pub mod fdlimit;
pub mod group;
pub mod mcluster;
