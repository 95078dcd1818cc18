//! Cluster mode (`cluster-enabled yes`): a node's view of a Redis Cluster as
//! `cluster.c` keeps it — the nodes it knows (itself first), which node
//! serves each of the 16384 hash slots, slots being imported or migrated,
//! the epochs, and the cluster's state (ok / fail) — and the routing of a
//! command to the node that serves its keys (`getNodeByQuery`: MOVED, ASK,
//! CROSSSLOT, TRYAGAIN, CLUSTERDOWN). The replies of CLUSTER INFO, NODES,
//! SLOTS and SHARDS are built here from that view. The bus that carries it
//! between nodes is `bus` (the wire format) and `gossip` (what a packet
//! changes); elections are `failover`, nodes.conf is `config`, and what
//! a node shows the playground is `view`.

pub mod bus;
pub mod config;
pub mod failover;
pub mod gossip;
pub mod view;

use std::collections::BTreeMap;

use crate::commands::migrate::LinkId;
use crate::ConnId;
use bus::node_flag;

use crate::protocol::Reply;
use crate::store::slots::SLOTS;
use crate::time::Millis;

/// `CLUSTER_WRITABLE_DELAY`: a primary stays `fail` this long after its
/// first state update, so a rebooted node does not serve stale slots.
const WRITABLE_DELAY_MS: u64 = 2000;
const NONE: u16 = u16::MAX;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ClusterNode {
    /// 40 hex characters.
    pub id: String,
    /// Empty until learned (a fresh node does not know its own address).
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub config_epoch: u64,
    /// The primary it replicates (index in `Cluster::nodes`), if a replica.
    pub replica_of: Option<usize>,
    /// `bus::node_flag` bits other than the role (HANDSHAKE, MEET, PFAIL…).
    pub flags: u16,
    /// When our unanswered PING was sent (ms, 0: none), the last PONG.
    pub ping_sent: u64,
    pub pong_received: u64,
    pub data_received: u64,
    /// Our outbound bus link to it, and when we opened it.
    pub link: Option<LinkId>,
    pub link_since: u64,
    /// When it was created (a handshake times out).
    pub ctime: Millis,
    /// Its replication offset, as its last packet said.
    pub repl_offset: u64,
    /// Primaries that reported it failing, and when (ms).
    pub fail_reports: Vec<(String, u64)>,
    /// When it turned FAIL; when we last voted for a replica of it (ms).
    pub fail_time: u64,
    pub voted_time: u64,
    /// Since when this primary has had no working replica (replica
    /// migration's delay), 0 if it has one.
    pub orphaned_since: u64,
}

/// Why a command is not served here (`clusterRedirectClient`'s errors).
#[derive(Clone, Debug, PartialEq)]
pub enum Redirect {
    CrossSlot,
    Unstable,
    Down,
    DownReadOnly,
    Unbound,
    Moved { slot: u16, node: usize },
    Ask { slot: u16, node: usize },
}

