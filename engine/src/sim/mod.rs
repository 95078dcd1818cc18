//! The deterministic simulator: a replication group (nodes + control
//! plane) on a virtual clock, one seeded RNG, a network that delays, drops,
//! duplicates and partitions (also one way), crash / restart / pause of
//! nodes, a client workload that records every acknowledged write, and the
//! checkers that decide whether a run was correct.
//!
//! Everything is single-threaded and driven by [`Sim::run_until`], which
//! jumps to the earliest pending event: a packet delivery, a node's or the
//! control plane's `poll_timeout`, a client's next operation or a scheduled
//! fault. The same seed therefore gives the same run, and the same
//! [`Sim::trace_hash`], on every platform (wasm included).

pub mod cluster;
pub mod memcached;
pub mod scenario;
mod tcp;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::control::{Action, Api, Control, ControlInput, Settings, CONTROL_ADDR};
use crate::net::Segment;
use crate::node::Fnv;
use crate::protocol::{parse_reply, Reply};
use crate::replication::PeerMsg;
use crate::rng::Rng;
use crate::time::Millis;
use crate::{ConnId, Input, Node, NodeEvent, Output};

/// How the network misbehaves. Probabilities are per mille.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
    pub drop_per_mille: u32,
    pub dup_per_mille: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            min_delay_ms: 1,
            max_delay_ms: 5,
            drop_per_mille: 0,
            dup_per_mille: 0,
        }
    }
}

/// A running node.
pub struct Host {
    pub node: Node,
    pub az: String,
    /// Distinguishes restarts at the same address.
    pub incarnation: u64,
    /// A paused node runs nothing; what reaches it waits.
    pub paused: bool,
    held: Vec<Held>,
    /// The node's disk: its last RDB file (SAVE/BGSAVE); gone with it.
    pub disk: Option<Vec<u8>>,
}

enum Held {
    Peer(String, PeerMsg),
    Bytes(ConnId, Vec<u8>),
    Tcp(Packet),
}

struct Packet {
    from: String,
    to: String,
    msg: Carried,
}

/// What the network carries: the control plane's messages, and segments
/// of the nodes' TCP connections (`tcp.rs`).
enum Carried {
    Peer(PeerMsg),
    Tcp(crate::net::Sent),
}

impl Carried {
    fn kind(&self) -> String {
        match self {
            Carried::Peer(m) => m.kind().to_string(),
            Carried::Tcp(s) => s.seg.describe(s.id),
        }
    }
}

/// One acknowledged write of the workload (`SET w:<n> <n>`).
#[derive(Clone, Debug, PartialEq)]
pub struct AckedWrite {
    pub n: u64,
    pub at: Millis,
    /// The primary that acknowledged it, its history and offset just after.
    pub node: String,
    pub replid: String,
    pub offset: u64,
    /// A following `WAIT 1` answered ≥ 1.
    pub waited: bool,
    /// Why the current primary does not hold it, if it does not.
    pub lost: Option<String>,
    /// It was missing from some primary at some point.
    pub ever_lost: bool,
}

/// A change of history: a node became primary at `offset`.
#[derive(Clone, Debug, PartialEq)]
pub struct Promotion {
    pub at: Millis,
    pub node: String,
    pub offset: u64,
    /// Acknowledged writes this promotion lost.
    pub lost: Vec<u64>,
}

struct Client {
    endpoint: String,
    conn: Option<(String, u64, ConnId)>,
    inbox: Vec<u8>,
    /// What each outstanding request was.
    waiting: VecDeque<Req>,
    next_op: Millis,
    sent_at: Millis,
    /// Use `WAIT 1 <ms>` after writes.
    wait: bool,
}

/// A client connection that stays open across commands (a subscriber in
/// a demo): its node (address and incarnation) and what the node sent it
/// that has not been read yet. `conn` is `None` once the connection closed.
/// What is unread is what the node has not written (there is no socket
/// buffer here), told to the node as the native server tells it, so a
/// subscriber that stops reading meets `client-output-buffer-limit`.
struct Session {
    conn: Option<(String, u64, ConnId)>,
    inbox: Vec<u8>,
    unread: crate::obuf::Reporter,
}

#[derive(Clone, Debug)]
enum Req {
    Write { n: u64 },
    Wait { n: u64 },
    Other,
}

pub struct Sim {
    pub now: Millis,
    pub rng: Rng,
    pub hosts: BTreeMap<String, Host>,
    pub control: Control,
    flights: BTreeMap<(Millis, u64), Packet>,
    seq: u64,
    fifo: BTreeMap<(String, String), Millis>,
    pub net: NetConfig,
    /// One-way cuts: (from, to) packets are lost.
    cuts: BTreeSet<(String, String)>,
    azs_down: BTreeSet<String>,
    clients: Vec<Client>,
    next_conn: u64,
    next_write: u64,
    incarnations: u64,
    pub writes: Vec<AckedWrite>,
    pub promotions: Vec<Promotion>,
    pub violations: Vec<String>,
    trace: VecDeque<String>,
    trace_cap: usize,
    hash: Fnv,
    events: u64,
    events_seen: usize,
    last_epoch: u64,
    next_check: Millis,
    /// Node-seconds simulated (for the speed benchmark).
    pub node_ms: u64,
    /// The reply bytes of [`Sim::command`]'s connection.
    captured: Option<(ConnId, Vec<u8>)>,
    /// Connections opened by [`Sim::open_session`], by id.
    sessions: Vec<Session>,
    /// Each backup's source data at its fork (digest), to check the file.
    snapshot_digests: BTreeMap<String, u64>,
    /// Open TCP connections between nodes.
    tcps: crate::net::Tcps,
    /// Segments a partition holds back, in order, until it heals.
    stalled: Vec<Packet>,
}

/// Virtual time the group needs to become healthy once faults stop.
pub const RECOVERY_BOUND_MS: u64 = 90_000;

