//! The main-thread router: one module Web Worker per cache node, and every
//! message between them — client↔node and node↔node — passes through here,
//! so it can be delayed, dropped, partitioned and shown. It also hosts the
//! engine's control plane ([`Control`]): health checks travel the same
//! network, and its actions (launch, terminate, REPLICAOF) are carried out
//! on the workers. Owns the virtual clock that it passes in every message.
//! Holds no copy of node state: views come from the workers, the group's
//! shape from the control plane.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use cachelab_engine::commands::migrate::{LinkId, LinkOut};
use cachelab_engine::control::{
    Action, Api, ApiError, Control, ControlInput, Settings, CONTROL_ADDR,
};
use cachelab_engine::net::{Segment, Sent, Tcps};
use cachelab_engine::replication::watch::LinkWatch;
use cachelab_engine::wire::{FromWorker, ToWorker};
use cachelab_engine::{ConnId, Millis, PeerMsg};
use wasm_bindgen::prelude::*;

use crate::workers::NodeLink;

/// Something a worker said, tagged with the node (slot) that said it.
pub type Inbox = Rc<dyn Fn(usize, FromWorker)>;

/// Virtual one-way delay between nodes, in milliseconds.
const LINK_DELAY_MS: u64 = 20;

/// A node-to-node message, as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    pub at: Millis,
    pub from: String,
    pub to: String,
    pub kind: &'static str,
    pub bytes: usize,
    /// The message in the protocol's words (`LinkWatch`, `PeerMsg::describe`).
    pub detail: String,
    /// Lost to a partition or a dead node.
    pub lost: bool,
    /// TCP bytes a partition holds back (delivered when it heals).
    pub held: bool,
}

struct Flight {
    at: Millis,
    from: String,
    to: String,
    msg: Carried,
}

/// What the router's network carries: the control plane's messages and
/// the nodes' TCP segments (`cachelab_engine::net`).
enum Carried {
    Peer(PeerMsg),
    Tcp(Sent),
}

pub struct Router {
    /// By control-plane node index; `None` while the node is down.
    nodes: Vec<Option<NodeLink>>,
    /// Paused nodes: what reaches them waits.
    paused: BTreeSet<usize>,
    held: BTreeMap<usize, Vec<ToWorker>>,
    pub control: Control,
    pub now: Millis,
    flights: Vec<Flight>,
    /// One-way cuts (from, to) by address.
    cuts: BTreeSet<(String, String)>,
    pub azs_down: BTreeSet<String>,
    pub partitioned_azs: BTreeSet<String>,
    pub traffic: VecDeque<Traffic>,
    inbox: Inbox,
    weak: std::rc::Weak<RefCell<Router>>,
    seeds: u64,
    /// Replication log lines from the nodes, newest last.
    pub node_log: VecDeque<(Millis, String)>,
    /// Nodes whose process SHUTDOWN ended, taken down on the next step
    /// (not from inside their worker's own message handler).
    shut_down: Vec<usize>,
    /// TCP connections between nodes (replication links, MIGRATE's).
    tcps: Tcps,
    /// What each connection's bytes say, for the traffic view.
    watches: BTreeMap<u64, LinkWatch>,
    /// Segments a partition holds back, in order, until it heals.
    stalled: Vec<Flight>,
}

pub type SharedRouter = Rc<RefCell<Router>>;

pub fn short(addr: &str) -> String {
    addr.split('.').next().unwrap_or(addr).to_string()
}

fn settings() -> Settings {
    Settings {
        offset_wait_ms: 3_000,
        ..Settings::default()
    }
}

