//! The control plane of a cluster-mode-enabled (CME) replication group:
//! shards of one primary and 0–5 replicas, assembled and changed the way
//! ElastiCache's automation (and `redis-cli --cluster`) does it — CLUSTER
//! commands sent to the nodes, their replies read. Failure detection and
//! failover inside a shard are the nodes' own (the cluster bus); this
//! plane drives what an operator asks for and replaces failed nodes.
//!
//! * Create: every node launched; the 16384 slots split evenly over the
//!   primaries (ADDSLOTSRANGE), each primary its own config epoch, every
//!   node MEETs the first; once all know each other the replicas
//!   REPLICATE; the group is available when every node answers
//!   `cluster_state:ok`.
//! * Online resharding (ModifyReplicationGroupShardConfiguration): scale
//!   out (new shards, as many nodes as the smallest shard, slots moved to
//!   them evenly), scale in (the shards' slots moved to the others, then
//!   their nodes removed and forgotten), rebalance. Slot by slot —
//!   SETSLOT IMPORTING on the target, MIGRATING on the source,
//!   GETKEYSINSLOT and MIGRATE … KEYS in batches, SETSLOT NODE on the
//!   target, the source and every other primary — with its progress. A
//!   step that fails (a primary killed mid-migration, a partition) rolls
//!   forward: the shards' current primaries are asked for again (CLUSTER
//!   NODES) and the slot's steps start over on them.
//! * Add and remove replicas per shard; TestFailover (CLUSTER FAILOVER on
//!   a replica); the node quota (90 by default).
//! * Health: every few seconds CLUSTER NODES tells who is primary now (a
//!   failover the bus decided is reported in AWS's words) and which nodes
//!   the cluster marked `fail`: each is replaced — a new empty node at
//!   the same endpoint that joins its shard as a replica, or, in a shard
//!   with no node left, takes its slots back empty (the data is lost, as
//!   it is on ElastiCache without a replica).
//! * The configuration endpoint resolves to any live node; clients find
//!   the slot map with CLUSTER SLOTS / SHARDS.
//!
//! Sans-IO, like [`super::Control`]: `poll_action` gives what to do
//! (launch or terminate a node, send a command with a tag),
//! `reply(tag, reply)` feeds the answer back, `tick(now)` wakes steps that
//! wait and poll.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::ApiError;
use crate::protocol::Reply;
use crate::store::slots::SLOTS;
use crate::time::Millis;

/// Keys moved per MIGRATE (`redis-cli --cluster`'s `--cluster-pipeline`).
pub const MIGRATE_BATCH: usize = 100;
/// How often a waiting step asks again.
const POLL_MS: u64 = 200;
/// The endpoints' DNS suffix, as the CMD control plane's.
const DOMAIN: &str = "xyz123.clustercfg.use1.cache.amazonaws.com";
/// No shard owns the slot.
const NO_SHARD: u16 = u16::MAX;

/// The limits the control plane enforces.
#[derive(Clone, Debug, PartialEq)]
pub struct CmeSettings {
    /// Nodes per cluster (ElastiCache's default quota: 90).
    pub node_quota: usize,
    pub max_replicas: usize,
    pub max_shards: usize,
    /// How often the health check reads CLUSTER NODES.
    pub health_ms: u64,
    /// How long after the cluster marks a node `fail` its replacement is
    /// launched (ElastiCache takes minutes; the page shows the gap).
    pub replace_after_ms: u64,
}

impl Default for CmeSettings {
    fn default() -> Self {
        CmeSettings {
            node_quota: 90,
            max_replicas: 5,
            max_shards: 500,
            health_ms: 2_000,
            replace_after_ms: 20_000,
        }
    }
}

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
    /// Its shard's primary, as the cluster last said.
    pub primary: bool,
    /// The cluster marked it `fail`; a replacement is on its way.
    pub failed: bool,
}

impl CmeNode {
    fn ip_port(&self) -> (&str, &str) {
        self.addr.rsplit_once(':').unwrap_or((&self.addr, "6379"))
    }
}

/// What the runtime must do.
#[derive(Clone, Debug, PartialEq)]
pub enum CmeAction {
    /// Start an empty node in cluster mode at `addr`, its bus on `cport`
    /// (a node running there is replaced).
    Launch {
        addr: String,
        cport: u16,
        az: String,
    },
    /// Stop the node at `addr` for good.
    Terminate { addr: String },
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
    /// The slot moving now: (slot, from shard, to shard).
    pub moving: Option<(u16, usize, usize)>,
}

/// Where a step's command goes: a node, or whichever node is its shard's
/// primary when the step runs.
#[derive(Clone, Debug, PartialEq)]
enum Who {
    Node(String),
    Primary(usize),
}

/// An argument resolved when the step runs.
#[derive(Clone, Debug, PartialEq)]
enum Arg {
    S(String),
    /// The node id of the shard's current primary.
    PrimaryId(usize),
}

/// What a failed +OK step means.
#[derive(Clone, Copy, Debug, PartialEq)]
enum OnErr {
    /// Reported; asked again if the node was not ready.
    Report,
    /// Ignored (gossip will tell the node anyway).
    Ignore,
    /// IMPORTING/MIGRATING of a slot: "already/not the owner" means an
    /// earlier attempt moved it (skip to SETSLOT NODE); else start over.
    Setup(u16),
    /// SETSLOT NODE on the target or the source: start over.
    Final(u16),
}

#[derive(Clone, Debug)]
enum Step {
    Launch(String),
    /// CLUSTER MYID: the node's id.
    MyId(String),
    /// A command that answers +OK.
    Ok(Who, Vec<Arg>, OnErr),
    /// CLUSTER NODES on the node until it knows every node, none in
    /// handshake (the MEET sent again every 10 s: one across a cut fails).
    Knows(String, u32),
    /// Is the node (its old id) still marked `fail`? Replaced if so.
    CheckFailed(String, String),
    /// CLUSTER INFO on the node until `cluster_state:ok`.
    StateOk(String),
    /// Move one slot between shards (expands into the steps below).
    Slot {
        slot: u16,
        from: usize,
        to: usize,
    },
    /// GETKEYSINSLOT on the source; a batch → Migrate, none → on.
    Keys {
        slot: u16,
        from: usize,
        to: usize,
    },
    Migrate {
        slot: u16,
        from: usize,
        to: usize,
        keys: Vec<Vec<u8>>,
    },
    /// The slot is the target shard's now.
    SlotDone {
        slot: u16,
        to: usize,
    },
    /// CLUSTER NODES from a live node: who is primary, who failed.
    Roles,
    /// Roles until the node is its shard's primary; CLUSTER FAILOVER
    /// again if a manual failover that began at the time given timed out
    /// (Redis abandons one after 5 s).
    AwaitPrimary(String, Millis),
    /// Roles until the shard has a live primary other than `addr` (the
    /// failed node whose cluster id was the last field) — or no live node
    /// at all: then the replacement, whose steps follow, takes the slots.
    AwaitShard(usize, String, String),
    /// The node is terminated and forgotten by the others.
    Remove(String),
    /// The node at `addr` (new, empty) takes its shard's slots.
    TakeSlots(String),
    /// Nothing until then.
    Wait(Millis),
    /// An event, when the steps before it are done.
    Event(String),
    /// Done with a change: the group is available again.
    Available,
}