/// What routing needs to know about the command and its client.
pub struct Query<'a> {
    /// The keys of the command (every queued command's, for EXEC).
    pub keys: &'a [&'a [u8]],
    pub write: bool,
    pub readonly_client: bool,
    pub asking: bool,
    pub is_migrate: bool,
    /// SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH: channels, not keys — served
    /// by the slot's owner during a migration, by its replicas without
    /// READONLY, and while the cluster is down when
    /// `cluster-allow-pubsubshard-when-down` (the default).
    pub pubsubshard: bool,
    pub allow_pubsubshard_when_down: bool,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    /// `nodes[0]` is this node.
    pub nodes: Vec<ClusterNode>,
    /// The node serving each slot, `NONE` if unassigned.
    slots: Vec<u16>,
    pub migrating: BTreeMap<u16, usize>,
    pub importing: BTreeMap<u16, usize>,
    pub current_epoch: u64,
    pub ok: bool,
    first_update: Option<Millis>,
    /// Messages by type name, sent and received (CLUSTER INFO).
    pub sent: BTreeMap<&'static str, u64>,
    pub received: BTreeMap<&'static str, u64>,
    /// Bus connections other nodes opened to us, and ours to them.
    pub inbound: BTreeMap<ConnId, gossip::BusConn>,
    pub outbound: BTreeMap<LinkId, gossip::OutLink>,
    /// Nodes forgotten (CLUSTER FORGET) and until when gossip may not
    /// bring them back.
    pub forgotten: Vec<String>,
    forgotten_until: Vec<Millis>,
    /// The time of the last cron or command (handshake start times).
    pub now: Millis,
    seed: u64,
    /// The epoch this primary last voted in.
    pub last_vote_epoch: u64,
    /// This replica's election, if its primary failed.
    pub election: failover::Election,
    /// A manual failover (CLUSTER FAILOVER [FORCE]) in progress.
    pub manual: failover::Manual,
    /// When this node last found itself among a minority of primaries.
    among_minority: Option<Millis>,
    /// How long a primary back from a minority stays down (the node
    /// timeout, between 0.5 and 5 s), so it hears the news first.
    pub rejoin_delay: u64,
    /// Bumped on every change of a slot's owner (`fingerprint`).
    slots_gen: u64,
    /// Each node's slot ranges as of `slots_gen` (CLUSTER NODES, nodes.conf
    /// and the quorum count ask per node; one pass serves them all).
    ranges_cache: std::cell::RefCell<(u64, Vec<SlotRanges>)>,
    /// Each node's slots as a bitmap and a count (by node index), kept
    /// with `slots` by `set_owner` and `forget`: what every packet and
    /// every state update asks, without a pass over 16384 slots. `None`
    /// for a node serving none (a replica's 2 KB are not kept).
    owned: Vec<Option<(bus::Slots, usize)>>,
    /// Each node's index by id (`clusterLookupNode`'s dict): what every
    /// packet and every gossip entry asks.
    by_id: std::cell::RefCell<IdIndex>,
    /// `ping`'s scratch: the nodes it picks, and each node's mark (the
    /// number of the ping that picked it).
    pick: Vec<usize>,
    pick_mark: Vec<u32>,
    pick_gen: u32,
    /// clusterCron's calls (every tenth PINGs a random node).
    pub iteration: u64,
}

pub const MYSELF: usize = 0;

/// A node's slots as inclusive ranges.
pub type SlotRanges = Vec<(u16, u16)>;

/// Node ids → the first index in `Cluster::nodes` with that id, as a scan
/// of `nodes` would find it. Kept in step by the methods that add, rename
/// or drop nodes; rebuilt when `nodes` changed length behind its back (a
/// node pushed directly) or after a node was dropped (indices shift). Ids
/// are 40 bytes; one of another length (only a damaged packet or file
/// makes one) is looked for by a scan.
#[derive(Clone, Debug, Default)]
struct IdIndex {
    map: std::collections::HashMap<[u8; 40], u32, crate::store::fasthash::FastState>,
    /// `nodes.len()` when `map` was last in step (`usize::MAX`: stale).
    len: usize,
    /// Some id is held by more than one node (only a damaged nodes.conf
    /// does that): `map` has the first, and a rename rebuilds.
    dups: bool,
}

fn id_key(id: &[u8]) -> Option<&[u8; 40]> {
    id.try_into().ok()
}

impl IdIndex {
    fn rebuild(&mut self, nodes: &[ClusterNode]) {
        self.map.clear();
        self.dups = false;
        for (i, n) in nodes.iter().enumerate() {
            if let Some(k) = id_key(n.id.as_bytes()) {
                if self.map.contains_key(k) {
                    self.dups = true;
                } else {
                    self.map.insert(*k, i as u32);
                }
            }
        }
        self.len = nodes.len();
    }
}

impl Cluster {
    pub fn new(id: String, port: u16, cport: u16) -> Cluster {
        let seed = id.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        Cluster {
            nodes: vec![ClusterNode {
                id,
                port,
                cport,
                ..ClusterNode::default()
            }],
            slots: vec![NONE; SLOTS],
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            current_epoch: 0,
            ok: false,
            first_update: None,
            sent: BTreeMap::new(),
            received: BTreeMap::new(),
            inbound: BTreeMap::new(),
            outbound: BTreeMap::new(),
            forgotten: Vec::new(),
            forgotten_until: Vec::new(),
            now: Millis(0),
            seed,
            last_vote_epoch: 0,
            election: failover::Election::default(),
            manual: failover::Manual::default(),
            among_minority: None,
            rejoin_delay: 5000,
            slots_gen: 0,
            ranges_cache: std::cell::RefCell::new((u64::MAX, Vec::new())),
            owned: Vec::new(),
            by_id: std::cell::RefCell::new(IdIndex {
                len: usize::MAX,
                ..IdIndex::default()
            }),
            pick: Vec::new(),
            pick_mark: Vec::new(),
            pick_gen: 0,
            iteration: 0,
        }
    }