impl Router {
    /// A replication group of one node per AZ given (the first is the
    /// primary), created at `start`; `inbox` receives what workers say.
    /// A replication group named `group`; its primary seeded from an RDB
    /// file when given (CreateReplicationGroup --snapshot-name, or an
    /// uploaded dump), its replicas syncing from it.
    pub fn spawn_group(
        group: &str,
        azs: &[&str],
        multi_az: bool,
        start: Millis,
        inbox: Inbox,
        seed: Option<Vec<u8>>,
    ) -> SharedRouter {
        // Workers answer in real time, after the tick that asked: at 10x a
        // round trip can take two virtual seconds, so the control plane
        // waits a little longer for the replicas' offsets than the default.
        let settings = settings();
        let router = Rc::new(RefCell::new(Router {
            nodes: Vec::new(),
            paused: BTreeSet::new(),
            held: BTreeMap::new(),
            control: Control::new(group, azs, multi_az && azs.len() > 1, settings),
            now: start,
            flights: Vec::new(),
            cuts: BTreeSet::new(),
            azs_down: BTreeSet::new(),
            partitioned_azs: BTreeSet::new(),
            traffic: VecDeque::new(),
            inbox,
            weak: std::rc::Weak::new(),
            seeds: 0,
            node_log: VecDeque::new(),
            shut_down: Vec::new(),
            tcps: Tcps::default(),
            watches: BTreeMap::new(),
            stalled: Vec::new(),
        }));
        router.borrow_mut().weak = Rc::downgrade(&router);
        {
            let mut r = router.borrow_mut();
            r.control.create(start);
            r.run_actions();
            if let Some(rdb) = seed {
                // Queued behind the primary's Init: it loads before any
                // replica asks it for a sync.
                r.send(0, ToWorker::Load { rdb, now: start });
            }
        }
        router
    }

    fn slot(&self, addr: &str) -> Option<usize> {
        self.control.nodes.iter().position(|n| n.addr == addr)
    }

    pub fn is_up(&self, slot: usize) -> bool {
        self.nodes.get(slot).is_some_and(|n| n.is_some())
    }

    /// The node's worker has loaded the engine and takes messages.
    pub fn is_ready(&self, slot: usize) -> bool {
        self.nodes
            .get(slot)
            .is_some_and(|n| n.as_ref().is_some_and(|l| l.is_ready()))
    }

    pub fn is_paused(&self, slot: usize) -> bool {
        self.paused.contains(&slot)
    }

    pub fn is_isolated(&self, slot: usize) -> bool {
        let Some(n) = self.control.nodes.get(slot) else {
            return false;
        };
        self.cuts.iter().any(|(a, b)| *a == n.addr || *b == n.addr)
    }

    fn launch(&mut self, slot: usize, replicaof: Option<String>) -> Result<(), JsValue> {
        self.terminate(slot);
        let name = self.control.nodes[slot].name.clone();
        let weak = self.weak.clone();
        let inbox = self.inbox.clone();
        self.seeds += 1;
        let mut first = vec![ToWorker::Init {
            seed: 0xC0FFEE + self.seeds,
            name: name.clone(),
            now: self.now,
        }];
        if let Some(p) = replicaof {
            let (h, port) = split(&p);
            first.push(ToWorker::ReplicaOf {
                primary: Some((h.to_string(), port)),
                now: self.now,
            });
        }
        let link = NodeLink::spawn(&name, self.seeds, first, move |msg: FromWorker| {
            let Some(r) = weak.upgrade() else {
                return;
            };
            match msg {
                FromWorker::Ready => r.borrow_mut().mark_ready(slot),
                FromWorker::LoadFailed { error } => {
                    let mut r = r.borrow_mut();
                    let line = format!(
                        "{}: the RDB file was refused ({error}); the node starts empty",
                        r.control.nodes[slot].name
                    );
                    let now = r.now;
                    r.node_log.push_back((now, line));
                    return;
                }
                FromWorker::Snapshot { name, rdb } => {
                    let mut r = r.borrow_mut();
                    let now = r.now;
                    r.control.snapshot_taken(now, &name, rdb);
                    r.run_actions();
                    return;
                }
                FromWorker::Shutdown => {
                    let mut r = r.borrow_mut();
                    let line = format!(
                        "{}: SHUTDOWN — the node's process exited",
                        r.control.nodes[slot].name
                    );
                    let now = r.now;
                    r.node_log.push_back((now, line));
                    r.shut_down.push(slot);
                    return;
                }
                FromWorker::ToPeer { to, msg } => {
                    let from = r.borrow().control.nodes[slot].addr.clone();
                    r.borrow_mut().send_peer(&from, &to, msg);
                    return;
                }
                FromWorker::Link { out } => {
                    let mut r = r.borrow_mut();
                    match out {
                        LinkOut::Dial { link, host, port } => r.tcp_dial(slot, link, &host, port),
                        LinkOut::Send { link, bytes } => {
                            r.tcp_from_dialer(slot, link, Segment::Data(bytes))
                        }
                        LinkOut::Close { link } => r.tcp_from_dialer(slot, link, Segment::Fin),
                    }
                    return;
                }
                FromWorker::Reply { conn, ref bytes } if r.borrow().tcps_conn(slot, conn) => {
                    let bytes = bytes.clone();
                    r.borrow_mut()
                        .tcp_from_server(slot, conn, Segment::Data(bytes));
                    return;
                }
                FromWorker::Closed { conn } if r.borrow().tcps_conn(slot, conn) => {
                    r.borrow_mut().tcp_from_server(slot, conn, Segment::Fin);
                    return;
                }
                FromWorker::Event {
                    event: cachelab_engine::NodeEvent::Replication { ref text },
                } => {
                    let mut r = r.borrow_mut();
                    let line = format!("{}: {text}", r.control.nodes[slot].name);
                    let now = r.now;
                    r.node_log.push_back((now, line));
                    while r.node_log.len() > 200 {
                        r.node_log.pop_front();
                    }
                }
                _ => {}
            }
            inbox(slot, msg);
        })?;
        while self.nodes.len() <= slot {
            self.nodes.push(None);
        }
        self.nodes[slot] = Some(link);
        Ok(())
    }

