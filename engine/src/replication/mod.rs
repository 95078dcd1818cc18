//! Primary/replica replication, Redis's PSYNC2 model over plain messages.
//!
//! The stream is a byte stream of RESP commands identified by
//! `(replid, offset)`, kept in a backlog of `repl-backlog-size` bytes. It
//! carries *effects*, not the commands clients sent: after every command the
//! primary turns each key the command changed (recorded by the `Db` layer)
//! into `SET key value [PXAT ms]` or `DEL key`, so TTLs are absolute,
//! non-deterministic commands replay exactly, and lazy or active expiry and
//! eviction replicate as the DELs they are. FLUSHDB, FLUSHALL and SWAPDB are
//! the only commands propagated as themselves. A full sync transfers an RDB
//! snapshot ([`crate::persistence::rdb`]); a partial one replays the backlog.
//!
//! Links are messages ([`PeerMsg`]) addressed by "host:port" strings: the
//! runtime delivers them (a simulated network, the browser router, TCP).
//! Each replica connection attempt has a random `link` id that every message
//! of that attempt carries, so stale messages from an earlier attempt or an
//! earlier primary are ignored, as a closed TCP connection's would be.

pub mod peer;
pub mod propagation;
pub mod watch;
pub mod wire;

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::node::{ConnId, Server};
use crate::persistence::rdb;
use crate::protocol::{parse_request, RequestLimits};
use crate::store::value::{StrValue, Value};
use crate::store::Keyspace;
use crate::time::Millis;
use crate::NodeEvent;

/// What replication links carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeerMsg {
    /// Replica → primary (PSYNC): `replid` "?" asks for a full sync;
    /// otherwise `offset` is the first stream byte the replica lacks.
    Psync {
        link: u64,
        replid: String,
        offset: i64,
    },
    /// Primary → replica (+FULLRESYNC and the RDB payload).
    FullResync {
        link: u64,
        replid: String,
        offset: u64,
        rdb: Vec<u8>,
    },
    /// Primary → replica (+CONTINUE): the backlog follows as `Stream`.
    Continue { link: u64, replid: String },
    /// Primary → replica: stream bytes; `start` is the offset before the first.
    Stream {
        link: u64,
        start: u64,
        bytes: Vec<u8>,
    },
    /// Replica → primary (REPLCONF ACK).
    Ack { link: u64, offset: u64 },
    /// Primary → replica (REPLCONF GETACK).
    GetAck { link: u64 },
    /// Either way: the link is refused or closed, with Redis's reason.
    Refused { link: u64, reason: String },
    /// Control plane → node: a health check.
    Health { seq: u64 },
    /// Node → control plane: alive, and where its replication stands.
    HealthOk {
        seq: u64,
        primary: bool,
        offset: u64,
        /// A replica's link is up and streaming.
        synced: bool,
    },
}

/// A replication ID as a person reads it: its first 8 hex digits.
fn short_id(id: &str) -> String {
    if id.len() > 8 {
        format!("{}…", &id[..8])
    } else {
        id.to_string()
    }
}

/// The commands of stream bytes as redis-cli would print them, the first
/// few, long arguments cut.
pub fn describe_stream(bytes: &[u8], max: usize) -> String {
    let limits = RequestLimits {
        max_bulk_len: u64::MAX,
        unauthenticated: false,
    };
    let mut cmds = Vec::new();
    let mut pos = 0;
    let mut total = 0;
    while let Ok(Some((argv, n))) = parse_request(&bytes[pos..], &limits) {
        pos += n;
        if argv.is_empty() {
            continue;
        }
        total += 1;
        if cmds.len() < max {
            let words: Vec<String> = argv
                .iter()
                .map(|a| {
                    let t = String::from_utf8_lossy(a);
                    if t.chars().count() > 24 {
                        format!("{}…", t.chars().take(24).collect::<String>())
                    } else if t.is_empty() || t.contains(' ') {
                        format!("{t:?}")
                    } else {
                        t.into_owned()
                    }
                })
                .collect();
            cmds.push(words.join(" "));
        }
    }
    let mut out = cmds.join(" · ");
    if total > cmds.len() {
        out.push_str(&format!(" · +{} more", total - cmds.len()));
    }
    out
}

impl PeerMsg {
    /// What the message says, in the protocol's own words (PSYNC,
    /// +FULLRESYNC, +CONTINUE, the stream's commands with their offsets,
    /// REPLCONF ACK): what the playground's traffic view shows.
    pub fn describe(&self) -> String {
        match self {
            PeerMsg::Psync { replid, offset, .. } => {
                format!("PSYNC {} {offset}", short_id(replid))
            }
            PeerMsg::FullResync {
                replid,
                offset,
                rdb,
                ..
            } => format!(
                "+FULLRESYNC {} {offset} · RDB of {} B",
                short_id(replid),
                rdb.len()
            ),
            PeerMsg::Continue { replid, .. } => {
                format!("+CONTINUE {} · the backlog follows", short_id(replid))
            }
            PeerMsg::Stream { start, bytes, .. } => format!(
                "offset {start}→{}: {}",
                start + bytes.len() as u64,
                describe_stream(bytes, 3)
            ),
            PeerMsg::Ack { offset, .. } => format!("REPLCONF ACK {offset}"),
            PeerMsg::GetAck { .. } => "REPLCONF GETACK *".into(),
            PeerMsg::Refused { reason, .. } => reason.clone(),
            PeerMsg::Health { .. } | PeerMsg::HealthOk { .. } => String::new(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            PeerMsg::Psync { .. } => "PSYNC",
            PeerMsg::FullResync { .. } => "FULLRESYNC",
            PeerMsg::Continue { .. } => "CONTINUE",
            PeerMsg::Stream { .. } => "STREAM",
            PeerMsg::Ack { .. } => "ACK",
            PeerMsg::GetAck { .. } => "GETACK",
            PeerMsg::Refused { .. } => "REFUSED",
            PeerMsg::Health { .. } => "HEALTH",
            PeerMsg::HealthOk { .. } => "HEALTHOK",
        }
    }
}

/// What a primary knows to decide a PSYNC: its history (replid, and the
/// one it continues, replid2, up to `second_offset`) and its backlog
/// window (first byte offset, bytes held).
pub struct History<'a> {
    pub replid: &'a str,
    pub replid2: &'a str,
    pub second_offset: i64,
    pub offset: u64,
    pub backlog: Option<(u64, u64)>,
}

/// Why a PSYNC cannot continue: a full sync follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoContinue {
    /// Another history (a replica of a different primary, or of this one
    /// before a history it never saw).
    OtherHistory,
    /// The bytes it lacks are older than the backlog holds (or there is
    /// no backlog yet).
    BehindBacklog,
}

impl History<'_> {
    /// `masterTryPartialResynchronization`'s rule: `PSYNC replid offset`
    /// (offset: the first byte the replica lacks) continues when the
    /// history is this one (or the one it took over, up to where it did)
    /// and the backlog still holds that byte.
    pub fn psync(&self, replid: &str, offset: i64) -> Result<(), NoContinue> {
        let same =
            replid == self.replid || (replid == self.replid2 && offset <= self.second_offset);
        if !same {
            return Err(NoContinue::OtherHistory);
        }
        match self.backlog {
            Some((first, _)) if offset >= first as i64 && offset <= self.offset as i64 + 1 => {
                Ok(())
            }
            _ => Err(NoContinue::BehindBacklog),
        }
    }
}

