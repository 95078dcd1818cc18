//! A cluster-mode network on virtual time: real `Node`s in cluster mode at
//! `127.0.0.1:PORT` with their bus on `PORT + 10000`, the links they dial
//! (the bus, replication, MIGRATE) carried to the node they reach as the
//! native server's listeners would, and the CME control plane
//! ([`Cme`]) driving them through a connection of its own to each node.
//! Deterministic: nodes are served in port order, outputs in the order
//! produced, time moves in 100 ms ticks.
//!
//! Faults: a node killed (its process dies: its links close at the other
//! ends), lost (its host vanishes: the other ends hear nothing until they
//! next write and get a reset — as on the page's network, `net::Tcps`),
//! restarted from the nodes.conf it last wrote, or cut off from the others
//! (bytes across the cut wait, as TCP's do, and are delivered in order when
//! the cut heals; a dial across it fails).
//!
//! Clients (tests, labs) talk to any node with [`ClusterSim::command`].

use std::collections::BTreeMap;

use crate::commands::migrate::LinkId;
use crate::control::cme::{Cme, CmeAction};
use crate::protocol::{encode_request, parse_reply, Reply};
use crate::time::Millis;
use crate::{ConnId, Input, Node, Output};

/// The client connection tests and labs use on every node.
const CLIENT: ConnId = ConnId(1);
/// The control plane's connection to every node.
const ADMIN: ConnId = ConnId(2);

pub struct ClusterSim {
    pub now: Millis,
    pub nodes: BTreeMap<u16, Node>,
    pub cme: Option<Cme>,
    /// (node port, link) → (peer node port, conn id on the peer).
    links: BTreeMap<(u16, LinkId), (u16, ConnId)>,
    /// (node port, conn) → (dialling node port, its link).
    conns: BTreeMap<(u16, ConnId), (u16, LinkId)>,
    next_conn: u64,
    replies: BTreeMap<u16, Vec<u8>>,
    /// The control plane's command in flight per node, and its bytes.
    admin: BTreeMap<u16, (u64, Vec<u8>)>,
    dead: Vec<u16>,
    isolated: Option<u16>,
    held: Vec<(u16, Output)>,
    /// Links and connections whose other end was lost with its host:
    /// the next write on one is answered with a reset.
    lost_links: std::collections::BTreeSet<(u16, LinkId)>,
    lost_conns: std::collections::BTreeSet<(u16, ConnId)>,
    /// Nodes given input by the delivery in progress (`settle_from`'s
    /// line).
    touched: Vec<u16>,
    /// The last nodes.conf each node asked to write.
    configs: BTreeMap<u16, String>,
    seed: u64,
    /// Control-plane commands left in this tick.
    cme_budget: usize,
}

/// Control-plane commands carried per 100 ms tick: a round trip of about
/// 2 ms each, so a resharding takes virtual time as a real one does (and a
/// fault can strike in the middle of it).
const CME_COMMANDS_PER_TICK: usize = 50;

/// Outputs delivered from one node before the next node's turn.
const SETTLE_BATCH: usize = 16;

impl ClusterSim {
    /// Empty nodes on `ports` (no control plane: tests assemble them).
    pub fn new(ports: &[u16]) -> ClusterSim {
        let mut sim = ClusterSim {
            now: Millis(1_800_000_000_000),
            nodes: BTreeMap::new(),
            cme: None,
            links: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 100,
            replies: BTreeMap::new(),
            admin: BTreeMap::new(),
            dead: Vec::new(),
            isolated: None,
            held: Vec::new(),
            lost_links: Default::default(),
            lost_conns: Default::default(),
            touched: Vec::new(),
            configs: BTreeMap::new(),
            seed: 100,
            cme_budget: CME_COMMANDS_PER_TICK,
        };
        for &p in ports {
            sim.launch(p, None);
        }
        sim.settle();
        sim
    }

