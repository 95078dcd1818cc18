//! The [`Node`]: one cache node as a sans-IO state machine.
//!
//! `handle(now, input)` feeds it; `poll_output()` drains what it wants done;
//! `poll_timeout()` says when it next needs a [`Input::Tick`]; `view()` is a
//! plain-data description for UIs and checkers. Owns connections' protocol
//! state (query buffers, RESP version, selected db) and the server cron
//! (active expiry). Must not touch sockets, clocks or threads.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::commands::migrate::LinkId;
use crate::commands::{self, CommandTable, Ctx};
use crate::config::Config;
use crate::protocol::{parse_request_into, Reply, RequestLimits};
use crate::replication::propagation::{Argv, Form};
use crate::replication::{LinkState, PeerMsg, Repl};
use crate::rng::Rng;
use crate::store::Keyspace;
use crate::time::Millis;

/// A client connection, numbered by the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

/// What a runtime hands a node.
#[derive(Debug)]
pub enum Input<'a> {
    /// A client connected. `peer` and `local` are "ip:port" for CLIENT LIST.
    ConnOpened {
        conn: ConnId,
        peer: String,
        local: String,
    },
    /// Bytes a client sent.
    ClientBytes { conn: ConnId, bytes: &'a [u8] },
    /// The client went away.
    ConnClosed { conn: ConnId },
    /// Time passed; run due timers (active expiry, replication cron).
    Tick,
    /// A message from another node; `from` is its "host:port".
    Peer { from: &'a str, msg: PeerMsg },
    /// An outbound link the node dialled (`Output::Dial`) is connected.
    LinkUp { link: LinkId },
    /// Bytes read from an outbound link.
    LinkBytes { link: LinkId, bytes: &'a [u8] },
    /// An outbound link closed, or could not connect.
    LinkClosed { link: LinkId },
    /// What of a client's output the runtime has not yet written to its
    /// socket, reported each time it crosses a multiple of
    /// [`crate::obuf::REPLY_CHUNK`] (up or down, and on reaching 0), so
    /// `client-output-buffer-limit` can drop a client that does not read.
    Unwritten { conn: ConnId, bytes: usize },
}

/// What a node asks its runtime to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Output {
    ToClient {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// Close the connection after writing what was queued before it.
    CloseConn {
        conn: ConnId,
    },
    Event(NodeEvent),
    /// Send a message to another node ("host:port"); the runtime resolves
    /// and delivers it, or loses it as a network would.
    ToPeer {
        to: String,
        msg: PeerMsg,
    },
    /// SHUTDOWN was accepted: the runtime writes `save` (if any) and ends
    /// the node's process, as redis-server exits; if the save cannot be
    /// written and the request is not FORCE, it calls
    /// [`Machine::shutdown_failed`] instead and the node serves on.
    Shutdown(ShutdownRequest),
    /// Open an outbound TCP link (MIGRATE's); answer with
    /// `Input::LinkUp` or `Input::LinkClosed`.
    Dial {
        link: LinkId,
        host: String,
        port: u16,
    },
    /// Write to an outbound link.
    LinkSend {
        link: LinkId,
        bytes: Vec<u8>,
    },
    /// Close an outbound link.
    LinkClose {
        link: LinkId,
    },
    /// Write an RDB file (SAVE, BGSAVE, a `save` point), atomically; then
    /// call [`Machine::save_done`] with its id and whether it worked.
    Save(crate::persistence::save::SaveRequest),
    /// Write the cluster's config file (`cluster-config-file` in `dir`)
    /// atomically: the cluster changed (`clusterSaveConfig`).
    SaveClusterConfig {
        dir: String,
        file: String,
        text: String,
    },
}

/// What SHUTDOWN asks of the runtime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    /// The client that asked (it gets the error if the save fails).
    pub conn: ConnId,
    /// The RDB file to write first, and where (`dir`, `dbfilename`).
    pub save: Option<ShutdownSave>,
    /// SHUTDOWN FORCE: stop even if the save fails.
    pub force: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownSave {
    pub dir: String,
    pub dbfilename: String,
    pub rdb: Vec<u8>,
}

/// Things a UI or checker may want to see happen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NodeEvent {
    /// The active expiry cycle removed keys.
    KeysExpired { db: usize, count: usize },
    /// The whole dataset was flushed.
    Flushed { db: Option<usize> },
    /// A replication step, worded like Redis's log.
    Replication { text: String },
    /// A warning Redis would log (a client dropped for its output buffer).
    Warning { text: String },
}

/// Plain data describing a node, for the playground and tests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub run_id: String,
    pub keys: usize,
    pub expires: usize,
    pub keys_per_db: Vec<usize>,
    pub used_memory: usize,
    pub commands_processed: u64,
    pub connected_clients: usize,
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub now: Millis,
    /// The first keys of the keyspace (by database, then insertion order),
    /// at most [`VIEW_KEYS`], so a UI can show keys and their TTLs.
    pub sample: Vec<KeyView>,
    pub repl: ReplView,
    /// The last background save's (BGSAVE, backup) pause and copy.
    pub fork: crate::persistence::save::ForkCost,
    /// Cluster mode's state (`cluster-enabled yes`), else `None`.
    pub cluster: Option<crate::cluster::view::ClusterNodeView>,
}

/// A node's replication state, for topology views and checkers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplView {
    /// "master" or "slave", as ROLE says.
    pub role: String,
    pub replid: String,
    pub offset: u64,
    /// A replica's primary ("host:port") and link state ("connect", "sync", "connected").
    pub master: Option<String>,
    pub link: Option<String>,
    /// A primary's replicas: address and acknowledged offset.
    pub replicas: Vec<(String, u64)>,
    /// The history this node continues, and up to where (PSYNC2).
    pub replid2: String,
    pub second_offset: i64,
    /// The backlog: first byte offset and bytes held (`None`: no backlog),
    /// and its configured size.
    pub backlog: Option<(u64, u64)>,
    pub backlog_size: u64,
}

impl ReplView {
    /// This node's history, as a primary decides a PSYNC with it.
    pub fn history(&self) -> crate::replication::History<'_> {
        crate::replication::History {
            replid: &self.replid,
            replid2: &self.replid2,
            second_offset: self.second_offset,
            offset: self.offset,
            backlog: self.backlog,
        }
    }
}

/// How many keys a [`NodeView`] describes.
pub const VIEW_KEYS: usize = 32;

/// One key as a UI shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub db: usize,
    /// The key, lossily decoded as UTF-8.
    pub key: String,
    /// TYPE's answer.
    pub kind: String,
    /// OBJECT ENCODING's answer.
    pub encoding: String,
    /// Milliseconds left to live; `None` without a TTL.
    pub ttl_ms: Option<u64>,
    /// MEMORY USAGE's answer.
    pub memory: usize,
}

/// Counters reported by INFO stats.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub commands_processed: u64,
    pub connections_received: u64,
    pub rejected_connections: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub evicted_keys: u64,
    pub error_replies: u64,
    /// The next error reply was already counted where it arose (a script's
    /// error from a command it called: `ERR_REPLY_FLAG_NO_STATS_UPDATE`).
    pub error_counted: bool,
    /// Values freed "in the background" (UNLINK, FLUSHDB ASYNC…): INFO's
    /// lazyfreed_objects. cachelab frees at once, so none is ever pending.
    pub lazyfreed_objects: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Replication stream bytes received and sent (INFO's total_net_repl_*).
    pub net_repl_input_bytes: u64,
    pub net_repl_output_bytes: u64,
    /// Highest `used_memory` seen by the cron.
    pub peak_memory: usize,
    /// Redis's `instantaneous_ops_per_sec`: (time, commands) samples taken
    /// by the cron every 100 ms; the rate is averaged over the last 16.
    pub ops_samples: std::collections::VecDeque<(Millis, u64)>,
    /// INFO commandstats, by [`Command::id`](crate::commands::Command::id)
    /// (grown as commands are first counted); listed sorted by name.
    pub cmdstats: Vec<CmdStat>,
    /// INFO errorstats: error replies by their code ("ERR", "WRONGTYPE").
    pub errorstats: BTreeMap<String, u64>,
}

/// One command's INFO commandstats line.
#[derive(Clone, Copy, Debug, Default)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

impl Stats {
    /// Counts an error reply sent to a client (`afterErrorReply`): the
    /// total, and its code — the first word within 31 characters, else ERR.
    pub fn error_reply(&mut self, reply: &Reply) {
        let Reply::Error(msg) = reply else {
            return;
        };
        if std::mem::take(&mut self.error_counted) {
            return;
        }
        self.error_replies += 1;
        let head = &msg.as_bytes()[..msg.len().min(31)];
        let code = match head.iter().position(|&c| c == b' ') {
            Some(i) => &msg[..i],
            None => "ERR",
        };
        *self.errorstats.entry(code.to_string()).or_default() += 1;
    }

    /// The counters of command `id` ([`Command::id`](crate::commands::Command::id)).
    pub fn cmd(&mut self, id: usize) -> &mut CmdStat {
        if self.cmdstats.len() <= id {
            self.cmdstats.resize(id + 1, CmdStat::default());
        }
        &mut self.cmdstats[id]
    }

    /// A command's failure counted by its full name (a blocked command
    /// ending in an error, known by the client's last command).
    pub fn cmd_failed(&mut self, fullname: &str) {
        if let Some(c) = crate::commands::CommandTable::shared().by_fullname(fullname) {
            self.cmd(c.id).failed += 1;
        }
    }

