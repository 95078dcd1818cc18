//! The cluster-mode router: a CME replication group (ElastiCache's cluster
//! mode enabled) whose nodes each run in a module Web Worker in Redis
//! Cluster mode at their own IP (`10.0.S.N:6379`, the bus on 16379).
//! Every TCP connection between them — the cluster bus, replication inside
//! a shard, MIGRATE's links — passes through here as `net::Tcps` segments,
//! delivered as soon as a worker posts them (a node's own timers run on
//! the virtual clock), held while a node is cut off, and shown: bus
//! packets are read with `BusWatch`. Hosts the CME control plane ([`Cme`]):
//! its commands go to each node on a connection of its own, its actions
//! (launch, terminate) are carried out on the workers. Holds no copy of
//! node state beyond the last `NodeView` each worker reported.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use cachelab_engine::cluster::view::BusWatch;
use cachelab_engine::commands::migrate::{LinkId, LinkOut};
use cachelab_engine::control::cme::{Cme, CmeAction};
use cachelab_engine::net::{Segment, Sent, Tcps};
use cachelab_engine::protocol::{encode_request, parse_reply, Reply};
use cachelab_engine::replication::watch::LinkWatch;
use cachelab_engine::wire::{FromWorker, ToWorker};
use cachelab_engine::{ConnId, Millis, NodeView};
use wasm_bindgen::prelude::*;

use crate::workers::NodeLink;

/// Something a worker said that the view handles (console replies), with
/// the address of the node that said it.
pub type Inbox = Rc<dyn Fn(&str, FromWorker)>;
pub type SharedCmeRouter = Rc<RefCell<CmeRouter>>;

/// The control plane's connection on every node.
const ADMIN: ConnId = ConnId(1);
/// The bus port of every node (6379 + 10000).
pub const BUS_PORT: u16 = 16379;
/// Packets kept for the traffic view.
const TRAFFIC: usize = 80;

/// The address of node `n` of shard `s` (zero-based).
pub fn node_addr(s: usize, n: usize) -> String {
    format!("10.0.{}.{}:6379", (s + 1) % 256 + (s + 1) / 256, 11 + n)
}

/// A control-plane command: its tag and words.
type Command = (u64, Vec<Vec<u8>>);

/// One packet or segment between nodes, as the traffic view lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct BusLine {
    pub at: Millis,
    pub from: String,
    pub to: String,
    /// PING, PONG, MEET, FAIL, UPDATE, AUTH-REQ, … or a replication or
    /// MIGRATE step.
    pub kind: &'static str,
    pub detail: String,
    /// On the bus (else a data connection: replication, MIGRATE).
    pub bus: bool,
    /// Held by a cut, delivered when it heals.
    pub held: bool,
}

pub struct CmeRouter {
    workers: BTreeMap<String, NodeLink>,
    pub cme: Cme,
    pub now: Millis,
    tcps: Tcps,
    /// Connections to a bus port, and what their bytes say.
    bus: BTreeMap<u64, BusWatch>,
    watches: BTreeMap<u64, LinkWatch>,
    pub traffic: VecDeque<BusLine>,
    /// Packets seen by kind (the traffic view shows PING/PONG as counts).
    pub counts: BTreeMap<&'static str, u64>,
    inbox: Inbox,
    weak: std::rc::Weak<RefCell<CmeRouter>>,
    seeds: u64,
    /// The control plane's commands per node: the one in flight (tag and
    /// reply bytes so far) first.
    admin: BTreeMap<String, VecDeque<Command>>,
    admin_buf: BTreeMap<String, Vec<u8>>,
    /// Each running node's last view.
    pub views: BTreeMap<String, NodeView>,
    /// The nodes' own log lines (replication, failover), newest last.
    pub log: VecDeque<(Millis, String)>,
    /// Nodes cut off from every other node.
    pub isolated: BTreeSet<String>,
    /// Segments a cut holds, in order.
    stalled: Vec<Sent>,
}

fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

impl CmeRouter {
    /// A CME group `group` of `shards` × (1 + `replicas`) nodes, created
    /// (CreateReplicationGroup) at `start`.
    pub fn spawn(
        group: &str,
        shards: usize,
        replicas: usize,
        start: Millis,
        inbox: Inbox,
    ) -> SharedCmeRouter {
        let mut cme = Cme::new(
            group,
            shards,
            replicas,
            &["us-east-1a", "us-east-1b", "us-east-1c"],
            |s, n| (node_addr(s, n), BUS_PORT),
        );
        cme.create(start);
        let router = Rc::new(RefCell::new(CmeRouter {
            workers: BTreeMap::new(),
            cme,
            now: start,
            tcps: Tcps::default(),
            bus: BTreeMap::new(),
            watches: BTreeMap::new(),
            traffic: VecDeque::new(),
            counts: BTreeMap::new(),
            inbox,
            weak: std::rc::Weak::new(),
            seeds: 0,
            admin: BTreeMap::new(),
            admin_buf: BTreeMap::new(),
            views: BTreeMap::new(),
            log: VecDeque::new(),
            isolated: BTreeSet::new(),
            stalled: Vec::new(),
        }));
        router.borrow_mut().weak = Rc::downgrade(&router);
        router.borrow_mut().run_actions();
        router
    }