    /// A CME group of `shards` × (1 + `replicas`) nodes, node `n` of
    /// shard `s` on port `7000 + 6s + n` (room for a shard's six), created
    /// by the control plane (run time until it is available).
    pub fn cme(shards: usize, replicas: usize) -> ClusterSim {
        ClusterSim::cme_seeded(shards, replicas, 0)
    }

    /// The same, its nodes seeded from `seed` (node ids, gossip's picks).
    pub fn cme_seeded(shards: usize, replicas: usize, seed: u64) -> ClusterSim {
        let mut sim = ClusterSim::new(&[]);
        sim.seed = 100 + seed.wrapping_mul(1_000_003);
        let mut cme = Cme::new(
            "demo",
            shards,
            replicas,
            &["us-east-1a", "us-east-1b", "us-east-1c"],
            |s, n| {
                let port = cme_port(s, n);
                (format!("127.0.0.1:{port}"), port + 10000)
            },
        );
        cme.create(sim.now);
        sim.cme = Some(cme);
        sim.drive_cme();
        sim
    }

    fn launch(&mut self, port: u16, config: Option<&str>) {
        let now = self.now;
        self.seed += 1;
        let mut n = Node::new(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ port as u64);
        n.start(now, port);
        n.speak_redis_replication();
        n.set_startup_config("cluster-enabled", "yes")
            .expect("cluster mode");
        if let Some(text) = config {
            // A file it wrote itself always loads.
            let _ = n.load_cluster_config(text);
        }
        for conn in [CLIENT, ADMIN] {
            n.handle(
                now,
                Input::ConnOpened {
                    conn,
                    peer: "127.0.0.1:40000".into(),
                    local: format!("127.0.0.1:{port}"),
                },
            );
        }
        self.nodes.insert(port, n);
        self.dead.retain(|&p| p != port);
        self.lost_links.retain(|&(p, _)| p != port);
        self.lost_conns.retain(|&(p, _)| p != port);
    }

    /// A node runs at `port`.
    pub fn is_up(&self, port: u16) -> bool {
        self.alive(port)
    }

    fn alive(&self, port: u16) -> bool {
        self.nodes.contains_key(&port) && !self.dead.contains(&port)
    }

    /// Delivers outputs until nothing moves.
    fn settle(&mut self) {
        let ports: Vec<u16> = self.nodes.keys().copied().collect();
        self.settle_from(&ports);
    }

    /// Delivers outputs until nothing moves, starting with the nodes at
    /// `ports`: a few of a node's outputs at a time ([`SETTLE_BATCH`]),
    /// then the next node with some, in turn — the nodes that received
    /// something joining the end of the line. So what a burst draws in
    /// answer is delivered before the rest of the burst (a node's PINGs
    /// to 999 others would otherwise wait as 999 PONGs at once), and a
    /// quiet node is never looked at.
    fn settle_from(&mut self, ports: &[u16]) {
        let mut line: std::collections::VecDeque<u16> = ports.iter().copied().collect();
        let mut queued: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        let mut budget = 100_000_000usize;
        while let Some(p) = line.pop_front() {
            queued.remove(&p);
            for _ in 0..SETTLE_BATCH {
                if !self.alive(p) {
                    break;
                }
                let Some(o) = self.nodes.get_mut(&p).and_then(|n| n.poll_output()) else {
                    break;
                };
                budget = budget.saturating_sub(1);
                self.deliver(p, o);
                for t in std::mem::take(&mut self.touched) {
                    if queued.insert(t) {
                        line.push_back(t);
                    }
                }
            }
            let more = self.alive(p) && self.nodes.get(&p).is_some_and(|n| n.has_output());
            if more && queued.insert(p) {
                line.push_back(p);
            }
            if budget == 0 {
                return;
            }
        }
    }

    fn crosses_cut(&self, a: u16, b: u16) -> bool {
        self.isolated.is_some_and(|i| (a == i) != (b == i))
    }

