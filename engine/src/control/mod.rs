//! The ElastiCache-shaped control plane of one replication group in
//! cluster-mode-disabled shape: one primary and 0–5 replicas placed in
//! Availability Zones, Multi-AZ on or off, endpoints as a DNS table, failure
//! detection by missed health checks, and the documented recovery paths:
//!
//! * Multi-AZ failover, in the reference's five steps: the failed primary
//!   is taken offline; the replica with the least replication lag (the
//!   highest offset, asked afresh) is promoted; the primary endpoint moves
//!   to it; a replacement replica is launched in the failed node's AZ (when
//!   that AZ is available); the other replicas resync from the new primary.
//! * Without Multi-AZ: writes fail until a replacement primary is built in
//!   the failed node's place; it loads its data from the most up-to-date
//!   replica if one exists, and starts empty otherwise.
//! * A failed replica is replaced; a customer reboot restarts a node in
//!   place without failing over; TestFailover with AWS's limits and events.
//! * Backups ([`crate::backup::Backups`]): automatic ones in the window,
//!   manual ones, copies, exports; the runtime takes the file from the
//!   node [`Action::Snapshot`] names and reports it with
//!   [`Control::snapshot_taken`]. A restore seeds a NEW group: the runtime
//!   builds it from the file [`Control::restore`] hands back.
//!
//! Sans-IO like the node: `handle(now, ControlInput)`, `poll_action()`,
//! `poll_timeout()`. The runtime carries out [`Action`]s: health checks go
//! over the (simulated or real) network, so a partition between the control
//! plane and a node looks like a failure; launching, terminating and
//! REPLICAOF are infrastructure operations that always take effect.

pub mod cme;

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::backup::{BackupAction, Backups, NodeInfo, Policy};
use crate::replication::PeerMsg;
use crate::time::Millis;

/// The address the control plane sends health checks from.
pub const CONTROL_ADDR: &str = "control-plane";

/// Timings (virtual milliseconds) and limits, with ElastiCache-like
/// defaults scaled so a failover can be watched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Health-check period.
    pub heartbeat_ms: u64,
    /// A node that has not answered for this long has failed.
    pub failure_timeout_ms: u64,
    /// How long to collect replicas' offsets before promoting one.
    pub offset_wait_ms: u64,
    /// Time to launch a replacement node.
    pub launch_ms: u64,
    /// Time a customer reboot keeps a node down.
    pub reboot_ms: u64,
    /// TestFailover calls allowed per rolling 24 hours (older docs: 5).
    pub test_failover_limit: usize,
    pub max_replicas: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            heartbeat_ms: 1_000,
            failure_timeout_ms: 5_000,
            offset_wait_ms: 1_000,
            launch_ms: 20_000,
            reboot_ms: 10_000,
            test_failover_limit: 15,
            max_replicas: 5,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Primary,
    Replica,
}

/// A cache node's status, as DescribeCacheClusters words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeStatus {
    Creating,
    Available,
    Rebooting,
    Failed,
    /// Taken out of the group (a removed replica).
    Deleted,
}

impl NodeStatus {
    pub fn word(self) -> &'static str {
        match self {
            NodeStatus::Creating => "creating",
            NodeStatus::Available => "available",
            NodeStatus::Rebooting => "rebooting cache cluster nodes",
            NodeStatus::Failed => "failed",
            NodeStatus::Deleted => "deleted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheNode {
    /// "0001".
    pub id: String,
    /// "demo-001" (the cache cluster id AWS gives each node of a group).
    pub name: String,
    pub az: String,
    /// The node endpoint, "host:port"; a replacement keeps it.
    pub addr: String,
    pub role: Role,
    pub status: NodeStatus,
    pub last_ok: Millis,
    /// Replication offset from the last health answer.
    pub offset: u64,
    /// A replica's link is up.
    pub synced: bool,
    /// When `status` last changed.
    pub since: Millis,
}

/// One entry of the event log, as DescribeEvents shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlEvent {
    pub at: Millis,
    /// "replication-group" or "cache-cluster".
    pub source_type: String,
    pub source_id: String,
    pub message: String,
}

/// The endpoints' DNS records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    pub primary_endpoint: String,
    pub reader_endpoint: String,
    /// The node the primary endpoint resolves to.
    pub primary: Option<String>,
    /// The nodes the reader endpoint spreads over.
    pub readers: Vec<String>,
}