    fn terminate(&mut self, slot: usize) {
        if let Some(Some(link)) = self.nodes.get_mut(slot).map(Option::take) {
            link.terminate();
            self.paused.remove(&slot);
            self.held.remove(&slot);
        }
    }

    fn mark_ready(&mut self, slot: usize) {
        if let Some(Some(link)) = self.nodes.get_mut(slot) {
            link.mark_ready();
        }
    }

    /// Sends to a node's worker (held while it is paused, lost if it is down).
    pub fn send(&mut self, slot: usize, msg: ToWorker) {
        if self.paused.contains(&slot) && !matches!(msg, ToWorker::Tick { .. }) {
            self.held.entry(slot).or_default().push(msg);
            return;
        }
        if let Some(Some(link)) = self.nodes.get_mut(slot) {
            link.send(msg);
        }
    }

    fn send_peer(&mut self, from: &str, to: &str, msg: PeerMsg) {
        let to = self
            .control
            .resolve(to, 0)
            .unwrap_or_else(|| to.to_string());
        self.flights.push(Flight {
            at: self.now.plus(LINK_DELAY_MS),
            from: from.to_string(),
            to,
            msg: Carried::Peer(msg),
        });
    }

    // ---- TCP between nodes (`cachelab_engine::net`) ----

    fn put(&mut self, s: Sent) {
        // One delay for every segment: the links stay FIFO, as TCP is.
        self.flights.push(Flight {
            at: self.now.plus(LINK_DELAY_MS),
            from: s.from.clone(),
            to: s.to.clone(),
            msg: Carried::Tcp(s),
        });
    }

    fn incarnation(&self, slot: usize) -> Option<u64> {
        self.nodes.get(slot)?.as_ref().map(|l| l.incarnation)
    }

    fn tcp_dial(&mut self, slot: usize, link: LinkId, host: &str, port: u16) {
        let name = format!("{host}:{port}");
        let server = self.control.resolve(&name, 0).unwrap_or(name);
        let me = self.control.nodes[slot].addr.clone();
        let inc = self.incarnation(slot).unwrap_or(0);
        let s = self.tcps.dial(&me, inc, link, &server, port);
        self.put(s);
    }

    fn tcp_from_dialer(&mut self, slot: usize, link: LinkId, seg: Segment) {
        let me = self.control.nodes[slot].addr.clone();
        let inc = self.incarnation(slot).unwrap_or(0);
        if let Some(s) = self.tcps.from_dialer(&me, inc, link, seg) {
            self.put(s);
        }
    }