impl Sim {
    /// A group `demo` with one node per AZ given (the first is the primary).
    pub fn new(seed: u64, azs: &[&str], multi_az: bool, settings: Settings) -> Sim {
        Sim::group(seed, "demo", azs, multi_az, settings, Millis(0), None)
    }

    /// A group named `group` created at `start`; its primary seeded from
    /// an RDB file when given (a restore), its replicas syncing from it.
    pub fn group(
        seed: u64,
        group: &str,
        azs: &[&str],
        multi_az: bool,
        settings: Settings,
        start: Millis,
        rdb: Option<&[u8]>,
    ) -> Sim {
        let mut sim = Sim {
            now: start,
            rng: Rng::new(seed),
            hosts: BTreeMap::new(),
            control: Control::new(group, azs, multi_az, settings),
            flights: BTreeMap::new(),
            seq: 0,
            fifo: BTreeMap::new(),
            net: NetConfig::default(),
            cuts: BTreeSet::new(),
            azs_down: BTreeSet::new(),
            clients: Vec::new(),
            next_conn: 1,
            next_write: 1,
            incarnations: 0,
            writes: Vec::new(),
            promotions: Vec::new(),
            violations: Vec::new(),
            trace: VecDeque::new(),
            trace_cap: 400,
            hash: Fnv::new(),
            events: 0,
            events_seen: 0,
            last_epoch: 0,
            next_check: start.plus(1000),
            node_ms: 0,
            captured: None,
            sessions: Vec::new(),
            snapshot_digests: BTreeMap::new(),
            tcps: Default::default(),
            stalled: Vec::new(),
        };
        sim.control.create(start);
        sim.run_actions();
        if let Some(rdb) = rdb {
            let primary = sim.control.nodes[0].addr.clone();
            if let Some(h) = sim.hosts.get_mut(&primary) {
                // A file the backup service produced loads; a bad one
                // leaves the group empty, as its log says.
                let line = match h.node.load_rdb(rdb, start) {
                    Ok(()) => format!(
                        "seed {} from a {}-byte RDB",
                        Self::short(&primary),
                        rdb.len()
                    ),
                    Err(e) => format!("seed {} refused: {e}", Self::short(&primary)),
                };
                sim.log(line);
            }
        }
        sim
    }

    /// CreateReplicationGroup --snapshot-name: a NEW group `new_group`
    /// seeded from backup `name` of this one, in the AZs given, at this
    /// moment of virtual time (this group is untouched).
    pub fn restore(
        &mut self,
        name: &str,
        new_group: &str,
        azs: &[&str],
        multi_az: bool,
    ) -> Result<Sim, crate::control::ApiError> {
        let now = self.now;
        let rdb = self.control.restore(now, name, new_group)?;
        self.run_actions();
        let seed = self.rng.next_u64();
        let settings = self.control.settings.clone();
        Ok(Sim::group(
            seed,
            new_group,
            azs,
            multi_az,
            settings,
            now,
            Some(&rdb),
        ))
    }

    /// DeleteReplicationGroup [--final-snapshot-identifier NAME]: the final
    /// backup's file is taken from the primary, then every node ends. What
    /// outlives the group is returned — its manual backups and the final
    /// one (still travelling to the bucket: whoever keeps it settles it) —
    /// for the account's list; its automatic backups are gone with it.
    pub fn delete_group(
        &mut self,
        final_name: Option<&str>,
    ) -> Result<Vec<crate::backup::Snapshot>, crate::control::ApiError> {
        let now = self.now;
        self.log(format!("api DeleteReplicationGroup final={final_name:?}"));
        self.control.delete_group(now, final_name)?;
        // The final snapshot is taken at once (the runtime's fork).
        self.run_actions();
        for addr in std::mem::take(&mut self.hosts).into_keys() {
            let line = format!("terminate {}", Self::short(&addr));
            self.log(line);
        }
        self.clients.clear();
        self.control
            .note(format!("Replication group {} deleted", self.control.group));
        Ok(self.control.backups.snapshots.clone())
    }

    /// Keeps every trace line (for `--trace`), not just the last few hundred.
    pub fn keep_full_trace(&mut self) {
        self.trace_cap = usize::MAX;
    }

    pub fn trace_hash(&self) -> u64 {
        self.hash.finish()
    }