    /// A random node id (a node being met is named so until it answers).
    pub fn fresh_id(&mut self) -> String {
        let mut s = String::with_capacity(40);
        while s.len() < 40 {
            let r = self.next_random();
            s.push_str(&format!("{r:016x}"));
        }
        s.truncate(40);
        s
    }

    /// The node's own random sequence (xorshift from its seed): node ids
    /// and the nodes each PING gossips about.
    pub fn next_random(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    /// Gossip may bring back a node forgotten over a minute ago.
    pub fn is_forgotten(&mut self, id: &str) -> bool {
        let now = self.now;
        let mut keep = Vec::new();
        let mut until = Vec::new();
        for (f, u) in self.forgotten.drain(..).zip(self.forgotten_until.drain(..)) {
            if u > now {
                keep.push(f);
                until.push(u);
            }
        }
        self.forgotten = keep;
        self.forgotten_until = until;
        self.forgotten.iter().any(|f| f == id)
    }

    pub fn myself(&self) -> &ClusterNode {
        &self.nodes[MYSELF]
    }

    pub fn is_replica(&self) -> bool {
        self.nodes[MYSELF].replica_of.is_some()
    }

    /// The node serving `slot`.
    pub fn owner(&self, slot: u16) -> Option<usize> {
        match self.slots[slot as usize] {
            NONE => None,
            n => Some(n as usize),
        }
    }

    pub fn set_owner(&mut self, slot: u16, node: Option<usize>) {
        let old = self.slots[slot as usize];
        if let Some(entry) = self.owned.get_mut(old as usize) {
            if let Some(o) = entry.as_mut().filter(|o| o.0.get(slot)) {
                o.0.set(slot, false);
                o.1 -= 1;
                if o.1 == 0 {
                    *entry = None;
                }
            }
        }
        self.slots[slot as usize] = node.map_or(NONE, |n| n as u16);
        if let Some(n) = node {
            while self.owned.len() <= n {
                self.owned.push(None);
            }
            let o = self.owned[n].get_or_insert_with(|| (bus::Slots::default(), 0));
            o.0.set(slot, true);
            o.1 += 1;
        }
        self.slots_gen += 1;
    }

    /// The index of the node named `id` (the first, as a scan finds it).
    pub fn lookup(&self, id: &[u8]) -> Option<usize> {
        let Some(k) = id_key(id) else {
            return self.nodes.iter().position(|n| n.id.as_bytes() == id);
        };
        let mut ix = self.by_id.borrow_mut();
        if ix.len != self.nodes.len() {
            ix.rebuild(&self.nodes);
        }
        let found = ix.map.get(k).map(|&i| i as usize);
        debug_assert_eq!(
            found,
            self.nodes.iter().position(|n| n.id.as_bytes() == id),
            "the id index is out of step with the nodes"
        );
        found
    }

    /// A node was pushed onto `nodes`: the index learns its id.
    fn indexed_push(&mut self) {
        let ix = self.by_id.get_mut();
        let last = self.nodes.len() - 1;
        if ix.len != last {
            ix.len = usize::MAX;
            return;
        }
        ix.len = self.nodes.len();
        if let Some(k) = id_key(self.nodes[last].id.as_bytes()) {
            if ix.map.contains_key(k) {
                ix.dups = true;
            } else {
                ix.map.insert(*k, last as u32);
            }
        }
    }

    /// Node `i` takes the id `id` (a handshake answered).
    pub fn rename(&mut self, i: usize, id: String) {
        let ix = self.by_id.get_mut();
        let old = std::mem::replace(&mut self.nodes[i].id, id);
        if ix.len != self.nodes.len() || ix.dups {
            ix.len = usize::MAX;
            return;
        }
        if let Some(k) = id_key(old.as_bytes()) {
            if ix.map.get(k) == Some(&(i as u32)) {
                ix.map.remove(k);
            }
        }
        if let Some(k) = id_key(self.nodes[i].id.as_bytes()) {
            if ix.map.contains_key(k) {
                ix.len = usize::MAX;
            } else {
                ix.map.insert(*k, i as u32);
            }
        }
    }

    /// `clusterDelNode`: node `n` (not this one) is dropped with the slots
    /// it served; the other indices shift down.
    pub fn forget(&mut self, n: usize) {
        let shift = |i: usize| if i > n { i - 1 } else { i };
        let gone = self.nodes.remove(n);
        self.by_id.get_mut().len = usize::MAX;
        if gone.flags & node_flag::HANDSHAKE == 0 {
            self.forgotten.push(gone.id.clone());
            self.forgotten_until.push(self.now.plus(60_000));
        }
        if let Some(link) = gone.link {
            self.outbound.remove(&link);
        }
        for b in self.inbound.values_mut() {
            if b.node.as_deref() == Some(gone.id.as_str()) {
                b.node = None;
            }
        }
        self.slots_gen += 1;
        for o in self.slots.iter_mut() {
            if *o == n as u16 {
                *o = NONE;
            } else if *o != NONE {
                *o = shift(*o as usize) as u16;
            }
        }
        if n < self.owned.len() {
            self.owned.remove(n);
        }
        for map in [&mut self.migrating, &mut self.importing] {
            map.retain(|_, to| *to != n);
            for to in map.values_mut() {
                *to = shift(*to);
            }
        }
        for node in &mut self.nodes {
            node.replica_of = node.replica_of.filter(|&p| p != n).map(shift);
        }
    }

    /// Slots served by `node`, as (start, end) ranges.
    /// The slots node `node` serves, as a bitmap.
    pub fn slots_of(&self, node: usize) -> bus::Slots {
        match self.owned.get(node) {
            Some(Some(o)) => o.0.clone(),
            _ => bus::Slots::default(),
        }
    }

    /// Whether `claimed` is exactly the slots we know node `node` serves.
    pub fn same_slots(&self, node: usize, claimed: &bus::Slots) -> bool {
        match self.owned.get(node) {
            Some(Some(o)) => o.0 == *claimed,
            _ => claimed.count() == 0,
        }
    }

    /// The slot ranges node `node` serves.
    pub fn ranges(&self, node: usize) -> Vec<(u16, u16)> {
        let mut cache = self.ranges_cache.borrow_mut();
        if cache.0 != self.slots_gen {
            let mut all: Vec<SlotRanges> = vec![Vec::new(); self.nodes.len()];
            for (s, &o) in self.slots.iter().enumerate() {
                let s = s as u16;
                if let Some(out) = all.get_mut(o as usize) {
                    match out.last_mut() {
                        Some(r) if r.1 + 1 == s => r.1 = s,
                        _ => out.push((s, s)),
                    }
                }
            }
            *cache = (self.slots_gen, all);
        }
        cache.1.get(node).cloned().unwrap_or_default()
    }

    /// Node `n` replicates `primary` (`None`: it is a primary), with the
    /// MIGRATE_TO marks of `clusterNodeAddSlave` / `RemoveSlave` /
    /// `SetNodeAsMaster`: a primary that has (or had, until it was left
    /// with none by a move) replicas, or a promoted replica, is one a
    /// spare replica may migrate to.
    pub fn set_replica_of(&mut self, n: usize, primary: Option<usize>) {
        let old = self.nodes[n].replica_of;
        if old == primary {
            return;
        }
        self.nodes[n].replica_of = primary;
        if let Some(o) = old {
            if !self.nodes.iter().any(|x| x.replica_of == Some(o)) {
                self.nodes[o].flags &= !node_flag::MIGRATE_TO;
            }
            if primary.is_none() && n != MYSELF {
                self.nodes[n].flags |= node_flag::MIGRATE_TO;
            }
        }
        if let Some(p) = primary {
            self.nodes[p].flags |= node_flag::MIGRATE_TO;
            self.nodes[n].flags &= !node_flag::MIGRATE_TO;
        }
    }

    /// Slots served by each node, by index (from the cached ranges).
    pub fn slot_counts(&self) -> Vec<usize> {
        (0..self.nodes.len()).map(|n| self.slot_count(n)).collect()
    }

    pub fn slot_count(&self, node: usize) -> usize {
        self.owned
            .get(node)
            .and_then(Option::as_ref)
            .map_or(0, |o| o.1)
    }

    /// Primaries serving at least one slot (`cluster_size`).
    pub fn size(&self) -> usize {
        (0..self.nodes.len())
            .filter(|&n| self.nodes[n].replica_of.is_none() && self.slot_count(n) > 0)
            .count()
    }

    /// `clusterUpdateState`: `ok` when every slot is served (if
    /// `cluster-require-full-coverage`) and a majority of the primaries
    /// serving slots is reachable; a primary waits two seconds from its
    /// first update before it turns `ok`.
    pub fn update_state(&mut self, now: Millis, require_full_coverage: bool) {
        let first = *self.first_update.get_or_insert(now);
        if !self.is_replica() && !self.ok && now.0.saturating_sub(first.0) < WRITABLE_DELAY_MS {
            return;
        }
        let counts = self.slot_counts();
        let covered = !require_full_coverage
            || (counts.iter().sum::<usize>() == SLOTS
                && counts
                    .iter()
                    .enumerate()
                    .all(|(n, &c)| c == 0 || self.nodes[n].flags & node_flag::FAIL == 0));
        let serving =
            |n: usize| self.nodes[n].replica_of.is_none() && counts.get(n).is_some_and(|&c| c > 0);
        let size = (0..self.nodes.len()).filter(|&n| serving(n)).count();
        let reachable = (0..self.nodes.len())
            .filter(|&n| {
                serving(n) && self.nodes[n].flags & (node_flag::PFAIL | node_flag::FAIL) == 0
            })
            .count();
        let majority = reachable > size / 2;
        if !majority {
            self.among_minority = Some(now);
        }
        let ok = covered && majority;
        // A primary back from a minority waits before serving again: a
        // replica may have been elected in its place meanwhile.
        if ok && !self.ok && !self.is_replica() {
            if let Some(at) = self.among_minority {
                if now.0.saturating_sub(at.0) < self.rejoin_delay {
                    return;
                }
            }
        }
        self.ok = ok;
    }

    /// `getNodeByQuery`: `Ok` when this node serves the command.
    pub fn route(
        &self,
        q: &Query,
        exists: impl Fn(&[u8]) -> bool,
        allow_reads_when_down: bool,
    ) -> Result<(), Redirect> {
        let Some(first) = q.keys.first() else {
            return Ok(());
        };
        let slot = crate::store::slots::key_slot(first);
        let Some(owner) = self.owner(slot) else {
            return Err(Redirect::Unbound);
        };
        let migrating = owner == MYSELF && self.migrating.contains_key(&slot);
        let importing = !migrating && self.importing.contains_key(&slot);
        let (mut multiple, mut missing, mut existing) = (false, 0, 0);
        for k in q.keys {
            if *k != *first {
                if crate::store::slots::key_slot(k) != slot {
                    return Err(Redirect::CrossSlot);
                }
                multiple = true;
            }
            if (migrating || importing) && !q.pubsubshard {
                if exists(k) {
                    existing += 1;
                } else {
                    missing += 1;
                }
            }
        }
        if !self.ok {
            if q.pubsubshard {
                if !q.allow_pubsubshard_when_down {
                    return Err(Redirect::Down);
                }
            } else if !allow_reads_when_down {
                return Err(Redirect::Down);
            } else if q.write {
                return Err(Redirect::DownReadOnly);
            }
        }
        if (migrating || importing) && q.is_migrate {
            return Ok(());
        }
        if migrating && missing > 0 {
            if existing > 0 {
                return Err(Redirect::Unstable);
            }
            return Err(Redirect::Ask {
                slot,
                node: self.migrating[&slot],
            });
        }
        if importing && q.asking {
            if multiple && missing > 0 {
                return Err(Redirect::Unstable);
            }
            return Ok(());
        }
        if (q.readonly_client || q.pubsubshard)
            && !q.write
            && self.nodes[MYSELF].replica_of == Some(owner)
        {
            return Ok(());
        }
        if owner != MYSELF {
            return Err(Redirect::Moved { slot, node: owner });
        }
        Ok(())
    }

    /// The error a redirect is answered with.
    pub fn redirect_reply(&self, r: &Redirect) -> Reply {
        let at = |kind: &str, slot: &u16, node: &usize| {
            let n = &self.nodes[*node];
            Reply::err(format!("{kind} {slot} {}:{}", n.ip, n.port))
        };
        match r {
            Redirect::CrossSlot => {
                Reply::err("CROSSSLOT Keys in request don't hash to the same slot")
            }
            Redirect::Unstable => {
                Reply::err("TRYAGAIN Multiple keys request during rehashing of slot")
            }
            Redirect::Down => Reply::err("CLUSTERDOWN The cluster is down"),
            Redirect::DownReadOnly => {
                Reply::err("CLUSTERDOWN The cluster is down and only accepts read commands")
            }
            Redirect::Unbound => Reply::err("CLUSTERDOWN Hash slot not served"),
            Redirect::Moved { slot, node } => at("MOVED", slot, node),
            Redirect::Ask { slot, node } => at("ASK", slot, node),
        }
    }

    /// `clusterBumpConfigEpochWithoutConsensus`: true if bumped.
    pub fn bump_epoch(&mut self) -> bool {
        let max = self
            .nodes
            .iter()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch);
        let me = &mut self.nodes[MYSELF];
        if me.config_epoch == 0 || me.config_epoch != max {
            self.current_epoch += 1;
            me.config_epoch = self.current_epoch;
            true
        } else {
            false
        }
    }

