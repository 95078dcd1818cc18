//! The Memcached cluster's router: one module Web Worker per memcached node
//! (an `McNode`), and the application in front of them — the engine's
//! auto-discovery client ([`Discovery`] + [`McClient`]) running a
//! [`CacheAside`] workload against a database whose load it meters.
//!
//! ElastiCache's side — the node list, the configuration version, failure,
//! replacement (empty, same endpoint), add and remove — is the engine's
//! [`McControl`]; the router carries out its actions on workers (launch,
//! terminate, hand every node the new configuration). Holds no copy of node
//! state: item counts come from the workers' `McView`s, the ring from the
//! client, the cluster from the control plane.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use cachelab_engine::memcached::client::{
    CacheAside, Discovery, Distribution, FailurePolicy, McClient, CONFIG_REQUEST,
};
use cachelab_engine::memcached::control::{McAction, McControl};
use cachelab_engine::memcached::{McView, LIMIT_MAXBYTES};
use cachelab_engine::wire::{FromWorker, ToWorker};
use cachelab_engine::{ConnId, Millis};

use crate::workers::NodeLink;

/// The application's connection to each node, and the console's.
const APP: ConnId = ConnId(1);
pub const CONSOLE: ConnId = ConnId(2);
/// How often auto discovery polls the configuration endpoint (AWS's
/// clients: about once a minute).
pub const POLL_MS: u64 = 60_000;
/// Reads per second the database serves comfortably.
pub const DB_CAPACITY: u64 = 40;
/// A node's memory in the browser (`-m`): small, so eviction can be seen.
const NODE_MEMORY: usize = LIMIT_MAXBYTES;

pub type Inbox = Rc<dyn Fn(usize, FromWorker)>;

/// What a request to a node was, so its reply can be cut out of the stream.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Waiting {
    Get(u64),
    Set(u64),
    Config,
}

/// The share of keys that moved when the node list changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Moved {
    pub what: String,
    pub from: usize,
    pub to: usize,
    pub ketama: f64,
    pub modulo: f64,
}

pub struct McRouter {
    pub now: Millis,
    /// ElastiCache's side: nodes, configuration, events.
    pub control: McControl,
    links: BTreeMap<usize, NodeLink>,
    /// The latest view each running worker reported, by slot.
    pub views: BTreeMap<usize, McView>,
    pub discovery: Discovery,
    pub client: McClient,
    pub workload: CacheAside,
    pub workload_on: bool,
    next_poll: Millis,
    waiting: BTreeMap<usize, VecDeque<Waiting>>,
    bufs: BTreeMap<usize, Vec<u8>>,
    /// Console replies by node slot (raw bytes).
    pub console_out: VecDeque<(usize, Vec<u8>)>,
    /// Items per node each virtual second: (t, [(slot, items)]).
    pub items_history: VecDeque<(u64, Vec<(usize, usize)>)>,
    /// What the application noticed (discovery, ejection).
    pub app_events: Vec<(Millis, String)>,
    pub moved: Option<Moved>,
    inbox: Inbox,
    weak: std::rc::Weak<RefCell<McRouter>>,
    seeds: u64,
    start: Millis,
}

pub type SharedMcRouter = Rc<RefCell<McRouter>>;

const AZS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const HUES: [u32; 12] = [275, 190, 30, 320, 160, 250, 60, 300, 210, 15, 120, 345];

/// The length of the first complete reply in `buf` for `w`, if complete.
fn reply_len(buf: &[u8], w: Waiting) -> Option<usize> {
    let line_end = |from: usize| {
        buf[from..]
            .windows(2)
            .position(|x| x == b"\r\n")
            .map(|p| from + p + 2)
    };
    match w {
        Waiting::Set(_) => line_end(0),
        // VALUE lines with their data blocks, then END; or one error line.
        Waiting::Get(_) | Waiting::Config => {
            let mut pos = 0;
            loop {
                let end = line_end(pos)?;
                let line = &buf[pos..end - 2];
                if line == b"END" {
                    return Some(end);
                }
                let mut parts = line.split(|&b| b == b' ');
                let head = parts.next()?;
                if head == b"VALUE" || head == b"CONFIG" {
                    let n: usize = std::str::from_utf8(parts.nth(2)?).ok()?.parse().ok()?;
                    pos = end + n + 2;
                    if pos > buf.len() {
                        return None;
                    }
                } else {
                    return Some(end);
                }
            }
        }
    }
}