/// What the control plane asks its runtime to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Send a message from [`CONTROL_ADDR`] over the network.
    Send { to: String, msg: PeerMsg },
    /// Start a fresh, empty node at `addr`, a replica of `replicaof` (or a primary).
    Launch {
        addr: String,
        az: String,
        replicaof: Option<String>,
    },
    /// Stop the node at `addr` now (it is unreachable from then on).
    Terminate { addr: String },
    /// REPLICAOF on a running node (`None`: NO ONE).
    ReplicaOf {
        addr: String,
        primary: Option<String>,
    },
    /// Take the RDB file of the node at `addr` now (its fork) for backup
    /// `name`, and report it with [`Control::snapshot_taken`].
    Snapshot { name: String, addr: String },
}

/// Requests as the ElastiCache API takes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Api {
    TestFailover,
    /// ModifyReplicationGroup --multi-az-enabled / --automatic-failover-enabled.
    SetMultiAz(bool),
    /// IncreaseReplicaCount by one, in this AZ.
    AddReplica {
        az: String,
    },
    /// DecreaseReplicaCount, removing this node.
    RemoveReplica {
        id: String,
    },
    /// RebootCacheCluster for one node.
    Reboot {
        id: String,
    },
    /// CreateSnapshot (a manual backup).
    CreateSnapshot {
        name: String,
    },
    DeleteSnapshot {
        name: String,
    },
    /// CopySnapshot within the account.
    CopySnapshot {
        source: String,
        target: String,
    },
    /// CopySnapshot --target-bucket: the .rdb object in the bucket.
    ExportSnapshot {
        name: String,
    },
    /// ModifyReplicationGroup --snapshot-window --snapshot-retention-limit.
    SetBackupPolicy {
        window: String,
        retention_days: u32,
    },
}

/// An API request AWS refuses, with its error code and words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

fn api_err(code: &str, message: String) -> ApiError {
    ApiError {
        code: code.into(),
        message,
    }
}