impl Step {
    fn slot(&self) -> Option<u16> {
        match self {
            Step::Ok(_, _, OnErr::Setup(s) | OnErr::Final(s)) => Some(*s),
            Step::Keys { slot, .. } | Step::Migrate { slot, .. } | Step::SlotDone { slot, .. } => {
                Some(*slot)
            }
            _ => None,
        }
    }
}

type Addressing = Box<dyn Fn(usize, usize) -> (String, u16)>;

pub struct Cme {
    pub group: String,
    pub nodes: Vec<CmeNode>,
    pub settings: CmeSettings,
    /// "creating", "available", "modifying".
    pub status: &'static str,
    pub reshard: Option<Reshard>,
    /// What happened, in AWS's words where AWS says it.
    pub events: Vec<(Millis, String)>,
    /// Slot → shard, as the control plane placed them.
    owners: Vec<u16>,
    azs: Vec<String>,
    addressing: Addressing,
    steps: VecDeque<Step>,
    pending: Option<(u64, Step)>,
    next_tag: u64,
    wake: Option<Millis>,
    next_health: Millis,
    actions: VecDeque<CmeAction>,
    /// Slots whose migration already started over once (reported once).
    retried: BTreeSet<u16>,
    /// Which node the next Roles asks (advanced past dead ones).
    roles_at: usize,
    /// Shards whose primary was found failed before a new one was seen
    /// (shard → that node), for the failover's event.
    deposed: BTreeMap<usize, usize>,
    /// When slots nobody served were last handed back.
    last_cover: Option<Millis>,
    /// Availability Zones in an outage: nothing is launched in them.
    azs_down: BTreeSet<String>,
    /// Failed nodes whose replacement waits for their AZ: (addr, old id).
    parked: Vec<(String, String)>,
    now: Millis,
}

impl Cme {
    /// A group of `shards` × (1 + `replicas`) nodes: `addr(shard, node)`
    /// gives each one's "ip:port" and bus port (the runtime's addressing;
    /// also asked for nodes added later, `node` up to 5), AZs taken in
    /// turn from `azs`. Nothing happens until [`Cme::create`].
    pub fn new(
        group: &str,
        shards: usize,
        replicas: usize,
        azs: &[&str],
        addr: impl Fn(usize, usize) -> (String, u16) + 'static,
    ) -> Cme {
        let mut cme = Cme {
            group: group.to_string(),
            nodes: Vec::new(),
            settings: CmeSettings::default(),
            status: "creating",
            reshard: None,
            events: Vec::new(),
            owners: vec![NO_SHARD; SLOTS],
            azs: azs.iter().map(|s| s.to_string()).collect(),
            addressing: Box::new(addr),
            steps: VecDeque::new(),
            pending: None,
            next_tag: 1,
            wake: None,
            next_health: Millis(0),
            actions: VecDeque::new(),
            retried: BTreeSet::new(),
            roles_at: 0,
            deposed: BTreeMap::new(),
            last_cover: None,
            azs_down: BTreeSet::new(),
            parked: Vec::new(),
            now: Millis(0),
        };
        for s in 0..shards {
            for n in 0..=replicas {
                cme.place(s, n);
            }
        }
        cme
    }

    /// A node record for node `n` of shard `s` (not launched yet).
    fn place(&mut self, s: usize, n: usize) -> usize {
        let (addr, cport) = (self.addressing)(s, n);
        let az = if self.azs.is_empty() {
            String::new()
        } else {
            self.azs[(s + n) % self.azs.len()].clone()
        };
        self.nodes.push(CmeNode {
            name: format!("{}-{:04}-{:03}", self.group, s + 1, n + 1),
            shard: s,
            addr,
            cport,
            az,
            id: None,
            primary: n == 0,
            failed: false,
        });
        self.nodes.len() - 1
    }