    pub fn trace_lines(&self) -> impl Iterator<Item = &String> {
        self.trace.iter()
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    fn log(&mut self, line: String) {
        self.events += 1;
        self.hash.write(line.as_bytes());
        self.hash.write(b"\n");
        if self.trace.len() >= self.trace_cap {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>8} {line}", self.now.0));
    }

    fn short(addr: &str) -> &str {
        addr.split('.').next().unwrap_or(addr)
    }

    // ---- the network ----

    fn send(&mut self, from: &str, to: &str, msg: PeerMsg) {
        self.send_carried(from, to, Carried::Peer(msg));
    }

    /// Puts a packet on the network. A message may be dropped or
    /// duplicated; a TCP segment is never lost, only late (a dropped one
    /// is retransmitted after TCP's 200 ms), and never doubled.
    fn send_carried(&mut self, from: &str, to: &str, msg: Carried) {
        let tcp = matches!(msg, Carried::Tcp(_));
        let mut late = 0;
        let r = self.rng.next_u64() % 1000;
        if r < self.net.drop_per_mille as u64 {
            let line = format!(
                "{} {}→{} {}",
                if tcp { "retransmit" } else { "drop" },
                Self::short(from),
                Self::short(to),
                msg.kind()
            );
            self.log(line);
            if !tcp {
                return;
            }
            late = 200;
        }
        let copies = if self.rng.next_u64() % 1000 < self.net.dup_per_mille as u64 && !tcp {
            2
        } else {
            1
        };
        let size = match &msg {
            Carried::Peer(PeerMsg::FullResync { rdb, .. }) => rdb.len() as u64,
            Carried::Tcp(s) => s.seg.len() as u64,
            Carried::Peer(_) => 0,
        };
        let mut msg = Some(msg);
        for copy in 0..copies {
            let span = self.net.max_delay_ms.saturating_sub(self.net.min_delay_ms) + 1;
            // ~100 MB/s for snapshot transfers.
            let delay = self.net.min_delay_ms + self.rng.next_u64() % span + size / 100_000 + late;
            // Links are FIFO, as TCP is.
            let key = (from.to_string(), to.to_string());
            let at = self
                .now
                .plus(delay)
                .max(self.fifo.get(&key).copied().unwrap_or(Millis(0)));
            self.fifo.insert(key, at);
            self.seq += 1;
            let msg = match (copy + 1 == copies, &msg) {
                (true, _) => msg.take().expect("one left"),
                (false, Some(Carried::Peer(m))) => Carried::Peer(m.clone()),
                (false, _) => continue,
            };
            self.flights.insert(
                (at, self.seq),
                Packet {
                    from: from.into(),
                    to: to.into(),
                    msg,
                },
            );
        }
    }

    /// Packets from `a` to `b` are lost from now on (until [`Sim::heal`]).
    pub fn cut(&mut self, a: &str, b: &str) {
        self.cuts.insert((a.into(), b.into()));
        let line = format!("fault: cut {}→{}", Self::short(a), Self::short(b));
        self.log(line);
    }

    pub fn heal(&mut self) {
        self.cuts.clear();
        self.log("fault: network healed".into());
        // Connections a partition stalled carry on: what waited at the
        // partition arrives now, ahead of anything sent after it.
        for p in std::mem::take(&mut self.stalled) {
            self.deliver(p);
        }
    }

    /// Isolates a node from everyone (control plane included), both ways.
    pub fn isolate(&mut self, addr: &str) {
        let others: Vec<String> = self
            .control
            .nodes
            .iter()
            .map(|n| n.addr.clone())
            .chain([CONTROL_ADDR.to_string()])
            .filter(|a| a != addr)
            .collect();
        for o in others {
            self.cut(addr, &o);
            self.cut(&o, addr);
        }
    }

    fn deliver(&mut self, p: Packet) {
        let tcp = matches!(p.msg, Carried::Tcp(_));
        if self.cuts.contains(&(p.from.clone(), p.to.clone())) {
            let line = format!(
                "{} {}→{} {} (partition)",
                if tcp { "stall" } else { "lost" },
                Self::short(&p.from),
                Self::short(&p.to),
                p.msg.kind()
            );
            self.log(line);
            if tcp {
                self.stalled.push(p);
            }
            return;
        }
        let line = format!(
            "deliver {}→{} {}",
            Self::short(&p.from),
            Self::short(&p.to),
            p.msg.kind()
        );
        self.log(line);
        let msg = match p.msg {
            Carried::Peer(msg) => msg,
            Carried::Tcp(_) => {
                self.tcp_deliver(p);
                return;
            }
        };
        if p.to == CONTROL_ADDR {
            let now = self.now;
            self.control
                .handle(now, ControlInput::Peer { from: &p.from, msg });
            self.run_actions();
            return;
        }
        let Some(h) = self.hosts.get_mut(&p.to) else {
            return; // nobody listens there
        };
        if h.paused {
            h.held.push(Held::Peer(p.from, msg));
            return;
        }
        self.node_input(&p.to, Input::Peer { from: &p.from, msg });
    }

    // ---- nodes ----

    fn launch(&mut self, addr: &str, az: &str, replicaof: Option<&str>) {
        self.incarnations += 1;
        let mut node = Node::new(self.rng.next_u64());
        node.start(self.now, 6379);
        node.apply_elasticache_defaults();
        // Replicas sync over TCP in Redis's own protocol (`tcp.rs`).
        node.speak_redis_replication();
        if let Some(p) = replicaof {
            let (h, port) = split(p);
            node.replicaof(self.now, Some((h, port)));
        }
        self.hosts.insert(
            addr.into(),
            Host {
                node,
                az: az.into(),
                incarnation: self.incarnations,
                paused: false,
                held: Vec::new(),
                disk: None,
            },
        );
        if replicaof.is_none() {
            // A node that starts as a primary starts a new, empty history.
            self.history_changed(addr, "a primary started empty");
        }
        let line = format!(
            "launch {} in {az}{}",
            Self::short(addr),
            replicaof
                .map(|p| format!(" as replica of {}", Self::short(p)))
                .unwrap_or_default()
        );
        self.log(line);
        self.drain(addr);
    }

    /// Crashes a node: it stops, its data is gone, its connections drop.
    pub fn kill(&mut self, addr: &str) {
        if self.hosts.remove(addr).is_some() {
            let line = format!("fault: kill {}", Self::short(addr));
            self.log(line);
        }
    }

    pub fn pause(&mut self, addr: &str, paused: bool) {
        let Some(h) = self.hosts.get_mut(addr) else {
            return;
        };
        h.paused = paused;
        let line = format!(
            "fault: {} {}",
            if paused { "pause" } else { "resume" },
            Self::short(addr)
        );
        self.log(line);
        if !paused {
            let held = std::mem::take(&mut self.hosts.get_mut(addr).expect("host").held);
            for m in held {
                match m {
                    Held::Peer(from, msg) => {
                        self.node_input(addr, Input::Peer { from: &from, msg })
                    }
                    Held::Bytes(conn, bytes) => self.node_input(
                        addr,
                        Input::ClientBytes {
                            conn,
                            bytes: &bytes,
                        },
                    ),
                    Held::Tcp(p) => self.tcp_deliver(p),
                }
            }
        }
    }

    /// An Availability Zone goes down (its nodes crash, nothing launches
    /// there) or comes back.
    pub fn az(&mut self, az: &str, up: bool) {
        let line = format!("fault: AZ {az} {}", if up { "back" } else { "down" });
        self.log(line);
        if up {
            self.azs_down.remove(az);
        } else {
            self.azs_down.insert(az.into());
            let gone: Vec<String> = self
                .hosts
                .iter()
                .filter(|(_, h)| h.az == az)
                .map(|(a, _)| a.clone())
                .collect();
            for a in gone {
                self.hosts.remove(&a);
            }
        }
        let now = self.now;
        self.control.handle(now, ControlInput::Az { az, up });
        self.run_actions();
    }

    pub fn api(&mut self, req: Api) -> Result<(), crate::control::ApiError> {
        let now = self.now;
        let line = format!("api {req:?}");
        self.log(line);
        let r = self.control.api(now, req);
        if let Err(e) = &r {
            let line = format!("api refused: {}: {}", e.code, e.message);
            self.log(line);
        }
        self.run_actions();
        r
    }

    /// Node `addr` became primary (or started empty). Every acknowledged
    /// write it does not hold is lost (a write can come back if a later
    /// primary still held it), and counted. For writes of the history it
    /// continues, which ones those are is decided by offsets alone: exactly
    /// the writes above its offset — anything else is a violation (a gap or
    /// a phantom in replication).
    fn history_changed(&mut self, addr: &str, why: &str) {
        let Some(h) = self.hosts.get(addr) else {
            return;
        };
        let (rid, off, rid2, second) = h.node.repl_history();
        let (rid, rid2) = (rid.to_string(), rid2.to_string());
        let mut lost = Vec::new();
        let mut bad = Vec::new();
        for w in &mut self.writes {
            let present = h
                .node
                .get_string(0, format!("w:{}", w.n).as_bytes())
                .is_some();
            let same = w.replid == rid || (w.replid == rid2 && (w.offset as i64) < second);
            if same && present != (w.offset <= off) {
                bad.push(format!(
                    "write w:{} at offset {} is {} on {} at offset {off} of the same history",
                    w.n,
                    w.offset,
                    if present { "present" } else { "missing" },
                    addr.split('.').next().unwrap_or(addr)
                ));
            }
            if present {
                w.lost = None;
            } else if w.lost.is_none() {
                w.ever_lost = true;
                w.lost = Some(if same {
                    format!(
                        "acknowledged at offset {} but {} became primary at offset {off} ({why}): replication is asynchronous",
                        w.offset,
                        addr.split('.').next().unwrap_or(addr)
                    )
                } else {
                    format!(
                        "acknowledged by {} in a history {} never received ({why})",
                        w.node.split('.').next().unwrap_or(&w.node),
                        addr.split('.').next().unwrap_or(addr)
                    )
                });
                lost.push(w.n);
            }
        }
        for b in bad {
            self.violation(b);
        }
        let line = format!(
            "history: {} primary at offset {off} ({why}), {} acknowledged writes lost",
            Self::short(addr),
            lost.len()
        );
        self.log(line);
        self.promotions.push(Promotion {
            at: self.now,
            node: addr.into(),
            offset: off,
            lost,
        });
    }

    fn run_actions(&mut self) {
        while let Some(a) = self.control.poll_action() {
            match a {
                Action::Send { to, msg } => self.send(CONTROL_ADDR, &to, msg),
                Action::Launch {
                    addr,
                    az,
                    replicaof,
                } => {
                    if self.azs_down.contains(&az) {
                        continue;
                    }
                    self.hosts.remove(&addr);
                    self.launch(&addr, &az, replicaof.as_deref());
                }
                Action::Snapshot { name, addr } => {
                    // The node forks: the file is its data at this moment.
                    let now = self.now;
                    let rdb = self
                        .hosts
                        .get_mut(&addr)
                        .map(|h| {
                            self.snapshot_digests.insert(name.clone(), h.node.digest());
                            h.node.snapshot(now)
                        })
                        .ok_or_else(|| format!("node {} is not running", Self::short(&addr)));
                    let line = format!(
                        "snapshot {name} of {}: {}",
                        Self::short(&addr),
                        match &rdb {
                            Ok(b) => format!("{} bytes", b.len()),
                            Err(e) => e.clone(),
                        }
                    );
                    self.log(line);
                    self.control.snapshot_taken(now, &name, rdb);
                }
                Action::Terminate { addr } => {
                    if self.hosts.remove(&addr).is_some() {
                        let line = format!("terminate {}", Self::short(&addr));
                        self.log(line);
                    }
                }
                Action::ReplicaOf { addr, primary } => {
                    let now = self.now;
                    let Some(h) = self.hosts.get_mut(&addr) else {
                        continue;
                    };
                    match &primary {
                        None => {
                            if !h.node.is_primary() {
                                self.history_changed(&addr, "promoted");
                            }
                            if let Some(h) = self.hosts.get_mut(&addr) {
                                h.node.replicaof(now, None);
                            }
                        }
                        Some(p) => {
                            let (host, port) = split(p);
                            h.node.replicaof(now, Some((host, port)));
                        }
                    }
                    let line = format!(
                        "replicaof {} {}",
                        Self::short(&addr),
                        primary.as_deref().map(Self::short).unwrap_or("NO ONE")
                    );
                    self.log(line);
                    self.drain(&addr);
                }
            }
        }
        while self.events_seen < self.control.events.len() {
            let e = &self.control.events[self.events_seen];
            let line = format!("event {} {}: {}", e.source_type, e.source_id, e.message);
            self.events_seen += 1;
            self.log(line);
        }
    }

    /// Feeds a node one input, then routes what it produced and reads the
    /// replies its clients got, with the replication position right after.
    fn node_input(&mut self, addr: &str, input: Input<'_>) {
        let now = self.now;
        let Some(h) = self.hosts.get_mut(addr) else {
            return;
        };
        h.node.handle(now, input);
        self.drain(addr);
        self.collect_replies(addr);
    }

    fn drain(&mut self, addr: &str) {
        loop {
            let Some(h) = self.hosts.get_mut(addr) else {
                return;
            };
            let Some(out) = h.node.poll_output() else {
                return;
            };
            match out {
                // The node's process ends (no disk here: a save is moot,
                // the data goes with the node as in a crash).
                Output::Shutdown(_) => {
                    self.hosts.remove(addr);
                    let line = format!("shutdown {}", Self::short(addr));
                    self.log(line);
                    return;
                }
                // A replica's link to its primary, MIGRATE's: TCP (`tcp.rs`).
                Output::Dial { link, host, port } => self.tcp_dial(addr, link, &host, port),
                Output::LinkSend { link, bytes } => {
                    self.tcp_from_dialer(addr, link, Segment::Data(bytes))
                }
                Output::LinkClose { link } => self.tcp_from_dialer(addr, link, Segment::Fin),
                // The node's disk takes the file at once.
                Output::Save(req) => {
                    let now = self.now;
                    h.disk = Some(req.rdb);
                    h.node.save_done(now, req.id, true);
                }
                // No cluster-mode groups run here yet.
                Output::SaveClusterConfig { .. } => {}
                Output::ToPeer { to, msg } => {
                    let to = self.control.resolve(&to, 0).unwrap_or(to);
                    self.send(addr, &to, msg);
                }
                Output::ToClient { conn, bytes } if self.tcps.of_conn(addr, conn).is_some() => {
                    self.tcp_from_server(addr, conn, Segment::Data(bytes));
                }
                Output::CloseConn { conn } if self.tcps.of_conn(addr, conn).is_some() => {
                    self.tcp_from_server(addr, conn, Segment::Fin);
                }
                Output::ToClient { conn, bytes }
                    if self.captured.as_ref().is_some_and(|(c, _)| *c == conn) =>
                {
                    if let Some((_, buf)) = self.captured.as_mut() {
                        buf.extend_from_slice(&bytes);
                    }
                }
                Output::ToClient { conn, bytes } => {
                    let inc = h.incarnation;
                    let ours = |c: &Option<(String, u64, ConnId)>| {
                        c.as_ref()
                            .is_some_and(|(a, i, id)| a == addr && *i == inc && *id == conn)
                    };
                    if let Some(c) = self.clients.iter_mut().find(|c| ours(&c.conn)) {
                        c.inbox.extend_from_slice(&bytes);
                    } else if let Some(s) = self.sessions.iter_mut().find(|s| ours(&s.conn)) {
                        s.inbox.extend_from_slice(&bytes);
                        if let Some(bytes) = s.unread.due(s.inbox.len()) {
                            let now = self.now;
                            if let Some(h) = self.hosts.get_mut(addr) {
                                h.node.handle(now, Input::Unwritten { conn, bytes });
                            }
                        }
                    }
                }
                Output::CloseConn { conn } => {
                    let ours = |c: &Option<(String, u64, ConnId)>| {
                        c.as_ref()
                            .is_some_and(|(a, _, id)| a == addr && *id == conn)
                    };
                    for c in &mut self.clients {
                        if ours(&c.conn) {
                            c.conn = None;
                        }
                    }
                    for s in &mut self.sessions {
                        if ours(&s.conn) {
                            s.conn = None;
                            // Closed with output the node knew was
                            // unwritten (its output buffer limit): that
                            // output is dropped with the client.
                            if s.unread.heard() > 0 {
                                s.inbox.clear();
                            }
                        }
                    }
                }
                Output::Event(NodeEvent::Replication { text }) => {
                    let line = format!("{}: {text}", Self::short(addr));
                    self.log(line);
                }
                Output::Event(_) => {}
            }
        }
    }

    // ---- one-off commands (the learning mode's checks, tests) ----

    /// Sends one command to an endpoint or node address (resolved as a
    /// client's DNS lookup would, `pick` choosing among the reader
    /// endpoint's replicas) on a fresh connection, and returns the node's
    /// reply with the address that answered. `None` when the name resolves
    /// to no running node, or the node is paused or the reply does not come
    /// at once (a blocking command).
    pub fn command(
        &mut self,
        name: &str,
        pick: usize,
        argv: &[Vec<u8>],
    ) -> Option<(String, Reply)> {
        let addr = self.control.resolve(name, pick)?;
        if self.hosts.get(&addr).is_none_or(|h| h.paused) {
            return None;
        }
        let conn = ConnId(1 << 40 | self.next_conn);
        self.next_conn += 1;
        self.captured = Some((conn, Vec::new()));
        let local = addr.clone();
        self.node_input(
            &addr,
            Input::ConnOpened {
                conn,
                peer: "10.0.0.200:40000".into(),
                local,
            },
        );
        let bytes = crate::protocol::encode_request(argv);
        self.node_input(
            &addr,
            Input::ClientBytes {
                conn,
                bytes: &bytes,
            },
        );
        // A long script runs in slices, one per tick (at the same virtual
        // instant): give it the ticks it needs, up to a bound.
        let mut ticks = 0;
        while self.captured.as_ref().is_some_and(|(_, b)| b.is_empty())
            && self
                .hosts
                .get(&addr)
                .is_some_and(|h| h.node.script_running())
            && ticks < 100_000
        {
            self.node_input(&addr, Input::Tick);
            ticks += 1;
        }
        self.node_input(&addr, Input::ConnClosed { conn });
        let (_, reply) = self.captured.take()?;
        let (r, _) = parse_reply(&reply).ok().flatten()?;
        Some((addr, r))
    }

    // ---- sessions: connections that stay open (a subscriber) ----

    /// Opens a client connection to an endpoint or node address (resolved
    /// as [`Sim::command`] resolves it) that stays open until closed or its
    /// node goes: its id. `None` when the name resolves to no running node
    /// or the node is paused (it accepts nothing).
    pub fn open_session(&mut self, name: &str, pick: usize) -> Option<usize> {
        let addr = self.control.resolve(name, pick)?;
        let h = self.hosts.get(&addr).filter(|h| !h.paused)?;
        // Apart from `command`'s (1 << 40) and TCP's (`net::TCP_CONNS`).
        let conn = ConnId(4 << 40 | self.next_conn);
        self.next_conn += 1;
        self.sessions.push(Session {
            conn: Some((addr.clone(), h.incarnation, conn)),
            inbox: Vec::new(),
            unread: Default::default(),
        });
        let local = addr.clone();
        self.node_input(
            &addr,
            Input::ConnOpened {
                conn,
                peer: format!("10.0.0.{}:41000", 100 + self.sessions.len() % 100),
                local,
            },
        );
        Some(self.sessions.len() - 1)
    }

    /// The session's connection, if it is still open: its node has not
    /// closed it, crashed or been replaced.
    fn session_conn(&mut self, id: usize) -> Option<(String, ConnId)> {
        let s = self.sessions.get_mut(id)?;
        let (addr, inc, conn) = s.conn.clone()?;
        if self.hosts.get(&addr).is_none_or(|h| h.incarnation != inc) {
            s.conn = None;
            return None;
        }
        Some((addr, conn))
    }

    /// Sends a command on a session; its replies (and anything pushed to
    /// it later) are read with [`Sim::session_read`]. `false` when the
    /// connection has closed. A paused node holds the bytes until resumed.
    pub fn session_send(&mut self, id: usize, argv: &[Vec<u8>]) -> bool {
        let Some((addr, conn)) = self.session_conn(id) else {
            return false;
        };
        let bytes = crate::protocol::encode_request(argv);
        let h = self.hosts.get_mut(&addr).expect("checked");
        if h.paused {
            h.held.push(Held::Bytes(conn, bytes));
            return true;
        }
        self.node_input(
            &addr,
            Input::ClientBytes {
                conn,
                bytes: &bytes,
            },
        );
        true
    }

    /// The whole replies a session has received since the last read, in
    /// order, and whether its connection is still open.
    pub fn session_read(&mut self, id: usize) -> (Vec<Reply>, bool) {
        let conn = self.session_conn(id);
        let Some(s) = self.sessions.get_mut(id) else {
            return (Vec::new(), false);
        };
        let mut replies = Vec::new();
        let mut at = 0;
        while let Ok(Some((r, used))) = parse_reply(&s.inbox[at..]) {
            replies.push(r);
            at += used;
        }
        s.inbox.drain(..at);
        let due = s.unread.due(s.inbox.len());
        if let (Some((addr, conn)), Some(bytes)) = (&conn, due) {
            self.node_input(addr, Input::Unwritten { conn: *conn, bytes });
        }
        (replies, conn.is_some())
    }

    /// Closes a session's connection (the client hangs up).
    pub fn close_session(&mut self, id: usize) {
        if let Some((addr, conn)) = self.session_conn(id) {
            self.node_input(&addr, Input::ConnClosed { conn });
        }
        if let Some(s) = self.sessions.get_mut(id) {
            s.conn = None;
            s.inbox.clear();
        }
    }

    // ---- clients ----

    /// A client that writes through `endpoint` every few milliseconds,
    /// following each write with `WAIT 1 200` when `wait` is set.
    pub fn add_writer(&mut self, endpoint: &str, wait: bool) {
        self.clients.push(Client {
            endpoint: endpoint.into(),
            conn: None,
            inbox: Vec::new(),
            waiting: VecDeque::new(),
            next_op: self.now.plus(50),
            sent_at: self.now,
            wait,
        });
    }

    /// Stops the clients' writes (they finish what is outstanding).
    pub fn stop_clients(&mut self) {
        for c in &mut self.clients {
            c.next_op = Millis(u64::MAX);
        }
    }

    fn client_step(&mut self, i: usize) {
        let now = self.now;
        // Outstanding requests time out after 2 s: the client gives up on
        // the connection (the writes' fate is unknown, so not counted).
        if !self.clients[i].waiting.is_empty() {
            if now.saturating_sub(self.clients[i].sent_at) >= 2000 {
                self.drop_conn(i);
            }
            return;
        }
        if now < self.clients[i].next_op {
            return;
        }
        self.clients[i].next_op = now.plus(5 + self.rng.next_u64() % 20);
        if self.clients[i].conn.is_none() {
            let ep = self.clients[i].endpoint.clone();
            let pick = self.rng.below(8);
            let Some(addr) = self.control.resolve(&ep, pick) else {
                return;
            };
            let Some(h) = self.hosts.get_mut(&addr) else {
                return; // connection refused
            };
            let conn = ConnId(self.next_conn);
            self.next_conn += 1;
            self.clients[i].conn = Some((addr.clone(), h.incarnation, conn));
            let paused = h.paused;
            let input = Input::ConnOpened {
                conn,
                peer: format!("10.0.0.{i}:5000"),
                local: "10.0.1.1:6379".into(),
            };
            if paused {
                // A paused node accepts nothing; the attempt fails.
                self.clients[i].conn = None;
                return;
            }
            self.node_input(&addr, input);
        }
        let r = self.rng.below(100);
        let (argv, req): (Vec<String>, Req) = if r < 70 {
            let n = self.next_write;
            self.next_write += 1;
            (
                vec!["SET".into(), format!("w:{n}"), n.to_string()],
                Req::Write { n },
            )
        } else if r < 80 {
            let k = self.rng.below(50);
            let ttl = 1 + self.rng.below(3000);
            (
                vec![
                    "SET".into(),
                    format!("t:{k}"),
                    "x".into(),
                    "PX".into(),
                    ttl.to_string(),
                ],
                Req::Other,
            )
        } else if r < 90 {
            let k = self.rng.below(20);
            (
                vec!["INCRBYFLOAT".into(), format!("f:{k}"), "1.5".into()],
                Req::Other,
            )
        } else {
            let k = self.rng.below(50);
            (vec!["DEL".into(), format!("t:{k}")], Req::Other)
        };
        let mut bytes = crate::protocol::request::encode_request(
            &argv
                .iter()
                .map(|s| s.clone().into_bytes())
                .collect::<Vec<_>>(),
        );
        self.clients[i].waiting.push_back(req.clone());
        if let (true, Req::Write { n }) = (self.clients[i].wait, &req) {
            bytes.extend_from_slice(&crate::protocol::request::encode_request(&[
                b"WAIT".to_vec(),
                b"1".to_vec(),
                b"200".to_vec(),
            ]));
            self.clients[i].waiting.push_back(Req::Wait { n: *n });
        }
        self.clients[i].sent_at = now;
        let Some((addr, inc, conn)) = self.clients[i].conn.clone() else {
            return;
        };
        let Some(h) = self.hosts.get_mut(&addr).filter(|h| h.incarnation == inc) else {
            self.drop_conn(i);
            return;
        };
        if h.paused {
            h.held.push(Held::Bytes(conn, bytes));
            return;
        }
        self.node_input(
            &addr,
            Input::ClientBytes {
                conn,
                bytes: &bytes,
            },
        );
    }

    fn drop_conn(&mut self, i: usize) {
        if let Some((addr, inc, conn)) = self.clients[i].conn.take() {
            let now = self.now;
            if let Some(h) = self.hosts.get_mut(&addr).filter(|h| h.incarnation == inc) {
                h.node.handle(now, Input::ConnClosed { conn });
            }
        }
        self.clients[i].waiting.clear();
        self.clients[i].inbox.clear();
    }

    fn read_replies(&mut self, i: usize, addr: &str, replid: &str, offset: u64) {
        loop {
            let (reply, n) = match parse_reply(&self.clients[i].inbox) {
                Ok(Some(r)) => r,
                _ => return,
            };
            self.clients[i].inbox.drain(..n);
            let Some(req) = self.clients[i].waiting.pop_front() else {
                continue;
            };
            match (req, &reply) {
                (Req::Write { n }, Reply::Simple(s)) if s == "OK" => {
                    let line = format!(
                        "client {i}: SET w:{n} acknowledged by {} at offset {offset}",
                        Self::short(addr)
                    );
                    self.log(line);
                    self.writes.push(AckedWrite {
                        n,
                        at: self.now,
                        node: addr.into(),
                        replid: replid.into(),
                        offset,
                        waited: false,
                        lost: None,
                        ever_lost: false,
                    });
                }
                (Req::Wait { n }, Reply::Int(k)) if *k >= 1 => {
                    if let Some(w) = self.writes.iter_mut().rev().find(|w| w.n == n) {
                        w.waited = true;
                    }
                    let line = format!("client {i}: WAIT after w:{n} → {k}");
                    self.log(line);
                }
                (_, Reply::Error(e)) => {
                    let line = format!("client {i}: error {e}");
                    self.log(line);
                }
                _ => {}
            }
        }
    }

    // ---- the loop ----

    fn next_event(&self) -> Millis {
        let mut t = self.control.poll_timeout();
        if let Some(((at, _), _)) = self.flights.first_key_value() {
            t = t.min(*at);
        }
        for h in self.hosts.values() {
            if !h.paused {
                if let Some(at) = h.node.poll_timeout() {
                    t = t.min(at);
                }
            }
        }
        for c in &self.clients {
            let at = if c.waiting.is_empty() {
                c.next_op
            } else {
                c.sent_at.plus(2000)
            };
            t = t.min(at);
        }
        t.min(self.next_check)
    }

    /// Runs every event up to and including `until`.
    pub fn run_until(&mut self, until: Millis) {
        loop {
            let t = self.next_event();
            if t > until {
                break;
            }
            if t > self.now {
                self.node_ms += (t.0 - self.now.0) * self.hosts.len() as u64;
                self.now = t;
            }
            let now = self.now;
            // Packets due now.
            while let Some(entry) = self.flights.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let p = entry.remove();
                self.deliver(p);
            }
            // Node timers.
            let due: Vec<String> = self
                .hosts
                .iter()
                .filter(|(_, h)| !h.paused && h.node.poll_timeout().is_some_and(|at| at <= now))
                .map(|(a, _)| a.clone())
                .collect();
            for a in due {
                self.node_input(&a, Input::Tick);
            }
            if self.control.poll_timeout() <= now {
                self.control.handle(now, ControlInput::Tick);
                self.run_actions();
            }
            for i in 0..self.clients.len() {
                self.client_step(i);
            }
            if now >= self.next_check {
                self.next_check = now.plus(1000);
                self.check_invariants();
            }
        }
        if until > self.now {
            self.node_ms += (until.0 - self.now.0) * self.hosts.len() as u64;
            self.now = until;
        }
    }