pub enum ControlInput<'a> {
    Tick,
    /// A message to the control plane (health answers).
    Peer {
        from: &'a str,
        msg: PeerMsg,
    },
    /// An Availability Zone went down or came back.
    Az {
        az: &'a str,
        up: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Step {
    /// Multi-AZ failover: offsets asked; promote when they are in (or at `until`).
    Promote { failed: usize, until: Millis },
    /// Launch the replacement of node `idx`.
    Launch { idx: usize },
    /// A customer reboot ends.
    RebootDone { idx: usize },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub group: String,
    pub settings: Settings,
    pub nodes: Vec<CacheNode>,
    pub multi_az: bool,
    /// Grows by one every time a node is made primary.
    pub epoch: u64,
    pub dns: Dns,
    pub events: Vec<ControlEvent>,
    actions: VecDeque<Action>,
    next_heartbeat: Millis,
    seq: u64,
    steps: Vec<(Millis, Step)>,
    test_failovers: VecDeque<Millis>,
    /// Replicas asked for offsets during a failover, and those that answered.
    asked: BTreeSet<usize>,
    answered: BTreeSet<usize>,
    /// Only answers to checks sent from this sequence number on are fresh
    /// enough to choose the replica to promote.
    promotion_seq: u64,
    azs_down: BTreeSet<String>,
    /// A replacement primary being built from a replica (no Multi-AZ).
    rebuilding: Option<usize>,
    /// The group's backups, their window and retention, the bucket.
    pub backups: Backups,
    now: Millis,
}

const DOMAIN: &str = "xyz123.use1.cache.amazonaws.com";

impl Control {
    /// A group named `group`: node 1 is the primary, the others replicas,
    /// in the AZs given (one per node).
    pub fn new(group: &str, azs: &[&str], multi_az: bool, settings: Settings) -> Control {
        let mut c = Control {
            group: group.into(),
            settings,
            nodes: Vec::new(),
            multi_az: multi_az && azs.len() > 1,
            epoch: 1,
            dns: Dns {
                primary_endpoint: format!("{group}.{DOMAIN}:6379"),
                reader_endpoint: format!("{group}-ro.{DOMAIN}:6379"),
                ..Dns::default()
            },
            events: Vec::new(),
            actions: VecDeque::new(),
            next_heartbeat: Millis(0),
            seq: 0,
            steps: Vec::new(),
            test_failovers: VecDeque::new(),
            asked: BTreeSet::new(),
            answered: BTreeSet::new(),
            promotion_seq: 0,
            azs_down: BTreeSet::new(),
            rebuilding: None,
            backups: Backups::new(group, Policy::default()),
            now: Millis(0),
        };
        for (i, az) in azs.iter().enumerate() {
            let n = c.node_spec(i + 1, az);
            c.nodes.push(n);
        }
        c
    }

    /// Like [`Control::new`], with each node's address given (a native
    /// runtime's "127.0.0.1:port" instead of an AWS-style endpoint).
    pub fn with_addrs(
        group: &str,
        nodes: &[(&str, String)],
        multi_az: bool,
        settings: Settings,
    ) -> Control {
        let azs: Vec<&str> = nodes.iter().map(|(az, _)| *az).collect();
        let mut c = Control::new(group, &azs, multi_az, settings);
        for (n, (_, addr)) in c.nodes.iter_mut().zip(nodes) {
            n.addr = addr.clone();
        }
        c
    }

    fn node_spec(&self, number: usize, az: &str) -> CacheNode {
        let name = format!("{}-{:03}", self.group, number);
        CacheNode {
            id: format!("{number:04}"),
            addr: format!("{name}.{DOMAIN}:6379"),
            name,
            az: az.into(),
            role: if number == 1 {
                Role::Primary
            } else {
                Role::Replica
            },
            status: NodeStatus::Creating,
            last_ok: Millis(0),
            offset: 0,
            synced: false,
            since: Millis(0),
        }
    }

    fn set_status(&mut self, i: usize, status: NodeStatus) {
        let n = &mut self.nodes[i];
        n.status = status;
        n.since = self.now;
        if status != NodeStatus::Available {
            n.synced = false;
        }
    }

    /// The node holding the primary role (there is always exactly one,
    /// whatever its status).
    fn primary_slot(&self) -> usize {
        self.nodes
            .iter()
            .position(|n| n.role == Role::Primary && n.status != NodeStatus::Deleted)
            .unwrap_or(0)
    }

    fn launch_pending(&self, i: usize) -> bool {
        self.steps
            .iter()
            .any(|(_, s)| *s == Step::Launch { idx: i })
    }

    fn promoting(&self) -> bool {
        self.steps
            .iter()
            .any(|(_, s)| matches!(s, Step::Promote { .. }))
    }

    /// Puts the group back together: a failed primary is failed over (Multi-AZ)
    /// or rebuilt in place; failed replicas are replaced.
    fn reconcile(&mut self) {
        if self.promoting() || self.rebuilding.is_some() {
            return;
        }
        let p = self.primary_slot();
        if self.nodes[p].status == NodeStatus::Failed && !self.launch_pending(p) {
            if self.multi_az && !self.live_replicas().is_empty() {
                self.begin_promotion(p);
                return;
            }
            self.schedule_launch(p);
        }
        for i in 0..self.nodes.len() {
            if i != p && self.nodes[i].status == NodeStatus::Failed && !self.launch_pending(i) {
                self.schedule_launch(i);
            }
        }
    }

    /// Creates the group's nodes (CreateReplicationGroup).
    pub fn create(&mut self, now: Millis) {
        self.now = now;
        let primary = self.nodes[0].addr.clone();
        for i in 0..self.nodes.len() {
            let n = &mut self.nodes[i];
            n.last_ok = now;
            n.since = now;
            let replicaof = (n.role == Role::Replica).then(|| primary.clone());
            self.actions.push_back(Action::Launch {
                addr: n.addr.clone(),
                az: n.az.clone(),
                replicaof,
            });
        }
        self.nodes[0].status = NodeStatus::Available;
        self.update_dns();
        self.event_group(format!("Replication group {} created", self.group));
        self.next_heartbeat = now;
    }

    pub fn primary(&self) -> Option<&CacheNode> {
        self.nodes
            .iter()
            .find(|n| n.role == Role::Primary && n.status == NodeStatus::Available)
    }

    /// Resolves an endpoint or node name ("host:port") to a node address:
    /// the primary endpoint to the primary, the reader endpoint to one of
    /// the replicas (`pick` chooses which), a node endpoint to itself.
    pub fn resolve(&self, name: &str, pick: usize) -> Option<String> {
        if name == self.dns.primary_endpoint {
            return self.dns.primary.clone();
        }
        if name == self.dns.reader_endpoint {
            if self.dns.readers.is_empty() {
                return self.dns.primary.clone();
            }
            return Some(self.dns.readers[pick % self.dns.readers.len()].clone());
        }
        self.nodes
            .iter()
            .find(|n| n.addr == name && n.status != NodeStatus::Deleted)
            .map(|n| n.addr.clone())
    }

    fn update_dns(&mut self) {
        self.dns.primary = self
            .nodes
            .iter()
            .find(|n| n.role == Role::Primary && n.status != NodeStatus::Deleted)
            .map(|n| n.addr.clone());
        self.dns.readers = self
            .nodes
            .iter()
            .filter(|n| n.role == Role::Replica && n.status == NodeStatus::Available)
            .map(|n| n.addr.clone())
            .collect();
    }

    fn event_group(&mut self, message: String) {
        self.events.push(ControlEvent {
            at: self.now,
            source_type: "replication-group".into(),
            source_id: self.group.clone(),
            message,
        });
    }

    fn event_node(&mut self, idx: usize, message: String) {
        self.events.push(ControlEvent {
            at: self.now,
            source_type: "cache-cluster".into(),
            source_id: self.nodes[idx].name.clone(),
            message,
        });
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_timeout(&self) -> Millis {
        self.steps
            .iter()
            .map(|(t, _)| *t)
            .chain([self.next_heartbeat, self.backups.next_due(self.now)])
            .min()
            .unwrap_or(self.next_heartbeat)
    }

    /// The nodes as the backup service sees them: a replica counts once it
    /// has synced (its file would be the group's data).
    fn node_infos(&self) -> Vec<NodeInfo> {
        self.nodes
            .iter()
            .filter(|n| n.status != NodeStatus::Deleted)
            .map(|n| NodeInfo {
                name: n.name.clone(),
                addr: n.addr.clone(),
                primary: n.role == Role::Primary,
                available: n.status == NodeStatus::Available
                    && (n.role == Role::Primary || n.synced),
                running: n.status == NodeStatus::Available,
            })
            .collect()
    }

    /// The backup service's work: its snapshots to take become actions,
    /// its events the group's.
    fn drain_backups(&mut self) {
        while let Some(BackupAction::Snapshot { name, addr }) = self.backups.poll_action() {
            self.actions.push_back(Action::Snapshot { name, addr });
        }
        for (_, message) in std::mem::take(&mut self.backups.events) {
            self.event_group(message);
        }
    }

    /// The runtime took (or could not take) the file of backup `name`.
    pub fn snapshot_taken(&mut self, now: Millis, name: &str, rdb: Result<Vec<u8>, String>) {
        if now > self.now {
            self.now = now;
        }
        self.backups.snapshot_done(now, name, rdb);
        let infos = self.node_infos();
        self.backups.tick(now, &infos);
        self.drain_backups();
    }

    /// DeleteReplicationGroup [--final-snapshot-identifier NAME]: its
    /// automatic backups go with it; the final backup is taken from the
    /// primary first (the runtime ends the nodes once its file is taken).
    pub fn delete_group(&mut self, now: Millis, final_name: Option<&str>) -> Result<(), ApiError> {
        if now > self.now {
            self.now = now;
        }
        let infos = self.node_infos();
        self.backups.delete_group(now, final_name, &infos)?;
        self.event_group(format!("Replication group {} is being deleted", self.group));
        self.drain_backups();
        Ok(())
    }

    /// The final backup's file has been taken (or there is none): the
    /// group's nodes may go.
    pub fn final_backup_taken(&self) -> bool {
        !self.backups.snapshots.iter().any(|s| {
            s.kind == crate::backup::Kind::Final
                && s.status == crate::backup::Status::Creating
                && s.ready_at.is_none()
        })
    }

    /// Group `deleted` is gone: its manual and final backups, kept by the
    /// account, join this group's list (a final one still on its way to
    /// the bucket completes here).
    pub fn adopt_backups(&mut self, deleted: &str, kept: Vec<crate::backup::Snapshot>) {
        let names: Vec<String> = kept.iter().map(|s| s.name.clone()).collect();
        for s in kept {
            self.backups.keep(s);
        }
        self.event_group(format!(
            "Replication group {deleted} deleted{}",
            if names.is_empty() {
                String::new()
            } else {
                format!("; its backups kept: {}", names.join(", "))
            }
        ));
    }

    /// An event about the whole group, in AWS's words (a runtime's own
    /// news: the group was restored from a snapshot).
    pub fn note(&mut self, message: String) {
        self.event_group(message);
    }

    /// CreateReplicationGroup --snapshot-name: the file the NEW group
    /// `new_group` is seeded from (this group is not touched).
    pub fn restore(
        &mut self,
        now: Millis,
        name: &str,
        new_group: &str,
    ) -> Result<Vec<u8>, ApiError> {
        if now > self.now {
            self.now = now;
        }
        let r = self.backups.restore(now, name, new_group);
        self.drain_backups();
        r
    }

    fn live_replicas(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].role == Role::Replica && self.nodes[i].status == NodeStatus::Available
            })
            .collect()
    }

    fn busy(&self) -> bool {
        self.promoting() || self.rebuilding.is_some()
    }

    pub fn handle(&mut self, now: Millis, input: ControlInput) {
        if now > self.now {
            self.now = now;
        }
        match input {
            ControlInput::Tick => self.tick(),
            ControlInput::Peer { from, msg } => self.on_health(from, msg),
            ControlInput::Az { az, up } => {
                if up {
                    self.azs_down.remove(az);
                    self.reconcile();
                } else {
                    self.azs_down.insert(az.to_string());
                }
            }
        }
    }

    fn on_health(&mut self, from: &str, msg: PeerMsg) {
        let PeerMsg::HealthOk {
            seq,
            primary,
            offset,
            synced,
        } = msg
        else {
            return;
        };
        let Some(i) = self.nodes.iter().position(|n| n.addr == from) else {
            return;
        };
        let now = self.now;
        let n = &mut self.nodes[i];
        if matches!(
            n.status,
            NodeStatus::Failed | NodeStatus::Deleted | NodeStatus::Rebooting
        ) {
            return;
        }
        n.last_ok = now;
        n.offset = offset;
        n.synced = synced;
        if seq >= self.promotion_seq {
            self.answered.insert(i);
        }
        if n.status == NodeStatus::Creating {
            let rebuilt = self.rebuilding == Some(i);
            let ready = if rebuilt {
                synced
            } else if n.role == Role::Primary {
                primary
            } else {
                synced
            };
            if ready {
                let id = n.id.clone();
                self.set_status(i, NodeStatus::Available);
                if rebuilt {
                    // The replacement has loaded a replica's data; now it
                    // becomes the primary in the failed node's place.
                    self.rebuilding = None;
                    self.make_primary(i);
                }
                self.update_dns();
                self.event_node(i, format!("Finished recovery for cache nodes {id}"));
            }
        }
    }

    fn tick(&mut self) {
        let now = self.now;
        let infos = self.node_infos();
        self.backups.tick(now, &infos);
        self.drain_backups();
        if now >= self.next_heartbeat {
            self.next_heartbeat = now.plus(self.settings.heartbeat_ms);
            for n in &self.nodes {
                if matches!(n.status, NodeStatus::Available | NodeStatus::Creating) {
                    self.seq += 1;
                    self.actions.push_back(Action::Send {
                        to: n.addr.clone(),
                        msg: PeerMsg::Health { seq: self.seq },
                    });
                }
            }
            // Failure detection: missed health checks.
            let failed: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| {
                    let n = &self.nodes[i];
                    n.status == NodeStatus::Available
                        && now.saturating_sub(n.last_ok) > self.settings.failure_timeout_ms
                })
                .collect();
            for i in failed {
                self.node_failed(i);
            }
            // A replacement that has not synced in time (its source went
            // away) is failed too, and launched again.
            let stuck: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| {
                    let n = &self.nodes[i];
                    n.status == NodeStatus::Creating
                        && now.saturating_sub(n.since) > self.settings.launch_ms + 30_000
                })
                .collect();
            for i in stuck {
                if self.rebuilding == Some(i) {
                    self.rebuilding = None;
                }
                let addr = self.nodes[i].addr.clone();
                self.actions.push_back(Action::Terminate { addr });
                self.set_status(i, NodeStatus::Failed);
            }
            self.reconcile();
        }
        let due: Vec<(Millis, Step)> = {
            let (due, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.steps).into_iter().partition(|(t, s)| {
                    *t <= now
                        || matches!(s, Step::Promote { .. } if self.answered.is_superset(&self.asked))
                });
            self.steps = later;
            due
        };
        for (_, step) in due {
            match step {
                Step::Promote { failed, .. } => self.promote_best(failed),
                Step::Launch { idx } => self.launch_replacement(idx),
                Step::RebootDone { idx } => {
                    let n = &self.nodes[idx];
                    let replicaof = match n.role {
                        Role::Primary => None,
                        Role::Replica => self.dns.primary.clone(),
                    };
                    let (addr, az, id) = (n.addr.clone(), n.az.clone(), n.id.clone());
                    self.actions.push_back(Action::Launch {
                        addr,
                        az,
                        replicaof,
                    });
                    self.nodes[idx].last_ok = now;
                    self.set_status(idx, NodeStatus::Creating);
                    self.event_node(idx, format!("Cache node {id} restarted"));
                }
            }
        }
    }

    fn node_failed(&mut self, i: usize) {
        self.set_status(i, NodeStatus::Failed);
        let addr = self.nodes[i].addr.clone();
        // Step 1: the failed node is taken offline.
        self.actions.push_back(Action::Terminate { addr });
        self.update_dns();
        self.reconcile();
    }

    /// Schedules the replacement of node `i` (in its AZ, when that AZ is up).
    fn schedule_launch(&mut self, i: usize) {
        if self.azs_down.contains(&self.nodes[i].az) || self.launch_pending(i) {
            return; // launched when the AZ is back
        }
        let id = self.nodes[i].id.clone();
        self.event_node(i, format!("Recovering cache nodes {id}"));
        self.steps.push((
            self.now.plus(self.settings.launch_ms),
            Step::Launch { idx: i },
        ));
    }

    fn begin_promotion(&mut self, failed: usize) {
        // Ask every live replica where it stands; promote when all answered.
        self.asked.clear();
        self.answered.clear();
        self.promotion_seq = self.seq + 1;
        for i in self.live_replicas() {
            self.asked.insert(i);
            self.seq += 1;
            self.actions.push_back(Action::Send {
                to: self.nodes[i].addr.clone(),
                msg: PeerMsg::Health { seq: self.seq },
            });
        }
        let until = self.now.plus(self.settings.offset_wait_ms);
        self.steps.push((until, Step::Promote { failed, until }));
    }

    fn make_primary(&mut self, i: usize) {
        self.epoch += 1;
        for (j, n) in self.nodes.iter_mut().enumerate() {
            if j != i && n.role == Role::Primary {
                n.role = Role::Replica;
            }
        }
        self.nodes[i].role = Role::Primary;
        let addr = self.nodes[i].addr.clone();
        self.actions.push_back(Action::ReplicaOf {
            addr: addr.clone(),
            primary: None,
        });
        // The other replicas resync from the new primary.
        for j in 0..self.nodes.len() {
            let n = &self.nodes[j];
            if j != i
                && n.role == Role::Replica
                && matches!(n.status, NodeStatus::Available | NodeStatus::Creating)
            {
                self.actions.push_back(Action::ReplicaOf {
                    addr: n.addr.clone(),
                    primary: Some(addr.clone()),
                });
            }
        }
        self.update_dns();
    }

    fn promote_best(&mut self, failed: usize) {
        // The replica with the least lag: the highest offset among those
        // that answered (ties: the lowest node number).
        let by_offset = |i: &usize| (self.nodes[*i].offset, std::cmp::Reverse(*i));
        let live = self.live_replicas();
        // Fresh answers first; if none came back in time, the offsets the
        // last health checks reported.
        let best = live
            .iter()
            .copied()
            .filter(|i| self.answered.contains(i))
            .max_by_key(by_offset)
            .or_else(|| live.iter().copied().max_by_key(by_offset));
        let Some(best) = best else {
            // No replica answered: fall back to building a replacement.
            self.schedule_launch(failed);
            return;
        };
        self.nodes[failed].role = Role::Replica;
        self.make_primary(best);
        let (from, to) = (
            self.nodes[failed].name.clone(),
            self.nodes[best].name.clone(),
        );
        self.event_node(
            best,
            format!("Failover from primary node {from} to replica node {to} completed"),
        );
        self.schedule_launch(failed);
    }

    fn launch_replacement(&mut self, idx: usize) {
        if self.azs_down.contains(&self.nodes[idx].az)
            || self.nodes[idx].status == NodeStatus::Deleted
        {
            return;
        }
        let p = self.primary_slot();
        let replicaof = if idx == p {
            // Rebuilding the primary in place: from the most up-to-date
            // replica if one is alive, else empty (its data is lost).
            let best = self
                .live_replicas()
                .into_iter()
                .max_by_key(|&i| (self.nodes[i].offset, std::cmp::Reverse(i)));
            match best {
                Some(b) => {
                    // The source stops following the failed node (whose
                    // address the replacement takes over) so it can serve
                    // the full sync.
                    self.rebuilding = Some(idx);
                    self.epoch += 1;
                    self.actions.push_back(Action::ReplicaOf {
                        addr: self.nodes[b].addr.clone(),
                        primary: None,
                    });
                    Some(self.nodes[b].addr.clone())
                }
                None => {
                    self.epoch += 1;
                    None
                }
            }
        } else if self.nodes[p].status == NodeStatus::Available {
            Some(self.nodes[p].addr.clone())
        } else {
            // A replica waits for a primary to copy from.
            self.steps.push((
                self.now.plus(self.settings.heartbeat_ms),
                Step::Launch { idx },
            ));
            return;
        };
        self.nodes[idx].last_ok = self.now;
        self.nodes[idx].offset = 0;
        self.set_status(idx, NodeStatus::Creating);
        let n = &self.nodes[idx];
        self.actions.push_back(Action::Launch {
            addr: n.addr.clone(),
            az: n.az.clone(),
            replicaof,
        });
        self.update_dns();
    }

    /// An API request; `Err` carries AWS's refusal.
    pub fn api(&mut self, now: Millis, req: Api) -> Result<(), ApiError> {
        if now > self.now {
            self.now = now;
        }
        match req {
            Api::TestFailover => {
                let day = 24 * 3600 * 1000;
                while self
                    .test_failovers
                    .front()
                    .is_some_and(|&t| now.saturating_sub(t) >= day)
                {
                    self.test_failovers.pop_front();
                }
                if self.test_failovers.len() >= self.settings.test_failover_limit {
                    return Err(api_err(
                        "TestFailoverNotAvailableFault",
                        format!(
                            "TestFailover can be called on at most {} node groups in a rolling 24-hour period.",
                            self.settings.test_failover_limit
                        ),
                    ));
                }
                if !self.multi_az {
                    return Err(api_err(
                        "InvalidReplicationGroupState",
                        format!(
                            "Automatic failover is not enabled for replication group {}.",
                            self.group
                        ),
                    ));
                }
                if self.live_replicas().is_empty() {
                    return Err(api_err(
                        "InvalidReplicationGroupState",
                        format!(
                            "Replication group {} has no available replica to fail over to.",
                            self.group
                        ),
                    ));
                }
                let Some(p) = self
                    .nodes
                    .iter()
                    .position(|n| n.role == Role::Primary && n.status == NodeStatus::Available)
                else {
                    return Err(api_err(
                        "InvalidReplicationGroupState",
                        format!(
                            "Replication group {} is not in available state.",
                            self.group
                        ),
                    ));
                };
                if self.busy() {
                    return Err(api_err(
                        "InvalidReplicationGroupState",
                        format!(
                            "Replication group {} is not in available state.",
                            self.group
                        ),
                    ));
                }
                self.test_failovers.push_back(now);
                self.event_group("Test Failover API called for node group 0001".into());
                self.node_failed(p);
                Ok(())
            }
            Api::SetMultiAz(on) => {
                if on && self.live_replicas().is_empty() {
                    return Err(api_err(
                        "InvalidParameterCombination",
                        "Multi-AZ and automatic failover require at least one read replica.".into(),
                    ));
                }
                if on
                    && self
                        .nodes
                        .iter()
                        .filter(|n| n.status != NodeStatus::Deleted)
                        .map(|n| &n.az)
                        .collect::<BTreeSet<_>>()
                        .len()
                        < 2
                {
                    return Err(api_err(
                        "InvalidParameterCombination",
                        "Multi-AZ requires nodes in at least two Availability Zones.".into(),
                    ));
                }
                self.multi_az = on;
                self.event_group(format!(
                    "Multi-AZ {} for replication group {}",
                    if on { "enabled" } else { "disabled" },
                    self.group
                ));
                Ok(())
            }
            Api::AddReplica { az } => {
                let replicas = self
                    .nodes
                    .iter()
                    .filter(|n| n.role == Role::Replica && n.status != NodeStatus::Deleted)
                    .count();
                if replicas >= self.settings.max_replicas {
                    return Err(api_err(
                        "InvalidParameterValue",
                        format!(
                            "A node group can have at most {} replicas.",
                            self.settings.max_replicas
                        ),
                    ));
                }
                let number = self.nodes.len() + 1;
                let mut n = self.node_spec(number, &az);
                n.role = Role::Replica;
                n.last_ok = now;
                self.nodes.push(n);
                let idx = self.nodes.len() - 1;
                self.event_node(
                    idx,
                    format!("Added cache node {:04} in availability zone {az}", number),
                );
                self.launch_replacement(idx);
                Ok(())
            }
            Api::RemoveReplica { id } => {
                let Some(i) = self
                    .nodes
                    .iter()
                    .position(|n| n.id == id && n.status != NodeStatus::Deleted)
                else {
                    return Err(api_err(
                        "CacheClusterNotFound",
                        format!("Cache node {id} not found."),
                    ));
                };
                if self.nodes[i].role != Role::Replica {
                    return Err(api_err(
                        "InvalidParameterValue",
                        format!("Cache node {id} is the primary; only replicas can be removed."),
                    ));
                }
                if self.multi_az
                    && self.live_replicas().len() <= 1
                    && self.nodes[i].status == NodeStatus::Available
                {
                    return Err(api_err(
                        "InvalidParameterCombination",
                        "Multi-AZ and automatic failover require at least one read replica.".into(),
                    ));
                }
                self.nodes[i].status = NodeStatus::Deleted;
                self.steps.retain(|(_, s)| *s != Step::Launch { idx: i });
                let addr = self.nodes[i].addr.clone();
                self.actions.push_back(Action::Terminate { addr });
                self.update_dns();
                self.event_node(i, format!("Removed cache node {id}"));
                Ok(())
            }
            Api::Reboot { id } => {
                let Some(i) = self.nodes.iter().position(|n| n.id == id) else {
                    return Err(api_err(
                        "CacheClusterNotFound",
                        format!("Cache node {id} not found."),
                    ));
                };
                if self.nodes[i].status != NodeStatus::Available {
                    return Err(api_err(
                        "InvalidCacheClusterState",
                        format!("Cache node {id} is not in available state."),
                    ));
                }
                // A customer reboot restarts the node in place: no failover.
                self.nodes[i].status = NodeStatus::Rebooting;
                let addr = self.nodes[i].addr.clone();
                self.actions.push_back(Action::Terminate { addr });
                self.update_dns();
                self.event_node(i, format!("Cache node {id} is rebooting"));
                self.steps.push((
                    now.plus(self.settings.reboot_ms),
                    Step::RebootDone { idx: i },
                ));
                Ok(())
            }
            Api::CreateSnapshot { name } => {
                let infos = self.node_infos();
                let r = self.backups.create_manual(now, &name, &infos);
                self.drain_backups();
                r
            }
            Api::DeleteSnapshot { name } => {
                let r = self.backups.delete(now, &name);
                self.drain_backups();
                r
            }
            Api::CopySnapshot { source, target } => {
                let r = self.backups.copy(now, &source, &target);
                self.drain_backups();
                r
            }
            Api::ExportSnapshot { name } => {
                let r = self.backups.export(now, &name).map(|_| ());
                self.drain_backups();
                r
            }
            Api::SetBackupPolicy {
                window,
                retention_days,
            } => {
                self.backups.policy = Policy::parse(&window, retention_days)?;
                self.event_group(format!(
                    "Backup window set to {window} UTC, retention {retention_days} days"
                ));
                Ok(())
            }
        }
    }

    /// True when the group is whole: one available primary, every other
    /// node an available replica, and the primary endpoint on the primary.
    pub fn healthy(&self) -> bool {
        let live: Vec<&CacheNode> = self
            .nodes
            .iter()
            .filter(|n| n.status != NodeStatus::Deleted)
            .collect();
        let primaries = live.iter().filter(|n| n.role == Role::Primary).count();
        primaries == 1
            && live.iter().all(|n| n.status == NodeStatus::Available)
            && self.dns.primary == self.primary().map(|p| p.addr.clone())
    }
}