    fn tcps_conn(&self, slot: usize, conn: ConnId) -> bool {
        self.tcps
            .of_conn(&self.control.nodes[slot].addr, conn)
            .is_some()
    }

    fn tcp_from_server(&mut self, slot: usize, conn: ConnId, seg: Segment) {
        let s = self
            .tcps
            .of_conn(&self.control.nodes[slot].addr, conn)
            .and_then(|id| self.tcps.from_server(id, seg));
        if let Some(s) = s {
            self.put(s);
        }
    }

    /// What a segment says, for the traffic view (`None`: not worth a line).
    fn describe(&mut self, s: &Sent) -> Option<(&'static str, String)> {
        let watch = self.watches.entry(s.id).or_default();
        match &s.seg {
            Segment::Syn => Some(("CONNECT", format!("TCP connection to {}", short(&s.to)))),
            Segment::SynAck => None,
            Segment::Fin => {
                self.watches.remove(&s.id);
                Some(("CLOSE", "the connection closes".into()))
            }
            Segment::Data(b) if s.to_server => {
                let seen = watch.replica_says(b);
                Some((seen.kind, seen.detail))
            }
            Segment::Data(b) => {
                let seen = watch.primary_says(b);
                Some((seen.kind, seen.detail))
            }
        }
    }

    fn record(&mut self, f: &Flight, kind: &'static str, detail: String, lost: bool, held: bool) {
        let bytes = match &f.msg {
            Carried::Peer(PeerMsg::Stream { bytes, .. }) => bytes.len(),
            Carried::Peer(PeerMsg::FullResync { rdb, .. }) => rdb.len(),
            Carried::Peer(_) => 0,
            Carried::Tcp(s) => s.seg.len(),
        };
        self.traffic.push_back(Traffic {
            at: self.now,
            from: short(&f.from),
            to: short(&f.to),
            kind,
            bytes,
            detail,
            lost,
            held,
        });
        while self.traffic.len() > 40 {
            self.traffic.pop_front();
        }
    }

    fn deliver(&mut self, f: Flight) {
        let cut = self.cuts.contains(&(f.from.clone(), f.to.clone()));
        let slot = self.slot(&f.to);
        let now = self.now;
        let msg = match f.msg {
            Carried::Tcp(ref s) => {
                if cut {
                    // TCP retransmits: the bytes wait at the partition.
                    let what = format!("{} held by the partition", s.seg.describe(s.id));
                    self.record(&f, "HELD", what, false, true);
                    self.stalled.push(f);
                    return;
                }
                if let Some((kind, detail)) = self.describe(s) {
                    self.record(&f, kind, detail, false, false);
                }
                let Carried::Tcp(s) = f.msg else { return };
                let inc = slot.and_then(|i| self.incarnation(i));
                let (arrival, back) = self.tcps.deliver(s, inc);
                if let (Some((_, arrival)), Some(i)) = (arrival, slot) {
                    self.send(i, ToWorker::Tcp { arrival, now });
                }
                if let Some(b) = back {
                    self.put(b);
                }
                return;
            }
            Carried::Peer(msg) => msg,
        };
        let down = f.to != CONTROL_ADDR && !slot.is_some_and(|s| self.is_up(s));
        if !matches!(msg, PeerMsg::Health { .. } | PeerMsg::HealthOk { .. }) {
            let bytes = match &msg {
                PeerMsg::Stream { bytes, .. } => bytes.len(),
                PeerMsg::FullResync { rdb, .. } => rdb.len(),
                _ => 0,
            };
            self.traffic.push_back(Traffic {
                at: self.now,
                from: short(&f.from),
                to: short(&f.to),
                kind: msg.kind(),
                bytes,
                detail: msg.describe(),
                lost: cut || down,
                held: false,
            });
            while self.traffic.len() > 40 {
                self.traffic.pop_front();
            }
        }
        if cut || down {
            return;
        }
        if f.to == CONTROL_ADDR {
            self.control
                .handle(now, ControlInput::Peer { from: &f.from, msg });
            self.run_actions();
            return;
        }
        if let Some(s) = slot {
            self.send(
                s,
                ToWorker::Peer {
                    from: f.from,
                    msg,
                    now,
                },
            );
        }
    }