    fn deliver(&mut self, from: u16, o: Output) {
        let now = self.now;
        let to = match &o {
            Output::ToClient { conn, .. } if *conn != CLIENT && *conn != ADMIN => {
                self.conns.get(&(from, *conn)).map(|&(to, _)| to)
            }
            Output::LinkSend { link, .. } => self.links.get(&(from, *link)).map(|&(to, _)| to),
            _ => None,
        };
        if to.is_some_and(|to| self.crosses_cut(from, to)) {
            self.held.push((from, o));
            return;
        }
        match o {
            Output::ToClient { conn, bytes } if conn == CLIENT => {
                self.replies
                    .entry(from)
                    .or_default()
                    .extend_from_slice(&bytes);
            }
            Output::ToClient { conn, bytes } if conn == ADMIN => {
                if let Some((_, buf)) = self.admin.get_mut(&from) {
                    buf.extend_from_slice(&bytes);
                }
                self.admin_reply(from);
            }
            Output::ToClient { conn, .. } if self.lost_conns.remove(&(from, conn)) => {
                self.touched.push(from);
                let n = self.nodes.get_mut(&from).expect("node");
                n.handle(now, Input::ConnClosed { conn });
            }
            Output::CloseConn { conn } if self.lost_conns.remove(&(from, conn)) => {}
            Output::LinkSend { link, .. } if self.lost_links.remove(&(from, link)) => {
                self.touched.push(from);
                let n = self.nodes.get_mut(&from).expect("node");
                n.handle(now, Input::LinkClosed { link });
            }
            Output::LinkClose { link } if self.lost_links.remove(&(from, link)) => {}
            Output::ToClient { conn, bytes } => {
                if let Some(&(to, link)) = self.conns.get(&(from, conn)) {
                    if self.alive(to) {
                        self.touched.push(to);
                        let n = self.nodes.get_mut(&to).expect("node");
                        n.handle(
                            now,
                            Input::LinkBytes {
                                link,
                                bytes: &bytes,
                            },
                        );
                    }
                }
            }
            Output::CloseConn { conn } => {
                if let Some((to, link)) = self.conns.remove(&(from, conn)) {
                    self.links.remove(&(to, link));
                    if self.alive(to) {
                        self.touched.push(to);
                        let n = self.nodes.get_mut(&to).expect("node");
                        n.handle(now, Input::LinkClosed { link });
                    }
                }
            }
            Output::Dial { link, port, .. } => {
                // The node whose bus port (or client port) this is.
                // (The first in port order: its client port, if `port` is
                // a bus port, is the lower.)
                let target = port
                    .checked_sub(10000)
                    .filter(|p| self.nodes.contains_key(p))
                    .or(Some(port).filter(|p| self.nodes.contains_key(p)))
                    .filter(|&p| self.alive(p) && !self.crosses_cut(from, p));
                let Some(to) = target else {
                    self.touched.push(from);
                    let n = self.nodes.get_mut(&from).expect("node");
                    n.handle(now, Input::LinkClosed { link });
                    return;
                };
                self.next_conn += 1;
                let conn = ConnId(self.next_conn);
                self.links.insert((from, link), (to, conn));
                self.conns.insert((to, conn), (from, link));
                self.touched.push(from);
                let n = self.nodes.get_mut(&from).expect("node");
                n.handle(now, Input::LinkUp { link });
                self.touched.push(to);
                self.nodes.get_mut(&to).expect("node").handle(
                    now,
                    Input::ConnOpened {
                        conn,
                        peer: format!("127.0.0.1:{}", 50000 + from),
                        local: format!("127.0.0.1:{port}"),
                    },
                );
            }
            Output::LinkSend { link, bytes } => {
                if let Some(&(to, conn)) = self.links.get(&(from, link)) {
                    if self.alive(to) {
                        self.touched.push(to);
                        self.nodes.get_mut(&to).expect("node").handle(
                            now,
                            Input::ClientBytes {
                                conn,
                                bytes: &bytes,
                            },
                        );
                    }
                }
            }
            Output::LinkClose { link } => {
                if let Some((to, conn)) = self.links.remove(&(from, link)) {
                    self.conns.remove(&(to, conn));
                    if self.alive(to) {
                        self.touched.push(to);
                        let n = self.nodes.get_mut(&to).expect("node");
                        n.handle(now, Input::ConnClosed { conn });
                    }
                }
            }
            Output::SaveClusterConfig { text, .. } => {
                self.configs.insert(from, text);
            }
            _ => {}
        }
    }

