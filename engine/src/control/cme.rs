//! The control plane of a cluster-mode-enabled (CME) replication group:
//! shards of one primary and 0–5 replicas, assembled and changed the way
//! ElastiCache's automation (and `redis-cli --cluster`) does it — CLUSTER
//! commands sent to the nodes, their replies read. Failure detection and
//! failover inside a shard are the nodes' own (the cluster bus); this
//! plane only drives what an operator asks for.
//!
//! * Create: every node launched; the 16384 slots split evenly over the
//!   primaries (ADDSLOTSRANGE), each primary its own config epoch, every
//!   node MEETs the first; once all know each other the replicas
//!   REPLICATE; the group is available when every node answers
//!   `cluster_state:ok`.
//! * Online resharding (ModifyReplicationGroupShardConfiguration,
//!   rebalance): slot by slot — SETSLOT IMPORTING on the target, MIGRATING
//!   on the source, GETKEYSINSLOT and MIGRATE … KEYS in batches, SETSLOT
//!   NODE on the target, the source and every other primary — with its
//!   progress (slots moved of the total, keys moved).
//! * TestFailover of a shard: CLUSTER FAILOVER on one of its replicas.
//!
//! Sans-IO, like [`super::Control`]: `poll_action` gives what to do
//! (launch a node, send a command with a tag), `reply(tag, reply)` feeds
//! the answer back, `tick(now)` wakes steps that wait and poll.

use std::collections::VecDeque;

use crate::protocol::Reply;
use crate::store::slots::SLOTS;
use crate::time::Millis;

/// Keys moved per MIGRATE (`redis-cli --cluster`'s `--cluster-pipeline`).
pub const MIGRATE_BATCH: usize = 100;
/// How often a waiting step asks again.
const POLL_MS: u64 = 200;

/// One node of the group, as the control plane placed it.
#[derive(Clone, Debug, PartialEq)]
pub struct CmeNode {
    /// "demo-0001-001": group, shard, node.
    pub name: String,
    pub shard: usize,
    /// "ip:port" and the bus port.
    pub addr: String,
    pub cport: u16,
    pub az: String,
    /// Its cluster node id, once asked (CLUSTER MYID).
    pub id: Option<String>,
    /// Created as its shard's primary.
    pub primary: bool,
}

impl CmeNode {
    fn ip_port(&self) -> (&str, &str) {
        self.addr.rsplit_once(':').unwrap_or((&self.addr, "6379"))
    }
}

/// What the runtime must do.
#[derive(Clone, Debug, PartialEq)]
pub enum CmeAction {
    /// Start an empty node in cluster mode at `addr`, its bus on `cport`.
    Launch {
        addr: String,
        cport: u16,
        az: String,
    },
    /// Send `argv` to the node at `addr` and answer with
    /// [`Cme::reply`] and this `tag`.
    Command {
        tag: u64,
        addr: String,
        argv: Vec<Vec<u8>>,
    },
}

/// A resharding in progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reshard {
    pub slots_total: usize,
    pub slots_done: usize,
    pub keys_moved: u64,
}

#[derive(Clone, Debug)]
enum Step {
    /// CLUSTER MYID: the node's id.
    MyId(usize),
    /// A command answered +OK (anything else is reported).
    Ok(usize, Vec<String>),
    /// CLUSTER NODES on node `n` until it knows every node, none in
    /// handshake.
    Knows(usize),
    /// CLUSTER INFO on node `n` until `cluster_state:ok`.
    StateOk(usize),
    /// Slot `slot` from node `from` to node `to`: after IMPORTING and
    /// MIGRATING, its keys move batch by batch.
    Keys { slot: u16, from: usize, to: usize },
    /// MIGRATE of a batch of the slot's keys.
    Migrate {
        slot: u16,
        from: usize,
        to: usize,
        keys: Vec<Vec<u8>>,
    },
    /// The slot moved: counted.
    SlotDone,
    /// An event, when the steps before it are done.
    Event(String),
    /// Done with a change: the group is available again.
    Available,
}

pub struct Cme {
    pub group: String,
    pub nodes: Vec<CmeNode>,
    /// "creating", "available", "modifying".
    pub status: &'static str,
    pub reshard: Option<Reshard>,
    /// What happened, in AWS's words where AWS says it.
    pub events: Vec<(Millis, String)>,
    steps: VecDeque<Step>,
    pending: Option<(u64, Step)>,
    next_tag: u64,
    wake: Option<Millis>,
    actions: VecDeque<CmeAction>,
    now: Millis,
}