    /// Commands per second over the recent samples.
    pub fn instantaneous_ops_per_sec(&self) -> u64 {
        match (self.ops_samples.front(), self.ops_samples.back()) {
            (Some(&(t0, c0)), Some(&(t1, c1))) if t1 > t0 => {
                (c1 - c0) * 1000 / t1.saturating_sub(t0)
            }
            _ => 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    Skip,
}

/// One connected client.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: u64,
    pub conn: ConnId,
    pub peer: String,
    pub local: String,
    pub name: Vec<u8>,
    pub db: usize,
    pub resp: u8,
    pub created: Millis,
    pub last_interaction: Millis,
    pub last_cmd: String,
    pub qbuf: Vec<u8>,
    pub close_after_reply: bool,
    /// Cluster mode: ASKING sent (one command may use an importing slot).
    pub asking: bool,
    /// Cluster mode: READONLY (a replica serves its primary's slots' reads).
    pub readonly: bool,
    pub reply_mode: ReplyMode,
    pub no_evict: bool,
    /// False while `requirepass` is set and the client has not AUTHed.
    pub authenticated: bool,
    /// The replication offset after this client's last propagated write (WAIT).
    pub woff: u64,
    /// Set while the client waits (WAIT, blocking pops); its further input
    /// stays queued.
    pub blocked: Option<Blocked>,
    /// Set while EXEC runs the client's transaction: blocking commands
    /// answer at once, as if timed out.
    pub in_multi: bool,
    /// MULTI's queue and WATCHed keys.
    pub multi: crate::commands::multi::MultiState,
    /// Pub/sub subscriptions.
    pub subs: crate::commands::pubsub::Subs,
    /// Set by MONITOR: the connection receives every command run.
    pub monitor: bool,
    /// While its input is being run: the bytes read (CLIENT LIST's qbuf)
    /// and the current command's argument bytes (argv-mem).
    pub reading: usize,
    pub argv_mem: usize,
    /// Set while a script's `redis.call` runs a command on this client.
    pub in_script: bool,
    /// The command a blocked client waits in: the slow log gets it when the
    /// client is answered (`updateStatsOnUnblock`).
    pub blocked_argv: Vec<Vec<u8>>,
    /// While this client's script runs: its EVAL/FCALL (tracking remembers
    /// the script's declared keys when the script reads).
    pub script_argv: Vec<Vec<u8>>,
    /// What a replica on this connection said about itself (REPLCONF).
    pub repl_hello: crate::replication::ReplicaHello,
    /// Output the runtime has not yet written ([`Input::Unwritten`]).
    pub unwritten: usize,
    /// When its output reached the soft limit (`client-output-buffer-limit`),
    /// in whole seconds.
    pub obuf_soft_since: Option<u64>,
}

/// Why and until when a client is blocked.
#[derive(Clone, Debug, PartialEq)]
pub enum Blocked {
    /// WAIT: until `numreplicas` acknowledged `offset`, or the deadline.
    Wait {
        numreplicas: usize,
        offset: u64,
        deadline: Option<Millis>,
        /// CLIENT UNBLOCK … ERROR.
        unblock_error: bool,
    },
    /// Its script is still running (the node continues it at each tick).
    Script,
    /// CLIENT PAUSE holds the client's next command (still in its query
    /// buffer) until the pause ends (`BLOCKED_POSTPONE`).
    Postponed { until: Millis },
    /// SAVE: until the runtime has written the file (`Node::save_done`).
    Save,
    /// MIGRATE: until the target answers, its link fails, or the deadline
    /// (`Server::migrate`); every other client waits meanwhile.
    Migrate,
    /// A blocking pop: until one of `keys` in `db` holds a value `op` can
    /// use, or the deadline.
    Keys {
        db: usize,
        keys: Vec<Vec<u8>>,
        deadline: Option<Millis>,
        op: crate::commands::blocking::BlockOp,
        unblock_error: bool,
    },
}

/// What happens to a command that arrives while a script runs.
enum ScriptGate {
    Run,
    Hold,
    Busy(Reply),
}

/// The push frames of a reply (one, or those of a sequence): pub/sub
/// confirmations and messages, which Redis writes whatever CLIENT REPLY
/// says (CLIENT_PUSHING), as arrays in RESP2 and pushes in RESP3.
fn encode_pushes(reply: &Reply, resp: u8, out: &mut Vec<u8>) {
    match reply {
        Reply::Push(_) => reply.encode(resp, out),
        Reply::Seq(parts) => parts.iter().for_each(|p| encode_pushes(p, resp, out)),
        _ => {}
    }
}

impl Blocked {
    pub fn deadline(&self) -> Option<Millis> {
        match self {
            Blocked::Wait { deadline, .. } | Blocked::Keys { deadline, .. } => *deadline,
            Blocked::Postponed { until } => Some(*until),
            // Continued at the next tick; `poll_timeout` asks for one now.
            Blocked::Script => None,
            // `poll_timeout` reads the op's own deadline.
            Blocked::Migrate => None,
            Blocked::Save => None,
        }
    }
}

/// CLIENT PAUSE: until when, and whether every command or only those that
/// may write or replicate are held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    pub all: bool,
    pub end: Millis,
}

/// Everything commands may read or change: the data and the server state.
pub struct Server {
    pub ks: Keyspace,
    pub config: Config,
    pub stats: Stats,
    pub rng: Rng,
    pub clients: BTreeMap<ConnId, Client>,
    pub next_client_id: u64,
    pub run_id: String,
    pub started: Millis,
    /// Connections other than the current one that a command asked to close.
    pub to_close: Vec<ConnId>,
    /// Clients with unwritten output, whose limits the cron checks.
    pub obuf_waiting: std::collections::BTreeSet<ConnId>,
    /// The query buffers' capacity summed over clients, kept as they change
    /// (INFO's used_memory counts them; summing per write would cost the
    /// number of clients).
    pub qbuf_total: usize,
    /// Every client that is blocked, and perhaps some that no longer are
    /// (those are dropped when next read: [`Server::blocked_clients`]), so
    /// the checks made after every input cost the blocked, not everyone.
    pub blocked_conns: std::collections::BTreeSet<ConnId>,
    /// SHUTDOWN accepted by the last command, for the runtime.
    pub shutdown: Option<ShutdownRequest>,
    /// MIGRATE's outbound links and the migration in progress.
    pub migrate: commands::migrate::Migrate,
    /// Cluster mode's view of the cluster (`cluster-enabled yes`).
    pub cluster: Option<crate::cluster::Cluster>,
    /// What the cluster bus changed (a new primary followed…), reported
    /// after the input.
    pub cluster_events: Vec<NodeEvent>,
    /// nodes.conf: the fingerprint of what was last written, whether to
    /// look now (a CLUSTER command ran), whether to write even if the
    /// same (CLUSTER SAVECONFIG).
    pub cluster_config: (Option<u64>, bool, bool),
    /// SAVE/BGSAVE bookkeeping.
    pub persist: crate::persistence::save::SaveState,
    pub repl: Repl,
    /// Seeds the keyspace's hashers (a full resync builds a fresh keyspace).
    pub ks_seed: u64,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire: bool,
    /// Clients blocked on each (db, key), first blocked first.
    pub blocking: indexmap::IndexMap<(usize, Vec<u8>), VecDeque<ConnId>>,
    /// Stream keys signalled ready by the last command (`signalKeyAsReady`:
    /// XADD, XGROUP DESTROY, a stream created), for blocked XREADs.
    pub stream_ready: Vec<(usize, Vec<u8>)>,
    /// Clients WATCHing each (db, key).
    pub watched: std::collections::HashMap<(usize, Vec<u8>), Vec<ConnId>>,
    /// Pub/sub: subscribers of each channel (in subscription order), of
    /// each pattern, of each shard channel.
    pub channels: std::collections::HashMap<Vec<u8>, Vec<ConnId>>,
    pub patterns: indexmap::IndexMap<Vec<u8>, Vec<ConnId>>,
    pub shard_channels: std::collections::HashMap<Vec<u8>, Vec<ConnId>>,
    /// Messages for connections, produced by the command running now.
    pub pubsub_out: Vec<(ConnId, Reply)>,
    /// The eviction pool and the random policies' next database.
    pub evict_pool: crate::evict::Pool,
    pub evict_next_db: usize,
    /// A monotonic microsecond clock lent by the runtime to time commands
    /// (SLOWLOG, LATENCY, commandstats); without one every command takes 0 µs.
    pub micros: Option<fn() -> u64>,
    pub slowlog: crate::commands::slowlog::SlowLog,
    pub latency: crate::commands::latency::Latency,
    /// The pause in force (CLIENT PAUSE's merged with a manual cluster
    /// failover's): no key expires or is evicted meanwhile.
    pub pause: Option<Pause>,
    /// CLIENT PAUSE's own part of it (what is left when a manual failover
    /// ends).
    pub pause_by_client: Option<Pause>,
    /// MONITOR connections, in the order they started.
    pub monitors: Vec<ConnId>,
    /// Lua scripts and functions, and the script running now.
    pub scripting: crate::scripting::Scripting,
    /// Client-side caching: the tracking table and tracking clients.
    pub tracking: crate::commands::tracking::Tracking,
}

impl Server {
    /// A client leaves the table (its query buffer with it).
    pub fn remove_client(&mut self, conn: &ConnId) -> Option<Client> {
        let c = self.clients.remove(conn)?;
        self.qbuf_total -= c.qbuf.capacity();
        Some(c)
    }

    /// The clients that are blocked, each with its client (the set of
    /// candidates is pruned of those gone or unblocked as it is read).
    pub fn blocked_clients(&mut self) -> impl Iterator<Item = &Client> {
        let clients = &self.clients;
        self.blocked_conns
            .retain(|c| clients.get(c).is_some_and(|c| c.blocked.is_some()));
        self.blocked_conns
            .iter()
            .filter_map(|c| self.clients.get(c))
    }

    /// A client's output class, and the bytes its limits are held against:
    /// what is unwritten (plus `building` bytes of a reply not yet handed
    /// out), past its static buffer; for a replica only the stream sent
    /// after its sync answer (the RDB waiting does not count).
    pub fn obuf_used(&self, c: &Client, building: usize) -> (crate::obuf::Class, usize) {
        let class = self.obuf_class(c);
        let mut unwritten = c.unwritten + building;
        if class == crate::obuf::Class::Replica {
            unwritten = unwritten.min(self.replica_streamed(c.conn).unwrap_or(0));
        }
        (class, crate::obuf::used(class, unwritten))
    }

    /// A client's output class for its buffer limits (Redis's
    /// `getClientType`: a MONITOR counts as normal).
    pub fn obuf_class(&self, c: &Client) -> crate::obuf::Class {
        use crate::obuf::Class;
        if !c.monitor && self.is_replica_conn(c.conn) {
            Class::Replica
        } else if c.subs.total() > 0 {
            Class::Pubsub
        } else {
            Class::Normal
        }
    }