/// The replication backlog: the last `size` bytes of the stream.
#[derive(Clone, Debug)]
pub struct Backlog {
    buf: VecDeque<u8>,
    size: usize,
    /// Offset of the first byte held (Redis's `repl_backlog_first_byte_offset`).
    pub first: u64,
}

impl Backlog {
    fn new(size: usize, first: u64) -> Backlog {
        Backlog {
            buf: VecDeque::new(),
            size,
            first,
        }
    }
    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        let excess = self.buf.len().saturating_sub(self.size);
        if excess > 0 {
            self.buf.drain(..excess);
            self.first += excess as u64;
        }
    }
    pub fn histlen(&self) -> usize {
        self.buf.len()
    }
    pub fn size(&self) -> usize {
        self.size
    }
    fn resize(&mut self, size: usize) {
        self.size = size;
        self.feed(&[]);
    }
    /// Bytes from stream offset `from` (1-based) to the end.
    fn from(&self, from: u64) -> Vec<u8> {
        let skip = from.saturating_sub(self.first) as usize;
        self.buf.iter().skip(skip).copied().collect()
    }
}

/// One command's arguments.
type Argv = Vec<Vec<u8>>;

/// A replica's view of its link to the primary (Redis's `repl_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkState {
    /// Not yet asked (ROLE: "connect").
    Connect,
    /// PSYNC sent, waiting for the answer (ROLE: "sync").
    Syncing { since: Millis },
    /// Streaming (ROLE: "connected").
    Connected,
}

#[derive(Clone, Debug)]
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    pub link: u64,
    /// Last message from the primary.
    pub last_io: Option<Millis>,
    pub down_since: Option<Millis>,
    /// Stream bytes received but not yet a whole command.
    buf: Vec<u8>,
    /// The database the stream last SELECTed.
    db: usize,
    /// Bytes received (`slave_read_repl_offset`).
    pub read_offset: u64,
    /// The link when it speaks Redis's own protocol (`Repl::wire_mode`).
    pub wire: Option<wire::WireLink>,
    /// A MULTI … EXEC in the stream: its commands, applied together at
    /// EXEC, and its bytes so far.
    multi: Option<(Vec<Argv>, Vec<u8>)>,
}