    pub fn is_up(&self, addr: &str) -> bool {
        self.workers.contains_key(addr)
    }

    /// The worker at `addr` has loaded the engine and takes messages.
    pub fn is_ready(&self, addr: &str) -> bool {
        self.workers.get(addr).is_some_and(|l| l.is_ready())
    }

    /// The process running at `addr` (a node replaced there is a new one).
    pub fn incarnation(&self, addr: &str) -> Option<u64> {
        self.workers.get(addr).map(|l| l.incarnation)
    }

    /// The node listening at `host` (an IP) on `port` (client or bus).
    fn node_at(&self, host: &str, port: u16) -> Option<String> {
        self.cme
            .nodes
            .iter()
            .find(|n| {
                host_of(&n.addr) == host
                    && (n.cport == port || n.addr.ends_with(&format!(":{port}")))
            })
            .map(|n| n.addr.clone())
    }

    fn launch(&mut self, addr: &str) -> Result<(), JsValue> {
        self.terminate(addr);
        let name = self
            .cme
            .nodes
            .iter()
            .find(|n| n.addr == addr)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| addr.to_string());
        let weak = self.weak.clone();
        let me = addr.to_string();
        self.seeds += 1;
        let now = self.now;
        let first = vec![
            ToWorker::InitCluster {
                seed: 0xC1D5 + self.seeds,
                name: name.clone(),
                now,
                addr: addr.to_string(),
            },
            ToWorker::Open { conn: ADMIN, now },
        ];
        let link = NodeLink::spawn(&name, self.seeds, first, move |msg: FromWorker| {
            let Some(r) = weak.upgrade() else {
                return;
            };
            let forward = r.borrow_mut().on_worker(&me, msg);
            if let Some(msg) = forward {
                let inbox = r.borrow().inbox.clone();
                inbox(&me, msg);
            }
        })?;
        self.workers.insert(addr.to_string(), link);
        Ok(())
    }

    /// Stops the worker at `addr` (a crash: what it had not sent is lost);
    /// a control-plane command waiting on it fails as a timeout would.
    fn terminate(&mut self, addr: &str) {
        if let Some(link) = self.workers.remove(addr) {
            link.terminate();
        }
        self.views.remove(addr);
        self.admin_buf.remove(addr);
        let now = self.now;
        for (tag, _) in self.admin.remove(addr).unwrap_or_default() {
            self.cme.reply(
                now,
                tag,
                Reply::Error(format!("IOERR error or timeout talking to {addr}")),
            );
        }
    }

    fn send(&mut self, addr: &str, msg: ToWorker) -> bool {
        let Some(link) = self.workers.get_mut(addr) else {
            return false;
        };
        link.send(msg);
        true
    }

    /// Handles what the worker at `addr` said; returns what the view
    /// should see (console replies), if anything.
    fn on_worker(&mut self, addr: &str, msg: FromWorker) -> Option<FromWorker> {
        match msg {
            FromWorker::Ready => {
                if let Some(link) = self.workers.get_mut(addr) {
                    link.mark_ready();
                }
            }
            FromWorker::View { view } if self.workers.contains_key(addr) => {
                self.views.insert(addr.to_string(), *view);
            }
            FromWorker::Reply { conn, bytes } if conn == ADMIN => {
                self.admin_buf
                    .entry(addr.to_string())
                    .or_default()
                    .extend_from_slice(&bytes);
                self.admin_reply(addr);
            }
            FromWorker::Reply { conn, bytes } if self.tcps.of_conn(addr, conn).is_some() => {
                self.server_sends(addr, conn, Segment::Data(bytes));
            }
            FromWorker::Closed { conn } if self.tcps.of_conn(addr, conn).is_some() => {
                self.server_sends(addr, conn, Segment::Fin);
            }
            FromWorker::Link { out } => {
                let inc = self.workers.get(addr).map_or(0, |l| l.incarnation);
                match out {
                    LinkOut::Dial { link, host, port } => {
                        let server = self
                            .node_at(&host, port)
                            .unwrap_or_else(|| format!("{host}:{port}"));
                        let s = self.tcps.dial(addr, inc, link, &server, port);
                        if port == BUS_PORT {
                            self.bus.insert(s.id, BusWatch::default());
                        }
                        self.put(s);
                    }
                    LinkOut::Send { link, bytes } => {
                        self.dialer_sends(addr, inc, link, Segment::Data(bytes))
                    }
                    LinkOut::Close { link } => self.dialer_sends(addr, inc, link, Segment::Fin),
                }
            }
            FromWorker::Event {
                event: cachelab_engine::NodeEvent::Replication { text },
            } => {
                let name = self.name_of(addr);
                self.log.push_back((self.now, format!("{name}: {text}")));
                while self.log.len() > 200 {
                    self.log.pop_front();
                }
            }
            FromWorker::Shutdown => self.kill(addr),
            other @ (FromWorker::Reply { .. } | FromWorker::Closed { .. }) => return Some(other),
            _ => {}
        }
        None
    }

    /// The node's name (`demo-0001-001`), or its address.
    pub fn name_of(&self, addr: &str) -> String {
        self.cme
            .nodes
            .iter()
            .find(|n| n.addr == addr)
            .map_or_else(|| addr.to_string(), |n| n.name.clone())
    }

    fn admin_reply(&mut self, addr: &str) {
        let Some(buf) = self.admin_buf.get(addr) else {
            return;
        };
        let Ok(Some((reply, used))) = parse_reply(buf) else {
            return;
        };
        self.admin_buf.get_mut(addr).map(|b| b.drain(..used));
        let Some((tag, _)) = self.admin.get_mut(addr).and_then(|q| q.pop_front()) else {
            return;
        };
        let now = self.now;
        self.cme.reply(now, tag, reply);
        self.next_admin(addr);
        self.run_actions();
    }

    /// Sends the next queued control-plane command to `addr`.
    fn next_admin(&mut self, addr: &str) {
        let Some(argv) = self
            .admin
            .get(addr)
            .and_then(|q| q.front())
            .map(|(_, argv)| argv.clone())
        else {
            return;
        };
        let now = self.now;
        self.send(
            addr,
            ToWorker::Bytes {
                conn: ADMIN,
                bytes: encode_request(&argv),
                now,
            },
        );
    }

    fn run_actions(&mut self) {
        while let Some(a) = self.cme.poll_action() {
            match a {
                CmeAction::Launch { addr, .. } => {
                    if let Err(e) = self.launch(&addr) {
                        web_sys::console::error_2(&"cachelab: cannot start a worker".into(), &e);
                    }
                }
                CmeAction::Terminate { addr } => self.terminate(&addr),
                CmeAction::Command { tag, addr, argv } => {
                    if !self.workers.contains_key(&addr) {
                        let now = self.now;
                        let e = format!("IOERR error or timeout talking to {addr}");
                        self.cme.reply(now, tag, Reply::Error(e));
                        continue;
                    }
                    let q = self.admin.entry(addr.clone()).or_default();
                    q.push_back((tag, argv));
                    if q.len() == 1 {
                        self.next_admin(&addr);
                    }
                }
            }
        }
    }

    // ---- TCP between nodes ----

    fn dialer_sends(&mut self, addr: &str, inc: u64, link: LinkId, seg: Segment) {
        if let Some(s) = self.tcps.from_dialer(addr, inc, link, seg) {
            self.put(s);
        }
    }

    fn server_sends(&mut self, addr: &str, conn: ConnId, seg: Segment) {
        let s = self
            .tcps
            .of_conn(addr, conn)
            .and_then(|id| self.tcps.from_server(id, seg));
        if let Some(s) = s {
            self.put(s);
        }
    }

    fn cut(&self, s: &Sent) -> bool {
        self.isolated.contains(&s.from) != self.isolated.contains(&s.to)
    }

    /// A segment goes on the network: delivered now, or held by a cut.
    fn put(&mut self, s: Sent) {
        if self.cut(&s) {
            if matches!(s.seg, Segment::Data(_)) {
                let line = BusLine {
                    at: self.now,
                    from: self.name_of(&s.from),
                    to: self.name_of(&s.to),
                    kind: "HELD",
                    detail: format!("{} held by the cut", s.seg.describe(s.id)),
                    bus: self.bus.contains_key(&s.id),
                    held: true,
                };
                self.record(line);
            }
            self.stalled.push(s);
            return;
        }
        self.describe(&s);
        let inc = self.workers.get(&s.to).map(|l| l.incarnation);
        let to = s.to.clone();
        let (arrival, back) = self.tcps.deliver(s, inc);
        if let Some((_, arrival)) = arrival {
            let now = self.now;
            self.send(&to, ToWorker::Tcp { arrival, now });
        }
        if let Some(b) = back {
            self.put(b);
        }
    }

    fn describe(&mut self, s: &Sent) {
        let Segment::Data(bytes) = &s.seg else {
            if s.seg == Segment::Fin {
                self.bus.remove(&s.id);
                self.watches.remove(&s.id);
            }
            return;
        };
        let (from, to) = (self.name_of(&s.from), self.name_of(&s.to));
        let lines: Vec<(&'static str, String, bool)> = if let Some(w) = self.bus.get_mut(&s.id) {
            w.feed(bytes)
                .into_iter()
                .map(|seen| (seen.kind, seen.detail, true))
                .collect()
        } else {
            let w = self.watches.entry(s.id).or_default();
            let seen = if s.to_server {
                w.replica_says(bytes)
            } else {
                w.primary_says(bytes)
            };
            vec![(seen.kind, seen.detail, false)]
        };
        for (kind, detail, bus) in lines {
            *self.counts.entry(kind).or_default() += 1;
            self.record(BusLine {
                at: self.now,
                from: from.clone(),
                to: to.clone(),
                kind,
                detail,
                bus,
                held: false,
            });
        }
    }

    fn record(&mut self, line: BusLine) {
        self.traffic.push_back(line);
        while self.traffic.len() > TRAFFIC {
            self.traffic.pop_front();
        }
    }

    // ---- what the page asks ----

    /// A console's connection to the node at `addr`.
    pub fn open(&mut self, addr: &str, conn: ConnId) -> bool {
        let now = self.now;
        self.send(addr, ToWorker::Open { conn, now })
    }

    pub fn close(&mut self, addr: &str, conn: ConnId) {
        let now = self.now;
        self.send(addr, ToWorker::Close { conn, now });
    }

    /// Whether every node the control plane placed runs and has reported
    /// a cluster state of ok.
    /// Every node that runs says `cluster_state:ok` (the nodes of a zone
    /// that is down do not run).
    pub fn all_ok(&self) -> bool {
        let mut running = self
            .cme
            .nodes
            .iter()
            .filter(|n| !self.cme.az_down(&n.az) || self.workers.contains_key(&n.addr))
            .peekable();
        running.peek().is_some()
            && running.all(|n| {
                self.views
                    .get(&n.addr)
                    .and_then(|v| v.cluster.as_ref())
                    .is_some_and(|c| c.ok)
            })
    }

    pub fn client_bytes(&mut self, addr: &str, conn: ConnId, bytes: Vec<u8>) -> bool {
        let now = self.now;
        self.send(addr, ToWorker::Bytes { conn, bytes, now })
    }

    /// Virtual time passes: the control plane's timers in 100 ms steps,
    /// then every node's.
    pub fn advance(&mut self, ms: u64) {
        self.workers
            .values_mut()
            .for_each(NodeLink::restart_if_stuck);
        let end = self.now.plus(ms);
        while self.now < end {
            self.now = self.now.plus(100.min(end.0 - self.now.0));
            let now = self.now;
            self.cme.tick(now);
            self.run_actions();
        }
        let now = self.now;
        let addrs: Vec<String> = self.workers.keys().cloned().collect();
        for a in addrs {
            self.send(&a, ToWorker::Tick { now });
        }
    }

    /// The node at `addr` crashes: its worker is terminated, its data gone.
    pub fn kill(&mut self, addr: &str) {
        self.terminate(addr);
    }

    /// An Availability Zone goes down (`up` false: its nodes' workers
    /// stop) or comes back (the control plane launches the replacements
    /// it held back).
    pub fn az(&mut self, az: &str, up: bool) {
        let gone: Vec<String> = self
            .cme
            .nodes
            .iter()
            .filter(|n| n.az == az)
            .map(|n| n.addr.clone())
            .collect();
        let now = self.now;
        self.cme.az(now, az, up);
        if !up {
            for a in gone {
                self.kill(&a);
            }
        }
        self.run_actions();
    }

    /// Cuts the node at `addr` off from every other node (the control
    /// plane still reaches it), or heals every cut.
    pub fn isolate(&mut self, addr: &str) {
        self.isolated.insert(addr.to_string());
    }

    pub fn heal(&mut self) {
        self.isolated.clear();
        for s in std::mem::take(&mut self.stalled) {
            self.put(s);
        }
    }

    /// Stops every worker (the group is replaced).
    pub fn shutdown(&mut self) {
        let addrs: Vec<String> = self.workers.keys().cloned().collect();
        for a in addrs {
            if let Some(link) = self.workers.remove(&a) {
                link.terminate();
            }
        }
    }

    /// Carries out what the control plane decided after a call made on
    /// `cme` directly.
    pub fn run_pending(&mut self) {
        self.run_actions();
    }
}