    /// The lent microsecond clock's reading, or 0.
    pub fn micros(&self) -> u64 {
        self.micros.map_or(0, |f| f())
    }
}

pub struct Node {
    pub(crate) srv: Server,
    /// Clients served by a push whose queued input has not run yet.
    unblocked: VecDeque<ConnId>,
    table: &'static CommandTable,
    outputs: VecDeque<Output>,
    next_cron: Millis,
    now: Millis,
    /// Argument buffers a client's next commands are parsed into (none
    /// larger than [`ARGV_SCRATCH_KEEP`] is kept).
    argv_scratch: Vec<Vec<u8>>,
}

/// The largest argument buffer kept for reuse between inputs.
const ARGV_SCRATCH_KEEP: usize = 16 * 1024;

impl Node {
    /// A node whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> Node {
        let mut rng = Rng::new(seed);
        let run_id = rng.hex40();
        let config = Config::new();
        let ks_seed = rng.next_u64();
        let replid = rng.hex40();
        Node {
            srv: Server {
                ks: Keyspace::new(crate::limits::DATABASES, ks_seed),
                ks_seed,
                active_expire: true,
                repl: Repl::new(replid),
                config,
                stats: Stats::default(),
                rng,
                clients: BTreeMap::new(),
                next_client_id: 1,
                run_id,
                started: Millis(0),
                to_close: Vec::new(),
                obuf_waiting: Default::default(),
                blocked_conns: Default::default(),
                qbuf_total: 0,
                shutdown: None,
                migrate: Default::default(),
                cluster: None,
                cluster_events: Vec::new(),
                cluster_config: (None, false, false),
                persist: Default::default(),
                blocking: indexmap::IndexMap::new(),
                stream_ready: Vec::new(),
                watched: std::collections::HashMap::new(),
                channels: std::collections::HashMap::new(),
                patterns: indexmap::IndexMap::new(),
                shard_channels: std::collections::HashMap::new(),
                pubsub_out: Vec::new(),
                evict_pool: Default::default(),
                evict_next_db: 0,
                micros: None,
                slowlog: Default::default(),
                latency: Default::default(),
                pause: None,
                pause_by_client: None,
                monitors: Vec::new(),
                scripting: Default::default(),
                tracking: Default::default(),
            },
            table: CommandTable::shared(),
            unblocked: VecDeque::new(),
            outputs: VecDeque::new(),
            next_cron: Millis(0),
            now: Millis(0),
            argv_scratch: Vec::new(),
        }
    }

    /// Lends the node a monotonic microsecond clock to time commands with
    /// (SLOWLOG, LATENCY, INFO commandstats). The node only calls it to
    /// measure durations; its own time is still only what `handle` is given.
    pub fn set_clock(&mut self, micros: fn() -> u64) {
        self.srv.micros = Some(micros);
    }

    /// Replicate from a primary with Redis's own protocol over an outbound
    /// link (`Output::Dial`), so the primary may be a real redis-server;
    /// every runtime's nodes do. Off: `PeerMsg`s (engine/tests/replication.rs).
    pub fn speak_redis_replication(&mut self) {
        self.srv.repl.wire_mode = true;
    }

    /// Sets the start time (uptime is measured from it) and the advertised port.
    pub fn start(&mut self, now: Millis, port: u16) {
        self.srv.started = now;
        // LASTSAVE starts at the start-up time, as in Redis.
        self.srv.persist.lastsave = now.as_secs();
        self.now = now;
        self.srv.config.set_internal("port", &port.to_string());
        self.next_cron = now;
    }

    pub fn config(&self) -> &Config {
        &self.srv.config
    }

    /// ElastiCache's default parameter group over Redis's defaults (the
    /// simulator's and the playground's nodes): `maxmemory-policy
    /// volatile-lru` (Redis itself defaults to noeviction).
    pub fn apply_elasticache_defaults(&mut self) {
        self.srv
            .config
            .set_internal("maxmemory-policy", "volatile-lru");
        // ElastiCache takes backups its own way: no `save` points.
        self.srv.config.set_internal("save", "");
    }

    pub fn handle(&mut self, now: Millis, input: Input<'_>) {
        if now > self.now {
            self.now = now;
        }
        let now = self.now;
        // The cluster state's clock is the node's, whatever the input (a
        // MEET may arrive before this instant's cron).
        if let Some(c) = self.srv.cluster.as_mut() {
            c.now = now;
        }
        match input {
            Input::ConnOpened { conn, peer, local } => {
                // A node's link on the cluster bus port, not a client.
                if self.srv.bus_conn_opened(conn, &peer, &local) {
                    return;
                }
                if self.srv.clients.len() as u64 >= self.srv.config.maxclients() {
                    // Redis answers and drops a client over `maxclients`.
                    self.srv.stats.rejected_connections += 1;
                    self.outputs.push_back(Output::ToClient {
                        conn,
                        bytes: b"-ERR max number of clients reached\r\n".to_vec(),
                    });
                    self.outputs.push_back(Output::CloseConn { conn });
                    return;
                }
                let id = self.srv.next_client_id;
                self.srv.next_client_id += 1;
                self.srv.stats.connections_received += 1;
                self.srv.clients.insert(
                    conn,
                    Client {
                        id,
                        conn,
                        peer,
                        local,
                        name: Vec::new(),
                        db: 0,
                        resp: 2,
                        created: now,
                        last_interaction: now,
                        last_cmd: "NULL".into(),
                        qbuf: Vec::new(),
                        close_after_reply: false,
                        asking: false,
                        readonly: false,
                        reply_mode: ReplyMode::On,
                        no_evict: false,
                        authenticated: self.srv.config.requirepass().is_none(),
                        woff: 0,
                        blocked: None,
                        in_multi: false,
                        multi: Default::default(),
                        subs: Default::default(),
                        monitor: false,
                        reading: 0,
                        argv_mem: 0,
                        in_script: false,
                        blocked_argv: Vec::new(),
                        repl_hello: Default::default(),
                        script_argv: Vec::new(),
                        unwritten: 0,
                        obuf_soft_since: None,
                    },
                );
            }
            Input::ConnClosed { conn } if self.srv.is_bus_conn(conn) => {
                self.srv.bus_conn_closed(conn);
            }
            Input::ConnClosed { conn } => self.forget_client(conn),
            Input::ClientBytes { conn, bytes } if self.srv.is_bus_conn(conn) => {
                let (out, close) = self.srv.bus_conn_bytes(now, conn, bytes);
                if !out.is_empty() {
                    self.outputs
                        .push_back(Output::ToClient { conn, bytes: out });
                }
                if close {
                    self.srv.bus_conn_closed(conn);
                    self.outputs.push_back(Output::CloseConn { conn });
                }
            }
            Input::ClientBytes { conn, bytes } => self.client_bytes(now, conn, bytes),
            Input::Unwritten { conn, bytes } => self.unwritten(now, conn, bytes),
            Input::Tick => {
                self.continue_script(now);
                if let Some(done) = commands::migrate::timed_out(&mut self.srv, now) {
                    self.migrate_done(done);
                }
                self.srv.migrate.cron(now);
                self.cron(now);
            }
            Input::LinkUp { link } if self.srv.bus_link_up(now, link) => {}
            Input::LinkBytes { link, bytes } if self.srv.bus_link_bytes(now, link, bytes) => {}
            Input::LinkClosed { link } if self.srv.bus_link_closed(link) => {}
            Input::LinkUp { link } => {
                let mut events = Vec::new();
                if !self.srv.wire_up(link, &mut events) {
                    self.srv.migrate.link_up(link);
                }
                self.emit(events);
            }
            Input::LinkBytes { link, bytes } => {
                self.srv.stats.net_input_bytes += bytes.len() as u64;
                let mut events = Vec::new();
                if self.srv.wire_bytes(now, link, bytes, &mut events) {
                    self.emit(events);
                } else if let Some(done) = commands::migrate::link_bytes(&mut self.srv, link, bytes)
                {
                    self.migrate_done(done);
                }
            }
            Input::LinkClosed { link } => {
                let mut events = Vec::new();
                if self.srv.wire_closed(now, link, &mut events) {
                    self.emit(events);
                } else if let Some(done) = commands::migrate::link_closed(&mut self.srv, link, now)
                {
                    self.migrate_done(done);
                }
            }
            Input::Peer { from, msg } => {
                let mut events = Vec::new();
                self.srv.on_peer(now, from, msg, &mut events);
                self.emit(events);
            }
        }
        self.after_input(now);
    }

    /// After every input: effects of timers go out as stream, WAITing
    /// clients whose condition holds (or whose time is up) are answered,
    /// and the stream and peer messages are handed to the runtime.
    fn after_input(&mut self, now: Millis) {
        let events = std::mem::take(&mut self.srv.cluster_events);
        self.emit(events);
        self.end_pause_if_over(now);
        commands::migrate::pump(&mut self.srv, now);
        self.link_outputs();
        while let Some(conn) = self.unblocked.pop_front() {
            self.client_bytes(now, conn, &[]);
        }
        self.srv.propagate();
        self.serve_blocked(now);
        // Client-side caching: BCAST invalidations, and any queued for
        // other connections, once the input is processed (beforeSleep).
        commands::tracking::before_sleep(&mut self.srv);
        if !self.srv.pubsub_out.is_empty() {
            self.deliver_pubsub(ConnId(u64::MAX), &mut Vec::new());
        }
        self.srv.flush_stream();
        for (to, msg) in self.srv.repl.take_outbox() {
            self.outputs.push_back(Output::ToPeer { to, msg });
        }
        // Replicas on client connections: their sync answers and stream,
        // and the links replication ended.
        for (conn, bytes) in std::mem::take(&mut self.srv.repl.client_out) {
            self.srv.stats.net_repl_output_bytes += bytes.len() as u64;
            self.outputs.push_back(Output::ToClient { conn, bytes });
        }
        for conn in std::mem::take(&mut self.srv.repl.client_close) {
            let mut events = Vec::new();
            self.srv.client_replica_gone(conn, &mut events);
            self.emit(events);
            if self.srv.remove_client(&conn).is_some() {
                self.outputs.push_back(Output::CloseConn { conn });
            }
        }
    }

    fn serve_blocked(&mut self, now: Millis) {
        if self.srv.blocked_conns.is_empty() {
            return;
        }
        // Pruned first, so the acks below can be counted while reading.
        self.srv.blocked_clients().for_each(drop);
        let srv = &self.srv;
        let ready: Vec<(ConnId, Reply)> = srv
            .blocked_conns
            .iter()
            .filter_map(|c| srv.clients.get(c))
            .filter_map(|c| match &c.blocked {
                Some(Blocked::Wait {
                    numreplicas,
                    offset,
                    deadline,
                    unblock_error,
                }) => {
                    let acks = srv.repl.count_acks(*offset);
                    let due = deadline.is_some_and(|d| now >= d);
                    if *unblock_error {
                        Some((
                            c.conn,
                            Reply::err("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
                        ))
                    } else {
                        (acks >= *numreplicas || due).then_some((c.conn, Reply::Int(acks as i64)))
                    }
                }
                Some(Blocked::Keys {
                    deadline,
                    unblock_error,
                    ..
                }) => {
                    if deadline.is_some_and(|d| now >= d) {
                        Some((
                            c.conn,
                            if *unblock_error {
                                Reply::err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
                            } else {
                                Reply::NilArray
                            },
                        ))
                    } else {
                        None
                    }
                }
                // Released by `end_pause_if_over` / `continue_script` /
                // `migrate_done`.
                Some(Blocked::Postponed { .. })
                | Some(Blocked::Script)
                | Some(Blocked::Migrate)
                | Some(Blocked::Save)
                | None => None,
            })
            .collect();
        for (conn, reply) in ready {
            let Some(c) = self.srv.clients.get_mut(&conn) else {
                continue;
            };
            if let Some(Blocked::Keys { db, keys, .. }) = c.blocked.take() {
                commands::blocking::forget(&mut self.srv.blocking, conn, db, &keys);
            }
            let Some(c) = self.srv.clients.get_mut(&conn) else {
                continue;
            };
            c.blocked = None;
            let mut out = Vec::new();
            let name = c.last_cmd.clone();
            self.slowlog_unblocked(conn);
            self.srv.stats.error_reply(&reply);
            if reply.is_error() {
                self.srv.stats.cmd_failed(&name);
            }
            let Some(c) = self.srv.clients.get_mut(&conn) else {
                continue;
            };
            if c.reply_mode == ReplyMode::On {
                reply.encode(c.resp, &mut out);
            }
            if !out.is_empty() {
                self.srv.stats.net_output_bytes += out.len() as u64;
                self.outputs
                    .push_back(Output::ToClient { conn, bytes: out });
            }
            // Commands pipelined behind the WAIT run now.
            self.client_bytes(now, conn, &[]);
        }
    }

    /// A backup's snapshot: the data as an RDB file now, its pause and copy
    /// recorded as a background save's ("fork") cost.
    pub fn snapshot(&mut self, now: Millis) -> Vec<u8> {
        let t0 = self.srv.micros();
        let rdb = self.rdb(now);
        let usec = self.srv.micros().saturating_sub(t0);
        commands::persist::fork_taken(&mut self.srv, usec, rdb.len());
        self.srv.persist.last_cow_size = rdb.len() as u64;
        rdb
    }

    /// The data as an RDB file (version 10, as Redis 7.0 writes it), which
    /// redis-server can load.
    pub fn rdb(&self, now: Millis) -> Vec<u8> {
        let meta = crate::persistence::rdb::Meta {
            repl_id: self.srv.repl.replid.clone(),
            repl_offset: self.srv.repl.offset,
        };
        crate::persistence::rdb::save(&self.srv.ks, &meta, now)
    }

    /// Replaces the data with an RDB file's (an uncompressed one, as
    /// `redis-server --rdbcompression no` writes); a bad file changes nothing.
    pub fn load_rdb(&mut self, payload: &[u8], now: Millis) -> Result<(), String> {
        let fresh = self.srv.fresh_keyspace();
        let lim = self.srv.config.encoding_limits();
        let (ks, _) =
            crate::persistence::rdb::load(payload, || fresh, &lim, now).map_err(|e| e.0)?;
        self.srv.ks = ks;
        self.srv.set_db_modes();
        Ok(())
    }

    /// An order-independent digest of the stored data (keys, values and
    /// expiry times, expired-but-present keys included), like DEBUG DIGEST:
    /// equal on nodes holding the same data, on any platform.
    pub fn digest(&self) -> u64 {
        let mut total = 0u64;
        for (i, db) in self.srv.ks.dbs.iter().enumerate() {
            for (k, e) in db.entries() {
                let mut h = Fnv::new();
                h.write(&(i as u64).to_le_bytes());
                h.write(&(k.len() as u64).to_le_bytes());
                h.write(k);
                h.write(&e.value.canonical());
                h.write(&db.expire_at(k).map(|m| m.0 + 1).unwrap_or(0).to_le_bytes());
                total = total.wrapping_add(h.finish().wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            }
        }
        total
    }

    /// REPLICAOF host port (or NO ONE with `None`), as an administrator or
    /// the control plane issues it.
    pub fn replicaof(&mut self, now: Millis, primary: Option<(&str, u16)>) {
        if now > self.now {
            self.now = now;
        }
        let mut events = Vec::new();
        match primary {
            Some((host, port)) => {
                self.srv.replicaof(host, port, self.now, &mut events);
            }
            None => self.srv.replicaof_no_one(&mut events),
        }
        self.emit(events);
        self.after_input(self.now);
    }

    /// The string stored at `key` in database `db` (expired or not), for checkers.
    pub fn get_string(&self, db: usize, key: &[u8]) -> Option<Vec<u8>> {
        let e = self.srv.ks.dbs.get(db)?.peek(key)?;
        match &e.value {
            crate::store::value::Value::Str(s) => Some(s.to_bytes()),
            _ => None,
        }
    }

    /// The replication stream position: (replid, offset).
    pub fn repl_position(&self) -> (&str, u64) {
        (&self.srv.repl.replid, self.srv.repl.offset)
    }

    /// The history this node holds: (replid, offset, replid2, second offset).
    pub fn repl_history(&self) -> (&str, u64, &str, i64) {
        let r = &self.srv.repl;
        (&r.replid, r.offset, &r.replid2, r.second_offset)
    }

    /// A script is running (in slices, continued at each tick).
    pub fn script_running(&self) -> bool {
        self.srv.scripting.running.is_some()
    }

    /// True on a primary (not following another node).
    pub fn is_primary(&self) -> bool {
        !self.srv.repl.is_replica()
    }

    fn client_bytes(&mut self, now: Millis, conn: ConnId, bytes: &[u8]) {
        let Some(client) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        self.srv.stats.net_input_bytes += bytes.len() as u64;
        client.last_interaction = now;
        if client.blocked.is_some() {
            // A blocked client's input waits in its query buffer.
            let before = client.qbuf.capacity();
            client.qbuf.extend_from_slice(bytes);
            self.srv.qbuf_total += client.qbuf.capacity() - before;
            return;
        }
        self.srv.qbuf_total -= client.qbuf.capacity();
        let mut qbuf = std::mem::take(&mut client.qbuf);
        qbuf.extend_from_slice(bytes);
        let mut limits = RequestLimits {
            max_bulk_len: self.srv.config.proto_max_bulk_len(),
            unauthenticated: !client.authenticated && self.srv.config.requirepass().is_some(),
        };
        let mut out = Vec::with_capacity(128);
        let mut pos = 0;
        let mut close = false;
        let mut dropped = false;
        // The arguments' buffers, reused from command to command.
        let mut argv = std::mem::take(&mut self.argv_scratch);
        loop {
            match parse_request_into(&qbuf[pos..], &limits, &mut argv) {
                Ok(None) => break,
                Ok(Some(n)) => {
                    // A MIGRATE in progress holds every other client, as
                    // Redis's synchronous MIGRATE blocks the server.
                    if self
                        .srv
                        .migrate
                        .op
                        .as_ref()
                        .is_some_and(|op| op.conn != conn)
                    {
                        if !self.srv.migrate.held.contains(&conn) {
                            self.srv.migrate.held.push(conn);
                        }
                        break;
                    }
                    match self.script_gate(now, conn, &argv) {
                        ScriptGate::Run => {}
                        ScriptGate::Hold => break,
                        ScriptGate::Busy(reply) => {
                            pos += n;
                            self.srv.stats.error_reply(&reply);
                            reply.encode(
                                self.srv.clients.get(&conn).map_or(2, |c| c.resp),
                                &mut out,
                            );
                            continue;
                        }
                    }
                    if !argv.is_empty() && self.postpone(conn, &argv) {
                        // Left in the query buffer, to run when the pause ends.
                        break;
                    }
                    pos += n;
                    if argv.is_empty() {
                        continue;
                    }
                    if let Some(c) = self.srv.clients.get_mut(&conn) {
                        c.reading = qbuf.len();
                        c.argv_mem = argv.iter().map(Vec::len).sum();
                    }
                    self.execute(now, conn, &argv, &mut out);
                    if let Some(c) = self.srv.clients.get_mut(&conn) {
                        c.reading = 0;
                        c.argv_mem = 0;
                    }
                    let Some(c) = self.srv.clients.get(&conn) else {
                        // The command closed its own connection (CLIENT KILL).
                        close = true;
                        break;
                    };
                    limits.unauthenticated =
                        !c.authenticated && self.srv.config.requirepass().is_some();
                    if c.close_after_reply {
                        close = true;
                        break;
                    }
                    let blocked = c.blocked.is_some();
                    // The reply built so far and what is still unwritten,
                    // held against the client's output buffer limit.
                    if c.unwritten + out.len() > crate::obuf::REPLY_CHUNK
                        && self.obuf_reached(now, conn, out.len())
                    {
                        // Dropped with no reply (Redis's CLIENT_CLOSE_ASAP:
                        // nothing more runs or is written).
                        dropped = true;
                        break;
                    }
                    if blocked {
                        break;
                    }
                }
                Err(e) => {
                    let reply = Reply::err(format!("ERR {}", e.0));
                    reply.encode(2, &mut out);
                    self.srv.stats.error_reply(&reply);
                    close = true;
                    break;
                }
            }
        }
        // Kept for the next input, but never a large argument's buffer.
        argv.retain(|a| a.capacity() <= ARGV_SCRATCH_KEEP);
        self.argv_scratch = argv;
        if dropped {
            self.obuf_drop(conn, true);
            out.clear();
        } else if !close && (qbuf.len() - pos) as u64 > self.srv.config.client_query_buffer_limit()
        {
            // Redis closes such a client without a reply ("max query buffer length").
            close = true;
        }
        if let Some(c) = self.srv.clients.get_mut(&conn) {
            qbuf.drain(..pos);
            self.srv.qbuf_total += qbuf.capacity();
            c.qbuf = qbuf;
        }
        if !out.is_empty() {
            self.srv.stats.net_output_bytes += out.len() as u64;
            self.outputs
                .push_back(Output::ToClient { conn, bytes: out });
        }
        if close {
            self.srv.remove_client(&conn);
            let mut events = Vec::new();
            self.srv.client_replica_gone(conn, &mut events);
            self.emit(events);
            self.outputs.push_back(Output::CloseConn { conn });
        }
        for other in std::mem::take(&mut self.srv.to_close) {
            if self.srv.remove_client(&other).is_some() {
                let mut events = Vec::new();
                self.srv.client_replica_gone(other, &mut events);
                self.emit(events);
                self.outputs.push_back(Output::CloseConn { conn: other });
            }
        }
        if let Some(req) = self.srv.shutdown.take() {
            self.outputs.push_back(Output::Shutdown(req));
        }
        self.save_outputs();
        if self.srv.cluster_config.1 {
            self.save_cluster_config();
        }
    }

    /// nodes.conf written if what it says changed (or SAVECONFIG asked).
    /// Queues a step's events (most steps have none).
    fn emit(&mut self, events: Vec<NodeEvent>) {
        if !events.is_empty() {
            self.outputs.extend(events.into_iter().map(Output::Event));
        }
    }

    fn save_cluster_config(&mut self) {
        let (last, _, force) = self.srv.cluster_config;
        self.srv.cluster_config.1 = false;
        self.srv.cluster_config.2 = false;
        let Some(c) = self.srv.cluster.as_ref() else {
            return;
        };
        let fp = c.fingerprint();
        if last == Some(fp) && !force {
            return;
        }
        self.srv.cluster_config.0 = Some(fp);
        let text = c.config_text();
        let cfg = &self.srv.config;
        self.outputs.push_back(Output::SaveClusterConfig {
            dir: cfg.get("dir").unwrap_or(".").to_string(),
            file: cfg
                .get("cluster-config-file")
                .unwrap_or("nodes.conf")
                .to_string(),
            text,
        });
    }

    /// Start-up with `cluster-enabled yes`: the cluster as the config
    /// file `text` left it (this node's id, epochs, slots, role); a
    /// replica follows its primary again. The file is not written back
    /// until something changes.
    pub fn load_cluster_config(&mut self, text: &str) -> Result<(), String> {
        let Some(old) = self.srv.cluster.as_ref() else {
            return Err("cluster mode is not enabled".into());
        };
        let (port, cport) = (old.nodes[0].port, old.nodes[0].cport);
        let mut c = crate::cluster::Cluster::from_config(text, port, cport)?;
        let full = self.srv.config.cluster_require_full_coverage();
        c.update_state(self.now, full);
        self.srv.cluster_config.0 = Some(c.fingerprint());
        self.srv.cluster = Some(c);
        Ok(())
    }

    fn save_outputs(&mut self) {
        for req in std::mem::take(&mut self.srv.persist.out) {
            self.outputs.push_back(Output::Save(req));
        }
    }

    /// The runtime wrote (or failed to write) the file of save `id`: the
    /// dirty counter and LASTSAVE move on success; SAVE's caller is
    /// answered; a failed BGSAVE is remembered (INFO, MISCONF).
    pub fn save_done(&mut self, now: Millis, id: u64, ok: bool) {
        let p = &mut self.srv.persist;
        if let Some(bg) = p.bg.take_if(|b| b.id == id) {
            p.last_bg_failed = !ok;
            p.last_cow_size = bg.bytes;
            p.last_bg_secs = (now.0.saturating_sub(bg.started.0) / 1000) as i64;
            if ok {
                p.lastsave = now.as_secs();
                p.dirty_base = bg.dirty_at_start;
            }
            let text = if ok {
                "Background saving terminated with success".to_string()
            } else {
                "Background saving error".to_string()
            };
            self.outputs
                .push_back(Output::Event(NodeEvent::Replication { text }));
            return;
        }
        if let Some((_, at)) = p.internal.take_if(|f| f.0 == id) {
            if ok {
                p.lastsave = now.as_secs();
                p.dirty_base = at;
                p.last_bg_failed = false;
            }
            return;
        }
        if let Some((_, conn, at)) = p.foreground.take_if(|f| f.0 == id) {
            if ok {
                p.lastsave = now.as_secs();
                p.dirty_base = at;
                p.last_bg_failed = false;
            }
            if let Some(c) = self.srv.clients.get_mut(&conn) {
                c.blocked = None;
                let reply = if ok { Reply::ok() } else { Reply::err("ERR") };
                self.deliver(conn, reply);
                self.unblocked.push_back(conn);
            }
            self.after_input(now);
        }
    }

    /// MIGRATE's link requests, handed to the runtime.
    fn link_outputs(&mut self) {
        use commands::migrate::LinkOut;
        for o in std::mem::take(&mut self.srv.migrate.out) {
            self.outputs.push_back(match o {
                LinkOut::Dial { link, host, port } => Output::Dial { link, host, port },
                LinkOut::Send { link, bytes } => {
                    self.srv.stats.net_output_bytes += bytes.len() as u64;
                    Output::LinkSend { link, bytes }
                }
                LinkOut::Close { link } => Output::LinkClose { link },
            });
        }
    }

    /// A MIGRATE ended: the keys the target took are deleted (propagated
    /// as DEL, `del` notified, tracking invalidated), the caller answered,
    /// and the clients that waited meanwhile run.
    fn migrate_done(&mut self, done: commands::migrate::Done) {
        for k in &done.delete {
            if self.srv.ks.dbs[done.db].remove(k).is_some() {
                commands::tracking::key_deleted(&mut self.srv, k);
                commands::notify::notify(
                    &mut self.srv,
                    commands::notify::GENERIC,
                    "del",
                    k,
                    done.db,
                );
            }
        }
        if let Some(c) = self.srv.clients.get_mut(&done.conn) {
            c.blocked = None;
            self.slowlog_unblocked(done.conn);
            self.deliver(done.conn, done.reply);
            self.unblocked.push_back(done.conn);
        }
        let held = std::mem::take(&mut self.srv.migrate.held);
        self.unblocked.extend(held);
        self.link_outputs();
    }

    /// The runtime could not write SHUTDOWN's save (and it was not FORCE):
    /// the caller is told, and the node serves on, as redis-server does.
    pub fn shutdown_failed(&mut self, conn: ConnId) {
        let Some(c) = self.srv.clients.get(&conn) else {
            return;
        };
        let reply = Reply::err("ERR Errors trying to SHUTDOWN. Check logs.");
        let mut bytes = Vec::new();
        reply.encode(c.resp, &mut bytes);
        self.srv.stats.error_reply(&reply);
        self.srv.stats.net_output_bytes += bytes.len() as u64;
        self.outputs.push_back(Output::ToClient { conn, bytes });
    }

    /// Sets `dir` (where SHUTDOWN's save goes): a native server's working
    /// directory, as redis-server's default.
    pub fn set_dir(&mut self, dir: &str) {
        self.srv.config.set_internal("dir", dir);
    }

    /// A start-up directive (`--name value`), validated as redis-server
    /// validates its config file; the error is CONFIG SET's reason.
    pub fn set_startup_config(&mut self, name: &str, value: &str) -> Result<(), String> {
        let (name, value) = self
            .srv
            .config
            .validate_startup(name, value)
            .map_err(|e| e.message())?;
        self.srv.config.apply(name, value);
        if self.srv.config.get("cluster-enabled") == Some("yes") && self.srv.cluster.is_none() {
            self.enable_cluster();
        }
        // The ports a cluster node announces follow `port` / `cluster-port`.
        let (port, cport) = self.cluster_ports();
        if let Some(c) = self.srv.cluster.as_mut() {
            c.nodes[crate::cluster::MYSELF].port = port;
            c.nodes[crate::cluster::MYSELF].cport = cport;
        }
        Ok(())
    }

    /// The client port and the cluster bus port (`cluster-port`, else the
    /// client port + 10000).
    fn cluster_ports(&self) -> (u16, u16) {
        let get = |k| self.srv.config.get(k).and_then(|p| p.parse::<u16>().ok());
        let port = get("port").unwrap_or(6379);
        let cport = match get("cluster-port") {
            Some(p) if p != 0 => p,
            _ => port.wrapping_add(10000),
        };
        (port, cport)
    }

    /// Cluster mode: a node id of its own, knowing only itself, its
    /// database 0 indexed by hash slot.
    fn enable_cluster(&mut self) {
        let (port, cport) = self.cluster_ports();
        let id = self.srv.rng.hex40();
        let mut cluster = crate::cluster::Cluster::new(id, port, cport);
        let full = self.srv.config.cluster_require_full_coverage();
        cluster.update_state(self.now, full);
        self.srv.cluster = Some(cluster);
        self.srv.ks.dbs[0].index_slots();
    }

    /// CLIENT PAUSE: holds `argv` back if the pause covers it — every
    /// command under ALL; under WRITE, writes and commands that may
    /// replicate (EXEC of a transaction holding one) — as processCommand
    /// does after its other checks (a command that would be refused is
    /// answered at once). Replicas' links are never paused.
    fn postpone(&mut self, conn: ConnId, argv: &[Vec<u8>]) -> bool {
        let Some(pause) = self.srv.pause else {
            return false;
        };
        let Some(cmd) = self.table.lookup(argv) else {
            return false;
        };
        if cmd.handler.is_none() || !commands::arity_ok(cmd.arity, argv.len()) {
            return false;
        }
        let writes = |c: &commands::Command| {
            c.has(crate::commands::flag::WRITE) || commands::may_replicate(c)
        };
        let Some(client) = self.srv.clients.get(&conn) else {
            return false;
        };
        // A script that declared its flags writes only if they say so.
        let scripting = &self.srv.scripting;
        let table = self.table;
        let may_write = |a: &[Vec<u8>]| {
            crate::scripting::declared_writes(scripting, a)
                .unwrap_or_else(|| table.lookup(a).is_some_and(&writes))
        };
        let held = pause.all
            || may_write(argv)
            || (cmd.fullname == "exec"
                && client
                    .multi
                    .queue
                    .as_ref()
                    .is_some_and(|q| q.iter().any(|a| may_write(a))));
        if !held {
            return false;
        }
        if let Some(c) = self.srv.clients.get_mut(&conn) {
            c.blocked = Some(Blocked::Postponed { until: pause.end });
            self.srv.blocked_conns.insert(conn);
        }
        true
    }

    /// Ends a pause that is over (its time passed, or CLIENT UNPAUSE) and
    /// lets the clients it held run their queued commands.
    fn end_pause_if_over(&mut self, now: Millis) {
        if let Some(p) = self.srv.pause {
            if now > p.end {
                self.srv.pause = None;
                self.srv.set_db_modes();
            }
        }
        if self.srv.pause.is_some() {
            return;
        }
        if self.srv.blocked_conns.is_empty() {
            return;
        }
        let held: Vec<ConnId> = self
            .srv
            .blocked_clients()
            .filter(|c| matches!(c.blocked, Some(Blocked::Postponed { .. })))
            .map(|c| c.conn)
            .collect();
        for conn in held {
            if let Some(c) = self.srv.clients.get_mut(&conn) {
                c.blocked = None;
            }
            self.unblocked.push_back(conn);
        }
    }

    /// While a script runs, another client's command waits in its query
    /// buffer; once the script has run `busy-reply-threshold` ms, it is
    /// answered BUSY instead, unless it may run then (SCRIPT KILL, FUNCTION
    /// KILL, SHUTDOWN…: the `allow_busy` flag), as processCommand does.
    fn script_gate(&mut self, now: Millis, conn: ConnId, argv: &[Vec<u8>]) -> ScriptGate {
        let Some(run) = self.srv.scripting.running.as_ref() else {
            return ScriptGate::Run;
        };
        if run.conn == conn || argv.is_empty() {
            return ScriptGate::Run;
        }
        let threshold = self
            .srv
            .config
            .get("busy-reply-threshold")
            .and_then(|v| v.parse().ok())
            .unwrap_or(5000u64);
        if !crate::scripting::is_busy(run, now, threshold) {
            if !self.srv.scripting.waiting.contains(&conn) {
                self.srv.scripting.waiting.push(conn);
            }
            return ScriptGate::Hold;
        }
        let eval = run.eval;
        match self.table.lookup(argv) {
            Some(cmd) if cmd.has(crate::commands::flag::ALLOW_BUSY) => ScriptGate::Run,
            found => {
                if let Some(cmd) = found {
                    self.srv.stats.cmd(cmd.id).rejected += 1;
                }
                let busy = if eval {
                    crate::scripting::BUSY_EVAL
                } else {
                    crate::scripting::BUSY_FUNCTION
                };
                // A refused command inside MULTI dooms the transaction; a
                // refused EXEC ends it (`execCommandAbort`).
                let in_multi = self
                    .srv
                    .clients
                    .get(&conn)
                    .is_some_and(|c| c.multi.queue.is_some());
                if in_multi && found.is_some_and(|c| c.fullname == "exec") {
                    commands::multi::abort_exec(&mut self.srv, conn);
                    return ScriptGate::Busy(Reply::err(format!(
                        "EXECABORT Transaction discarded because of: {busy}"
                    )));
                }
                if let Some(c) = self.srv.clients.get_mut(&conn) {
                    if c.multi.queue.is_some() {
                        c.multi.dirty_exec = true;
                    }
                }
                ScriptGate::Busy(Reply::err(busy))
            }
        }
    }

    /// Runs the next slice of the script in progress; when it ends, its
    /// caller gets the reply and every client held meanwhile runs on.
    fn continue_script(&mut self, now: Millis) {
        let Some(run) = self.srv.scripting.running.take() else {
            return;
        };
        let (conn, orphaned) = (run.conn, run.orphaned);
        let mut events = Vec::new();
        let result = {
            let mut ctx = Ctx {
                srv: &mut self.srv,
                table: self.table,
                conn,
                now,
                events: &mut events,
                db_override: None,
            };
            crate::scripting::step(&mut ctx, run, true)
        };
        self.emit(events);
        let reply = match result {
            Ok(reply) => reply,
            Err(run) => {
                let threshold = self
                    .srv
                    .config
                    .get("busy-reply-threshold")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(5000u64);
                // Past the threshold the clients held so far are answered
                // (BUSY, or SCRIPT KILL runs), as processEventsWhileBlocked.
                if crate::scripting::is_busy(&run, now, threshold) {
                    let waiting = std::mem::take(&mut self.srv.scripting.waiting);
                    self.unblocked.extend(waiting);
                }
                self.srv.scripting.running = Some(run);
                return;
            }
        };
        let orphaned = orphaned
            || self
                .srv
                .scripting
                .running
                .as_ref()
                .is_some_and(|r| r.orphaned);
        if orphaned {
            commands::monitor::forget(&mut self.srv, conn);
            commands::multi::unwatch_all(&mut self.srv, conn);
            commands::pubsub::forget(&mut self.srv, conn);
            self.srv.remove_client(&conn);
        } else {
            if let Some(c) = self.srv.clients.get_mut(&conn) {
                c.blocked = None;
            }
            self.deliver(conn, reply);
            self.unblocked.push_back(conn);
        }
        let waiting = std::mem::take(&mut self.srv.scripting.waiting);
        self.unblocked.extend(waiting);
        self.srv.propagate();
        if !self.srv.blocking.is_empty() {
            self.serve_keys(now);
        }
    }

    /// Runs one command and appends its encoded reply to `out`.
    fn execute(&mut self, now: Millis, conn: ConnId, argv: &[Vec<u8>], out: &mut Vec<u8>) {
        let mut events = Vec::new();
        let changes_before = commands::persist::modifications(&self.srv);
        let db = self.srv.clients.get(&conn).map_or(0, |c| c.db);
        self.srv.repl.inner.clear();
        self.srv.repl.inner_fallback = false;
        let (reply, resp) = {
            let mut ctx = Ctx {
                srv: &mut self.srv,
                table: self.table,
                conn,
                now,
                events: &mut events,
                db_override: None,
            };
            let reply = commands::dispatch(&mut ctx, argv);
            // ASKING holds for the next command only (outside MULTI).
            if let Some(c) = ctx.srv.clients.get_mut(&conn) {
                if c.asking && c.multi.queue.is_none() && !argv[0].eq_ignore_ascii_case(b"asking") {
                    c.asking = false;
                }
            }
            let resp = ctx.client().map(|c| c.resp).unwrap_or(2);
            (reply, resp)
        };
        self.emit(events);
        self.srv.stats.error_reply(&reply);
        let before = self.srv.repl.offset;
        // A command that changed data replicates as Redis propagates it.
        let inner = std::mem::take(&mut self.srv.repl.inner);
        let fallback = std::mem::take(&mut self.srv.repl.inner_fallback);
        let also = self.srv.repl.also.take();
        // Formed only where a stream is fed (a primary with a backlog), as
        // Redis feeds none without replicas or a backlog.
        let feeding = self.srv.repl.backlog.is_some() && self.srv.repl.master.is_none();
        let owned = |inner: Vec<(usize, Argv)>| -> Vec<(usize, Form<'_>)> {
            inner
                .into_iter()
                .map(|(d, f)| (d, Form::Owned(f)))
                .collect()
        };
        let form = match also {
            // What the command said it propagates (XREADGROUP's XCLAIMs…).
            Some(also) if !fallback => {
                let mut all = owned(inner);
                all.extend(also.into_iter().map(|f| (db, Form::Owned(f))));
                Some(all)
            }
            _ => (feeding
                && commands::persist::modifications(&self.srv) != changes_before
                && !fallback)
                .then(|| crate::replication::propagation::form(&self.srv, db, argv, &reply))
                .flatten()
                .map(|own| {
                    // A transaction's or a script's commands, then its own form.
                    let mut all = owned(inner);
                    all.extend(own.into_iter().map(|f| (db, f)));
                    all
                }),
        };
        self.srv.propagate_command(form);
        let woff = self.srv.repl.offset;
        let Some(client) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        if woff != before {
            client.woff = woff;
        }
        if !self.srv.pubsub_out.is_empty() {
            self.deliver_pubsub(conn, out);
        }
        let Some(client) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        if client.blocked.is_none() {
            match client.reply_mode {
                ReplyMode::On => reply.encode(resp, out),
                // Push frames (SUBSCRIBE's confirmations) are sent whatever
                // CLIENT REPLY says, as Redis's CLIENT_PUSHING.
                ReplyMode::Off => encode_pushes(&reply, resp, out),
                ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
                ReplyMode::Skip => {
                    client.reply_mode = ReplyMode::On;
                    encode_pushes(&reply, resp, out);
                }
            }
        }
        // Client-side caching: the caller's own invalidations follow its reply.
        commands::tracking::after_reply(&mut self.srv, conn, argv, out);
        // A blocked client is answered later; clients blocked on keys this
        // command filled are served now, before the next command runs.
        if !self.srv.blocking.is_empty() {
            self.serve_keys(now);
        }
        self.srv.stream_ready.clear();
    }

    /// Serves clients blocked on keys that now hold a value they can use,
    /// key by key in the order clients first blocked on them, each key's
    /// clients first blocked first served; a served client's queued input
    /// then runs.
    fn serve_keys(&mut self, now: Millis) {
        let mut progress = true;
        while progress {
            progress = false;
            let ids: Vec<(usize, Vec<u8>)> = self.srv.blocking.keys().cloned().collect();
            for id in ids {
                // Every client blocked on the key, first blocked first; one
                // that cannot be served now (another type's waiter, a
                // stream client with nothing new) is skipped, as Redis's
                // serveClientsBlockedOnKey does.
                let conns: Vec<ConnId> = self
                    .srv
                    .blocking
                    .get(&id)
                    .map(|q| q.iter().copied().collect())
                    .unwrap_or_default();
                for conn in conns {
                    let op = match self.srv.clients.get(&conn).map(|c| &c.blocked) {
                        Some(Some(Blocked::Keys { db, keys, op, .. }))
                            if *db == id.0 && keys.contains(&id.1) =>
                        {
                            op.clone()
                        }
                        _ => {
                            // A stale entry (the client left or was unblocked).
                            commands::blocking::forget(
                                &mut self.srv.blocking,
                                conn,
                                id.0,
                                std::slice::from_ref(&id.1),
                            );
                            continue;
                        }
                    };
                    let ready = commands::blocking::ready(&mut self.srv, &id, &op, now);
                    if !ready {
                        continue;
                    }
                    let mut events = Vec::new();
                    // Client-side caching: what serving it changes (tracking.rs).
                    let tracking = commands::tracking::before_serve(&mut self.srv, conn);
                    let mark = self.srv.ks.dbs[id.0].changes_len();
                    let created_mark = self.srv.ks.dbs[id.0].created_len();
                    let served_form = self.served_form(conn, &id, &op);
                    let reply = {
                        let mut ctx = Ctx {
                            srv: &mut self.srv,
                            table: self.table,
                            conn,
                            now,
                            events: &mut events,
                            db_override: Some(id.0),
                        };
                        commands::blocking::serve(&mut ctx, &id.1, &op)
                    };
                    // A signalled stream that cannot serve this client
                    // after all: it stays blocked.
                    let Some(reply) = reply else { continue };
                    if self.srv.config.notify_flags() != 0 {
                        let d = &self.srv.ks.dbs[id.0];
                        let (changed, expired) = d.changes_since(mark);
                        let created = d.created_since(created_mark).to_vec();
                        let name = op.command_name();
                        let argv = op.as_argv(&id.1);
                        let keys = commands::notify::Changes {
                            changed: &changed,
                            expired: &expired,
                            created: &created,
                        };
                        commands::notify::after_command(&mut self.srv, name, &argv, id.0, keys);
                        self.deliver_pubsub(conn, &mut Vec::new());
                    }
                    self.emit(events);
                    if let Some(Blocked::Keys { db, keys, .. }) = self
                        .srv
                        .clients
                        .get_mut(&conn)
                        .and_then(|c| c.blocked.take())
                    {
                        commands::blocking::forget(&mut self.srv.blocking, conn, db, &keys);
                    }
                    self.deliver(conn, reply);
                    self.slowlog_unblocked(conn);
                    commands::tracking::after_serve(&mut self.srv, conn, tracking);
                    // The pop it amounts to, as Redis's serveClientBlockedOn*
                    // propagates it (a stream read: its effects).
                    let also = self.srv.repl.also.take();
                    match (served_form, also) {
                        (Some(form), _) => self
                            .srv
                            .propagate_command(Some(vec![(id.0, Form::Owned(form))])),
                        // A group read served: its XCLAIMs / XGROUP SETID.
                        (None, Some(also)) => self.srv.propagate_command(Some(
                            also.into_iter().map(|f| (id.0, Form::Owned(f))).collect(),
                        )),
                        (None, None) => self.srv.propagate(),
                    }
                    progress = true;
                    // Commands pipelined behind the blocking one run once
                    // the current input is done, as Redis's
                    // processUnblockedClients does in beforeSleep.
                    self.unblocked.push_back(conn);
                }
            }
        }
    }

    /// What serving `conn` blocked on `id` propagates, read before it is
    /// served: `LPOP`/`RPOP key [count]` (the count no more than the list
    /// holds), `LMOVE key dst left|right left|right` (`RPOPLPUSH key dst`
    /// for BRPOPLPUSH), `ZPOPMIN`/`ZPOPMAX key [count]`; `None` for a
    /// stream read.
    fn served_form(
        &self,
        conn: ConnId,
        id: &(usize, Vec<u8>),
        op: &crate::commands::blocking::BlockOp,
    ) -> Option<Vec<Vec<u8>>> {
        use crate::commands::blocking::BlockOp;
        use crate::store::value::Value;
        let len = match self.srv.ks.dbs[id.0].peek(&id.1).map(|e| &e.value) {
            Some(Value::List(l)) => l.len(),
            Some(Value::ZSet(z)) => z.len(),
            _ => 0,
        };
        let key = id.1.clone();
        let counted = |name: &str, count: &Option<usize>| {
            let mut v = vec![name.as_bytes().to_vec(), key.clone()];
            if let Some(c) = count {
                v.push((*c).min(len).to_string().into_bytes());
            }
            v
        };
        let side = |left: bool| {
            if left {
                b"left".to_vec()
            } else {
                b"right".to_vec()
            }
        };
        Some(match op {
            BlockOp::ListPop { left, count } => counted(if *left { "LPOP" } else { "RPOP" }, count),
            BlockOp::ZPop { max, count } => {
                counted(if *max { "ZPOPMAX" } else { "ZPOPMIN" }, count)
            }
            BlockOp::ListMove {
                dst,
                from_left,
                to_left,
            } => {
                let brpoplpush = self
                    .srv
                    .clients
                    .get(&conn)
                    .is_some_and(|c| c.last_cmd == "brpoplpush");
                if brpoplpush {
                    vec![b"RPOPLPUSH".to_vec(), key, dst.clone()]
                } else {
                    vec![
                        b"LMOVE".to_vec(),
                        key,
                        dst.clone(),
                        side(*from_left),
                        side(*to_left),
                    ]
                }
            }
            BlockOp::XRead { .. } => return None,
        })
    }

    /// Sends pub/sub messages the last command produced: the calling
    /// client's go into `out` ahead of its reply, others' out at once.
    fn deliver_pubsub(&mut self, caller: ConnId, out: &mut Vec<u8>) {
        for (conn, msg) in std::mem::take(&mut self.srv.pubsub_out) {
            let Some(c) = self.srv.clients.get(&conn) else {
                continue;
            };
            if conn == caller {
                msg.encode(c.resp, out);
                continue;
            }
            let mut bytes = Vec::new();
            msg.encode(c.resp, &mut bytes);
            self.srv.stats.net_output_bytes += bytes.len() as u64;
            self.outputs.push_back(Output::ToClient { conn, bytes });
        }
    }

    /// A client is gone: everything that names it is forgotten (a client
    /// whose script is running is kept until the script ends, as Redis
    /// protects it).
    fn forget_client(&mut self, conn: ConnId) {
        if let Some(run) = self.srv.scripting.running.as_mut() {
            if run.conn == conn {
                run.orphaned = true;
                return;
            }
        }
        let mut events = Vec::new();
        self.srv.client_replica_gone(conn, &mut events);
        self.emit(events);
        commands::monitor::forget(&mut self.srv, conn);
        commands::multi::unwatch_all(&mut self.srv, conn);
        commands::pubsub::forget(&mut self.srv, conn);
        commands::tracking::forget(&mut self.srv, conn);
        self.srv.obuf_waiting.remove(&conn);
        if let Some(Client {
            blocked: Some(Blocked::Keys { db, keys, .. }),
            ..
        }) = self.srv.remove_client(&conn)
        {
            commands::blocking::forget(&mut self.srv.blocking, conn, db, &keys);
        }
    }

    /// The runtime's count of `conn`'s unwritten output.
    fn unwritten(&mut self, now: Millis, conn: ConnId, bytes: usize) {
        let Some(c) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        c.unwritten = bytes;
        if bytes == 0 {
            c.obuf_soft_since = None;
            self.srv.obuf_waiting.remove(&conn);
            return;
        }
        self.srv.obuf_waiting.insert(conn);
        if self.obuf_reached(now, conn, 0) {
            self.obuf_drop(conn, true);
        }
    }

    /// Whether `conn`'s output (unwritten, plus `building` bytes of reply
    /// not yet handed out) breaks its class's limits; keeps the soft
    /// limit's clock (Redis's `checkClientOutputBufferLimits`).
    fn obuf_reached(&mut self, now: Millis, conn: ConnId, building: usize) -> bool {
        let Some(c) = self.srv.clients.get(&conn) else {
            return false;
        };
        let (class, used) = self.srv.obuf_used(c, building);
        let mut limit = self.srv.config.obuf_limits().of(class);
        if limit.is_off() {
            return false;
        }
        if class == crate::obuf::Class::Replica && limit.hard != 0 {
            // A replica's hard limit is never below the backlog's size.
            limit.hard = limit.hard.max(self.srv.config.repl().backlog_size as u64);
        }
        let c = self.srv.clients.get_mut(&conn).expect("client");
        crate::obuf::reached(limit, used as u64, &mut c.obuf_soft_since, now.0 / 1000)
    }

    /// Drops a client over its output buffer limit: what it was owed and
    /// not yet handed to the runtime is discarded, and Redis's warning
    /// logged (`scheduled` from a reply or a report, at once from the cron).
    fn obuf_drop(&mut self, conn: ConnId, scheduled: bool) {
        let Some(c) = self.srv.clients.get(&conn) else {
            return;
        };
        let info = crate::commands::server::client_info_string(c, self.now, &self.srv);
        let text = if scheduled {
            format!(
                "Client {info} scheduled to be closed ASAP for overcoming of output buffer limits."
            )
        } else {
            format!("Client {info} closed for overcoming of output buffer limits.")
        };
        self.outputs
            .retain(|o| !matches!(o, Output::ToClient { conn: c, .. } if *c == conn));
        self.outputs
            .push_back(Output::Event(NodeEvent::Warning { text }));
        self.forget_client(conn);
        self.outputs.push_back(Output::CloseConn { conn });
    }

    /// A blocked command is logged in the slow log when it is answered.
    fn slowlog_unblocked(&mut self, conn: ConnId) {
        let (slower_than, max_len) = self.srv.config.slowlog();
        let Some(c) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        let argv = std::mem::take(&mut c.blocked_argv);
        if argv.is_empty() {
            return;
        }
        let (peer, name) = (c.peer.clone(), c.name.clone());
        let time = self.now.0 / 1000;
        self.srv
            .slowlog
            .push_if_needed(slower_than, max_len, &argv, 0, time, &peer, &name);
    }

    /// Sends a late reply (a served or timed-out blocked client).
    fn deliver(&mut self, conn: ConnId, reply: Reply) {
        let Some(c) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        self.srv.stats.error_reply(&reply);
        if reply.is_error() {
            // A blocked command that ends in an error failed (NOGROUP…).
            let name = c.last_cmd.clone();
            self.srv.stats.cmd_failed(&name);
        }
        let Some(c) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        let mut out = Vec::new();
        if c.reply_mode == ReplyMode::On {
            reply.encode(c.resp, &mut out);
        }
        if !out.is_empty() {
            self.srv.stats.net_output_bytes += out.len() as u64;
            self.outputs
                .push_back(Output::ToClient { conn, bytes: out });
        }
    }

    /// The server cron: active expiry at `hz` times per (virtual) second.
    fn cron(&mut self, now: Millis) {
        if now < self.next_cron {
            return;
        }
        let effort = self.srv.config.active_expire_effort();
        let mut events = Vec::new();
        if let Some(text) = commands::persist::cron(&mut self.srv, now) {
            events.push(NodeEvent::Replication { text });
        }
        self.save_outputs();
        // clusterCron: the cluster's state (the writable delay ends here).
        let full = self.srv.config.cluster_require_full_coverage();
        if let Some(c) = self.srv.cluster.as_mut() {
            c.update_state(now, full);
        }
        self.srv.cluster_cron(now);
        self.save_cluster_config();
        self.srv.repl_cron(now, &mut events);
        self.emit(events);
        // A replica's keys expire when its primary's DEL arrives.
        let active = !self.srv.repl.is_replica()
            && self.srv.active_expire
            && self.srv.pause.is_none_or(|p| now > p.end);
        let mut expired = Vec::new();
        for (i, db) in self.srv.ks.dbs.iter_mut().enumerate().filter(|_| active) {
            let gone = db.active_expire(now, &mut self.srv.rng, effort);
            if !gone.is_empty() {
                self.outputs
                    .push_back(Output::Event(NodeEvent::KeysExpired {
                        db: i,
                        count: gone.len(),
                    }));
                expired.push((i, gone));
            }
        }
        if self.srv.config.notify_flags() != 0 {
            for (i, gone) in &expired {
                let i = *i;
                for k in gone {
                    commands::notify::notify(
                        &mut self.srv,
                        commands::notify::EXPIRED,
                        "expired",
                        k,
                        i,
                    );
                }
            }
            self.deliver_pubsub(ConnId(u64::MAX), &mut Vec::new());
        }
        // Client-side caching: expired keys are invalidated (after their
        // `expired` events, as Redis signals them); the table limit.
        commands::tracking::cron(&mut self.srv, &expired);
        // Samples for INFO's instantaneous ops/s and the memory peak.
        let last = self.srv.stats.ops_samples.back().map(|s| s.0);
        if last.is_none_or(|t| now.saturating_sub(t) >= 100) {
            let cmds = self.srv.stats.commands_processed;
            self.srv.stats.ops_samples.push_back((now, cmds));
            if self.srv.stats.ops_samples.len() > 17 {
                self.srv.stats.ops_samples.pop_front();
            }
        }
        let used = crate::commands::server::used_memory(&self.srv);
        self.srv.stats.peak_memory = self.srv.stats.peak_memory.max(used);
        // Output buffer limits with no new output (the soft limit's time).
        let waiting: Vec<ConnId> = self.srv.obuf_waiting.iter().copied().collect();
        for conn in waiting {
            if self.obuf_reached(now, conn, 0) {
                self.obuf_drop(conn, false);
            }
        }
        // `timeout`: close clients idle longer than that many seconds.
        let timeout = self.srv.config.timeout();
        if timeout > 0 {
            let idle: Vec<ConnId> = self
                .srv
                .clients
                .values()
                .filter(|c| now.saturating_sub(c.last_interaction) > timeout * 1000)
                .map(|c| c.conn)
                // Replicas are never idle-closed (Redis exempts them).
                .filter(|&conn| !self.srv.is_replica_conn(conn))
                .collect();
            for conn in idle {
                self.srv.remove_client(&conn);
                self.outputs.push_back(Output::CloseConn { conn });
            }
        }
        self.next_cron = now.plus(1000 / self.srv.config.hz());
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Whether [`Node::poll_output`] has something.
    pub fn has_output(&self) -> bool {
        !self.outputs.is_empty()
    }

    /// When the node next wants a [`Input::Tick`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        let waits = self
            .srv
            .blocked_conns
            .iter()
            .filter_map(|c| self.srv.clients.get(c))
            .filter_map(|c| c.blocked.as_ref().and_then(Blocked::deadline));
        // A script in progress continues at the next tick, at once.
        let script = self.srv.scripting.running.as_ref().map(|_| self.now);
        let migrate = self.srv.migrate.op.as_ref().map(|op| op.deadline);
        waits
            .chain([self.next_cron])
            .chain(script)
            .chain(migrate)
            .min()
    }

    pub fn view(&self) -> NodeView {
        let ks = &self.srv.ks;
        NodeView {
            run_id: self.srv.run_id.clone(),
            keys: ks.total_keys(),
            expires: ks.dbs.iter().map(|d| d.expires_len()).sum(),
            keys_per_db: ks.dbs.iter().map(|d| d.len()).collect(),
            used_memory: commands::server::used_memory(&self.srv),
            commands_processed: self.srv.stats.commands_processed,
            connected_clients: self.srv.connected_clients(),
            expired_keys: ks.expired_keys(),
            keyspace_hits: self.srv.stats.keyspace_hits,
            keyspace_misses: self.srv.stats.keyspace_misses,
            now: self.now,
            sample: ks
                .dbs
                .iter()
                .enumerate()
                .flat_map(|(i, db)| db.live_keys(self.now).map(move |k| (i, db, k)))
                .take(VIEW_KEYS)
                .map(|(i, db, k)| {
                    let e = db.peek(k).expect("live key exists");
                    KeyView {
                        db: i,
                        key: String::from_utf8_lossy(k).into_owned(),
                        kind: e.value.type_name().into(),
                        encoding: e.value.encoding().into(),
                        ttl_ms: db.expire_at(k).map(|at| at.saturating_sub(self.now)),
                        memory: e.value.mem_size() + crate::store::mem::key_size(k),
                    }
                })
                .collect(),
            repl: self.repl_view(),
            fork: self.srv.persist.last_fork,
            cluster: self.srv.cluster.as_ref().map(|c| c.view()),
        }
    }

    fn repl_view(&self) -> ReplView {
        let r = &self.srv.repl;
        ReplView {
            role: if r.is_replica() { "slave" } else { "master" }.into(),
            replid: r.replid.clone(),
            offset: r.offset,
            master: r.master.as_ref().map(|m| m.addr()),
            link: r.master.as_ref().map(|m| link_name(m.state).into()),
            replicas: r
                .replicas
                .iter()
                .map(|(a, l)| (a.clone(), l.ack_offset))
                .collect(),
            replid2: r.replid2.clone(),
            second_offset: r.second_offset,
            backlog: r.backlog.as_ref().map(|b| (b.first, b.histlen() as u64)),
            backlog_size: self.srv.config.repl().backlog_size as u64,
        }
    }
}

/// ROLE's words for a replica's link state.
pub fn link_name(s: LinkState) -> &'static str {
    match s {
        LinkState::Connect => "connect",
        LinkState::Syncing { .. } => "sync",
        LinkState::Connected => "connected",
    }
}