    /// A whole reply on the control plane's connection to `port` goes
    /// back to it.
    fn admin_reply(&mut self, port: u16) {
        let Some((tag, buf)) = self.admin.get(&port) else {
            return;
        };
        let Ok(Some((reply, _))) = parse_reply(buf) else {
            return;
        };
        let tag = *tag;
        self.admin.remove(&port);
        if let Some(cme) = self.cme.as_mut() {
            cme.reply(self.now, tag, reply);
        }
    }

    /// Carries out the control plane's actions until it has none.
    fn drive_cme(&mut self) {
        while self.cme_budget > 0 {
            let Some(a) = self.cme.as_mut().and_then(|c| c.poll_action()) else {
                return;
            };
            match a {
                CmeAction::Launch { addr, .. } => {
                    if let Some(port) = port_of(&addr) {
                        // A node still running there (cut off, not dead)
                        // is replaced.
                        if self.alive(port) {
                            self.kill(port);
                        }
                        self.launch(port, None);
                        self.settle();
                    }
                }
                CmeAction::Terminate { addr } => {
                    if let Some(port) = port_of(&addr) {
                        if self.alive(port) {
                            self.kill(port);
                        }
                        self.nodes.remove(&port);
                        self.dead.retain(|&p| p != port);
                    }
                }
                CmeAction::Command { tag, addr, argv } => {
                    self.cme_budget -= 1;
                    let port = port_of(&addr).unwrap_or(0);
                    if !self.alive(port) {
                        let now = self.now;
                        let e = format!("IOERR error or timeout talking to {addr}");
                        if let Some(cme) = self.cme.as_mut() {
                            cme.reply(now, tag, Reply::Error(e));
                        }
                        continue;
                    }
                    self.admin.insert(port, (tag, Vec::new()));
                    let now = self.now;
                    self.nodes.get_mut(&port).expect("node").handle(
                        now,
                        Input::ClientBytes {
                            conn: ADMIN,
                            bytes: &encode_request(&argv),
                        },
                    );
                    self.settle();
                }
            }
        }
    }

    /// A command from the client connection of the node at `port`, its
    /// reply (as soon as the network is quiet).
    pub fn command(&mut self, port: u16, argv: &[Vec<u8>]) -> Reply {
        if !self.alive(port) {
            return Reply::Error(format!("IOERR the node on port {port} is down"));
        }
        let now = self.now;
        self.nodes.get_mut(&port).expect("node").handle(
            now,
            Input::ClientBytes {
                conn: CLIENT,
                bytes: &encode_request(argv),
            },
        );
        self.settle();
        self.drive_cme();
        let buf = self.replies.remove(&port).unwrap_or_default();
        match parse_reply(&buf) {
            Ok(Some((r, _))) => r,
            _ => Reply::Error("ERR no reply yet (the command is blocked)".into()),
        }
    }

    /// A cluster client's command (`redis-cli -c`): sent to the node at
    /// `port`, then wherever MOVED or ASK (with ASKING first) send it, up
    /// to five redirects; a redirect to a node that is down fails as the
    /// connection would.
    pub fn follow(&mut self, port: u16, argv: &[Vec<u8>]) -> Reply {
        let mut port = port;
        let mut asking = false;
        for _ in 0..=5 {
            if asking {
                let _ = self.command(port, &[b"ASKING".to_vec()]);
            }
            let r = self.command(port, argv);
            let to = match &r {
                Reply::Error(e) if e.starts_with("MOVED ") || e.starts_with("ASK ") => {
                    asking = e.starts_with("ASK ");
                    e.rsplit(':').next().and_then(|p| p.parse::<u16>().ok())
                }
                _ => return r,
            };
            match to {
                Some(to) if self.alive(to) => port = to,
                _ => {
                    return Reply::Error(format!(
                        "IOERR the node a redirect named is down ({})",
                        crate::protocol::cli::format_reply(&r, false)
                    ))
                }
            }
        }
        Reply::Error("ERR too many cluster redirections".into())
    }