    /// CLUSTER INFO.
    pub fn info(&self) -> String {
        let assigned = self.slots.iter().filter(|&&o| o != NONE).count();
        let count = |bit: u16| {
            self.slots
                .iter()
                .filter(|&&o| o != NONE && self.nodes[o as usize].flags & bit != 0)
                .count()
        };
        let (pfail, fail) = (count(node_flag::PFAIL), count(node_flag::FAIL));
        let ok = assigned - pfail - fail;
        let me = self.myself();
        let my_epoch = match me.replica_of {
            Some(p) => self.nodes[p].config_epoch,
            None => me.config_epoch,
        };
        let mut s = format!(
            "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\n\
             cluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\n\
             cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{my_epoch}\r\n",
            if self.ok { "ok" } else { "fail" },
            self.nodes.len(),
            self.size(),
            self.current_epoch,
        );
        for (dir, counts) in [("sent", &self.sent), ("received", &self.received)] {
            for (kind, n) in counts {
                s.push_str(&format!("cluster_stats_messages_{kind}_{dir}:{n}\r\n"));
            }
            let total: u64 = counts.values().sum();
            s.push_str(&format!("cluster_stats_messages_{dir}:{total}\r\n"));
        }
        s.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
        s
    }

    /// One line of CLUSTER NODES (`clusterGenNodeDescription`).
    pub fn node_line(&self, i: usize) -> String {
        let n = &self.nodes[i];
        let f = self.flags_of(i);
        let names = [
            (node_flag::MYSELF, "myself"),
            (node_flag::MASTER, "master"),
            (node_flag::SLAVE, "slave"),
            (node_flag::PFAIL, "fail?"),
            (node_flag::FAIL, "fail"),
            (node_flag::HANDSHAKE, "handshake"),
            (node_flag::NOADDR, "noaddr"),
            (node_flag::NOFAILOVER, "nofailover"),
        ];
        let flags: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| f & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        let flags = if flags.is_empty() {
            "noflags".to_string()
        } else {
            flags.join(",")
        };
        let master = n
            .replica_of
            .map_or("-".to_string(), |p| self.nodes[p].id.clone());
        let epoch = n
            .replica_of
            .map_or(n.config_epoch, |p| self.nodes[p].config_epoch);
        let link = if i == MYSELF || n.link.is_some() {
            "connected"
        } else {
            "disconnected"
        };
        let mut line = format!(
            "{} {}:{}@{} {flags} {master} {} {} {epoch} {link}",
            n.id, n.ip, n.port, n.cport, n.ping_sent, n.pong_received,
        );
        for (a, b) in self.ranges(i) {
            if a == b {
                line.push_str(&format!(" {a}"));
            } else {
                line.push_str(&format!(" {a}-{b}"));
            }
        }
        if i == MYSELF {
            // In slot order, a migrating slot's mark before an importing
            // one's (as clusterGenNodeDescription walks the slots).
            let mut marks: Vec<(u16, String)> = self
                .migrating
                .iter()
                .map(|(&s, &to)| (s, format!(" [{s}->-{}]", self.nodes[to].id)))
                .collect();
            marks.extend(
                self.importing
                    .iter()
                    .filter(|(s, _)| !self.migrating.contains_key(s))
                    .map(|(&s, &from)| (s, format!(" [{s}-<-{}]", self.nodes[from].id))),
            );
            marks.sort_by_key(|m| m.0);
            for (_, m) in marks {
                line.push_str(&m);
            }
        }
        line
    }