/// A node's hue on the ring, fixed by its slot.
pub fn hue(slot: usize) -> u32 {
    HUES[slot % HUES.len()]
}

impl McRouter {
    pub fn spawn(n: usize, start: Millis, inbox: Inbox) -> SharedMcRouter {
        Self::spawn_with(n, start, inbox, CacheAside::new(11, 3_000, 100, 0), true)
    }

    /// A cluster of `n` nodes whose application runs `workload` (a lab's
    /// cluster runs none, as the simulator's lab clusters do).
    pub fn spawn_with(
        n: usize,
        start: Millis,
        inbox: Inbox,
        workload: CacheAside,
        workload_on: bool,
    ) -> SharedMcRouter {
        let r = Rc::new(RefCell::new(McRouter {
            now: start,
            control: McControl::new("demo-mc", &AZS, n, start),
            links: BTreeMap::new(),
            views: BTreeMap::new(),
            discovery: Discovery::default(),
            client: McClient::new(Distribution::Ketama, FailurePolicy::KeepListed),
            workload,
            workload_on,
            next_poll: start,
            waiting: BTreeMap::new(),
            bufs: BTreeMap::new(),
            console_out: VecDeque::new(),
            items_history: VecDeque::new(),
            app_events: Vec::new(),
            moved: None,
            inbox,
            weak: std::rc::Weak::new(),
            seeds: 0,
            start,
        }));
        r.borrow_mut().weak = Rc::downgrade(&r);
        r.borrow_mut().run_actions();
        r
    }

    fn app_event(&mut self, text: String) {
        self.app_events.push((self.now, text));
    }

    /// Carries out what the control plane decided, on the workers.
    fn run_actions(&mut self) {
        while let Some(a) = self.control.poll_action() {
            match a {
                McAction::Launch { slot } => self.launch(slot),
                McAction::Terminate { slot } => self.terminate(slot),
                McAction::Publish => {
                    let config = self.control.config.clone();
                    let slots: Vec<usize> = self.links.keys().copied().collect();
                    for s in slots {
                        self.send(
                            s,
                            ToWorker::Cluster {
                                config: config.clone(),
                            },
                        );
                    }
                }
            }
        }
    }

    fn launch(&mut self, slot: usize) {
        self.terminate(slot);
        let weak = self.weak.clone();
        let inbox = self.inbox.clone();
        self.seeds += 1;
        let name = self.control.nodes[slot].id.clone();
        let mut first = vec![
            ToWorker::InitMemcached {
                seed: 0x11211 + self.seeds,
                name: name.clone(),
                now: self.now,
                memory: NODE_MEMORY,
                port: 11211,
            },
            ToWorker::Cluster {
                config: self.control.config.clone(),
            },
        ];
        for conn in [APP, CONSOLE] {
            first.push(ToWorker::Open {
                conn,
                now: self.now,
            });
        }
        let spawned = NodeLink::spawn(&name, self.seeds, first, move |msg: FromWorker| {
            let Some(r) = weak.upgrade() else {
                return;
            };
            match &msg {
                FromWorker::Ready => r.borrow_mut().mark_ready(slot),
                FromWorker::McView { view } => {
                    let mut r = r.borrow_mut();
                    if r.links.contains_key(&slot) {
                        r.views.insert(slot, view.clone());
                    }
                }
                FromWorker::Reply { conn, bytes } => {
                    r.borrow_mut().on_bytes(slot, *conn, bytes);
                }
                _ => {}
            }
            inbox(slot, msg);
        });
        match spawned {
            Ok(link) => {
                self.links.insert(slot, link);
            }
            Err(_) => {
                web_sys::console::error_1(&"cachelab: cannot start a worker".into());
                return;
            }
        }
        let addr = self.control.nodes[slot].addr.clone();
        self.client.node_back(&addr);
    }

    fn terminate(&mut self, slot: usize) {
        if let Some(l) = self.links.remove(&slot) {
            l.terminate();
        }
        self.views.remove(&slot);
        // What it owed the application fails.
        let now = self.now;
        for w in self.waiting.remove(&slot).unwrap_or_default() {
            if let Waiting::Get(id) = w {
                self.workload.on_reply(now, id, None);
            }
        }
        self.bufs.remove(&slot);
    }

    fn mark_ready(&mut self, slot: usize) {
        if let Some(l) = self.links.get_mut(&slot) {
            l.mark_ready();
        }
    }

    fn send(&mut self, slot: usize, msg: ToWorker) -> bool {
        let Some(l) = self.links.get_mut(&slot) else {
            return false;
        };
        l.send(msg);
        true
    }