    fn run_actions(&mut self) {
        while let Some(a) = self.control.poll_action() {
            match a {
                Action::Send { to, msg } => self.send_peer(CONTROL_ADDR, &to, msg),
                Action::Launch {
                    addr,
                    az,
                    replicaof,
                } => {
                    if self.azs_down.contains(&az) {
                        continue;
                    }
                    if let Some(s) = self.slot(&addr) {
                        if let Err(e) = self.launch(s, replicaof) {
                            web_sys::console::error_2(
                                &"cachelab: cannot start a worker".into(),
                                &e,
                            );
                        }
                    }
                }
                Action::Terminate { addr } => {
                    if let Some(s) = self.slot(&addr) {
                        self.terminate(s);
                    }
                }
                Action::Snapshot { name, addr } => {
                    let now = self.now;
                    match self.slot(&addr).filter(|&s| self.is_up(s)) {
                        Some(s) => self.send(s, ToWorker::Snapshot { name, now }),
                        None => self.control.snapshot_taken(
                            now,
                            &name,
                            Err("the node is not running".into()),
                        ),
                    }
                }
                Action::ReplicaOf { addr, primary } => {
                    if let Some(s) = self.slot(&addr) {
                        let now = self.now;
                        let primary = primary.map(|p| {
                            let (h, port) = split(&p);
                            (h.to_string(), port)
                        });
                        self.send(s, ToWorker::ReplicaOf { primary, now });
                    }
                }
            }
        }
    }

    pub fn open(&mut self, slot: usize, conn: ConnId) {
        let now = self.now;
        self.send(slot, ToWorker::Open { conn, now });
    }

    pub fn close(&mut self, slot: usize, conn: ConnId) {
        let now = self.now;
        self.send(slot, ToWorker::Close { conn, now });
    }

    pub fn client_bytes(&mut self, slot: usize, conn: ConnId, bytes: Vec<u8>) {
        let now = self.now;
        self.send(slot, ToWorker::Bytes { conn, bytes, now });
    }

    /// Advances virtual time: delivers due messages, runs the control plane,
    /// ticks every running node.
    pub fn advance(&mut self, ms: u64) {
        for slot in std::mem::take(&mut self.shut_down) {
            self.kill(slot);
        }
        self.nodes
            .iter_mut()
            .flatten()
            .for_each(NodeLink::restart_if_stuck);
        let end = self.now.plus(ms);
        // In steps of at most 100 ms, so health checks and deliveries keep order.
        while self.now < end {
            self.now = self.now.plus(100.min(end.0 - self.now.0));
            let now = self.now;
            let (due, later): (Vec<Flight>, Vec<Flight>) = std::mem::take(&mut self.flights)
                .into_iter()
                .partition(|f| f.at <= now);
            self.flights = later;
            for f in due {
                self.deliver(f);
            }
            self.control.handle(now, ControlInput::Tick);
            self.run_actions();
        }
        let now = self.now;
        for i in 0..self.nodes.len() {
            if !self.paused.contains(&i) {
                self.send(i, ToWorker::Tick { now });
            }
        }
    }

    // ---- faults and API calls the page offers ----

    /// Crashes a node (its worker is terminated, its data gone, and what
    /// it had not yet sent never leaves).
    pub fn kill(&mut self, slot: usize) {
        let addr = self.control.nodes[slot].addr.clone();
        self.flights.retain(|f| f.from != addr);
        self.terminate(slot);
    }

    pub fn set_paused(&mut self, slot: usize, paused: bool) {
        if paused {
            self.paused.insert(slot);
        } else {
            self.paused.remove(&slot);
            for m in self.held.remove(&slot).unwrap_or_default() {
                self.send(slot, m);
            }
        }
    }