impl MasterLink {
    /// The sync is done (full or partial): streaming from `offset` on.
    fn connected(&mut self, now: Millis, offset: u64) {
        self.state = LinkState::Connected;
        self.last_io = Some(now);
        self.down_since = None;
        self.buf.clear();
        self.multi = None;
        self.read_offset = offset;
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A primary's view of one replica.
#[derive(Clone, Debug)]
pub struct ReplicaLink {
    pub link: u64,
    pub ack_offset: u64,
    pub last_ack: Millis,
    /// When `ack_offset` last moved (or the link started).
    pub progress_at: Millis,
    /// A replica speaking Redis's own protocol on a client connection (a
    /// real redis-server, `redis-cli --replica`): the stream goes to it
    /// as raw bytes; `None` for a cachelab peer link.
    pub conn: Option<ConnId>,
    /// The stream offset sent to a connection replica so far.
    pub sent: u64,
    /// It synced with SYNC (no REPLCONF ACKs will come).
    pub pre_psync: bool,
    /// Stream bytes sent on its connection since its sync answer: what its
    /// output buffer limit is held against (Redis sends the RDB apart from
    /// the replication buffer, so a large RDB never counts).
    pub streamed: usize,
    /// A diskless (`$EOF:`) full resync's replica: no stream until its first
    /// REPLCONF ACK says the RDB is loaded (Redis 7.0's
    /// `repl_start_cmd_stream_on_ack`): a replica finds the end of the RDB
    /// by its last 40 bytes, so stream bytes right behind it would hide it.
    pub await_ack: bool,
    /// Past its sync: INFO's `state=online`, else `wait_bgsave`. A full
    /// resync's replica goes online on its first REPLCONF ACK, sent once
    /// it has loaded the RDB (Redis's diskless `repl_start_cmd_stream_on_ack`);
    /// a partial resync's at once.
    pub online: bool,
}

impl ReplicaLink {
    fn peer(link: u64, ack_offset: u64, now: Millis) -> ReplicaLink {
        ReplicaLink {
            link,
            ack_offset,
            last_ack: now,
            progress_at: now,
            conn: None,
            sent: 0,
            pre_psync: false,
            streamed: 0,
            await_ack: false,
            online: true,
        }
    }
}

/// What a PSYNC is answered with.
enum SyncAnswer {
    /// +CONTINUE: the backlog from offset `from` (1-based) on.
    Continue { from: u64, bytes: Vec<u8> },
    /// +FULLRESYNC: an RDB of the data at the current offset.
    Full { rdb: Vec<u8> },
}

/// What a replica on a client connection said about itself (REPLCONF).
#[derive(Clone, Debug, Default)]
pub struct ReplicaHello {
    pub listening_port: Option<u16>,
    pub ip_address: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
}

/// A node's replication state.
#[derive(Clone, Debug)]
pub struct Repl {
    pub replid: String,
    pub replid2: String,
    /// Redis's `second_replid_offset`: -1, or the first offset not in replid2's history.
    pub second_offset: i64,
    /// `master_repl_offset`.
    pub offset: u64,
    pub backlog: Option<Backlog>,
    /// Set on a replica.
    pub master: Option<MasterLink>,
    /// By address ("ip:port"), in address order.
    pub replicas: BTreeMap<String, ReplicaLink>,
    /// Stream bytes produced since the last flush.
    pending: Vec<u8>,
    /// `feed`'s encoding buffer, kept for its allocation.
    scratch: Vec<u8>,
    /// The database the outgoing stream last SELECTed.
    stream_db: Option<usize>,
    /// Commands propagated as themselves: (database, argv).
    explicit: Vec<(Option<usize>, Vec<Vec<u8>>)>,
    outbox: Vec<(String, PeerMsg)>,
    /// Commands running inside another one (EXEC, scripts) and the forms
    /// they propagate as; `inner_fallback`: one of them has none (the
    /// whole outer command replicates as effects).
    pub depth: usize,
    pub inner: Vec<(usize, propagation::Argv)>,
    pub inner_fallback: bool,
    /// What the running command propagates instead of itself, as Redis's
    /// `alsoPropagate` (XREADGROUP's XCLAIMs…); `Some` even when empty:
    /// the command said what it propagates (`propagation::also`).
    pub also: Option<Vec<propagation::Argv>>,
    /// Speak Redis's own protocol to a primary, over an outbound link
    /// (`Output::Dial`), instead of `PeerMsg`s: a real redis-server can be
    /// the primary. The native server turns it on.
    pub wire_mode: bool,
    /// Bytes for replicas on client connections, and connections to close.
    pub client_out: Vec<(ConnId, Vec<u8>)>,
    pub client_close: Vec<ConnId>,
    last_ping: Millis,
    next_cron: Millis,
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
}

/// How long a replica waits for the answer to PSYNC before asking again.
pub const SYNC_RETRY_MS: u64 = 5_000;

pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

impl Repl {
    pub fn new(replid: String) -> Repl {
        Repl {
            replid,
            replid2: NO_REPLID.into(),
            second_offset: -1,
            offset: 0,
            backlog: None,
            master: None,
            replicas: BTreeMap::new(),
            pending: Vec::new(),
            scratch: Vec::new(),
            stream_db: None,
            explicit: Vec::new(),
            outbox: Vec::new(),
            depth: 0,
            inner: Vec::new(),
            inner_fallback: false,
            also: None,
            wire_mode: false,
            client_out: Vec::new(),
            client_close: Vec::new(),
            last_ping: Millis(0),
            next_cron: Millis(0),
            sync_full: 0,
            sync_partial_ok: 0,
            sync_partial_err: 0,
        }
    }

    pub fn is_replica(&self) -> bool {
        self.master.is_some()
    }

    pub fn link_up(&self) -> bool {
        self.master
            .as_ref()
            .is_some_and(|m| m.state == LinkState::Connected)
    }

    /// Replicas that acknowledged `offset` (WAIT's count).
    pub fn count_acks(&self, offset: u64) -> usize {
        self.replicas
            .values()
            .filter(|r| r.ack_offset >= offset)
            .count()
    }

    /// Replicas whose last ACK is at most `max_lag_s` old (min-replicas-to-write).
    pub fn good_replicas(&self, now: Millis, max_lag_s: u64) -> usize {
        self.replicas
            .values()
            .filter(|r| now.saturating_sub(r.last_ack) <= max_lag_s * 1000)
            .count()
    }

    /// Queues a command to propagate as itself (FLUSHALL, SWAPDB…).
    pub fn propagate_command(&mut self, db: Option<usize>, argv: Vec<Vec<u8>>) {
        if self.backlog.is_some() && self.master.is_none() {
            self.explicit.push((db, argv));
        }
    }

    /// Messages for other nodes, oldest first.
    pub fn take_outbox(&mut self) -> Vec<(String, PeerMsg)> {
        std::mem::take(&mut self.outbox)
    }
}

fn encode(out: &mut Vec<u8>, argv: &[&[u8]]) {
    crate::protocol::request::encode_request_into(out, argv);
}

fn split_addr(addr: &str) -> (&str, &str) {
    addr.rsplit_once(':').unwrap_or((addr, "0"))
}

impl Server {
    /// Puts every database in the mode the role needs: a replica never
    /// deletes expired keys; a primary with a backlog records changed keys.
    pub fn set_db_modes(&mut self) {
        let replica = self.repl.is_replica();
        let track = !replica && self.repl.backlog.is_some();
        // While clients are paused no key is deleted for its TTL either:
        // an expired key reads as missing but stays, as on a replica.
        let keep_expired = replica || self.pause.is_some();
        for db in &mut self.ks.dbs {
            db.set_mode(keep_expired, track);
        }
    }

    /// Turns change tracking (what replication propagates) off for a
    /// script's writes under `redis.set_repl(REPL_NONE)`; `set_db_modes`
    /// turns it back on.
    pub fn set_tracking(&mut self, on: bool) {
        let replica = self.repl.is_replica() || self.pause.is_some();
        let track = on && !self.repl.is_replica() && self.repl.backlog.is_some();
        for db in &mut self.ks.dbs {
            db.set_mode(replica, track);
        }
    }

    /// `min-replicas-to-write` is set on a primary and fewer replicas than
    /// that have acknowledged within `min-replicas-max-lag`.
    pub fn too_few_replicas(&self, now: Millis) -> bool {
        let repl = self.config.repl();
        !self.repl.is_replica()
            && repl.min_replicas_to_write > 0
            && (self.repl.good_replicas(now, repl.min_replicas_max_lag) as u64)
                < repl.min_replicas_to_write
    }

    /// A fresh, empty keyspace hashed like this node's.
    pub fn fresh_keyspace(&self) -> Keyspace {
        let mut ks = Keyspace::new(self.ks.dbs.len(), self.ks_seed);
        if self.cluster.is_some() {
            ks.dbs[0].index_slots();
        }
        ks
    }

    fn feed(&mut self, db: Option<usize>, argv: &[&[u8]]) {
        // Encoded in a buffer kept between commands (no allocation each).
        let mut bytes = std::mem::take(&mut self.repl.scratch);
        bytes.clear();
        if let Some(d) = db {
            if self.repl.stream_db != Some(d) {
                encode(&mut bytes, &[b"SELECT", d.to_string().as_bytes()]);
                self.repl.stream_db = Some(d);
            }
        }
        encode(&mut bytes, argv);
        self.feed_raw(&bytes);
        self.repl.scratch = bytes;
    }

    /// Appends stream bytes: backlog, offset, and the next flush to replicas.
    fn feed_raw(&mut self, bytes: &[u8]) {
        let Some(b) = self.repl.backlog.as_mut() else {
            return;
        };
        b.feed(bytes);
        self.repl.offset += bytes.len() as u64;
        self.repl.pending.extend_from_slice(bytes);
    }

    /// Turns what the last command (or cron) changed into stream effects.
    /// Called after every command and timer on a primary with a backlog.
    pub fn propagate(&mut self) {
        self.propagate_command(None);
    }

    /// After a command that changed data: what Redis propagates for it
    /// (`command`: its propagation form, `propagation::form`, in database
    /// `db`) — evicted keys' DELs first, then the DELs of keys its lookups
    /// found expired and the command itself, wrapped in MULTI/EXEC when
    /// more than one (as `propagatePendingCommands`). Without a form, the
    /// effects on the keys it changed.
    pub fn propagate_command(&mut self, command: Option<Vec<(usize, propagation::Form)>>) {
        let feeding = self.repl.backlog.is_some() && self.repl.master.is_none();
        if let (true, Some(forms)) = (feeding, command) {
            let mut expired = Vec::new();
            for i in 0..self.ks.dbs.len() {
                let d = &mut self.ks.dbs[i];
                if !d.has_dirty() && d.repl_evicted.is_empty() && d.repl_expired.is_empty() {
                    continue;
                }
                let keys = d.take_dirty();
                d.take_quiet();
                let evicted = std::mem::take(&mut d.repl_evicted);
                expired.extend(
                    std::mem::take(&mut d.repl_expired)
                        .into_iter()
                        .map(|k| (i, k)),
                );
                if !self.watched.is_empty() {
                    for key in &keys {
                        crate::commands::multi::touch_watched(self, i, key);
                    }
                }
                for k in evicted {
                    self.feed(Some(i), &[b"DEL", &k]);
                }
            }
            let mut ops: Vec<(usize, propagation::Form)> = expired
                .into_iter()
                .map(|(i, k)| (i, propagation::Form::Owned(vec![b"DEL".to_vec(), k])))
                .collect();
            ops.extend(forms);
            let wrap = ops.len() > 1;
            if wrap {
                self.feed(Some(ops[0].0), &[b"MULTI"]);
            }
            for (i, argv) in &ops {
                let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                self.feed(Some(*i), &refs);
            }
            if wrap {
                self.feed(None, &[b"EXEC"]);
            }
            for (db, argv) in std::mem::take(&mut self.repl.explicit) {
                let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                self.feed(db, &refs);
            }
            return;
        }
        // Nothing recorded anywhere: no database tracks its changes
        // (Db::set_mode clears what it held when tracking stopped) and none
        // is watched.
        if !feeding && !self.ks.watching() {
            return;
        }
        for d in &mut self.ks.dbs {
            d.repl_expired.clear();
            d.repl_evicted.clear();
        }
        for i in 0..self.ks.dbs.len() {
            if !self.ks.dbs[i].has_dirty() {
                continue;
            }
            let mut keys = self.ks.dbs[i].take_dirty();
            if !self.watched.is_empty() {
                for key in &keys {
                    crate::commands::multi::touch_watched(self, i, key);
                }
            }
            if !feeding {
                self.ks.dbs[i].take_quiet();
                continue;
            }
            for k in self.ks.dbs[i].take_quiet() {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            for key in keys {
                let db = &self.ks.dbs[i];
                match db.peek(&key).map(|e| &e.value) {
                    None => self.feed(Some(i), &[b"DEL", &key]),
                    Some(Value::Str(s)) => {
                        let v = s.to_bytes();
                        match db.expire_at(&key) {
                            Some(at) => {
                                let at = at.0.to_string();
                                self.feed(Some(i), &[b"SET", &key, &v, b"PXAT", at.as_bytes()])
                            }
                            None => self.feed(Some(i), &[b"SET", &key, &v]),
                        }
                    }
                    // A collection changed by a command that recorded no
                    // effect of its own: the whole value, rebuilt.
                    Some(v) => {
                        let cmds = v.rebuild_commands(&key);
                        let at = db.expire_at(&key);
                        self.feed(Some(i), &[b"DEL", &key]);
                        for c in cmds {
                            let refs: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                            self.feed(Some(i), &refs);
                        }
                        if let Some(at) = at {
                            self.feed(Some(i), &[b"PEXPIREAT", &key, at.0.to_string().as_bytes()]);
                        }
                    }
                }
            }
        }
        if !feeding {
            return;
        }
        for (db, argv) in std::mem::take(&mut self.repl.explicit) {
            let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            self.feed(db, &refs);
        }
    }

    /// Sends the stream bytes produced since the last flush to every replica.
    pub fn flush_stream(&mut self) {
        let Repl {
            pending,
            replicas,
            outbox,
            client_out,
            offset,
            ..
        } = &mut self.repl;
        if pending.is_empty() {
            return;
        }
        let start = *offset - pending.len() as u64;
        let end = *offset;
        for (addr, r) in replicas.iter_mut() {
            match r.conn {
                None => outbox.push((
                    addr.clone(),
                    PeerMsg::Stream {
                        link: r.link,
                        start,
                        bytes: pending.clone(),
                    },
                )),
                // Held until its first ACK (`await_ack`).
                Some(_) if r.await_ack => {}
                // A connection replica has what precedes `sent` (its RDB or
                // backlog answer covered it).
                Some(conn) if r.sent < end => {
                    let skip = r.sent.saturating_sub(start) as usize;
                    client_out.push((conn, pending[skip..].to_vec()));
                    r.streamed += pending.len() - skip;
                    r.sent = end;
                }
                Some(_) => {}
            }
        }
        // Cleared, not dropped: the next batch reuses the allocation.
        pending.clear();
    }

    /// Refuses or closes link `link` of the node at `to`, with Redis's reason.
    fn refuse(&mut self, to: &str, link: u64, reason: &str) {
        if let Some(conn) = self
            .repl
            .replicas
            .get(to)
            .filter(|r| r.link == link)
            .and_then(|r| r.conn)
        {
            self.repl.client_close.push(conn);
            return;
        }
        self.repl.outbox.push((
            to.into(),
            PeerMsg::Refused {
                link,
                reason: reason.into(),
            },
        ));
    }

    fn shift_replid(&mut self) {
        self.repl.replid2 = std::mem::replace(&mut self.repl.replid, self.rng.hex40());
        self.repl.second_offset = self.repl.offset as i64 + 1;
    }

    /// Closes the links of this node's own replicas (they reconnect and
    /// learn the new history), as Redis's `disconnectSlaves`.
    fn drop_replicas(&mut self, reason: &str) {
        for (addr, r) in std::mem::take(&mut self.repl.replicas) {
            match r.conn {
                Some(conn) => self.repl.client_close.push(conn),
                None => self.refuse(&addr, r.link, reason),
            }
        }
    }

    fn log(&self, events: &mut Vec<NodeEvent>, text: String) {
        events.push(NodeEvent::Replication { text });
    }

    /// REPLCONF GETACK to every replica, so a WAIT hears back promptly.
    pub fn request_acks(&mut self) {
        // A replica speaking Redis's protocol is asked in the stream, as
        // Redis asks (the bytes count in the offset, for every replica).
        if self.repl.replicas.values().any(|r| r.conn.is_some()) {
            self.feed(None, &[b"REPLCONF", b"GETACK", b"*"]);
            return;
        }
        for (addr, r) in &self.repl.replicas {
            self.repl
                .outbox
                .push((addr.clone(), PeerMsg::GetAck { link: r.link }));
        }
    }

    /// REPLICAOF NO ONE: become a primary, keeping the data and the old
    /// history as replid2 so replicas can continue partially.
    pub fn replicaof_no_one(&mut self, events: &mut Vec<NodeEvent>) {
        let Some(old) = self.repl.master.take() else {
            return;
        };
        if let Some(w) = old.wire {
            self.migrate
                .out
                .push(crate::commands::migrate::LinkOut::Close { link: w.link });
        }
        self.shift_replid();
        self.repl.stream_db = None;
        if self.repl.backlog.is_none() {
            let size = self.config.repl().backlog_size;
            self.repl.backlog = Some(Backlog::new(size, self.repl.offset + 1));
        }
        self.drop_replicas("master changed replication id");
        self.set_db_modes();
        self.log(
            events,
            format!(
                "MASTER MODE enabled (user request); new replication ID {}, keeping {} up to offset {}",
                self.repl.replid, self.repl.replid2, self.repl.offset
            ),
        );
    }

    /// REPLICAOF host port. False when already following that primary.
    pub fn replicaof(
        &mut self,
        host: &str,
        port: u16,
        now: Millis,
        events: &mut Vec<NodeEvent>,
    ) -> bool {
        if let Some(m) = &self.repl.master {
            if m.host == host && m.port == port {
                return false;
            }
        }
        if let Some(w) = self.repl.master.take().and_then(|m| m.wire) {
            self.migrate
                .out
                .push(crate::commands::migrate::LinkOut::Close { link: w.link });
        }
        self.drop_replicas("replica changed its primary");
        self.repl.pending.clear();
        self.repl.explicit.clear();
        self.repl.master = Some(MasterLink {
            host: host.into(),
            port,
            state: LinkState::Connect,
            link: 0,
            last_io: None,
            down_since: None,
            buf: Vec::new(),
            db: 0,
            read_offset: self.repl.offset,
            wire: None,
            multi: None,
        });
        self.set_db_modes();
        self.log(
            events,
            format!("Connecting to MASTER {host}:{port} (REPLICAOF)"),
        );
        self.send_psync(now);
        true
    }

    fn send_psync(&mut self, now: Millis) {
        if self.repl.wire_mode {
            self.wire_dial(now);
            return;
        }
        // 53 bits: the id crosses JavaScript (postMessage) as a Number.
        let link = self.rng.next_u64() >> 11;
        let (replid, offset) = if self.repl.backlog.is_some() {
            (self.repl.replid.clone(), self.repl.offset as i64 + 1)
        } else {
            ("?".to_string(), -1)
        };
        let Some(m) = self.repl.master.as_mut() else {
            return;
        };
        m.link = link;
        m.state = LinkState::Syncing { since: now };
        let to = m.addr();
        self.repl.outbox.push((
            to,
            PeerMsg::Psync {
                link,
                replid,
                offset,
            },
        ));
    }

    fn link_down(&mut self, now: Millis, events: &mut Vec<NodeEvent>, why: &str) {
        if let Some(m) = self.repl.master.as_mut() {
            if let Some(w) = m.wire.take() {
                self.migrate
                    .out
                    .push(crate::commands::migrate::LinkOut::Close { link: w.link });
            }
            if m.state == LinkState::Connected {
                m.down_since = Some(now);
            }
            m.state = LinkState::Connect;
            m.buf.clear();
            m.multi = None;
            let text = format!("Connection with MASTER {} lost: {why}", m.addr());
            self.log(events, text);
        }
    }

    /// One message from another node.
    pub fn on_peer(&mut self, now: Millis, from: &str, msg: PeerMsg, events: &mut Vec<NodeEvent>) {
        match msg {
            PeerMsg::Psync {
                link,
                replid,
                offset,
            } => self.on_psync(now, from, link, &replid, offset, events),
            PeerMsg::Ack { link, offset } => {
                let mine = self.repl.offset;
                let Some(r) = self.repl.replicas.get_mut(from).filter(|r| r.link == link) else {
                    // An ACK on a link this node does not know (it restarted,
                    // or dropped the replica): refuse it, as a TCP reset
                    // would, so the replica reconnects and resyncs.
                    self.refuse(from, link, "Connection reset by peer");
                    return;
                };
                if offset > r.ack_offset || offset >= mine {
                    r.progress_at = now;
                }
                r.ack_offset = r.ack_offset.max(offset);
                r.last_ack = now;
                // A replica stuck behind for over a second lost stream bytes
                // on the way (TCP would have retransmitted): send them again
                // from the backlog, or make it resync if they are gone.
                if offset < mine && now.saturating_sub(r.progress_at) >= 1000 {
                    r.progress_at = now;
                    let resend = self
                        .repl
                        .backlog
                        .as_ref()
                        .filter(|b| offset + 1 >= b.first)
                        .map(|b| b.from(offset + 1));
                    let msg = match resend {
                        Some(bytes) => PeerMsg::Stream {
                            link,
                            start: offset,
                            bytes,
                        },
                        None => {
                            self.repl.replicas.remove(from);
                            PeerMsg::Refused {
                                link,
                                reason: "replica fell behind the backlog".into(),
                            }
                        }
                    };
                    self.repl.outbox.push((from.into(), msg));
                }
            }
            PeerMsg::FullResync {
                link,
                replid,
                offset,
                rdb,
            } => {
                if !self.awaiting(link) {
                    return;
                }
                self.load_full_sync(now, from, replid, offset, &rdb, events);
            }
            PeerMsg::Continue { link, replid } => {
                if !self.awaiting(link) {
                    return;
                }
                self.partial_accepted(now, from, replid, events);
            }
            PeerMsg::Stream { link, start, bytes } => {
                let Some(m) = self.repl.master.as_mut() else {
                    return;
                };
                if m.link != link || m.state != LinkState::Connected {
                    return;
                }
                m.last_io = Some(now);
                let have = m.read_offset;
                if start > have {
                    // A gap: part of the stream was lost. Ask again from where we are.
                    self.link_down(now, events, "gap in the replication stream");
                    self.send_psync(now);
                    return;
                }
                let skip = (have - start) as usize;
                if skip >= bytes.len() {
                    return; // a duplicate
                }
                self.apply_stream(now, &bytes[skip..]);
            }
            PeerMsg::GetAck { link } => {
                if let Some(m) = &self.repl.master {
                    if m.link == link && m.state == LinkState::Connected {
                        let to = m.addr();
                        let offset = self.repl.offset;
                        self.repl.outbox.push((to, PeerMsg::Ack { link, offset }));
                    }
                }
            }
            PeerMsg::Health { seq } => {
                let primary = !self.repl.is_replica();
                let msg = PeerMsg::HealthOk {
                    seq,
                    primary,
                    offset: self.repl.offset,
                    synced: self.repl.link_up(),
                };
                self.repl.outbox.push((from.into(), msg));
            }
            PeerMsg::HealthOk { .. } => {}
            PeerMsg::Refused { link, reason } => {
                if let Some(m) = &self.repl.master {
                    if m.link == link {
                        self.link_down(now, events, &reason);
                    }
                }
                if self.repl.replicas.get(from).is_some_and(|r| r.link == link) {
                    self.repl.replicas.remove(from);
                }
            }
        }
    }

    /// +FULLRESYNC's payload arrived: the data is replaced by the RDB's
    /// (never half-loaded: a bad payload leaves the old data and the link
    /// down, to retry), the history is the primary's from `offset` on.
    fn load_full_sync(
        &mut self,
        now: Millis,
        from: &str,
        replid: String,
        offset: u64,
        payload: &[u8],
        events: &mut Vec<NodeEvent>,
    ) -> bool {
        let fresh = self.fresh_keyspace();
        let lim = self.config.encoding_limits();
        match rdb::load(payload, || fresh, &lim, now) {
            Ok((ks, _)) => {
                self.ks = ks;
                self.repl.replid = replid;
                self.repl.replid2 = NO_REPLID.into();
                self.repl.second_offset = -1;
                self.repl.offset = offset;
                let size = self.config.repl().backlog_size;
                self.repl.backlog = Some(Backlog::new(size, offset + 1));
                self.drop_replicas("replica did a full resync");
                let m = self
                    .repl
                    .master
                    .as_mut()
                    .expect("a full sync implies a master");
                m.connected(now, offset);
                m.db = 0;
                self.set_db_modes();
                let text = format!(
                    "MASTER <-> REPLICA sync: full resync from {from}, loaded {} bytes of RDB, {} keys, offset {offset}",
                    payload.len(),
                    self.ks.total_keys()
                );
                self.log(events, text);
                true
            }
            Err(e) => {
                // Never half-loaded: the old data stays, we retry.
                self.link_down(now, events, &format!("bad RDB payload ({})", e.0));
                false
            }
        }
    }

    /// +CONTINUE: the stream goes on from this node's offset; a new
    /// replid means the primary's history moved on (it was promoted).
    fn partial_accepted(
        &mut self,
        now: Millis,
        from: &str,
        replid: String,
        events: &mut Vec<NodeEvent>,
    ) {
        if replid != self.repl.replid {
            self.repl.replid2 = std::mem::replace(&mut self.repl.replid, replid);
            self.repl.second_offset = self.repl.offset as i64 + 1;
            self.drop_replicas("master changed replication id");
        }
        let offset = self.repl.offset;
        self.repl
            .master
            .as_mut()
            .expect("a partial sync implies a master")
            .connected(now, offset);
        let text = format!(
            "MASTER <-> REPLICA sync: partial resynchronization accepted from {from} at offset {}",
            self.repl.offset
        );
        self.log(events, text);
    }

    fn awaiting(&self, link: u64) -> bool {
        self.repl
            .master
            .as_ref()
            .is_some_and(|m| m.link == link && matches!(m.state, LinkState::Syncing { .. }))
    }

    fn on_psync(
        &mut self,
        now: Millis,
        from: &str,
        link: u64,
        replid: &str,
        offset: i64,
        events: &mut Vec<NodeEvent>,
    ) {
        if self.repl.is_replica() && !self.repl.link_up() {
            self.refuse(
                from,
                link,
                "NOMASTERLINK Can't SYNC while not connected with my master",
            );
            return;
        }
        match self.answer_psync(now, from, replid, offset, events) {
            SyncAnswer::Continue { from: start, bytes } => {
                let replid = self.repl.replid.clone();
                self.repl
                    .outbox
                    .push((from.into(), PeerMsg::Continue { link, replid }));
                if !bytes.is_empty() {
                    self.repl.outbox.push((
                        from.into(),
                        PeerMsg::Stream {
                            link,
                            start: start - 1,
                            bytes,
                        },
                    ));
                }
                self.repl
                    .replicas
                    .insert(from.into(), ReplicaLink::peer(link, start - 1, now));
            }
            SyncAnswer::Full { rdb } => {
                self.repl.outbox.push((
                    from.into(),
                    PeerMsg::FullResync {
                        link,
                        replid: self.repl.replid.clone(),
                        offset: self.repl.offset,
                        rdb,
                    },
                ));
                self.repl
                    .replicas
                    .insert(from.into(), ReplicaLink::peer(link, 0, now));
            }
        }
    }

    /// masterTryPartialResynchronization, else a full resync: the backlog
    /// from `offset` when it continues this node's history and is still
    /// held, an RDB of the data now otherwise. Counts and logs it.
    fn answer_psync(
        &mut self,
        now: Millis,
        from: &str,
        replid: &str,
        offset: i64,
        events: &mut Vec<NodeEvent>,
    ) -> SyncAnswer {
        let r = &self.repl;
        let window = r.backlog.as_ref().map(|b| (b.first, b.histlen() as u64));
        let history = History {
            replid: &r.replid,
            replid2: &r.replid2,
            second_offset: r.second_offset,
            offset: r.offset,
            backlog: window,
        };
        if history.psync(replid, offset).is_ok() {
            let offset = offset as u64;
            let backlog = self.repl.backlog.as_ref().expect("in_backlog");
            let bytes = backlog.from(offset);
            self.repl.sync_partial_ok += 1;
            self.log(
                events,
                format!("Partial resynchronization request from {from} accepted, sending {} bytes of backlog", self.repl.offset + 1 - offset),
            );
            return SyncAnswer::Continue {
                from: offset,
                bytes,
            };
        }
        if replid != "?" {
            self.repl.sync_partial_err += 1;
        }
        if self.repl.backlog.is_none() {
            // Redis starts a new history when it creates the backlog.
            if self.repl.replicas.is_empty() && !self.repl.is_replica() {
                self.repl.replid = self.rng.hex40();
                self.repl.replid2 = NO_REPLID.into();
                self.repl.second_offset = -1;
            }
            let size = self.config.repl().backlog_size;
            self.repl.backlog = Some(Backlog::new(size, self.repl.offset + 1));
            self.set_db_modes();
        }
        // Commands after the snapshot must say which database they are for.
        self.repl.stream_db = None;
        let meta = rdb::Meta {
            repl_id: self.repl.replid.clone(),
            repl_offset: self.repl.offset,
        };
        let compress = self.config.get("rdbcompression") != Some("no");
        let rdb = rdb::with_compression(compress, || rdb::save(&self.ks, &meta, now));
        self.repl.sync_full += 1;
        self.log(
            events,
            format!(
                "Full resync requested by replica {from}; sending {} bytes of RDB at offset {}",
                rdb.len(),
                self.repl.offset
            ),
        );
        SyncAnswer::Full { rdb }
    }

    /// PSYNC (or SYNC, `psync` false) from a replica on client connection
    /// `conn`, named `name` ("ip:port" as REPLCONF told it): the reply
    /// bytes as Redis writes them — `+CONTINUE <replid>` and the backlog,
    /// or `+FULLRESYNC <replid> <offset>` and the RDB payload (`$<len>`, or
    /// `$EOF:<mark>` … `<mark>` to a replica with the EOF capability when
    /// `repl-diskless-sync` is on) — and from then on the stream.
    #[allow(clippy::too_many_arguments)]
    pub fn psync_client(
        &mut self,
        now: Millis,
        conn: ConnId,
        name: &str,
        hello: &ReplicaHello,
        psync: Option<(&str, i64)>,
        events: &mut Vec<NodeEvent>,
    ) -> Vec<u8> {
        let (replid, offset) = psync.unwrap_or(("?", -1));
        self.log(events, format!("Replica {name} asks for synchronization"));
        let link = self.rng.next_u64() >> 11;
        let mut out = Vec::new();
        let answer = self.answer_psync(now, name, replid, offset, events);
        let mut await_ack = false;
        let (ack_offset, online) = match answer {
            SyncAnswer::Continue { from, bytes } => {
                let line = if hello.capa_psync2 {
                    format!("+CONTINUE {}\r\n", self.repl.replid)
                } else {
                    "+CONTINUE\r\n".to_string()
                };
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(&bytes);
                (from - 1, true)
            }
            SyncAnswer::Full { rdb } => {
                if psync.is_some() {
                    out.extend_from_slice(
                        format!("+FULLRESYNC {} {}\r\n", self.repl.replid, self.repl.offset)
                            .as_bytes(),
                    );
                }
                let diskless =
                    hello.capa_eof && self.config.get("repl-diskless-sync") != Some("no");
                if diskless {
                    await_ack = true;
                    let mark = self.rng.hex40();
                    out.extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
                    out.extend_from_slice(&rdb);
                    out.extend_from_slice(mark.as_bytes());
                } else {
                    out.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
                    out.extend_from_slice(&rdb);
                }
                self.log(
                    events,
                    format!("Synchronization with replica {name} succeeded"),
                );
                (0, psync.is_none())
            }
        };
        // A replica reconnecting from the same address replaces its old link.
        if let Some(old) = self.repl.replicas.get(name).and_then(|r| r.conn) {
            if old != conn {
                self.repl.client_close.push(old);
            }
        }
        self.repl.replicas.insert(
            name.to_string(),
            ReplicaLink {
                conn: Some(conn),
                sent: self.repl.offset,
                pre_psync: psync.is_none(),
                online,
                await_ack,
                ..ReplicaLink::peer(link, ack_offset, now)
            },
        );
        out
    }

    /// REPLCONF ACK from the replica on connection `conn`.
    pub fn client_replica_ack(&mut self, now: Millis, conn: ConnId, offset: u64) {
        let mine = self.repl.offset;
        if let Some(r) = self
            .repl
            .replicas
            .values_mut()
            .find(|r| r.conn == Some(conn))
        {
            if offset > r.ack_offset || offset >= mine {
                r.progress_at = now;
            }
            r.ack_offset = r.ack_offset.max(offset);
            r.last_ack = now;
            r.online = true;
            if r.await_ack {
                r.await_ack = false;
                // What was held while it loaded, from the backlog; if the
                // backlog no longer has it, the replica is dropped (Redis
                // drops it at its output buffer limit, never below the
                // backlog's size) and syncs again.
                if r.sent < mine {
                    match self.repl.backlog.as_ref() {
                        Some(b) if r.sent + 1 >= b.first => {
                            let bytes = b.from(r.sent + 1);
                            r.streamed += bytes.len();
                            r.sent = mine;
                            self.repl.client_out.push((conn, bytes));
                        }
                        _ => self.repl.client_close.push(conn),
                    }
                }
            }
        }
    }

    /// The replica on connection `conn` (if it is one) went away.
    pub fn client_replica_gone(&mut self, conn: ConnId, events: &mut Vec<NodeEvent>) {
        let gone: Vec<String> = self
            .repl
            .replicas
            .iter()
            .filter(|(_, r)| r.conn == Some(conn))
            .map(|(a, _)| a.clone())
            .collect();
        for name in gone {
            self.repl.replicas.remove(&name);
            self.log(events, format!("Connection with replica {name} lost."));
        }
    }

    /// INFO's `connected_clients`: connections that are not replicas'
    /// (Redis counts `server.clients` less `server.slaves`).
    pub fn connected_clients(&self) -> usize {
        let replicas = self
            .repl
            .replicas
            .values()
            .filter(|r| r.conn.is_some())
            .count();
        self.clients.len().saturating_sub(replicas)
    }

    /// Stream bytes handed to the replica on `conn` since its sync answer.
    pub fn replica_streamed(&self, conn: ConnId) -> Option<usize> {
        self.repl
            .replicas
            .values()
            .find(|r| r.conn == Some(conn))
            .map(|r| r.streamed)
    }

    /// The connection is a replica's (its replies are not sent).
    pub fn is_replica_conn(&self, conn: ConnId) -> bool {
        self.repl.replicas.values().any(|r| r.conn == Some(conn))
    }

    /// Applies stream bytes from the primary, whole commands at a time.
    fn apply_stream(&mut self, now: Millis, bytes: &[u8]) {
        let Some(m) = self.repl.master.as_mut() else {
            return;
        };
        m.read_offset += bytes.len() as u64;
        let mut buf = std::mem::take(&mut m.buf);
        buf.extend_from_slice(bytes);
        let limits = RequestLimits {
            max_bulk_len: u64::MAX,
            unauthenticated: false,
        };
        let mut pos = 0;
        while let Ok(Some((argv, n))) = parse_request(&buf[pos..], &limits) {
            let raw = buf[pos..pos + n].to_vec();
            pos += n;
            // A MULTI … EXEC block counts (offset, backlog) only once
            // applied whole: a link lost inside one resumes at its MULTI.
            let Some(raw) = self.apply_streamed(now, argv, raw) else {
                continue;
            };
            // A replica's own backlog holds its primary's stream, so it can
            // serve partial resyncs after a promotion, and chain it on.
            if let Some(b) = self.repl.backlog.as_mut() {
                b.feed(&raw);
            }
            self.repl.offset += raw.len() as u64;
            self.repl.pending.extend_from_slice(&raw);
        }
        buf.drain(..pos);
        if let Some(m) = self.repl.master.as_mut() {
            m.buf = buf;
        }
    }

    /// One command of the stream; a MULTI … EXEC block (Redis wraps a
    /// transaction's and a script's effects in one) is applied at once, at
    /// its EXEC, as a replica executes it. The stream bytes now applied
    /// (none while a block is open).
    fn apply_streamed(&mut self, now: Millis, argv: Vec<Vec<u8>>, raw: Vec<u8>) -> Option<Vec<u8>> {
        let m = self.repl.master.as_mut()?;
        let Some(name) = argv.first().map(Vec::as_slice) else {
            return Some(raw);
        };
        if name.eq_ignore_ascii_case(b"MULTI") {
            m.multi = Some((Vec::new(), raw));
            return None;
        }
        let Some((queue, mut bytes)) = m.multi.take() else {
            self.apply_effect(now, &argv);
            return Some(raw);
        };
        bytes.extend_from_slice(&raw);
        if name.eq_ignore_ascii_case(b"EXEC") {
            for c in queue {
                self.apply_effect(now, &c);
            }
            return Some(bytes);
        }
        if name.eq_ignore_ascii_case(b"DISCARD") {
            return Some(bytes);
        }
        let mut queue = queue;
        queue.push(argv);
        m.multi = Some((queue, bytes));
        None
    }

    fn apply_effect(&mut self, now: Millis, argv: &[Vec<u8>]) {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
        let db = self.repl.master.as_ref().map(|m| m.db).unwrap_or(0);
        self.stats.commands_processed += 1;
        let int = |i: usize| -> Option<i64> {
            argv.get(i)
                .and_then(|a| crate::protocol::request::parse_i64_strict(a))
        };
        match name.as_str() {
            "SELECT" => {
                if let Some(n) = int(1).filter(|&n| n >= 0 && (n as usize) < self.ks.dbs.len()) {
                    if let Some(m) = self.repl.master.as_mut() {
                        m.db = n as usize;
                    }
                }
            }
            // The forms cachelab's own stream uses, fast; any other SET
            // (KEEPTTL, as Redis sends INCRBYFLOAT's) runs as itself.
            "SET"
                if argv.len() == 3
                    || (argv.len() == 5 && argv[3].eq_ignore_ascii_case(b"PXAT")) =>
            {
                let share = self.config.share_integers();
                let d = &mut self.ks.dbs[db];
                d.set(
                    &argv[1],
                    Value::Str(StrValue::from_bytes(&argv[2], share)),
                    now,
                    false,
                );
                if argv.len() >= 5 && argv[3].eq_ignore_ascii_case(b"PXAT") {
                    if let Some(at) = int(4) {
                        d.set_expire(&argv[1], Millis(at.max(0) as u64));
                    }
                }
            }
            "DEL" => {
                for k in &argv[1..] {
                    self.ks.dbs[db].remove(k);
                }
            }
            "FLUSHDB" => self.ks.dbs[db].clear(),
            "FLUSHALL" => {
                for d in &mut self.ks.dbs {
                    d.clear();
                }
            }
            "SWAPDB" => {
                let n = self.ks.dbs.len() as i64;
                if let (Some(a), Some(b)) = (int(1), int(2)) {
                    if (0..n).contains(&a) && (0..n).contains(&b) {
                        self.ks.dbs.swap(a as usize, b as usize);
                    }
                }
            }
            "PING" => {}
            // REPLCONF GETACK * in the stream (a primary with replicas
            // speaking Redis's protocol asks that way): acknowledge now.
            "REPLCONF" => {
                if argv
                    .get(1)
                    .is_some_and(|a| a.eq_ignore_ascii_case(b"getack"))
                {
                    if let Some(m) = &self.repl.master {
                        if m.wire.is_some() {
                            self.wire_ack();
                        } else {
                            let (to, link) = (m.addr(), m.link);
                            // As Redis: the offset before the GETACK itself.
                            let offset = self.repl.offset;
                            self.repl.outbox.push((to, PeerMsg::Ack { link, offset }));
                        }
                    }
                }
            }
            // Everything else runs as the command itself, against the
            // stream's database (Redis replicas execute what they receive).
            _ => crate::commands::apply_effect(self, now, db, argv),
        }
    }

    /// Once a second: replicas (re)connect and acknowledge; primaries ping
    /// and drop replicas silent for longer than `repl-timeout`.
    pub fn repl_cron(&mut self, now: Millis, events: &mut Vec<NodeEvent>) {
        if now < self.repl.next_cron {
            return;
        }
        self.repl.next_cron = now.plus(1000);
        let cfg = self.config.repl().clone();
        if let Some(b) = self.repl.backlog.as_mut() {
            if b.size() != cfg.backlog_size {
                b.resize(cfg.backlog_size);
            }
        }
        if let Some(m) = &self.repl.master {
            match m.state {
                LinkState::Connect => self.send_psync(now),
                LinkState::Syncing { since } => {
                    // No answer (the request or its reply was lost): ask
                    // again. Over Redis's protocol a transfer in progress
                    // counts as an answer, up to `repl-timeout` of silence.
                    let (from, wait) = match m.wire {
                        Some(_) => (
                            m.last_io.map_or(since, |t| t.max(since)),
                            cfg.timeout * 1000,
                        ),
                        None => (since, SYNC_RETRY_MS.min(cfg.timeout * 1000)),
                    };
                    if now.saturating_sub(from) >= wait {
                        self.send_psync(now);
                    }
                }
                LinkState::Connected => {
                    let silent = m
                        .last_io
                        .is_none_or(|t| now.saturating_sub(t) > cfg.timeout * 1000);
                    if silent {
                        self.link_down(now, events, "MASTER timeout: no data nor PING received");
                        self.send_psync(now);
                    } else if m.wire.is_some() {
                        self.wire_ack();
                    } else {
                        let (to, link, offset) = (m.addr(), m.link, self.repl.offset);
                        self.repl.outbox.push((to, PeerMsg::Ack { link, offset }));
                    }
                }
            }
        } else if !self.repl.replicas.is_empty() {
            if now.saturating_sub(self.repl.last_ping) >= cfg.ping_period * 1000 {
                self.repl.last_ping = now;
                self.feed(None, &[b"PING"]);
            }
            let timed_out: Vec<String> = self
                .repl
                .replicas
                .iter()
                .filter(|(_, r)| {
                    !r.pre_psync && now.saturating_sub(r.last_ack) > cfg.timeout * 1000
                })
                .map(|(a, _)| a.clone())
                .collect();
            for addr in timed_out {
                let r = self.repl.replicas.remove(&addr).expect("listed");
                self.log(
                    events,
                    format!("Disconnecting timedout replica (streaming sync): {addr}"),
                );
                self.refuse(&addr, r.link, "timeout");
            }
        }
    }

    /// ROLE's reply parts, INFO replication's lines.
    pub fn replication_info(&self, now: Millis) -> Vec<(String, String)> {
        let r = &self.repl;
        let mut v: Vec<(String, String)> = Vec::new();
        let mut kv = |k: &str, val: String| v.push((k.to_string(), val));
        match &r.master {
            None => kv("role", "master".into()),
            Some(m) => {
                kv("role", "slave".into());
                kv("master_host", m.host.clone());
                kv("master_port", m.port.to_string());
                let up = m.state == LinkState::Connected;
                kv("master_link_status", if up { "up" } else { "down" }.into());
                kv(
                    "master_last_io_seconds_ago",
                    match m.last_io {
                        Some(t) if up => (now.saturating_sub(t) / 1000).to_string(),
                        _ => "-1".into(),
                    },
                );
                let syncing = matches!(m.state, LinkState::Syncing { .. });
                kv("master_sync_in_progress", (syncing as u8).to_string());
                kv("slave_read_repl_offset", m.read_offset.to_string());
                kv("slave_repl_offset", r.offset.to_string());
                if !up {
                    kv(
                        "master_link_down_since_seconds",
                        match m.down_since {
                            Some(t) => (now.saturating_sub(t) / 1000).to_string(),
                            None => "-1".into(),
                        },
                    );
                }
                kv(
                    "slave_priority",
                    self.config.get("replica-priority").unwrap_or("100").into(),
                );
                kv(
                    "slave_read_only",
                    (self.config.repl().read_only as u8).to_string(),
                );
                kv(
                    "replica_announced",
                    ((self.config.get("replica-announced") != Some("no")) as u8).to_string(),
                );
            }
        }
        kv("connected_slaves", r.replicas.len().to_string());
        for (i, (addr, link)) in r.replicas.iter().enumerate() {
            let (ip, port) = split_addr(addr);
            kv(
                &format!("slave{i}"),
                format!(
                    "ip={ip},port={port},state={},offset={},lag={}",
                    if link.online { "online" } else { "wait_bgsave" },
                    link.ack_offset,
                    now.saturating_sub(link.last_ack) / 1000
                ),
            );
        }
        kv("master_failover_state", "no-failover".into());
        kv("master_replid", r.replid.clone());
        kv("master_replid2", r.replid2.clone());
        kv("master_repl_offset", r.offset.to_string());
        kv("second_repl_offset", r.second_offset.to_string());
        let (active, first, hist) = match &r.backlog {
            Some(b) => (1, b.first, b.histlen()),
            None => (0, 0, 0),
        };
        kv("repl_backlog_active", active.to_string());
        kv(
            "repl_backlog_size",
            self.config.repl().backlog_size.to_string(),
        );
        kv("repl_backlog_first_byte_offset", first.to_string());
        kv("repl_backlog_histlen", hist.to_string());
        v
    }
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    #[test]
    fn messages_read_in_the_protocols_words() {
        let mut bytes = Vec::new();
        encode(&mut bytes, &[b"SELECT", b"0"]);
        encode(
            &mut bytes,
            &[b"SET", b"price", b"10", b"PXAT", b"1767225600000"],
        );
        encode(
            &mut bytes,
            &[b"DEL", b"a very long key name that goes on and on"],
        );
        encode(&mut bytes, &[b"PING"]);
        let m = PeerMsg::Stream {
            link: 1,
            start: 100,
            bytes: bytes.clone(),
        };
        assert_eq!(
            m.describe(),
            format!(
                "offset 100→{}: SELECT 0 · SET price 10 PXAT 1767225600000 · DEL a very long key name tha… · +1 more",
                100 + bytes.len()
            )
        );
        let full = PeerMsg::FullResync {
            link: 1,
            replid: "8eefc2dede667885e4a1b6df4f9d116817b0e781".into(),
            offset: 157,
            rdb: vec![0; 225],
        };
        assert_eq!(full.describe(), "+FULLRESYNC 8eefc2de… 157 · RDB of 225 B");
        let p = PeerMsg::Psync {
            link: 1,
            replid: "?".into(),
            offset: -1,
        };
        assert_eq!(p.describe(), "PSYNC ? -1");
        assert_eq!(
            PeerMsg::Ack { link: 1, offset: 9 }.describe(),
            "REPLCONF ACK 9"
        );
    }
}