/// What every runtime drives: a node that takes inputs with the time and
/// queues outputs. [`Node`] (Redis) and [`crate::memcached::McNode`] both are.
pub trait Machine {
    fn handle(&mut self, now: Millis, input: Input<'_>);
    fn poll_output(&mut self) -> Option<Output>;
    fn poll_timeout(&self) -> Option<Millis>;
    /// REPLICAOF for engines that replicate; others ignore it.
    fn replicaof(&mut self, _now: Millis, _primary: Option<(&str, u16)>) {}
    /// The cluster a memcached node describes as a configuration endpoint;
    /// others ignore it.
    fn set_cluster(&mut self, _config: crate::memcached::ClusterConfig) {}
    /// SHUTDOWN's save could not be written (see [`Output::Shutdown`]).
    fn shutdown_failed(&mut self, _conn: ConnId) {}
    /// The file of [`Output::Save`] `id` was written (`ok`) or not.
    fn save_done(&mut self, _now: Millis, _id: u64, _ok: bool) {}
    /// The data as a backup's RDB file (the control plane's snapshot);
    /// engines without backups refuse in ElastiCache's words.
    fn snapshot(&mut self, _now: Millis) -> Result<Vec<u8>, String> {
        Err(crate::backup::memcached_refusal().message)
    }
    /// Follows a primary (the role letter of its log lines: S, else M).
    fn is_replica(&self) -> bool {
        false
    }
    /// The cluster bus port the runtime must listen on (cluster mode).
    fn bus_port(&self) -> Option<u16> {
        None
    }
}

impl Machine for Node {
    fn handle(&mut self, now: Millis, input: Input<'_>) {
        Node::handle(self, now, input)
    }
    fn bus_port(&self) -> Option<u16> {
        self.srv
            .cluster
            .as_ref()
            .map(|c| c.nodes[crate::cluster::MYSELF].cport)
    }
    fn poll_output(&mut self) -> Option<Output> {
        Node::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Millis> {
        Node::poll_timeout(self)
    }
    fn replicaof(&mut self, now: Millis, primary: Option<(&str, u16)>) {
        Node::replicaof(self, now, primary)
    }
    fn shutdown_failed(&mut self, conn: ConnId) {
        Node::shutdown_failed(self, conn)
    }
    fn save_done(&mut self, now: Millis, id: u64, ok: bool) {
        Node::save_done(self, now, id, ok)
    }
    fn is_replica(&self) -> bool {
        !self.is_primary()
    }
    fn snapshot(&mut self, now: Millis) -> Result<Vec<u8>, String> {
        Ok(Node::snapshot(self, now))
    }
}

/// FNV-1a, 64 bit: a hash that is the same on every platform.
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub fn write(&mut self, b: &[u8]) {
        for &c in b {
            self.0 ^= c as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}