    /// Bytes from a node: the console's are shown; the application's are
    /// cut into replies for the requests waiting on that node; other
    /// connections' (a lab's queries) are the inbox's.
    fn on_bytes(&mut self, slot: usize, conn: ConnId, bytes: &[u8]) {
        if conn == CONSOLE {
            self.console_out.push_back((slot, bytes.to_vec()));
            return;
        }
        if conn != APP {
            return;
        }
        let buf = self.bufs.entry(slot).or_default();
        buf.extend_from_slice(bytes);
        while let Some(&w) = self.waiting.get(&slot).and_then(|q| q.front()) {
            let buf = self.bufs.entry(slot).or_default();
            let Some(n) = reply_len(buf, w) else {
                break;
            };
            let reply: Vec<u8> = buf.drain(..n).collect();
            self.waiting.get_mut(&slot).map(|q| q.pop_front());
            let now = self.now;
            match w {
                Waiting::Get(id) => {
                    self.workload.on_reply(now, id, Some(&reply));
                    self.flush_queued();
                }
                Waiting::Set(_) => {}
                Waiting::Config => {
                    if self.discovery.on_reply(&reply) {
                        self.client.set_config(&self.discovery.config);
                        let v = self.discovery.config.version;
                        let n = self.discovery.config.nodes.len();
                        self.app_event(format!(
                            "Auto discovery: configuration version {v}, {n} nodes"
                        ));
                    }
                }
            }
        }
    }

    /// Sends what the workload queued (the sets after misses).
    fn flush_queued(&mut self) {
        for r in self.workload.take_queued() {
            self.app_request(&r.node, r.bytes, Waiting::Set(r.id));
        }
    }

    fn app_request(&mut self, node: &str, bytes: Vec<u8>, w: Waiting) {
        let now = self.now;
        let running = self
            .control
            .slot_of(node)
            .filter(|s| self.links.contains_key(s));
        let Some(slot) = running else {
            // Connection refused: the node is down (or gone).
            if let Waiting::Get(id) = w {
                self.workload.on_reply(now, id, None);
            }
            if self.client.node_failed(node) {
                let id = self
                    .control
                    .slot_of(node)
                    .map(|s| self.control.nodes[s].id.clone())
                    .unwrap_or_default();
                self.app_event(format!(
                    "Client ejected node {id}: its keys remap to the others"
                ));
            }
            return;
        };
        self.waiting.entry(slot).or_default().push_back(w);
        self.send(
            slot,
            ToWorker::Bytes {
                conn: APP,
                bytes,
                now,
            },
        );
    }

    /// Auto discovery asks the configuration endpoint (any running node).
    pub fn poll_discovery(&mut self) {
        if let Some(&slot) = self.links.keys().next() {
            let now = self.now;
            self.waiting
                .entry(slot)
                .or_default()
                .push_back(Waiting::Config);
            self.send(
                slot,
                ToWorker::Bytes {
                    conn: APP,
                    bytes: CONFIG_REQUEST.to_vec(),
                    now,
                },
            );
        }
        self.next_poll = self.now.plus(POLL_MS);
    }

    /// Stops every node's worker (the cluster is being replaced).
    pub fn shutdown(&mut self) {
        let slots: Vec<usize> = self.links.keys().copied().collect();
        for s in slots {
            self.terminate(s);
        }
    }

    /// Whether the node in `slot` has a running process.
    pub fn running(&self, slot: usize) -> bool {
        self.links.contains_key(&slot)
    }

    /// Every running node's worker has started.
    pub fn all_ready(&self) -> bool {
        self.links.values().all(|l| l.is_ready())
    }

    /// Auto discovery's request is on its way.
    pub fn config_pending(&self) -> bool {
        self.waiting.values().any(|q| q.contains(&Waiting::Config))
    }

    /// Opens a connection of the caller's own to a node and sends `bytes`
    /// on it (its replies come to the inbox); false when it is not running.
    pub fn request(&mut self, slot: usize, conn: ConnId, bytes: Vec<u8>) -> bool {
        let now = self.now;
        self.send(slot, ToWorker::Open { conn, now })
            && self.send(slot, ToWorker::Bytes { conn, bytes, now })
    }

    /// Closes a connection opened by [`McRouter::request`].
    pub fn close(&mut self, slot: usize, conn: ConnId) {
        let now = self.now;
        self.send(slot, ToWorker::Close { conn, now });
    }

