//! The [`Node`]: one cache node as a sans-IO state machine.
//!
//! `handle(now, input)` feeds it; `poll_output()` drains what it wants done;
//! `poll_timeout()` says when it next needs a [`Input::Tick`]; `view()` is a
//! plain-data description for UIs and checkers. Owns connections' protocol
//! state (query buffers, RESP version, selected db) and the server cron
//! (active expiry). Must not touch sockets, clocks or threads.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::commands::{self, CommandTable, Ctx};
use crate::config::Config;
use crate::protocol::{parse_request, Reply, RequestLimits};
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
    /// Time passed; run due timers (active expiry).
    Tick,
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
}

/// Things a UI or checker may want to see happen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NodeEvent {
    /// The active expiry cycle removed keys.
    KeysExpired { db: usize, count: usize },
    /// The whole dataset was flushed.
    Flushed { db: Option<usize> },
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
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Highest `used_memory` seen by the cron.
    pub peak_memory: usize,
    /// Redis's `instantaneous_ops_per_sec`: (time, commands) samples taken
    /// by the cron every 100 ms; the rate is averaged over the last 16.
    pub ops_samples: std::collections::VecDeque<(Millis, u64)>,
}

impl Stats {
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
    pub reply_mode: ReplyMode,
    pub no_evict: bool,
    /// False while `requirepass` is set and the client has not AUTHed.
    pub authenticated: bool,
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
}

pub struct Node {
    pub(crate) srv: Server,
    table: &'static CommandTable,
    outputs: VecDeque<Output>,
    next_cron: Millis,
    now: Millis,
}

impl Node {
    /// A node whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> Node {
        let mut rng = Rng::new(seed);
        let run_id = rng.hex40();
        let config = Config::new();
        Node {
            srv: Server {
                ks: Keyspace::new(crate::limits::DATABASES, rng.next_u64()),
                config,
                stats: Stats::default(),
                rng,
                clients: BTreeMap::new(),
                next_client_id: 1,
                run_id,
                started: Millis(0),
                to_close: Vec::new(),
            },
            table: CommandTable::shared(),
            outputs: VecDeque::new(),
            next_cron: Millis(0),
            now: Millis(0),
        }
    }

    /// Sets the start time (uptime is measured from it) and the advertised port.
    pub fn start(&mut self, now: Millis, port: u16) {
        self.srv.started = now;
        self.now = now;
        self.srv.config.set_internal("port", &port.to_string());
        self.next_cron = now;
    }

    pub fn config(&self) -> &Config {
        &self.srv.config
    }

    pub fn handle(&mut self, now: Millis, input: Input<'_>) {
        if now > self.now {
            self.now = now;
        }
        let now = self.now;
        match input {
            Input::ConnOpened { conn, peer, local } => {
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
                        reply_mode: ReplyMode::On,
                        no_evict: false,
                        authenticated: self.srv.config.requirepass().is_none(),
                    },
                );
            }
            Input::ConnClosed { conn } => {
                self.srv.clients.remove(&conn);
            }
            Input::ClientBytes { conn, bytes } => self.client_bytes(now, conn, bytes),
            Input::Tick => self.cron(now),
        }
    }

    fn client_bytes(&mut self, now: Millis, conn: ConnId, bytes: &[u8]) {
        let Some(client) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        self.srv.stats.net_input_bytes += bytes.len() as u64;
        client.last_interaction = now;
        let mut qbuf = std::mem::take(&mut client.qbuf);
        qbuf.extend_from_slice(bytes);
        let mut limits = RequestLimits {
            max_bulk_len: self.srv.config.proto_max_bulk_len(),
            unauthenticated: !client.authenticated && self.srv.config.requirepass().is_some(),
        };
        let mut out = Vec::new();
        let mut pos = 0;
        let mut close = false;
        loop {
            match parse_request(&qbuf[pos..], &limits) {
                Ok(None) => break,
                Ok(Some((argv, n))) => {
                    pos += n;
                    if argv.is_empty() {
                        continue;
                    }
                    self.execute(now, conn, &argv, &mut out);
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
                }
                Err(e) => {
                    Reply::err(format!("ERR {}", e.0)).encode(2, &mut out);
                    self.srv.stats.error_replies += 1;
                    close = true;
                    break;
                }
            }
        }
        if !close && (qbuf.len() - pos) as u64 > self.srv.config.client_query_buffer_limit() {
            // Redis closes such a client without a reply ("max query buffer length").
            close = true;
        }
        if let Some(c) = self.srv.clients.get_mut(&conn) {
            qbuf.drain(..pos);
            c.qbuf = qbuf;
        }
        if !out.is_empty() {
            self.srv.stats.net_output_bytes += out.len() as u64;
            self.outputs
                .push_back(Output::ToClient { conn, bytes: out });
        }
        if close {
            self.srv.clients.remove(&conn);
            self.outputs.push_back(Output::CloseConn { conn });
        }
        for other in std::mem::take(&mut self.srv.to_close) {
            if self.srv.clients.remove(&other).is_some() {
                self.outputs.push_back(Output::CloseConn { conn: other });
            }
        }
    }

    /// Runs one command and appends its encoded reply to `out`.
    fn execute(&mut self, now: Millis, conn: ConnId, argv: &[Vec<u8>], out: &mut Vec<u8>) {
        let mut events = Vec::new();
        let (reply, resp) = {
            let mut ctx = Ctx {
                srv: &mut self.srv,
                table: self.table,
                conn,
                now,
                events: &mut events,
            };
            let reply = commands::dispatch(&mut ctx, argv);
            let resp = ctx.client().map(|c| c.resp).unwrap_or(2);
            (reply, resp)
        };
        self.outputs.extend(events.into_iter().map(Output::Event));
        if reply.is_error() {
            self.srv.stats.error_replies += 1;
        }
        let Some(client) = self.srv.clients.get_mut(&conn) else {
            return;
        };
        match client.reply_mode {
            ReplyMode::On => reply.encode(resp, out),
            ReplyMode::Off => {}
            ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
            ReplyMode::Skip => {
                client.reply_mode = ReplyMode::On;
            }
        }
    }

    /// The server cron: active expiry at `hz` times per (virtual) second.
    fn cron(&mut self, now: Millis) {
        if now < self.next_cron {
            return;
        }
        let effort = self.srv.config.active_expire_effort();
        for (i, db) in self.srv.ks.dbs.iter_mut().enumerate() {
            let gone = db.active_expire(now, &mut self.srv.rng, effort);
            if !gone.is_empty() {
                self.outputs
                    .push_back(Output::Event(NodeEvent::KeysExpired {
                        db: i,
                        count: gone.len(),
                    }));
            }
        }
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
        // `timeout`: close clients idle longer than that many seconds.
        let timeout = self.srv.config.timeout();
        if timeout > 0 {
            let idle: Vec<ConnId> = self
                .srv
                .clients
                .values()
                .filter(|c| now.saturating_sub(c.last_interaction) > timeout * 1000)
                .map(|c| c.conn)
                .collect();
            for conn in idle {
                self.srv.clients.remove(&conn);
                self.outputs.push_back(Output::CloseConn { conn });
            }
        }
        self.next_cron = now.plus(1000 / self.srv.config.hz());
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the node next wants a [`Input::Tick`].
    pub fn poll_timeout(&self) -> Option<Millis> {
        Some(self.next_cron)
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
            connected_clients: self.srv.clients.len(),
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
        }
    }
}