impl Cme {
    /// A group of `shards` × (1 + `replicas`) nodes: `addr(shard, node)`
    /// gives each one's "ip:port" and bus port (the runtime's addressing),
    /// AZs taken in turn from `azs`. Nothing happens until [`Cme::create`].
    pub fn new(
        group: &str,
        shards: usize,
        replicas: usize,
        azs: &[&str],
        addr: impl Fn(usize, usize) -> (String, u16),
    ) -> Cme {
        let mut nodes = Vec::new();
        for s in 0..shards {
            for n in 0..=replicas {
                let (a, cport) = addr(s, n);
                nodes.push(CmeNode {
                    name: format!("{group}-{:04}-{:03}", s + 1, n + 1),
                    shard: s,
                    addr: a,
                    cport,
                    az: azs[(s + n) % azs.len().max(1)].to_string(),
                    id: None,
                    primary: n == 0,
                });
            }
        }
        Cme {
            group: group.to_string(),
            nodes,
            status: "creating",
            reshard: None,
            events: Vec::new(),
            steps: VecDeque::new(),
            pending: None,
            next_tag: 1,
            wake: None,
            actions: VecDeque::new(),
            now: Millis(0),
        }
    }

    fn node_by_addr(&self, addr: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    fn primaries(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].primary)
            .collect()
    }

    /// CreateReplicationGroup: launch, then assemble.
    pub fn create(&mut self, now: Millis) {
        self.now = now;
        self.note(format!("Replication group {} created", self.group));
        for n in &self.nodes {
            self.actions.push_back(CmeAction::Launch {
                addr: n.addr.clone(),
                cport: n.cport,
                az: n.az.clone(),
            });
        }
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        for &i in &all {
            self.steps.push_back(Step::MyId(i));
        }
        let primaries = self.primaries();
        // redis-cli --cluster create's split (0-5460, 5461-10922, …).
        let per = SLOTS as f32 / primaries.len().max(1) as f32;
        let (mut first, mut cursor) = (0usize, 0f32);
        for (k, &p) in primaries.iter().enumerate() {
            let mut last = (cursor + per - 1.0).round() as usize;
            if last > SLOTS || k + 1 == primaries.len() {
                last = SLOTS - 1;
            }
            last = last.max(first);
            let range = (first, last);
            first = last + 1;
            cursor += per;
            let (first, last) = range;
            self.steps.push_back(Step::Ok(
                p,
                vec![
                    "CLUSTER".into(),
                    "ADDSLOTSRANGE".into(),
                    first.to_string(),
                    last.to_string(),
                ],
            ));
            self.steps.push_back(Step::Ok(
                p,
                vec![
                    "CLUSTER".into(),
                    "SET-CONFIG-EPOCH".into(),
                    (k + 1).to_string(),
                ],
            ));
        }
        let (ip, port) = {
            let (ip, port) = self.nodes[0].ip_port();
            (ip.to_string(), port.to_string())
        };
        for &i in &all[1..] {
            self.steps.push_back(Step::Ok(
                i,
                vec![
                    "CLUSTER".into(),
                    "MEET".into(),
                    ip.clone(),
                    port.clone(),
                    self.nodes[0].cport.to_string(),
                ],
            ));
        }
        for &i in &all {
            self.steps.push_back(Step::Knows(i));
        }
        self.push_replicate_steps(&all);
        for &i in &all {
            self.steps.push_back(Step::StateOk(i));
        }
        self.steps.push_back(Step::Available);
        self.run();
    }

    /// CLUSTER REPLICATE for each replica among `nodes`, to its shard's
    /// primary (by id, known by then).
    fn push_replicate_steps(&mut self, nodes: &[usize]) {
        for &i in nodes {
            if self.nodes[i].primary {
                continue;
            }
            let shard = self.nodes[i].shard;
            if let Some(p) = (0..self.nodes.len())
                .find(|&p| self.nodes[p].primary && self.nodes[p].shard == shard)
            {
                self.steps
                    .push_back(Step::Ok(i, vec!["__REPLICATE__".into(), p.to_string()]));
            }
        }
    }

    /// Move `slots` from the primary at node index `from` to the one at
    /// `to`, keys included, while clients keep working (ASK during, MOVED
    /// after).
    pub fn move_slots(&mut self, now: Millis, from: usize, to: usize, slots: &[u16]) {
        self.now = now;
        self.status = "modifying";
        let r = self.reshard.get_or_insert_with(Reshard::default);
        r.slots_total += slots.len();
        self.note(format!(
            "Resharding {} slots from shard {:04} to shard {:04}",
            slots.len(),
            self.nodes[from].shard + 1,
            self.nodes[to].shard + 1
        ));
        for &slot in slots {
            let (fid, tid) = (self.id_of(from), self.id_of(to));
            let s = slot.to_string();
            self.steps.push_back(Step::Ok(
                to,
                vec![
                    "CLUSTER".into(),
                    "SETSLOT".into(),
                    s.clone(),
                    "IMPORTING".into(),
                    fid,
                ],
            ));
            self.steps.push_back(Step::Ok(
                from,
                vec![
                    "CLUSTER".into(),
                    "SETSLOT".into(),
                    s.clone(),
                    "MIGRATING".into(),
                    tid.clone(),
                ],
            ));
            self.steps.push_back(Step::Keys { slot, from, to });
            // The target first, then the source, then every other primary.
            let mut order = vec![to, from];
            order.extend(
                self.primaries()
                    .into_iter()
                    .filter(|&p| p != to && p != from),
            );
            for n in order {
                self.steps.push_back(Step::Ok(
                    n,
                    vec![
                        "CLUSTER".into(),
                        "SETSLOT".into(),
                        s.clone(),
                        "NODE".into(),
                        tid.clone(),
                    ],
                ));
            }
            self.steps.push_back(Step::SlotDone);
        }
        self.steps.push_back(Step::Event(format!(
            "Resharding of replication group {} completed",
            self.group
        )));
        self.steps.push_back(Step::Available);
        self.run();
    }

    /// TestFailover on shard `shard`: its first replica takes over
    /// (CLUSTER FAILOVER — the primary pauses, the replica catches up).
    pub fn test_failover(&mut self, now: Millis, shard: usize) -> Result<(), String> {
        self.now = now;
        let replica = (0..self.nodes.len())
            .find(|&i| self.nodes[i].shard == shard && !self.nodes[i].primary)
            .ok_or_else(|| {
                format!(
                    "Replication group {} shard {:04} has no replica to fail over to.",
                    self.group,
                    shard + 1
                )
            })?;
        self.note(format!(
            "Test Failover API called for node group {:04}",
            shard + 1
        ));
        self.steps
            .push_back(Step::Ok(replica, vec!["CLUSTER".into(), "FAILOVER".into()]));
        self.steps.push_back(Step::Event(format!(
            "Failover to replica node {} completed",
            self.nodes[replica].name
        )));
        for n in &mut self.nodes {
            if n.shard == shard {
                n.primary = false;
            }
        }
        self.nodes[replica].primary = true;
        self.run();
        Ok(())
    }

    /// Node `n` is its shard's primary now (the cluster elected it).
    pub fn set_primary(&mut self, n: usize) {
        let shard = self.nodes[n].shard;
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if node.shard == shard {
                node.primary = i == n;
            }
        }
    }

    fn id_of(&self, n: usize) -> String {
        self.nodes[n].id.clone().unwrap_or_default()
    }

    fn note(&mut self, text: String) {
        self.events.push((self.now, text));
    }

    pub fn poll_action(&mut self) -> Option<CmeAction> {
        self.actions.pop_front()
    }

    /// When a waiting step wants to ask again.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.wake
    }

    pub fn tick(&mut self, now: Millis) {
        self.now = now;
        if self.wake.is_some_and(|w| now >= w) {
            self.wake = None;
            self.run();
        }
    }

    /// Sends the next step's command, unless one is in flight or a step
    /// waits for its time.
    fn run(&mut self) {
        while self.pending.is_none() && self.wake.is_none() {
            let Some(step) = self.steps.pop_front() else {
                return;
            };
            let (node, argv): (usize, Vec<Vec<u8>>) = match &step {
                Step::MyId(n) => (*n, args(&["CLUSTER", "MYID"])),
                Step::Ok(n, a) if a[0] == "__REPLICATE__" => {
                    let p: usize = a[1].parse().unwrap_or(0);
                    (*n, args(&["CLUSTER", "REPLICATE", &self.id_of(p)]))
                }
                Step::Ok(n, a) => (*n, a.iter().map(|s| s.as_bytes().to_vec()).collect()),
                Step::Knows(n) => (*n, args(&["CLUSTER", "NODES"])),
                Step::StateOk(n) => (*n, args(&["CLUSTER", "INFO"])),
                Step::Keys { slot, from, .. } => (
                    *from,
                    args(&[
                        "CLUSTER",
                        "GETKEYSINSLOT",
                        &slot.to_string(),
                        &MIGRATE_BATCH.to_string(),
                    ]),
                ),
                Step::Migrate { from, to, keys, .. } => {
                    let (ip, port) = self.nodes[*to].ip_port();
                    let mut a = args(&["MIGRATE", ip, port, "", "0", "5000", "REPLACE", "KEYS"]);
                    a.extend(keys.iter().cloned());
                    (*from, a)
                }
                Step::SlotDone => {
                    if let Some(r) = self.reshard.as_mut() {
                        r.slots_done += 1;
                    }
                    continue;
                }
                Step::Event(text) => {
                    let text = text.clone();
                    self.note(text);
                    continue;
                }
                Step::Available => {
                    if self.steps.is_empty() {
                        if self.status == "creating" {
                            self.note(format!(
                                "Replication group {} is available: {} shards, {} nodes",
                                self.group,
                                self.primaries().len(),
                                self.nodes.len()
                            ));
                        }
                        self.status = "available";
                        self.reshard = None;
                    }
                    continue;
                }
            };
            let tag = self.next_tag;
            self.next_tag += 1;
            self.actions.push_back(CmeAction::Command {
                tag,
                addr: self.nodes[node].addr.clone(),
                argv,
            });
            self.pending = Some((tag, step));
        }
    }

    /// The reply to command `tag` (a node that cannot answer: an error).
    pub fn reply(&mut self, now: Millis, tag: u64, reply: Reply) {
        self.now = now;
        let Some((t, step)) = self.pending.take() else {
            return;
        };
        if t != tag {
            self.pending = Some((t, step));
            return;
        }
        let retry_later = |me: &mut Cme, step: Step| {
            me.steps.push_front(step);
            me.wake = Some(Millis(me.now.0 + POLL_MS));
        };
        match step {
            Step::MyId(n) => match reply {
                Reply::Bulk(b) => self.nodes[n].id = Some(String::from_utf8_lossy(&b).into_owned()),
                _ => retry_later(self, Step::MyId(n)),
            },
            Step::Ok(n, a) => {
                if !matches!(&reply, Reply::Simple(s) if s == "OK") {
                    let what = a.join(" ");
                    let err = match &reply {
                        Reply::Error(e) => e.clone(),
                        other => format!("{other:?}"),
                    };
                    self.note(format!("{}: {what}: {err}", self.nodes[n].name));
                    // A node still starting, or a REPLICATE before the
                    // primary is known: asked again.
                    if err.starts_with("ERR Unknown node") || err.starts_with("IOERR") {
                        retry_later(self, Step::Ok(n, a));
                    }
                }
            }
            Step::Knows(n) => {
                let text = text_of(&reply);
                let known = text.lines().filter(|l| !l.is_empty()).count();
                if known < self.nodes.len() || text.contains("handshake") {
                    retry_later(self, Step::Knows(n));
                }
            }
            Step::StateOk(n) => {
                if !text_of(&reply).contains("cluster_state:ok") {
                    retry_later(self, Step::StateOk(n));
                }
            }
            Step::Keys { slot, from, to } => {
                let keys: Vec<Vec<u8>> = match reply {
                    Reply::Array(ks) => ks
                        .into_iter()
                        .filter_map(|k| match k {
                            Reply::Bulk(b) => Some(b),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if !keys.is_empty() {
                    self.steps.push_front(Step::Keys { slot, from, to });
                    self.steps.push_front(Step::Migrate {
                        slot,
                        from,
                        to,
                        keys,
                    });
                }
            }
            Step::Migrate {
                slot,
                from,
                to,
                keys,
            } => match reply {
                Reply::Simple(_) => {
                    if let Some(r) = self.reshard.as_mut() {
                        r.keys_moved += keys.len() as u64;
                    }
                }
                // NOKEY: they expired meanwhile. Anything else: again.
                Reply::Error(e) if e.starts_with("NOKEY") => {}
                _ => retry_later(
                    self,
                    Step::Migrate {
                        slot,
                        from,
                        to,
                        keys,
                    },
                ),
            },
            Step::SlotDone | Step::Event(_) | Step::Available => {}
        }
        self.run();
    }

    /// The node (index) at `addr`, for runtimes that address by it.
    pub fn index_of(&self, addr: &str) -> Option<usize> {
        self.node_by_addr(addr)
    }
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn text_of(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}