    /// A line typed in the console, to one node; false when it is not running.
    pub fn console(&mut self, slot: usize, bytes: Vec<u8>) -> bool {
        let now = self.now;
        self.send(
            slot,
            ToWorker::Bytes {
                conn: CONSOLE,
                bytes,
                now,
            },
        )
    }

    /// Advances virtual time: the workload's reads, discovery polls, ticks.
    pub fn advance(&mut self, ms: u64) {
        self.links.values_mut().for_each(NodeLink::restart_if_stuck);
        let end = self.now.plus(ms);
        while self.now < end {
            self.now = self.now.plus(100.min(end.0 - self.now.0));
            if self.now >= self.next_poll {
                self.poll_discovery();
            }
            if self.workload_on && !self.client.live().is_empty() {
                let now = self.now;
                let reqs = self.workload.poll(now, &self.client);
                for r in reqs {
                    self.app_request(&r.node, r.bytes, Waiting::Get(r.id));
                }
            }
            let t = self.now.saturating_sub(self.start) / 1000;
            if self.items_history.back().map(|h| h.0) != Some(t) {
                let items = (0..self.control.nodes.len())
                    .filter(|&s| self.control.listed(s))
                    .map(|s| (s, self.views.get(&s).map(|v| v.items).unwrap_or(0)))
                    .collect();
                self.items_history.push_back((t, items));
                while self.items_history.len() > 180 {
                    self.items_history.pop_front();
                }
            }
        }
        let now = self.now;
        let slots: Vec<usize> = self.links.keys().copied().collect();
        for s in slots {
            self.send(s, ToWorker::Tick { now });
        }
    }

    // ---- what the page offers ----

    /// A node fails: its process and data are gone; it stays listed in the
    /// configuration while ElastiCache replaces it.
    pub fn kill(&mut self, slot: usize) {
        self.control.fail(self.now, slot);
        self.run_actions();
    }

    /// ElastiCache replaces the node: a new, empty one at the same endpoint.
    pub fn replace(&mut self, slot: usize) {
        self.control.replace(self.now, slot);
        self.run_actions();
    }

    fn mapping(client: &McClient) -> Vec<Option<String>> {
        (0..10_000)
            .map(|i| {
                client
                    .server_for(format!("item:{i}").as_bytes())
                    .map(str::to_string)
            })
            .collect()
    }

    /// The share of 10,000 keys whose node differs between two node lists,
    /// under ketama and under modulo.
    fn measure_move(&mut self, what: String, before: &[String], after: &[String]) {
        let share = |d: Distribution| {
            let mut a = McClient::new(d, FailurePolicy::KeepListed);
            a.set_nodes(before.to_vec());
            let mut b = McClient::new(d, FailurePolicy::KeepListed);
            b.set_nodes(after.to_vec());
            let (ma, mb) = (Self::mapping(&a), Self::mapping(&b));
            ma.iter().zip(&mb).filter(|(x, y)| x != y).count() as f64 / ma.len() as f64
        };
        self.moved = Some(Moved {
            what,
            from: before.len(),
            to: after.len(),
            ketama: share(Distribution::Ketama),
            modulo: share(Distribution::Modulo),
        });
    }

    pub fn add_node(&mut self) -> Result<(), String> {
        let before = self.control.addrs();
        let slot = self.control.add(self.now)?;
        self.run_actions();
        let id = self.control.nodes[slot].id.clone();
        let after = self.control.addrs();
        self.measure_move(format!("Adding node {id}"), &before, &after);
        Ok(())
    }

    pub fn remove_node(&mut self, slot: usize) -> Result<(), String> {
        let before = self.control.addrs();
        self.control.remove(self.now, slot)?;
        self.run_actions();
        let id = self.control.nodes[slot].id.clone();
        let after = self.control.addrs();
        self.measure_move(format!("Removing node {id}"), &before, &after);
        Ok(())
    }

    pub fn set_distribution(&mut self, d: Distribution) {
        self.client.distribution = d;
    }

    pub fn set_policy(&mut self, p: FailurePolicy) {
        let nodes = self.client.nodes().to_vec();
        let dist = self.client.distribution;
        self.client = McClient::new(dist, p);
        self.client.set_nodes(nodes);
    }

    /// The slot of the node the client sends `key` to.
    pub fn slot_for_key(&self, key: &str) -> Option<usize> {
        self.client
            .server_for(key.as_bytes())
            .and_then(|a| self.control.slot_of(a))
    }
}