    /// Reads the replies the clients connected to `addr` have received.
    fn collect_replies(&mut self, addr: &str) {
        let Some(h) = self.hosts.get(addr) else {
            return;
        };
        let pos = h.node.repl_position();
        let (replid, offset) = (pos.0.to_string(), pos.1);
        for i in 0..self.clients.len() {
            let mine = self.clients[i]
                .conn
                .as_ref()
                .is_some_and(|(a, _, _)| a == addr);
            if mine && !self.clients[i].inbox.is_empty() {
                self.read_replies(i, addr, &replid, offset);
            }
        }
    }

    // ---- checkers ----

    fn violation(&mut self, what: String) {
        let line = format!("VIOLATION: {what}");
        self.log(line);
        if self.violations.len() < 20 {
            self.violations.push(what);
        } else if self.violations.len() == 20 {
            self.violations
                .push("… (more violations not listed)".into());
        }
    }

    /// The invariants that must hold at every moment.
    pub fn check_invariants(&mut self) {
        let primaries: Vec<String> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.node.is_primary())
            .map(|(a, _)| Self::short(a).to_string())
            .collect();
        if primaries.len() > 1 {
            self.violation(format!(
                "{} writable primaries at once: {primaries:?}",
                primaries.len()
            ));
        }
        if self.control.epoch < self.last_epoch {
            self.violation(format!(
                "epoch went back from {} to {}",
                self.last_epoch, self.control.epoch
            ));
        }
        self.last_epoch = self.control.epoch;
        // Replicas at the primary's exact position hold the same data.
        if let Some((pa, p)) = self.hosts.iter().find(|(_, h)| h.node.is_primary()) {
            let (pid, poff) = p.node.repl_position();
            let pdig = p.node.digest();
            let mut bad = Vec::new();
            for (a, h) in &self.hosts {
                if a == pa || h.node.is_primary() {
                    continue;
                }
                let (rid, roff) = h.node.repl_position();
                if rid == pid && roff == poff && h.node.digest() != pdig {
                    bad.push(format!(
                        "{} and {} at ({pid}, {poff}) differ",
                        Self::short(pa),
                        Self::short(a)
                    ));
                }
            }
            for b in bad {
                self.violation(b);
            }
        }
    }

    /// The end-of-run checks, once faults have stopped and the group had
    /// [`RECOVERY_BOUND_MS`] to heal: it must be healthy and in sync, and
    /// the acknowledged writes present must be exactly those not lost.
    /// `single_failure`: no partitions or pauses, one crash at most — then
    /// no write confirmed by `WAIT 1` may be lost.
    pub fn check_final(&mut self, single_failure: bool) {
        if !self.control.healthy() {
            let states: Vec<String> = self
                .control
                .nodes
                .iter()
                .map(|n| format!("{} {:?} {}", n.name, n.role, n.status.word()))
                .collect();
            self.violation(format!(
                "group not healthy after recovery bound: {states:?}"
            ));
            return;
        }
        let Some(paddr) = self.control.dns.primary.clone() else {
            self.violation("no primary endpoint".into());
            return;
        };
        let Some(p) = self.hosts.get(&paddr) else {
            self.violation(format!(
                "primary endpoint points at {} which is not running",
                Self::short(&paddr)
            ));
            return;
        };
        if !p.node.is_primary() {
            self.violation(format!(
                "primary endpoint points at replica {}",
                Self::short(&paddr)
            ));
            return;
        }
        let (pid, poff) = (
            p.node.repl_position().0.to_string(),
            p.node.repl_position().1,
        );
        let pdig = p.node.digest();
        let mut problems = Vec::new();
        for (a, h) in &self.hosts {
            if *a == paddr {
                continue;
            }
            let (rid, roff) = h.node.repl_position();
            if h.node.is_primary() {
                problems.push(format!("{} is a second primary", Self::short(a)));
            } else if rid != pid || roff != poff {
                problems.push(format!(
                    "replica {} at ({rid}, {roff}), primary at ({pid}, {poff})",
                    Self::short(a)
                ));
            } else if h.node.digest() != pdig {
                problems.push(format!(
                    "replica {} data differs from the primary's",
                    Self::short(a)
                ));
            }
        }
        // Acknowledged writes: present exactly when not accounted lost.
        for w in &self.writes {
            let key = format!("w:{}", w.n);
            let present = p.node.get_string(0, key.as_bytes());
            match (&w.lost, present) {
                (None, None) => problems.push(format!(
                    "acknowledged write w:{} (offset {} on {}) is missing and no failover accounts for it",
                    w.n,
                    w.offset,
                    Self::short(&w.node)
                )),
                (Some(why), Some(_)) => {
                    problems.push(format!("write w:{} counted lost ({why}) but present", w.n))
                }
                (None, Some(v)) if v != w.n.to_string().as_bytes() => {
                    problems.push(format!("write w:{} has a wrong value", w.n))
                }
                _ => {}
            }
            if single_failure && w.waited && w.ever_lost {
                problems.push(format!(
                    "write w:{} was confirmed by WAIT 1 and still lost by a single failure",
                    w.n
                ));
            }
        }
        for p in problems {
            self.violation(p);
        }
        self.check_backups();
    }

    /// Every backup is complete or reported failed, never half there: an
    /// available one loads and holds exactly its source's data at the
    /// fork; a failed one keeps no file and says why in the events; none
    /// is still being created once the group has recovered.
    pub fn check_backups(&mut self) {
        use crate::backup::Status;
        let mut problems = Vec::new();
        for b in &self.control.backups.snapshots {
            match b.status {
                Status::Creating => problems.push(format!(
                    "backup {} still being created after the recovery bound",
                    b.name
                )),
                Status::Failed => {
                    if !b.rdb.is_empty() {
                        problems.push(format!("failed backup {} kept a file", b.name));
                    }
                    let said = self.control.events.iter().any(|e| {
                        e.message
                            .contains(&format!("failed for snapshot {}", b.name))
                    });
                    if !said {
                        problems.push(format!("backup {} failed without an event", b.name));
                    }
                }
                Status::Available => {
                    let mut n = crate::Node::new(1);
                    match n.load_rdb(&b.rdb, self.now) {
                        Err(e) => problems.push(format!("backup {} does not load: {e}", b.name)),
                        Ok(()) => {
                            if self.snapshot_digests.get(&b.name) != Some(&n.digest()) {
                                problems.push(format!(
                                    "backup {} differs from its node's data at the fork",
                                    b.name
                                ));
                            }
                        }
                    }
                }
            }
        }
        for p in problems {
            self.violation(p);
        }
    }

    /// With the clients stopped, runs (at most `max_ms`) until no stream is
    /// in flight and every running replica is at its primary's offset — a
    /// heartbeat PING sent at the last instant is not a lagging replica.
    pub fn quiesce(&mut self, max_ms: u64) {
        let end = self.now.plus(max_ms);
        while self.now < end {
            let primary = self.hosts.values().find(|h| h.node.is_primary());
            let settled = match primary {
                Some(p) => {
                    let pos = p.node.repl_position().1;
                    self.hosts.values().all(|h| h.node.repl_position().1 == pos)
                }
                None => true,
            };
            if settled
                && !self.flights.values().any(|p| {
                    matches!(
                        p.msg,
                        Carried::Peer(PeerMsg::Stream { .. }) | Carried::Tcp(_)
                    )
                })
            {
                return;
            }
            let t = self.now.plus(50);
            self.run_until(t);
        }
    }

    /// How many acknowledged writes were lost, and how many of those had a WAIT.
    pub fn lost_writes(&self) -> (usize, usize) {
        let lost = self.writes.iter().filter(|w| w.lost.is_some()).count();
        let waited = self
            .writes
            .iter()
            .filter(|w| w.lost.is_some() && w.waited)
            .count();
        (lost, waited)
    }
}

fn split(addr: &str) -> (&str, u16) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap_or(6379)),
        None => (addr, 6379),
    }
}