    /// CLUSTER NODES.
    pub fn nodes_text(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.node_line(i) + "\n")
            .collect()
    }

    fn node_entry(&self, i: usize) -> Reply {
        let n = &self.nodes[i];
        Reply::Array(vec![
            Reply::Bulk(n.ip.clone().into_bytes()),
            Reply::Int(n.port as i64),
            Reply::Bulk(n.id.clone().into_bytes()),
            Reply::Map(Vec::new()),
        ])
    }

    /// `isReplicaAvailable`: a replica is listed once it has replicated
    /// something (`my_offset` is this node's own offset).
    fn replica_available(&self, r: usize, my_offset: u64) -> bool {
        let n = &self.nodes[r];
        if n.flags & node_flag::FAIL != 0 {
            return false;
        }
        let offset = if r == MYSELF {
            my_offset
        } else {
            n.repl_offset
        };
        offset != 0
    }

    /// CLUSTER SLOTS: each run of slots served by one primary, with its
    /// address and its available replicas'.
    pub fn slots_reply(&self, my_offset: u64) -> Reply {
        let mut out = Vec::new();
        let mut s = 0usize;
        while s < SLOTS {
            let Some(owner) = self.owner(s as u16) else {
                s += 1;
                continue;
            };
            let start = s;
            while s < SLOTS && self.owner(s as u16) == Some(owner) {
                s += 1;
            }
            let mut entry = vec![
                Reply::Int(start as i64),
                Reply::Int(s as i64 - 1),
                self.node_entry(owner),
            ];
            for (r, n) in self.nodes.iter().enumerate() {
                if n.replica_of == Some(owner) && self.replica_available(r, my_offset) {
                    entry.push(self.node_entry(r));
                }
            }
            out.push(Reply::Array(entry));
        }
        Reply::Array(out)
    }

    fn shard_node(&self, i: usize, offset: i64) -> Reply {
        let n = &self.nodes[i];
        let b = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let mut m = vec![(b("id"), b(&n.id))];
        if n.port != 0 {
            m.push((b("port"), Reply::Int(n.port as i64)));
        }
        m.push((b("ip"), b(&n.ip)));
        m.push((b("endpoint"), b(&n.ip)));
        let replica = n.replica_of.is_some();
        m.push((b("role"), b(if replica { "replica" } else { "master" })));
        m.push((b("replication-offset"), Reply::Int(offset)));
        let health = if n.flags & node_flag::FAIL != 0 {
            "fail"
        } else if replica && offset == 0 {
            "loading"
        } else {
            "online"
        };
        m.push((b("health"), b(health)));
        Reply::Map(m)
    }

    /// CLUSTER SHARDS: each primary's slot ranges and the nodes serving
    /// them. `offset` is this node's replication offset.
    pub fn shards_reply(&self, offset: i64) -> Reply {
        let b = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let mut shards = Vec::new();
        for p in 0..self.nodes.len() {
            // Primaries only (a node still in handshake has no role yet).
            if self.flags_of(p) & node_flag::MASTER == 0 {
                continue;
            }
            let slots: Vec<Reply> = self
                .ranges(p)
                .into_iter()
                .flat_map(|(a, z)| [Reply::Int(a as i64), Reply::Int(z as i64)])
                .collect();
            let mut members = vec![p];
            members.extend((0..self.nodes.len()).filter(|&r| self.nodes[r].replica_of == Some(p)));
            let nodes = members
                .into_iter()
                .map(|i| {
                    let o = if i == MYSELF {
                        offset
                    } else {
                        self.nodes[i].repl_offset as i64
                    };
                    self.shard_node(i, o)
                })
                .collect();
            shards.push(Reply::Map(vec![
                (b("slots"), Reply::Array(slots)),
                (b("nodes"), Reply::Array(nodes)),
            ]));
        }
        Reply::Array(shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query<'a>(keys: &'a [&'a [u8]], write: bool) -> Query<'a> {
        Query {
            keys,
            write,
            readonly_client: false,
            asking: false,
            is_migrate: false,
            pubsubshard: false,
            allow_pubsubshard_when_down: true,
        }
    }

    #[test]
    fn a_node_serving_every_slot_turns_ok_after_the_writable_delay() {
        let mut c = Cluster::new("a".repeat(40), 7000, 17000);
        let t0 = Millis(1_000);
        c.update_state(t0, true);
        assert!(!c.ok);
        for s in 0..SLOTS as u16 {
            c.set_owner(s, Some(MYSELF));
        }
        c.update_state(t0.plus(1999), true);
        assert!(!c.ok, "still within the writable delay");
        c.update_state(t0.plus(2000), true);
        assert!(c.ok);
        assert_eq!(c.ranges(MYSELF), vec![(0, 16383)]);
        assert!(c
            .node_line(MYSELF)
            .ends_with(" myself,master - 0 0 0 connected 0-16383"));
        // One slot given up: the cluster fails without full coverage.
        c.set_owner(5, None);
        c.update_state(t0.plus(3000), true);
        assert!(!c.ok);
        assert_eq!(c.ranges(MYSELF), vec![(0, 4), (6, 16383)]);
        c.update_state(t0.plus(3000), false);
        assert!(c.ok);
    }

    #[test]
    fn routing_as_get_node_by_query() {
        let mut c = Cluster::new("a".repeat(40), 7000, 17000);
        c.nodes.push(ClusterNode {
            id: "b".repeat(40),
            ip: "127.0.0.1".into(),
            port: 7001,
            cport: 17001,
            config_epoch: 1,
            ..ClusterNode::default()
        });
        for s in 0..8192 {
            c.set_owner(s, Some(MYSELF));
        }
        for s in 8192..SLOTS as u16 {
            c.set_owner(s, Some(1));
        }
        c.ok = true;
        let none = |_: &[u8]| false;
        // "bar" is slot 5061 (here), "foo" 12182 (on node 1).
        assert_eq!(c.route(&query(&[b"bar"], true), none, false), Ok(()));
        assert_eq!(
            c.route(&query(&[b"foo"], false), none, false),
            Err(Redirect::Moved {
                slot: 12182,
                node: 1
            })
        );
        assert_eq!(
            c.redirect_reply(&Redirect::Moved {
                slot: 12182,
                node: 1
            }),
            Reply::err("MOVED 12182 127.0.0.1:7001")
        );
        assert_eq!(
            c.route(&query(&[b"bar", b"foo"], true), none, false),
            Err(Redirect::CrossSlot)
        );
        assert_eq!(
            c.route(&query(&[b"{foo}a", b"{foo}b"], true), none, false),
            Err(Redirect::Moved {
                slot: 12182,
                node: 1
            })
        );
        // Migrating slot 5061 to node 1: a missing key is asked there.
        c.migrating.insert(5061, 1);
        assert_eq!(
            c.route(&query(&[b"bar"], false), none, false),
            Err(Redirect::Ask {
                slot: 5061,
                node: 1
            })
        );
        assert_eq!(c.route(&query(&[b"bar"], false), |_| true, false), Ok(()));
        let some = |k: &[u8]| k == b"{bar}1";
        assert_eq!(
            c.route(&query(&[b"{bar}1", b"{bar}2"], false), some, false),
            Err(Redirect::Unstable)
        );
        // The cluster down: reads only if allowed.
        c.ok = false;
        assert_eq!(
            c.route(&query(&[b"bar"], false), |_| true, false),
            Err(Redirect::Down)
        );
        assert_eq!(c.route(&query(&[b"bar"], false), |_| true, true), Ok(()));
        assert_eq!(
            c.route(&query(&[b"bar"], true), |_| true, true),
            Err(Redirect::DownReadOnly)
        );
        c.set_owner(5061, None);
        assert_eq!(
            c.route(&query(&[b"bar"], true), none, true),
            Err(Redirect::Unbound)
        );
    }
}