    /// [`ClusterSim::command`] written as a line (`SET k "a b"`).
    pub fn line(&mut self, port: u16, line: &str) -> Reply {
        match crate::protocol::split_args(line.as_bytes()) {
            Some(argv) => self.command(port, &argv),
            None => Reply::Error("ERR Protocol error: unbalanced quotes in request".into()),
        }
    }

    /// A command whose reply is text (CLUSTER NODES, INFO), as text; an
    /// error's words otherwise.
    pub fn text(&mut self, port: u16, line: &str) -> String {
        match self.line(port, line) {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
            Reply::Error(e) => e,
            other => format!("{other:?}"),
        }
    }

    /// Virtual time passes, in 100 ms ticks.
    pub fn advance(&mut self, ms: u64) {
        for _ in 0..ms / 100 {
            self.now = self.now.plus(100);
            let now = self.now;
            // Each node's cron, and what it sent delivered, before the
            // next node's: one node's burst in flight at a time.
            let ports: Vec<u16> = self.nodes.keys().copied().collect();
            for p in ports {
                if self.alive(p) {
                    self.nodes
                        .get_mut(&p)
                        .expect("node")
                        .handle(now, Input::Tick);
                    self.settle_from(&[p]);
                }
            }
            self.cme_budget = CME_COMMANDS_PER_TICK;
            if let Some(cme) = self.cme.as_mut() {
                cme.tick(now);
            }
            self.drive_cme();
        }
    }

    /// The node at `port` dies: its links and connections close on the
    /// other ends.
    pub fn kill(&mut self, port: u16) {
        self.dead.push(port);
        self.admin.remove(&port);
        let now = self.now;
        let gone_links: Vec<(u16, LinkId)> = self
            .conns
            .iter()
            .filter(|((to, _), _)| *to == port)
            .map(|(_, &(from, link))| (from, link))
            .collect();
        for (from, link) in gone_links {
            if self.alive(from) {
                let n = self.nodes.get_mut(&from).expect("node");
                n.handle(now, Input::LinkClosed { link });
            }
        }
        let gone_conns: Vec<(u16, ConnId)> = self
            .links
            .iter()
            .filter(|((from, _), _)| *from == port)
            .map(|(_, &(to, conn))| (to, conn))
            .collect();
        for (to, conn) in gone_conns {
            if self.alive(to) {
                let n = self.nodes.get_mut(&to).expect("node");
                n.handle(now, Input::ConnClosed { conn });
            }
        }
        self.links
            .retain(|(from, _), (to, _)| *from != port && *to != port);
        self.conns
            .retain(|(to, _), (from, _)| *from != port && *to != port);
        self.settle();
    }

    /// The host of the node at `port` vanishes: the node is gone, but
    /// the other ends of its links and connections are not told — each
    /// learns it when it next writes (a reset), as when a machine (not
    /// just a process) is lost. ElastiCache's failed nodes are these.
    pub fn lose(&mut self, port: u16) {
        self.dead.push(port);
        self.admin.remove(&port);
        for (&(from, link), &(to, _)) in &self.links {
            if to == port && from != port {
                self.lost_links.insert((from, link));
            }
        }
        for (&(to, conn), &(from, _)) in &self.conns {
            if from == port && to != port {
                self.lost_conns.insert((to, conn));
            }
        }
        self.lost_links.retain(|&(p, _)| p != port);
        self.lost_conns.retain(|&(p, _)| p != port);
        self.links
            .retain(|(from, _), (to, _)| *from != port && *to != port);
        self.conns
            .retain(|(to, _), (from, _)| *from != port && *to != port);
        self.settle();
    }

    /// The node at `port` dies and starts again from the nodes.conf it
    /// last wrote (its data gone, as without persistence).
    pub fn restart(&mut self, port: u16) {
        self.kill(port);
        let text = self.configs.get(&port).cloned();
        self.launch(port, text.as_deref());
        self.settle();
    }