    /// Cuts a node off from every other node and the control plane, both ways.
    pub fn isolate(&mut self, slot: usize) {
        let me = self.control.nodes[slot].addr.clone();
        let others: Vec<String> = self
            .control
            .nodes
            .iter()
            .map(|n| n.addr.clone())
            .chain([CONTROL_ADDR.to_string()])
            .filter(|a| *a != me)
            .collect();
        for o in others {
            self.cuts.insert((me.clone(), o.clone()));
            self.cuts.insert((o, me.clone()));
        }
    }

    /// Cuts the network between two nodes only, both ways (a replica's
    /// link to its primary): the control plane still reaches both.
    pub fn cut_link(&mut self, a: usize, b: usize) {
        let (a, b) = (
            self.control.nodes[a].addr.clone(),
            self.control.nodes[b].addr.clone(),
        );
        self.cuts.insert((a.clone(), b.clone()));
        self.cuts.insert((b, a));
    }

    /// Whether the network between two nodes is cut.
    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        let (Some(a), Some(b)) = (self.control.nodes.get(a), self.control.nodes.get(b)) else {
            return false;
        };
        self.cuts.contains(&(a.addr.clone(), b.addr.clone()))
    }

    /// Cuts an Availability Zone off from the rest of the region: its nodes
    /// keep running but reach only each other.
    pub fn partition_az(&mut self, az: &str) {
        let nodes = &self.control.nodes;
        let inside: Vec<String> = nodes
            .iter()
            .filter(|n| n.az == az)
            .map(|n| n.addr.clone())
            .collect();
        let outside: Vec<String> = nodes
            .iter()
            .filter(|n| n.az != az)
            .map(|n| n.addr.clone())
            .chain([CONTROL_ADDR.to_string()])
            .collect();
        for i in &inside {
            for o in &outside {
                self.cuts.insert((i.clone(), o.clone()));
                self.cuts.insert((o.clone(), i.clone()));
            }
        }
        self.partitioned_azs.insert(az.to_string());
    }

    pub fn heal(&mut self) {
        self.partitioned_azs.clear();
        self.cuts.clear();
        // Connections a partition stalled carry on: what waited at the
        // partition arrives now, ahead of anything sent after it.
        for f in std::mem::take(&mut self.stalled) {
            self.deliver(f);
        }
    }

    /// An Availability Zone goes down (its nodes crash) or comes back.
    pub fn set_az(&mut self, az: &str, up: bool) {
        if up {
            self.azs_down.remove(az);
        } else {
            self.azs_down.insert(az.to_string());
            let slots: Vec<usize> = (0..self.control.nodes.len())
                .filter(|&i| self.control.nodes[i].az == az)
                .collect();
            for s in slots {
                self.kill(s);
            }
        }
        let now = self.now;
        self.control.handle(now, ControlInput::Az { az, up });
        self.run_actions();
    }

    /// Replaces the group with a new one (a lab's scenario): every worker
    /// terminated, faults cleared, the control plane created afresh with
    /// one node per AZ given, at the current virtual time.
    /// Stops every node's worker (the group is deleted).
    pub fn shutdown(&mut self) {
        for slot in 0..self.nodes.len() {
            self.terminate(slot);
        }
    }

    /// Carries out what the control plane decided (after a call made on
    /// `control` directly).
    pub fn run_pending(&mut self) {
        self.run_actions();
    }

    pub fn rebuild(&mut self, azs: &[&str], multi_az: bool) {
        for slot in 0..self.nodes.len() {
            self.terminate(slot);
        }
        self.nodes.clear();
        self.paused.clear();
        self.held.clear();
        self.flights.clear();
        self.stalled.clear();
        self.tcps = Tcps::default();
        self.watches.clear();
        self.cuts.clear();
        self.azs_down.clear();
        self.partitioned_azs.clear();
        self.traffic.clear();
        self.node_log.clear();
        self.shut_down.clear();
        self.control = Control::new("demo", azs, multi_az && azs.len() > 1, settings());
        let now = self.now;
        self.control.create(now);
        self.run_actions();
    }

    pub fn api(&mut self, req: Api) -> Result<(), ApiError> {
        let now = self.now;
        let r = self.control.api(now, req);
        self.run_actions();
        r
    }
}

fn split(addr: &str) -> (&str, u16) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap_or(6379)),
        None => (addr, 6379),
    }
}