    fn node_by_addr(&self, addr: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    /// The shards, in order.
    pub fn shards(&self) -> Vec<usize> {
        let set: BTreeSet<usize> = self.nodes.iter().map(|n| n.shard).collect();
        set.into_iter().collect()
    }

    /// The node index of shard `s`'s primary, as last known.
    pub fn primary_of(&self, s: usize) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.nodes[i].shard == s && self.nodes[i].primary)
    }

    /// The slots shard `s` owns, as the control plane placed them.
    pub fn slots_of(&self, s: usize) -> Vec<u16> {
        (0..SLOTS as u16)
            .filter(|&k| self.owners[k as usize] as usize == s)
            .collect()
    }

    /// The configuration endpoint (CME's one endpoint).
    pub fn configuration_endpoint(&self) -> String {
        format!("{}.{DOMAIN}:6379", self.group)
    }

    /// The configuration endpoint resolves to a live node (`pick` chooses
    /// which, as DNS round-robin would); a node's own address to itself.
    pub fn resolve(&self, name: &str, pick: usize) -> Option<String> {
        if name == self.configuration_endpoint() {
            let live: Vec<&CmeNode> = self.nodes.iter().filter(|n| !n.failed).collect();
            return (!live.is_empty()).then(|| live[pick % live.len()].addr.clone());
        }
        self.node_by_addr(name).map(|i| self.nodes[i].addr.clone())
    }

    /// CreateReplicationGroup: launch, then assemble.
    pub fn create(&mut self, now: Millis) {
        self.now = now;
        self.note(format!("Replication group {} created", self.group));
        let addrs: Vec<String> = self.nodes.iter().map(|n| n.addr.clone()).collect();
        for a in &addrs {
            self.steps.push_back(Step::Launch(a.clone()));
        }
        for a in &addrs {
            self.steps.push_back(Step::MyId(a.clone()));
        }
        let shards = self.shards();
        // redis-cli --cluster create's split (0-5460, 5461-10922, …).
        let per = SLOTS as f32 / shards.len().max(1) as f32;
        let (mut first, mut cursor) = (0usize, 0f32);
        for (k, &s) in shards.iter().enumerate() {
            let mut last = (cursor + per - 1.0).round() as usize;
            if last > SLOTS || k + 1 == shards.len() {
                last = SLOTS - 1;
            }
            last = last.max(first);
            for slot in first..=last {
                self.owners[slot] = s as u16;
            }
            self.steps.push_back(Step::Ok(
                Who::Primary(s),
                lits(&[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &first.to_string(),
                    &last.to_string(),
                ]),
                OnErr::Report,
            ));
            self.steps.push_back(Step::Ok(
                Who::Primary(s),
                lits(&["CLUSTER", "SET-CONFIG-EPOCH", &(k + 1).to_string()]),
                OnErr::Report,
            ));
            first = last + 1;
            cursor += per;
        }
        self.push_meet(&addrs[1..], &addrs[0]);
        for a in &addrs {
            self.steps.push_back(Step::Knows(a.clone(), 0));
        }
        self.push_replicate(&addrs);
        for a in &addrs {
            self.steps.push_back(Step::StateOk(a.clone()));
        }
        self.steps.push_back(Step::Available);
        self.run();
    }

    /// Each of `addrs` MEETs the node at `to`.
    fn push_meet(&mut self, addrs: &[String], to: &str) {
        let Some(t) = self.node_by_addr(to) else {
            return;
        };
        let (ip, port) = self.nodes[t].ip_port();
        let meet = lits(&[
            "CLUSTER",
            "MEET",
            ip,
            port,
            &self.nodes[t].cport.to_string(),
        ]);
        for a in addrs {
            self.steps
                .push_back(Step::Ok(Who::Node(a.clone()), meet.clone(), OnErr::Report));
        }
    }

    /// CLUSTER REPLICATE for each replica among `addrs`, to its shard's
    /// primary (by id, known by then). Replica migration is off on every
    /// node: the service places each shard's replicas itself (a replica
    /// wandering to another shard would leave a shard short).
    fn push_replicate(&mut self, addrs: &[String]) {
        for a in addrs {
            self.steps.push_back(Step::Ok(
                Who::Node(a.clone()),
                lits(&["CONFIG", "SET", "cluster-allow-replica-migration", "no"]),
                OnErr::Report,
            ));
        }
        for a in addrs {
            let Some(i) = self.node_by_addr(a) else {
                continue;
            };
            if self.nodes[i].primary {
                continue;
            }
            let shard = self.nodes[i].shard;
            self.steps.push_back(Step::Ok(
                Who::Node(a.clone()),
                vec![
                    Arg::S("CLUSTER".into()),
                    Arg::S("REPLICATE".into()),
                    Arg::PrimaryId(shard),
                ],
                OnErr::Report,
            ));
        }
    }

    fn check_available(&self) -> Result<(), ApiError> {
        if self.status != "available" {
            return Err(api_err(
                "InvalidReplicationGroupState",
                format!(
                    "Replication group {} is not in available state (it is {}).",
                    self.group, self.status
                ),
            ));
        }
        Ok(())
    }

    fn check_quota(&self, more: usize) -> Result<(), ApiError> {
        if self.nodes.len() + more > self.settings.node_quota {
            return Err(api_err(
                "NodeQuotaForClusterExceeded",
                format!(
                    "The request cannot be processed because it would exceed the allowed number of cache nodes in a single cluster ({} nodes now, {more} more asked, quota {}).",
                    self.nodes.len(),
                    self.settings.node_quota
                ),
            ));
        }
        Ok(())
    }

    fn begin_modify(&mut self, now: Millis) {
        self.now = now;
        self.status = "modifying";
        self.reshard.get_or_insert_with(Reshard::default);
    }

    /// Move `slots` from shard `from` to shard `to`, keys included, while
    /// clients keep working (ASK during, MOVED after).
    pub fn move_slots(&mut self, now: Millis, from: usize, to: usize, slots: &[u16]) {
        self.begin_modify(now);
        self.note(format!(
            "Resharding {} slots from shard {:04} to shard {:04}",
            slots.len(),
            from + 1,
            to + 1
        ));
        self.push_moves(&[(from, to, slots.to_vec())]);
        self.finish_reshard();
        self.run();
    }

    fn push_moves(&mut self, moves: &[(usize, usize, Vec<u16>)]) {
        let r = self.reshard.get_or_insert_with(Reshard::default);
        r.slots_total += moves.iter().map(|m| m.2.len()).sum::<usize>();
        for (from, to, slots) in moves {
            for &slot in slots {
                self.steps.push_back(Step::Slot {
                    slot,
                    from: *from,
                    to: *to,
                });
            }
        }
    }

    fn finish_reshard(&mut self) {
        self.steps.push_back(Step::Event(format!(
            "Resharding of replication group {} completed",
            self.group
        )));
        self.steps.push_back(Step::Available);
    }

    /// The steps that move one slot, on the shards' primaries as they are
    /// when the steps run.
    fn slot_steps(&self, slot: u16, from: usize, to: usize) -> Vec<Step> {
        let s = slot.to_string();
        let setslot = |state: &str, id: Arg| {
            vec![
                Arg::S("CLUSTER".into()),
                Arg::S("SETSLOT".into()),
                Arg::S(s.clone()),
                Arg::S(state.into()),
                id,
            ]
        };
        let mut out = vec![
            Step::Ok(
                Who::Primary(to),
                setslot("IMPORTING", Arg::PrimaryId(from)),
                OnErr::Setup(slot),
            ),
            Step::Ok(
                Who::Primary(from),
                setslot("MIGRATING", Arg::PrimaryId(to)),
                OnErr::Setup(slot),
            ),
            Step::Keys { slot, from, to },
            // The target first, then the source, then every other primary.
            Step::Ok(
                Who::Primary(to),
                setslot("NODE", Arg::PrimaryId(to)),
                OnErr::Final(slot),
            ),
            Step::Ok(
                Who::Primary(from),
                setslot("NODE", Arg::PrimaryId(to)),
                OnErr::Final(slot),
            ),
        ];
        for s in self.shards() {
            if s != from && s != to {
                out.push(Step::Ok(
                    Who::Primary(s),
                    setslot("NODE", Arg::PrimaryId(to)),
                    OnErr::Ignore,
                ));
            }
        }
        out.push(Step::SlotDone { slot, to });
        out
    }

    /// Moves that leave each of `targets` with an even share of the slots
    /// (the first ones one more when 16384 does not divide) and every
    /// other shard with none: from the shards with too many, their highest
    /// slots first, to the shards with too few.
    fn plan_even(&self, targets: &[usize]) -> Vec<(usize, usize, Vec<u16>)> {
        let k = targets.len().max(1);
        let want = |s: usize| match targets.iter().position(|&t| t == s) {
            Some(i) => SLOTS / k + usize::from(i < SLOTS % k),
            None => 0,
        };
        let mut spare: Vec<(usize, Vec<u16>)> = Vec::new();
        let mut need: Vec<(usize, usize)> = Vec::new();
        let mut all: BTreeSet<usize> = self.shards().into_iter().collect();
        all.extend(targets.iter().copied());
        for s in all {
            let owned = self.slots_of(s);
            let w = want(s);
            if owned.len() > w {
                spare.push((s, owned[w..].to_vec()));
            } else if owned.len() < w {
                need.push((s, w - owned.len()));
            }
        }
        let mut moves: Vec<(usize, usize, Vec<u16>)> = Vec::new();
        let mut pool: VecDeque<(usize, u16)> = spare
            .into_iter()
            .flat_map(|(s, slots)| slots.into_iter().map(move |k| (s, k)))
            .collect();
        for (to, n) in need {
            for _ in 0..n {
                let Some((from, slot)) = pool.pop_front() else {
                    break;
                };
                match moves.last_mut() {
                    Some(m) if m.0 == from && m.1 == to => m.2.push(slot),
                    _ => moves.push((from, to, vec![slot])),
                }
            }
        }
        moves
    }

    /// Scale out (ModifyReplicationGroupShardConfiguration, NodeGroupCount
    /// up): `add` shards, each with as many nodes as the smallest shard,
    /// then slots moved to them until all shards are even.
    pub fn scale_out(&mut self, now: Millis, add: usize) -> Result<(), ApiError> {
        self.check_available()?;
        let shards = self.shards();
        if add == 0 || shards.len() + add > self.settings.max_shards {
            return Err(api_err(
                "InvalidParameterValue",
                format!(
                    "NodeGroupCount must be between 1 and {}.",
                    self.settings.max_shards
                ),
            ));
        }
        let per = shards
            .iter()
            .map(|&s| self.nodes.iter().filter(|n| n.shard == s).count())
            .min()
            .unwrap_or(1);
        self.check_quota(add * per)?;
        let Some(seed) = self.live_addr() else {
            return Err(api_err(
                "InvalidReplicationGroupState",
                "No node of the group is reachable.".into(),
            ));
        };
        self.begin_modify(now);
        let first = shards.iter().max().map_or(0, |m| m + 1);
        let new_shards: Vec<usize> = (first..first + add).collect();
        self.note(format!(
            "Modifying shard configuration of replication group {}: adding {add} shard(s) ({})",
            self.group,
            new_shards
                .iter()
                .map(|s| format!("{:04}", s + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let mut addrs = Vec::new();
        for &s in &new_shards {
            for n in 0..per {
                let i = self.place(s, n);
                addrs.push(self.nodes[i].addr.clone());
            }
        }
        self.push_join(&addrs, &seed);
        let mut targets = shards;
        targets.extend(new_shards);
        let moves = self.plan_even(&targets);
        self.push_moves(&moves);
        self.finish_reshard();
        self.run();
        Ok(())
    }

    /// New nodes at `addrs` launched, introduced (MEET `seed`), known to
    /// all, replicas attached.
    fn push_join(&mut self, addrs: &[String], seed: &str) {
        for a in addrs {
            self.steps.push_back(Step::Launch(a.clone()));
        }
        for a in addrs {
            self.steps.push_back(Step::MyId(a.clone()));
        }
        self.push_meet(addrs, seed);
        for a in addrs {
            self.steps.push_back(Step::Knows(a.clone(), 0));
        }
        self.push_replicate(addrs);
    }

    /// Scale in: the `remove`d shards' slots go to the others (evenly),
    /// then their nodes are terminated and forgotten.
    pub fn scale_in(&mut self, now: Millis, remove: &[usize]) -> Result<(), ApiError> {
        self.check_available()?;
        let shards = self.shards();
        if let Some(s) = remove.iter().find(|s| !shards.contains(s)) {
            return Err(api_err(
                "InvalidParameterValue",
                format!("Node group {:04} does not exist.", s + 1),
            ));
        }
        let keep: Vec<usize> = shards
            .iter()
            .copied()
            .filter(|s| !remove.contains(s))
            .collect();
        if keep.is_empty() || remove.is_empty() {
            return Err(api_err(
                "InvalidParameterValue",
                "NodeGroupCount must be between 1 and the current count minus one when removing node groups.".into(),
            ));
        }
        self.begin_modify(now);
        self.note(format!(
            "Modifying shard configuration of replication group {}: removing {} shard(s) ({})",
            self.group,
            remove.len(),
            remove
                .iter()
                .map(|s| format!("{:04}", s + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let moves = self.plan_even(&keep);
        self.push_moves(&moves);
        // Replicas first: a primary's replicas must not outlive it.
        let mut gone: Vec<(bool, String)> = self
            .nodes
            .iter()
            .filter(|n| remove.contains(&n.shard))
            .map(|n| (n.primary, n.addr.clone()))
            .collect();
        gone.sort();
        for (_, a) in gone {
            self.steps.push_back(Step::Remove(a));
        }
        self.finish_reshard();
        self.run();
        Ok(())
    }

    /// Rebalance: slots moved until every shard has an even share.
    pub fn rebalance(&mut self, now: Millis) -> Result<usize, ApiError> {
        self.check_available()?;
        let moves = self.plan_even(&self.shards());
        let n: usize = moves.iter().map(|m| m.2.len()).sum();
        if n == 0 {
            self.now = now;
            self.note(format!(
                "Replication group {}: the slots are already balanced",
                self.group
            ));
            return Ok(0);
        }
        self.begin_modify(now);
        self.note(format!(
            "Rebalancing replication group {}: {n} slots to move",
            self.group
        ));
        self.push_moves(&moves);
        self.finish_reshard();
        self.run();
        Ok(n)
    }

    /// IncreaseReplicaCount for one shard: a new replica, synced from the
    /// shard's primary.
    pub fn add_replica(&mut self, now: Millis, shard: usize) -> Result<String, ApiError> {
        self.check_available()?;
        if !self.shards().contains(&shard) {
            return Err(api_err(
                "InvalidParameterValue",
                format!("Node group {:04} does not exist.", shard + 1),
            ));
        }
        let in_shard: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].shard == shard)
            .collect();
        if in_shard.len() > self.settings.max_replicas {
            return Err(api_err(
                "InvalidParameterValue",
                format!(
                    "A node group can have at most {} replicas.",
                    self.settings.max_replicas
                ),
            ));
        }
        self.check_quota(1)?;
        let Some(seed) = self.live_addr() else {
            return Err(api_err(
                "InvalidReplicationGroupState",
                "No node of the group is reachable.".into(),
            ));
        };
        // The first node number of the shard not in use.
        let used: BTreeSet<String> = in_shard
            .iter()
            .map(|&i| self.nodes[i].name.clone())
            .collect();
        let n = (0..)
            .find(|n| !used.contains(&format!("{}-{:04}-{:03}", self.group, shard + 1, n + 1)))
            .unwrap_or(0);
        self.now = now;
        self.status = "modifying";
        let i = self.place(shard, n);
        self.nodes[i].primary = false;
        let addr = self.nodes[i].addr.clone();
        let name = self.nodes[i].name.clone();
        if self.nodes.iter().filter(|x| x.addr == addr).count() > 1 {
            self.nodes.pop();
            self.status = "available";
            return Err(api_err(
                "InvalidParameterValue",
                format!("The runtime has no free address for node {name}."),
            ));
        }
        self.note(format!(
            "Adding replica {name} to node group {:04}",
            shard + 1
        ));
        self.push_join(std::slice::from_ref(&addr), &seed);
        self.steps
            .push_back(Step::Event(format!("Added cache node {name}")));
        self.steps.push_back(Step::Available);
        self.run();
        Ok(name)
    }

    /// DecreaseReplicaCount by a node's name: a replica removed.
    pub fn remove_replica(&mut self, now: Millis, name: &str) -> Result<(), ApiError> {
        self.check_available()?;
        let Some(i) = self.nodes.iter().position(|n| n.name == name) else {
            return Err(api_err(
                "CacheClusterNotFound",
                format!("CacheCluster {name} not found."),
            ));
        };
        if self.nodes[i].primary {
            return Err(api_err(
                "InvalidParameterValue",
                format!("Cache node {name} is the primary; only replicas can be removed."),
            ));
        }
        self.now = now;
        self.status = "modifying";
        self.note(format!("Removing replica {name}"));
        self.steps
            .push_back(Step::Remove(self.nodes[i].addr.clone()));
        self.steps
            .push_back(Step::Event(format!("Removed cache node {name}")));
        self.steps.push_back(Step::Available);
        self.run();
        Ok(())
    }

    /// An Availability Zone goes down (`up` false) or comes back. The
    /// runtime stops the zone's nodes; the cluster fails them as it fails
    /// any node (a replica elsewhere takes over a primary's slots), and
    /// their replacements wait until the zone is back: ElastiCache
    /// launches a replacement in the failed node's AZ.
    pub fn az(&mut self, now: Millis, az: &str, up: bool) {
        self.now = self.now.max(now);
        if !up {
            if self.azs_down.insert(az.to_string()) {
                self.note(format!("Availability Zone {az} is unavailable"));
            }
            return;
        }
        if !self.azs_down.remove(az) {
            return;
        }
        self.note(format!("Availability Zone {az} is available again"));
        let parked = std::mem::take(&mut self.parked);
        let (back, waiting): (Vec<_>, Vec<_>) = parked
            .into_iter()
            .partition(|(a, _)| self.node_by_addr(a).is_some_and(|i| self.nodes[i].az == az));
        self.parked = waiting;
        if back.is_empty() {
            return;
        }
        if self.status != "modifying" {
            self.status = "modifying";
            self.steps.push_back(Step::Available);
        }
        for (a, old_id) in back.iter().rev() {
            self.push_replacement(a, old_id);
        }
        self.run();
    }

    /// Whether the AZ is in an outage.
    pub fn az_down(&self, az: &str) -> bool {
        self.azs_down.contains(az)
    }

    /// TestFailover on shard `shard`: its first replica takes over
    /// (CLUSTER FAILOVER — the primary pauses, the replica catches up).
    /// RebootCacheCluster on a node of the group: refused. The API reboots
    /// Memcached and cluster-mode-disabled nodes only; a parameter change
    /// that needs a reboot is applied to a CME group by backing it up and
    /// restoring the backup into a new group with the new parameters.
    /// (The API reference gives the message; the error code is ours, the
    /// one the API uses for a request its parameters cannot satisfy.)
    pub fn reboot(&self, name: &str) -> Result<(), ApiError> {
        if !self.nodes.iter().any(|n| n.name == name) {
            return Err(api_err(
                "CacheClusterNotFound",
                format!("CacheCluster {name} not found."),
            ));
        }
        Err(api_err(
            "InvalidParameterCombination",
            "Rebooting is not supported on Valkey or Redis OSS (cluster mode enabled) clusters. To apply a parameter change that needs a reboot, back the cluster up and restore the backup into a new cluster that uses the changed parameter group.".into(),
        ))
    }

    pub fn test_failover(&mut self, now: Millis, shard: usize) -> Result<(), String> {
        self.now = now;
        let replica = (0..self.nodes.len())
            .find(|&i| {
                self.nodes[i].shard == shard && !self.nodes[i].primary && !self.nodes[i].failed
            })
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
        let addr = self.nodes[replica].addr.clone();
        self.steps.push_back(Step::Ok(
            Who::Node(addr.clone()),
            lits(&["CLUSTER", "FAILOVER"]),
            OnErr::Report,
        ));
        self.steps.push_back(Step::AwaitPrimary(addr, now));
        self.run();
        Ok(())
    }

    /// Node `n` is its shard's primary now (the cluster elected it).
    pub fn set_primary(&mut self, n: usize) {
        let shard = self.nodes[n].shard;
        // A primary found failed before its replica's election was seen
        // is still the one it replaced.
        let old = self
            .primary_of(shard)
            .or_else(|| self.deposed.remove(&shard));
        if old.is_some_and(|o| o != n) && self.status != "creating" {
            let text = format!(
                "Failover from primary node {} to replica node {} completed",
                self.nodes[old.unwrap_or(n)].name,
                self.nodes[n].name
            );
            self.note(text);
        }
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if node.shard == shard {
                node.primary = i == n;
            }
        }
    }

    fn note(&mut self, text: String) {
        self.events.push((self.now, text));
    }

    /// A node not known to have failed, for the steps any node can answer.
    fn live_addr(&self) -> Option<String> {
        self.nodes
            .iter()
            .find(|n| !n.failed)
            .map(|n| n.addr.clone())
    }

    pub fn poll_action(&mut self) -> Option<CmeAction> {
        self.actions.pop_front()
    }

    /// When a waiting step wants to ask again, or the health check is due.
    pub fn poll_timeout(&self) -> Option<Millis> {
        match (self.wake, self.status) {
            (Some(w), _) => Some(w),
            (None, "creating") => None,
            _ => Some(self.next_health),
        }
    }

    pub fn tick(&mut self, now: Millis) {
        self.now = now;
        if self.wake.is_some_and(|w| now >= w) {
            self.wake = None;
        }
        if self.status != "creating"
            && self.pending.is_none()
            && self.steps.is_empty()
            && now >= self.next_health
        {
            self.next_health = now.plus(self.settings.health_ms);
            self.steps.push_back(Step::Roles);
        }
        self.run();
    }

    fn resolve_who(&self, who: &Who) -> Option<usize> {
        match who {
            Who::Node(a) => self.node_by_addr(a),
            Who::Primary(s) => self.primary_of(*s),
        }
    }

    fn resolve_arg(&self, a: &Arg) -> Option<Vec<u8>> {
        match a {
            Arg::S(s) => Some(s.as_bytes().to_vec()),
            Arg::PrimaryId(s) => {
                let i = self.primary_of(*s)?;
                self.nodes[i].id.clone().map(String::into_bytes)
            }
        }
    }

    /// Sends the next step's command, unless one is in flight or a step
    /// waits for its time.
    fn run(&mut self) {
        while self.pending.is_none() && self.wake.is_none() {
            let Some(step) = self.steps.pop_front() else {
                return;
            };
            let (addr, argv): (String, Vec<Vec<u8>>) = match &step {
                Step::Launch(a) => {
                    if let Some(i) = self.node_by_addr(a) {
                        self.nodes[i].failed = false;
                        self.actions.push_back(CmeAction::Launch {
                            addr: a.clone(),
                            cport: self.nodes[i].cport,
                            az: self.nodes[i].az.clone(),
                        });
                    }
                    continue;
                }
                Step::MyId(a) => (a.clone(), args(&["CLUSTER", "MYID"])),
                Step::Ok(who, argv, on_err) => {
                    let target = self.resolve_who(who);
                    let argv: Option<Vec<Vec<u8>>> =
                        argv.iter().map(|a| self.resolve_arg(a)).collect();
                    match (target, argv) {
                        (Some(t), Some(argv)) => (self.nodes[t].addr.clone(), argv),
                        _ => {
                            // No primary known (or no id yet): ask the
                            // cluster, then try again.
                            let on_err = *on_err;
                            self.failed(step, on_err, "no primary known for the shard".into());
                            continue;
                        }
                    }
                }
                Step::Knows(a, _) | Step::AwaitPrimary(a, _) => {
                    (a.clone(), args(&["CLUSTER", "NODES"]))
                }
                Step::Roles | Step::AwaitShard(..) | Step::CheckFailed(..) => {
                    let live: Vec<&CmeNode> = self.nodes.iter().filter(|n| !n.failed).collect();
                    if live.is_empty() {
                        continue;
                    }
                    let a = live[self.roles_at % live.len()].addr.clone();
                    (a, args(&["CLUSTER", "NODES"]))
                }
                Step::StateOk(a) => (a.clone(), args(&["CLUSTER", "INFO"])),
                Step::Slot { slot, from, to } => {
                    let (slot, from, to) = (*slot, *from, *to);
                    if let Some(r) = self.reshard.as_mut() {
                        r.moving = Some((slot, from, to));
                    }
                    for s in self.slot_steps(slot, from, to).into_iter().rev() {
                        self.steps.push_front(s);
                    }
                    continue;
                }
                Step::Keys { slot, from, .. } => match self.primary_of(*from) {
                    Some(p) => (
                        self.nodes[p].addr.clone(),
                        args(&[
                            "CLUSTER",
                            "GETKEYSINSLOT",
                            &slot.to_string(),
                            &MIGRATE_BATCH.to_string(),
                        ]),
                    ),
                    None => {
                        self.failed(step, OnErr::Report, "no primary known".into());
                        continue;
                    }
                },
                Step::Migrate { from, to, keys, .. } => {
                    match (self.primary_of(*from), self.primary_of(*to)) {
                        (Some(f), Some(t)) => {
                            let (ip, port) = self.nodes[t].ip_port();
                            let mut a =
                                args(&["MIGRATE", ip, port, "", "0", "5000", "REPLACE", "KEYS"]);
                            a.extend(keys.iter().cloned());
                            (self.nodes[f].addr.clone(), a)
                        }
                        _ => {
                            self.failed(step, OnErr::Report, "no primary known".into());
                            continue;
                        }
                    }
                }
                Step::SlotDone { slot, to } => {
                    self.owners[*slot as usize] = *to as u16;
                    if let Some(r) = self.reshard.as_mut() {
                        r.slots_done += 1;
                        r.moving = None;
                    }
                    continue;
                }
                Step::Remove(a) => {
                    let a = a.clone();
                    self.remove_node(&a);
                    continue;
                }
                Step::TakeSlots(a) => {
                    let a = a.clone();
                    self.take_slots(&a);
                    continue;
                }
                Step::Event(text) => {
                    let text = text.clone();
                    self.note(text);
                    continue;
                }
                Step::Wait(until) => {
                    if self.now < *until {
                        self.wake = Some(*until);
                        self.steps.push_front(step);
                    }
                    continue;
                }
                Step::Available => {
                    if self.steps.is_empty() {
                        if self.status == "creating" {
                            let text = format!(
                                "Replication group {} is available: {} shards, {} nodes",
                                self.group,
                                self.shards().len(),
                                self.nodes.len()
                            );
                            self.note(text);
                        }
                        self.status = "available";
                        self.reshard = None;
                        self.next_health = self.now.plus(self.settings.health_ms);
                    }
                    continue;
                }
            };
            let tag = self.next_tag;
            self.next_tag += 1;
            self.actions
                .push_back(CmeAction::Command { tag, addr, argv });
            self.pending = Some((tag, step));
        }
    }

    /// The node at `addr` is terminated and forgotten by every other one.
    fn remove_node(&mut self, addr: &str) {
        let Some(i) = self.node_by_addr(addr) else {
            return;
        };
        let gone = self.nodes.remove(i);
        self.actions.push_back(CmeAction::Terminate {
            addr: gone.addr.clone(),
        });
        if let Some(id) = gone.id {
            self.push_forget(&id);
        }
    }

    /// CLUSTER FORGET `id` on every node (first in line).
    fn push_forget(&mut self, id: &str) {
        let forget: Vec<Step> = self
            .nodes
            .iter()
            .filter(|n| !n.failed && n.id.as_deref() != Some(id))
            .map(|n| {
                Step::Ok(
                    Who::Node(n.addr.clone()),
                    lits(&["CLUSTER", "FORGET", id]),
                    OnErr::Ignore,
                )
            })
            .collect();
        for s in forget.into_iter().rev() {
            self.steps.push_front(s);
        }
    }

    /// The new node at `addr` serves its shard's slots (no node of the
    /// shard survived: they come back empty), with a new config epoch.
    fn take_slots(&mut self, addr: &str) {
        let Some(i) = self.node_by_addr(addr) else {
            return;
        };
        let shard = self.nodes[i].shard;
        self.set_primary(i);
        let mut steps = Vec::new();
        for (a, b) in ranges(&self.slots_of(shard)) {
            steps.push(Step::Ok(
                Who::Node(addr.to_string()),
                lits(&["CLUSTER", "ADDSLOTSRANGE", &a.to_string(), &b.to_string()]),
                OnErr::Report,
            ));
        }
        steps.push(Step::Ok(
            Who::Node(addr.to_string()),
            lits(&["CLUSTER", "BUMPEPOCH"]),
            OnErr::Ignore,
        ));
        for s in steps.into_iter().rev() {
            self.steps.push_front(s);
        }
    }

    /// A step could not be done: a slot's migration starts over on the
    /// shards' current primaries; anything else waits and is asked again.
    fn failed(&mut self, step: Step, on_err: OnErr, err: String) {
        match (on_err, step.slot()) {
            (OnErr::Ignore, _) => {}
            (_, Some(slot)) => {
                let (from, to) = match &step {
                    Step::Ok(..) | Step::SlotDone { .. } => self
                        .reshard
                        .as_ref()
                        .and_then(|r| r.moving)
                        .map(|(_, f, t)| (f, t))
                        .unwrap_or((0, 0)),
                    Step::Keys { from, to, .. } | Step::Migrate { from, to, .. } => (*from, *to),
                    _ => (0, 0),
                };
                self.steps.retain(|s| s.slot() != Some(slot));
                if self.retried.insert(slot) {
                    self.note(format!(
                        "Resharding: slot {slot} could not move ({err}); it starts over on the shards' current primaries"
                    ));
                }
                self.steps.push_front(Step::Slot { slot, from, to });
                self.steps.push_front(Step::Roles);
                self.wake = Some(self.now.plus(POLL_MS));
            }
            _ => {
                let roles = matches!(&step, Step::Ok(Who::Primary(_), ..));
                self.steps.push_front(step);
                if roles {
                    self.steps.push_front(Step::Roles);
                }
                self.wake = Some(self.now.plus(POLL_MS));
            }
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
            me.wake = Some(me.now.plus(POLL_MS));
        };
        match step {
            Step::MyId(a) => match (reply, self.node_by_addr(&a)) {
                (Reply::Bulk(b), Some(n)) => {
                    self.nodes[n].id = Some(String::from_utf8_lossy(&b).into_owned())
                }
                (_, Some(_)) => retry_later(self, Step::MyId(a)),
                _ => {}
            },
            Step::Ok(who, argv, on_err) => {
                if !matches!(&reply, Reply::Simple(s) if s == "OK") {
                    let err = match &reply {
                        Reply::Error(e) => e.clone(),
                        other => format!("{other:?}"),
                    };
                    self.ok_failed(who, argv, on_err, err);
                }
            }
            Step::Knows(a, tries) => {
                let text = text_of(&reply);
                // The others that are down too (an AZ outage takes several
                // at once) need not be known, nor met: a dead node heard of
                // in gossip stays in handshake until it is forgotten.
                let down: Vec<&str> = self
                    .nodes
                    .iter()
                    .filter(|n| n.failed && n.addr != a)
                    .map(|n| n.addr.as_str())
                    .collect();
                let of_down = |l: &str| {
                    l.split(' ')
                        .nth(1)
                        .and_then(|x| x.split('@').next())
                        .is_some_and(|x| down.contains(&x))
                };
                let lines: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.is_empty() && !of_down(l))
                    .collect();
                let expected = self.nodes.len() - down.len();
                if lines.len() < expected || lines.iter().any(|l| l.contains("handshake")) {
                    retry_later(self, Step::Knows(a.clone(), tries + 1));
                    if tries % 50 == 49 {
                        if let Some(meet) = self.meet_for(&a) {
                            self.steps.push_front(meet);
                        }
                    }
                }
            }
            Step::CheckFailed(a, old_id) => {
                let text = text_of(&reply);
                if text.is_empty() {
                    self.roles_at += 1;
                    retry_later(self, Step::CheckFailed(a, old_id));
                } else {
                    let flags = text
                        .lines()
                        .find(|l| !old_id.is_empty() && l.starts_with(&old_id))
                        .and_then(|l| l.split(' ').nth(2).map(str::to_string));
                    let failed =
                        flags.is_none_or(|f| f.split(',').any(|x| x == "fail" || x == "noaddr"));
                    match self.node_by_addr(&a) {
                        Some(i) if !failed => {
                            self.nodes[i].failed = false;
                            self.nodes[i].id = Some(old_id);
                            let name = self.nodes[i].name.clone();
                            self.note(format!(
                                "{name}: the node recovered before its replacement was due; none is needed"
                            ));
                        }
                        Some(i) if self.azs_down.contains(&self.nodes[i].az) => {
                            let text = format!(
                                "{}: its replacement waits until {} is available",
                                self.nodes[i].name, self.nodes[i].az
                            );
                            self.note(text);
                            self.parked.push((a, old_id));
                        }
                        Some(_) => self.push_replacement(&a, &old_id),
                        None => {}
                    }
                }
            }
            Step::StateOk(a) => {
                if !text_of(&reply).contains("cluster_state:ok") {
                    retry_later(self, Step::StateOk(a));
                }
            }
            Step::Roles => {
                if !self.read_roles(&reply) {
                    self.roles_at += 1;
                    retry_later(self, Step::Roles);
                }
            }
            Step::AwaitPrimary(a, since) => {
                let me = text_of(&reply)
                    .lines()
                    .find(|l| l.contains("myself"))
                    .map(|l| l.contains("master"))
                    .unwrap_or(false);
                if me {
                    self.read_roles(&reply);
                } else if now.0 >= since.0 + 6_000 {
                    self.note(format!(
                        "The manual failover to {a} timed out; it is asked again"
                    ));
                    retry_later(self, Step::AwaitPrimary(a.clone(), now));
                    self.steps.push_front(Step::Ok(
                        Who::Node(a),
                        lits(&["CLUSTER", "FAILOVER"]),
                        OnErr::Report,
                    ));
                } else {
                    retry_later(self, Step::AwaitPrimary(a, since));
                }
            }
            Step::AwaitShard(s, a, old_id) => {
                self.read_roles(&reply);
                let elected = self
                    .primary_of(s)
                    .is_some_and(|p| self.nodes[p].addr != a && !self.nodes[p].failed);
                let alone = !self
                    .nodes
                    .iter()
                    .any(|n| n.shard == s && n.addr != a && !n.failed);
                if elected || alone {
                    // Whichever it is decides what the new node becomes.
                    self.push_new_node(&a, &old_id);
                } else {
                    if matches!(reply, Reply::Error(_)) {
                        self.roles_at += 1;
                    }
                    retry_later(self, Step::AwaitShard(s, a, old_id));
                }
            }
            Step::Keys { slot, from, to } => match reply {
                Reply::Array(ks) => {
                    let keys: Vec<Vec<u8>> = ks
                        .into_iter()
                        .filter_map(|k| match k {
                            Reply::Bulk(b) => Some(b),
                            _ => None,
                        })
                        .collect();
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
                other => {
                    let step = Step::Keys { slot, from, to };
                    self.failed(step, OnErr::Report, format!("{other:?}"));
                }
            },
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
                // NOKEY: they expired meanwhile.
                Reply::Error(e) if e.starts_with("NOKEY") => {}
                other => {
                    let err = match other {
                        Reply::Error(e) => e,
                        o => format!("{o:?}"),
                    };
                    let step = Step::Migrate {
                        slot,
                        from,
                        to,
                        keys,
                    };
                    self.failed(step, OnErr::Report, err);
                }
            },
            Step::Launch(_)
            | Step::Slot { .. }
            | Step::SlotDone { .. }
            | Step::Remove(_)
            | Step::TakeSlots(_)
            | Step::Wait(_)
            | Step::Event(_)
            | Step::Available => {}
        }
        self.run();
    }

    fn ok_failed(&mut self, who: Who, argv: Vec<Arg>, on_err: OnErr, err: String) {
        let what: Vec<String> = argv
            .iter()
            .map(|a| match a {
                Arg::S(s) => s.clone(),
                Arg::PrimaryId(_) => "<id>".into(),
            })
            .collect();
        let step = Step::Ok(who.clone(), argv, on_err);
        match on_err {
            OnErr::Ignore => {}
            OnErr::Report => {
                let name = self
                    .resolve_who(&who)
                    .map(|i| self.nodes[i].name.clone())
                    .unwrap_or_default();
                self.note(format!("{name}: {}: {err}", what.join(" ")));
                // A node still starting, or a REPLICATE before the
                // primary is known: asked again.
                if err.starts_with("ERR Unknown node") || err.starts_with("IOERR") {
                    self.failed(step, on_err, err);
                }
            }
            OnErr::Setup(slot)
                if err.contains("already the owner") || err.contains("not the owner") =>
            {
                // An earlier attempt finished the move on this node: on
                // to SETSLOT NODE everywhere.
                self.steps.retain(|s| {
                    !(s.slot() == Some(slot)
                        && matches!(
                            s,
                            Step::Ok(_, _, OnErr::Setup(_))
                                | Step::Keys { .. }
                                | Step::Migrate { .. }
                        ))
                });
            }
            OnErr::Setup(_) | OnErr::Final(_) => self.failed(step, on_err, err),
        }
    }

    /// Reads CLUSTER NODES: the primaries as the cluster has them now, and
    /// the nodes it marked `fail` (each gets a replacement). False when the
    /// reply is not a node table (the node could not answer).
    fn read_roles(&mut self, reply: &Reply) -> bool {
        let text = text_of(reply);
        if text.is_empty() {
            return false;
        }
        let mut failed_now = Vec::new();
        let mut served = vec![false; SLOTS];
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 8 {
                continue;
            }
            let flags: Vec<&str> = f[2].split(',').collect();
            // Slots a node holds are assigned, even a node the control
            // plane no longer counts (failed, its replacement pending).
            if flags.contains(&"master") {
                for r in &f[8..] {
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                        let end = b.min(SLOTS - 1);
                        if a <= end {
                            served[a..=end].fill(true);
                        }
                    }
                }
            }
            let Some(i) = self
                .nodes
                .iter()
                .position(|n| n.id.as_deref() == Some(f[0]))
            else {
                continue;
            };
            let fail = flags.contains(&"fail");
            if fail && !self.nodes[i].failed && self.status != "creating" {
                failed_now.push(i);
            }
            if flags.contains(&"master") && !fail && !self.nodes[i].primary {
                // A primary the cluster elected. (A new node is a master
                // with no slots until it replicates: not its shard's
                // primary while the shard has a live one.)
                let has_slots = f.len() > 8;
                let shard = self.nodes[i].shard;
                let current_live = self
                    .primary_of(shard)
                    .is_some_and(|p| !self.nodes[p].failed);
                if has_slots || !current_live {
                    self.set_primary(i);
                }
            }
        }
        for i in failed_now {
            self.replace(i);
        }
        self.cover(&served);
        true
    }

    /// Slots no node serves in a node's view (their owner was forgotten
    /// before anyone heard it took them — a primary that died just after a
    /// migration) go back to the shard the control plane placed them in,
    /// as `redis-cli --cluster fix` does: SETSLOT NODE on that shard's
    /// primary, then BUMPEPOCH so its claim wins.
    fn cover(&mut self, served: &[bool]) {
        if self.status == "creating" || served.iter().all(|&x| x) {
            return;
        }
        if self.last_cover.is_some_and(|t| self.now.0 < t.0 + 5_000) {
            return;
        }
        self.last_cover = Some(self.now);
        let mut steps = Vec::new();
        let mut n = 0;
        for (slot, (&shard, &ok)) in self.owners.iter().zip(served).enumerate() {
            if ok || shard == NO_SHARD {
                continue;
            }
            n += 1;
            steps.push(Step::Ok(
                Who::Primary(shard as usize),
                vec![
                    Arg::S("CLUSTER".into()),
                    Arg::S("SETSLOT".into()),
                    Arg::S(slot.to_string()),
                    Arg::S("NODE".into()),
                    Arg::PrimaryId(shard as usize),
                ],
                OnErr::Ignore,
            ));
        }
        if n == 0 {
            return;
        }
        let shards: BTreeSet<u16> = (0..SLOTS)
            .filter(|&x| !served[x] && self.owners[x] != NO_SHARD)
            .map(|x| self.owners[x])
            .collect();
        for s in shards {
            steps.push(Step::Ok(
                Who::Primary(s as usize),
                lits(&["CLUSTER", "BUMPEPOCH"]),
                OnErr::Ignore,
            ));
        }
        self.note(format!(
            "{n} slots had no node serving them; they are assigned back to their shards' primaries"
        ));
        for s in steps.into_iter().rev() {
            self.steps.push_front(s);
        }
    }

    /// ElastiCache's node replacement: a new empty node at the failed
    /// one's endpoint, the old id forgotten, the new node a replica of its
    /// shard's primary — or, when the shard has no other node left, its
    /// primary with the shard's slots and no data.
    fn replace(&mut self, i: usize) {
        self.nodes[i].failed = true;
        let (name, addr) = (self.nodes[i].name.clone(), self.nodes[i].addr.clone());
        let old_id = self.nodes[i].id.clone().unwrap_or_default();
        let steps = vec![
            Step::Event(format!("{name}: Recovering cache nodes 0001")),
            Step::Wait(self.now.plus(self.settings.replace_after_ms)),
            Step::CheckFailed(addr, old_id),
        ];
        // First in line: a resharding waits for the shard to be whole.
        if self.status != "modifying" {
            self.status = "modifying";
            self.steps.push_back(Step::Available);
        }
        for s in steps.into_iter().rev() {
            self.steps.push_front(s);
        }
        if self.nodes[i].primary {
            self.deposed.insert(self.nodes[i].shard, i);
        }
        self.nodes[i].primary = false;
        self.nodes[i].id = None;
    }

    /// The node at `addr` (its cluster id was `old_id`) is still failed
    /// when its replacement is due: the new node's steps, first in line —
    /// after the bus elects one of the shard's replicas, if it has a live
    /// one.
    fn push_replacement(&mut self, addr: &str, old_id: &str) {
        let Some(i) = self.node_by_addr(addr) else {
            return;
        };
        let shard = self.nodes[i].shard;
        let others = self
            .nodes
            .iter()
            .any(|n| n.shard == shard && n.addr != addr && !n.failed);
        if others {
            self.steps.push_front(Step::AwaitShard(
                shard,
                addr.to_string(),
                old_id.to_string(),
            ));
        } else {
            self.push_new_node(addr, old_id);
        }
    }

    /// The replacement node's steps, first in line: a replica of its
    /// shard's primary, or — the shard has no live node left (its replica
    /// may have failed while the election was awaited) — its primary,
    /// with the shard's slots and no data.
    fn push_new_node(&mut self, addr: &str, old_id: &str) {
        let Some(i) = self.node_by_addr(addr) else {
            return;
        };
        let (name, shard) = (self.nodes[i].name.clone(), self.nodes[i].shard);
        let others = self
            .nodes
            .iter()
            .any(|n| n.shard == shard && n.addr != addr && !n.failed);
        let mut steps = Vec::new();
        steps.push(Step::Launch(addr.to_string()));
        steps.push(Step::MyId(addr.to_string()));
        // The old id is forgotten everywhere before the new node meets
        // anyone (its slots, if it had any, become unassigned).
        if !old_id.is_empty() {
            for n in self.nodes.iter().filter(|n| n.addr != addr && !n.failed) {
                steps.push(Step::Ok(
                    Who::Node(n.addr.clone()),
                    lits(&["CLUSTER", "FORGET", old_id]),
                    OnErr::Ignore,
                ));
            }
        }
        if let Some(meet) = self.meet_for(addr) {
            steps.push(meet);
        }
        steps.push(Step::Knows(addr.to_string(), 0));
        if others {
            steps.push(Step::Ok(
                Who::Node(addr.to_string()),
                vec![
                    Arg::S("CLUSTER".into()),
                    Arg::S("REPLICATE".into()),
                    Arg::PrimaryId(shard),
                ],
                OnErr::Report,
            ));
        } else {
            steps.push(Step::TakeSlots(addr.to_string()));
        }
        steps.push(Step::Event(format!(
            "{name}: Finished recovery for cache nodes 0001"
        )));
        for s in steps.into_iter().rev() {
            self.steps.push_front(s);
        }
    }

    /// CLUSTER MEET from the node at `addr` to a live node other than it.
    fn meet_for(&self, addr: &str) -> Option<Step> {
        let t = self
            .nodes
            .iter()
            .position(|n| n.addr != addr && !n.failed && n.id.is_some())?;
        let (ip, port) = self.nodes[t].ip_port();
        Some(Step::Ok(
            Who::Node(addr.to_string()),
            lits(&[
                "CLUSTER",
                "MEET",
                ip,
                port,
                &self.nodes[t].cport.to_string(),
            ]),
            OnErr::Report,
        ))
    }

    /// What the control plane waits on now, and what is queued after it
    /// (for a status line, and for a test that finds it stuck).
    pub fn doing(&self) -> String {
        let queued: Vec<String> = self
            .steps
            .iter()
            .take(3)
            .map(|s| format!("{s:?}"))
            .collect();
        format!(
            "waiting on {:?} (wake {:?}); next: {}",
            self.pending.as_ref().map(|p| &p.1),
            self.wake,
            queued.join(", ")
        )
    }

    /// The node (index) at `addr`, for runtimes that address by it.
    pub fn index_of(&self, addr: &str) -> Option<usize> {
        self.node_by_addr(addr)
    }
}

fn api_err(code: &str, message: String) -> ApiError {
    ApiError {
        code: code.into(),
        message,
    }
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn lits(parts: &[&str]) -> Vec<Arg> {
    parts.iter().map(|p| Arg::S(p.to_string())).collect()
}

/// Sorted slots as inclusive ranges.
fn ranges(slots: &[u16]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &s in slots {
        match out.last_mut() {
            Some(r) if r.1 + 1 == s => r.1 = s,
            _ => out.push((s, s)),
        }
    }
    out
}

fn text_of(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}