    /// An Availability Zone goes down (every node in it dies) or comes
    /// back (the control plane launches the replacements it held back).
    pub fn az(&mut self, az: &str, up: bool) {
        let now = self.now;
        let Some(cme) = self.cme.as_mut() else {
            return;
        };
        let ports: Vec<u16> = cme
            .nodes
            .iter()
            .filter(|n| n.az == az)
            .filter_map(|n| port_of(&n.addr))
            .collect();
        cme.az(now, az, up);
        if !up {
            for p in ports {
                if self.alive(p) {
                    self.kill(p);
                }
            }
        }
        self.drive_cme();
    }

    /// The node at `port` is cut off from every other node.
    pub fn isolate(&mut self, port: u16) {
        self.isolated = Some(port);
    }

    /// The cut heals: what waited is delivered, in order.
    pub fn heal(&mut self) {
        self.isolated = None;
        for (from, o) in std::mem::take(&mut self.held) {
            self.deliver(from, o);
        }
        self.settle();
    }

    /// The nodes.conf the node at `port` last asked to write.
    pub fn config_of(&self, port: u16) -> Option<&str> {
        self.configs.get(&port).map(String::as_str)
    }
}

/// The recorded trace hash of [`golden`] for seed 1: the run must replay
/// to exactly this natively and in wasm.
pub const GOLDEN_CME_TRACE_HASH: u64 = 0x08a3_7e85_bb4b_1a64;

/// A seeded cluster-mode run whose trace is hashed, to check the engine
/// replays identically on every platform (the wasm test runs it in
/// Chromium): a 3×1 group created, 200 keys written through a cluster
/// client, 600 slots moved from shard 0001 to 0003 with 0001's primary
/// killed in the middle of it (the migration rolls forward on the
/// promoted replica), until the group is available again. The hash covers
/// the control plane's events with their virtual times, every live node's
/// CLUSTER NODES, and every key's value.
pub fn golden(seed: u64) -> u64 {
    let mut sim = ClusterSim::cme_seeded(3, 1, seed);
    let mut trace = Vec::new();
    let settle = |sim: &mut ClusterSim, max: u64| {
        let mut t = 0;
        while sim.cme.as_ref().is_some_and(|c| c.status != "available") && t < max {
            sim.advance(500);
            t += 500;
        }
        sim.advance(5_000);
    };
    settle(&mut sim, 60_000);
    let key = |i: u32| format!("key:{i}").into_bytes();
    for i in 0..200u32 {
        let r = sim.follow(
            cme_port(0, 0),
            &[b"SET".to_vec(), key(i), i.to_string().into_bytes()],
        );
        trace.push(format!("{r:?}"));
    }
    let now = sim.now;
    if let Some(c) = sim.cme.as_mut() {
        let slots: Vec<u16> = (0..600).collect();
        c.move_slots(now, 0, 2, &slots);
    }
    sim.advance(1_000);
    sim.kill(cme_port(0, 0));
    settle(&mut sim, 300_000);
    let ports: Vec<u16> = sim
        .nodes
        .keys()
        .copied()
        .filter(|&p| sim.alive(p))
        .collect();
    for &p in &ports {
        trace.push(sim.text(p, "CLUSTER NODES"));
    }
    let start = ports.first().copied().unwrap_or(0);
    for i in 0..200u32 {
        let r = sim.follow(start, &[b"GET".to_vec(), key(i)]);
        trace.push(format!("{r:?}"));
    }
    if let Some(c) = sim.cme.as_ref() {
        trace.extend(c.events.iter().map(|(at, e)| format!("{} {e}", at.0)));
    }
    trace.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, line| {
        line.bytes()
            .chain([b'\n'])
            .fold(h, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
    })
}

/// The port of node `n` of shard `s` in [`ClusterSim::cme`]'s groups.
pub fn cme_port(s: usize, n: usize) -> u16 {
    7000 + (s * 6 + n) as u16
}

fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit(':').next().and_then(|p| p.parse().ok())
}
