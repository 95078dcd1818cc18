//! Failure detection and failover over the cluster bus, as `cluster.c`:
//! a node that has not answered a PING within `cluster-node-timeout` is
//! PFAIL; primaries' gossip about it is kept as failure reports (valid for
//! twice the timeout), and a majority of the primaries serving slots turns
//! it FAIL, which is broadcast. A replica of a FAIL primary waits half a
//! second plus a random part and a second per better-placed replica (its
//! rank), then asks every primary for its vote in a new epoch; primaries
//! vote once per epoch, for a replica whose primary is FAIL, not twice for
//! the same primary within two node timeouts, and not for slots they know
//! a newer owner of. With a majority of votes the replica takes its
//! primary's slots with the election's epoch and tells everyone.
//!
//! A manual failover (CLUSTER FAILOVER on a replica) is the same election
//! with votes forced (FORCEACK) while the primary is up: by default the
//! replica first sends MFSTART, the primary pauses its writes and PINGs
//! back its final offset (PAUSED), and the election starts once the
//! replica has processed up to it, so no acknowledged write is lost;
//! FORCE starts at once. Either gives up after five seconds.
//!
//! Replica migration: when a primary is left without a working replica, a
//! spare one (from a primary with the most, keeping more than
//! `cluster-migration-barrier`) moves to it after five seconds.

use super::bus::{self, msg_type, node_flag, Body, Message};
use super::{Cluster, MYSELF};
use crate::commands::migrate::LinkOut;
use crate::node::Server;
use crate::time::Millis;

/// A replica's election in progress (`failover_auth_*`).
#[derive(Clone, Debug, Default)]
pub struct Election {
    /// When the request goes (or went) out, in ms; 0: none scheduled.
    pub at: u64,
    pub sent: bool,
    pub votes: usize,
    pub epoch: u64,
}

/// `CLUSTER_SLAVE_MIGRATION_DELAY`: how long a primary must have been
/// orphaned before a spare replica moves to it.
const MIGRATION_DELAY: u64 = 5000;

/// `CLUSTER_MF_TIMEOUT`, and how much longer the primary pauses writes.
pub const MANUAL_TIMEOUT: u64 = 5000;
const MANUAL_PAUSE_MULT: u64 = 2;

/// A manual failover in progress (`mf_*`): on the replica asked, and on
/// its primary (which has paused its writes for `replica`).
#[derive(Clone, Debug, Default)]
pub struct Manual {
    /// When it gives up, in ms; 0: none in progress.
    pub end: u64,
    /// The replica may start its election (it caught up, or FORCE).
    pub can_start: bool,
    /// The offset the paused primary reported.
    pub primary_offset: Option<u64>,
    /// On the primary: the replica taking over (by id).
    pub replica: Option<String>,
}

impl Cluster {
    fn timed_out(&self, i: usize) -> bool {
        self.nodes[i].flags & node_flag::PFAIL != 0
    }

    pub fn failed(&self, i: usize) -> bool {
        self.nodes[i].flags & node_flag::FAIL != 0
    }

    /// Reports of primaries that still believe node `i` is down.
    fn live_reports(&mut self, i: usize, now: Millis, timeout: u64) -> usize {
        let r = &mut self.nodes[i].fail_reports;
        r.retain(|(_, at)| now.0.saturating_sub(*at) <= timeout * 2);
        r.len()
    }

    /// `markNodeAsFailingIfNeeded`: true if it just turned FAIL.
    fn mark_failing_if_needed(&mut self, i: usize, now: Millis, timeout: u64) -> bool {
        if !self.timed_out(i) || self.failed(i) {
            return false;
        }
        let quorum = self.size() / 2 + 1;
        let mut failures = self.live_reports(i, now, timeout);
        if !self.is_replica() {
            failures += 1;
        }
        if failures < quorum {
            return false;
        }
        let n = &mut self.nodes[i];
        n.flags &= !node_flag::PFAIL;
        n.flags |= node_flag::FAIL;
        n.fail_time = now.0;
        true
    }

    /// A gossip entry from primary `sender` says node `i` is (or is not)
    /// failing.
    pub fn failure_report(
        &mut self,
        i: usize,
        sender: usize,
        failing: bool,
        now: Millis,
        timeout: u64,
    ) -> bool {
        if failing {
            let id = self.nodes[sender].id.clone();
            let reports = &mut self.nodes[i].fail_reports;
            match reports.iter_mut().find(|(r, _)| *r == id) {
                Some(r) => r.1 = now.0,
                None => reports.push((id, now.0)),
            }
            self.mark_failing_if_needed(i, now, timeout)
        } else {
            if !self.nodes[i].fail_reports.is_empty() {
                let id = self.nodes[sender].id.clone();
                self.nodes[i].fail_reports.retain(|(r, _)| *r != id);
            }
            false
        }
    }

    /// `clusterNodeClearFailureIfNeeded`: a FAIL node heard from again.
    pub fn clear_failure_if_needed(&mut self, i: usize, now: Millis, timeout: u64) {
        if self.nodes[i].flags & node_flag::FAIL == 0 {
            return;
        }
        let serving = self.slot_count(i) > 0;
        let n = &mut self.nodes[i];
        // A replica, or a primary without slots, is back at once; one
        // with slots only if nobody took them over in twice the timeout.
        if n.replica_of.is_some() || !serving || now.0.saturating_sub(n.fail_time) > timeout * 2 {
            n.flags &= !node_flag::FAIL;
        }
    }

    /// `clusterGetSlaveRank`: replicas of our primary that have more data.
    fn rank(&self, my_offset: u64) -> usize {
        let Some(p) = self.nodes[MYSELF].replica_of else {
            return 0;
        };
        (1..self.nodes.len())
            .filter(|&r| {
                self.nodes[r].replica_of == Some(p) && self.nodes[r].repl_offset > my_offset
            })
            .count()
    }
}

impl Server {
    fn node_timeout(&self) -> u64 {
        self.config.cluster_node_timeout()
    }

    /// Sends `bytes` over our link to every node that has one.
    fn broadcast(&mut self, bytes: &[u8]) {
        let Some(c) = self.cluster.as_ref() else {
            return;
        };
        for n in &c.nodes[1..] {
            if let (Some(link), 0) = (n.link, n.flags & node_flag::HANDSHAKE) {
                self.migrate.out.push(LinkOut::Send {
                    link,
                    bytes: bytes.to_vec(),
                });
            }
        }
    }

    /// `clusterSendFail`: every node hears that node `i` is FAIL.
    pub(super) fn send_fail(&mut self, i: usize) {
        let offset = self.repl.offset;
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let about = c.nodes[i].id.clone();
        let bytes = bus::encode(&Message {
            header: c.header(msg_type::FAIL, offset),
            body: Body::Fail { about },
        });
        let linked = c.nodes[1..].iter().filter(|n| n.link.is_some()).count() as u64;
        *c.sent.entry("fail").or_default() += linked;
        self.broadcast(&bytes);
    }

    /// The failure-detection part of `clusterCron`: nodes whose PING went
    /// unanswered for the node timeout are PFAIL.
    pub(super) fn detect_failures(&mut self, now: Millis) {
        let timeout = self.node_timeout();
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let mut failed = Vec::new();
        for i in 1..c.nodes.len() {
            let n = &c.nodes[i];
            if n.flags
                & (node_flag::HANDSHAKE | node_flag::NOADDR | node_flag::PFAIL | node_flag::FAIL)
                != 0
            {
                continue;
            }
            if n.ping_sent == 0 {
                continue;
            }
            let delay = now.0.saturating_sub(n.ping_sent);
            let data_delay = now.0.saturating_sub(n.data_received);
            if delay.min(data_delay) > timeout {
                c.nodes[i].flags |= node_flag::PFAIL;
                // A lone primary (or one whose peers agree) decides alone.
                if c.mark_failing_if_needed(i, now, timeout) {
                    failed.push(i);
                }
            }
        }
        for i in failed {
            self.send_fail(i);
        }
    }

    /// A FAIL message: the node named is FAIL here too.
    pub(super) fn on_fail(&mut self, now: Millis, about: &str) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        if let Some(i) = c.lookup(about.as_bytes()).filter(|&i| i != MYSELF) {
            let n = &mut c.nodes[i];
            if n.flags & node_flag::FAIL == 0 {
                n.flags &= !node_flag::PFAIL;
                n.flags |= node_flag::FAIL;
                n.fail_time = now.0;
            }
        }
    }

    /// `clusterSendFailoverAuthIfNeeded`: a primary's vote for replica
    /// `r` asking in the request's epoch.
    pub(super) fn vote_if_needed(&mut self, now: Millis, r: usize, req: &bus::Header) {
        let timeout = self.node_timeout();
        let offset = self.repl.offset;
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let serving = c.slot_count(MYSELF) > 0;
        if c.is_replica() || !serving {
            return;
        }
        if req.current_epoch < c.current_epoch || c.last_vote_epoch == c.current_epoch {
            return;
        }
        let force = req.mflags[0] & bus::FLAG0_FORCEACK != 0;
        let Some(p) = c.nodes[r].replica_of else {
            return;
        };
        if !c.failed(p) && !force {
            return;
        }
        if now.0.saturating_sub(c.nodes[p].voted_time) < timeout * 2 {
            return;
        }
        for s in 0..crate::store::slots::SLOTS as u16 {
            if !req.myslots.get(s) {
                continue;
            }
            if let Some(o) = c.owner(s) {
                if c.nodes[o].config_epoch > req.config_epoch {
                    return;
                }
            }
        }
        c.last_vote_epoch = c.current_epoch;
        c.nodes[p].voted_time = now.0;
        let Some(link) = c.nodes[r].link else {
            return;
        };
        let bytes = bus::encode(&Message {
            header: c.header(msg_type::FAILOVER_AUTH_ACK, offset),
            body: Body::Empty,
        });
        *c.sent.entry("auth-ack").or_default() += 1;
        self.migrate.out.push(LinkOut::Send { link, bytes });
    }

    /// A vote for our election, from a primary serving slots.
    pub(super) fn on_vote(&mut self, sender: usize, current_epoch: u64) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let serving = c.slot_count(sender) > 0;
        if c.nodes[sender].replica_of.is_none() && serving && current_epoch >= c.election.epoch {
            c.election.votes += 1;
        }
    }

    /// `clusterHandleSlaveFailover`: a replica of a FAIL primary runs an
    /// election and, elected, takes the primary's slots.
    pub(super) fn handle_replica_failover(
        &mut self,
        now: Millis,
        events: &mut Vec<crate::NodeEvent>,
    ) {
        let timeout = self.node_timeout();
        let offset = self.repl.offset;
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let Some(p) = c.nodes[MYSELF].replica_of else {
            return;
        };
        let manual = c.manual.end != 0 && c.manual.can_start;
        let serving = c.slot_count(p) > 0;
        if !(c.failed(p) || manual) || !serving {
            return;
        }
        let auth_timeout = (timeout * 2).max(2000);
        let retry = auth_timeout * 2;
        let age = now.0.saturating_sub(c.election.at);
        if manual && c.election.at == 0 {
            // A manual failover's election starts now, whatever the rank.
            c.election = Election {
                at: now.0,
                ..Election::default()
            };
        }
        if c.election.at == 0 || (age > retry && c.election.at <= now.0) {
            // Schedule: half a second, a random part, a second per rank.
            let jitter = c
                .fresh_id()
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
                % 500;
            c.election = Election {
                at: now.0 + 500 + jitter + c.rank(offset) as u64 * 1000,
                ..Election::default()
            };
            return;
        }
        if now.0 < c.election.at {
            return;
        }
        if now.0.saturating_sub(c.election.at) > auth_timeout && c.election.sent {
            return; // This election expired; the next one is scheduled later.
        }
        if !c.election.sent {
            c.current_epoch += 1;
            c.election.epoch = c.current_epoch;
            c.election.sent = true;
            let mut header = c.header(msg_type::FAILOVER_AUTH_REQUEST, offset);
            if c.manual.end != 0 {
                // Primaries vote although our primary is not failing.
                header.mflags[0] |= bus::FLAG0_FORCEACK;
            }
            let bytes = bus::encode(&Message {
                header,
                body: Body::Empty,
            });
            let linked = c.nodes[1..].iter().filter(|n| n.link.is_some()).count() as u64;
            *c.sent.entry("auth-req").or_default() += linked;
            self.broadcast(&bytes);
            return;
        }
        let quorum = c.size() / 2 + 1;
        if c.election.votes < quorum {
            return;
        }
        if c.nodes[MYSELF].config_epoch < c.election.epoch {
            c.nodes[MYSELF].config_epoch = c.election.epoch;
        }
        c.election = Election::default();
        self.cluster_take_over(events);
    }

    /// `clusterHandleSlaveMigration`, from the cron: a replica of the
    /// primary with the most working replicas (the one with the smallest
    /// id among them) moves to a primary left with none — if its primary
    /// keeps more than `cluster-migration-barrier` and the orphan has
    /// been one for five seconds (its own replicas may be switching).
    pub(super) fn handle_replica_migration(&mut self, now: Millis) {
        let barrier: usize = self
            .config
            .get("cluster-migration-barrier")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let allowed = self.config.get("cluster-allow-replica-migration") != Some("no");
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let Some(mine) = c.nodes[MYSELF].replica_of else {
            return;
        };
        let counts = c.slot_counts();
        // Each node's working replicas, counted in one pass.
        let mut working_replicas = vec![0usize; c.nodes.len()];
        for n in &c.nodes {
            if let Some(p) = n.replica_of {
                if n.flags & (node_flag::FAIL | node_flag::PFAIL) == 0 {
                    working_replicas[p] += 1;
                }
            }
        }
        let ok_replicas = |_: &Cluster, p: usize| working_replicas[p];
        let skip = node_flag::NOADDR | node_flag::HANDSHAKE;
        let (mut orphaned, mut max_replicas, mut this_replicas) = (0, 0, 0);
        for (i, &slots) in counts.iter().enumerate().skip(1) {
            let n = &c.nodes[i];
            if n.flags & skip != 0 || n.replica_of.is_some() || c.failed(i) {
                continue;
            }
            let ok = ok_replicas(c, i);
            if ok == 0 && slots > 0 && n.flags & node_flag::MIGRATE_TO != 0 {
                orphaned += 1;
            }
            max_replicas = max_replicas.max(ok);
            if i == mine {
                this_replicas = ok;
            }
        }
        if orphaned == 0 || max_replicas < 2 || this_replicas != max_replicas || !allowed {
            return;
        }
        // clusterHandleSlaveMigration proper.
        if !c.ok || ok_replicas(c, mine) <= barrier {
            return;
        }
        let mut target = None;
        let mut candidate = MYSELF;
        for (i, &slots) in counts.iter().enumerate() {
            let is_primary = c.nodes[i].replica_of.is_none();
            let ok = if is_primary { ok_replicas(c, i) } else { 0 };
            let is_orphan = is_primary
                && !c.failed(i)
                && c.nodes[i].flags & node_flag::MIGRATE_TO != 0
                && ok == 0;
            if is_orphan {
                if target.is_none() && slots > 0 {
                    target = Some(i);
                }
                if c.nodes[i].orphaned_since == 0 {
                    c.nodes[i].orphaned_since = now.0;
                }
            } else {
                c.nodes[i].orphaned_since = 0;
            }
            if is_primary && ok == max_replicas {
                for r in 0..c.nodes.len() {
                    if c.nodes[r].replica_of == Some(i) && c.nodes[r].id < c.nodes[candidate].id {
                        candidate = r;
                    }
                }
            }
        }
        let Some(t) = target else {
            return;
        };
        if candidate != MYSELF || now.0.saturating_sub(c.nodes[t].orphaned_since) <= MIGRATION_DELAY
        {
            return;
        }
        let mut events = Vec::new();
        self.cluster_set_master(now, t, &mut events);
        self.cluster_events.extend(events);
    }

    /// CLUSTER FAILOVER [FORCE] on a replica (its checks made): by
    /// default MFSTART to the primary; FORCE may start at once.
    pub fn start_manual_failover(&mut self, now: Millis, force: bool) {
        self.reset_manual_failover();
        let offset = self.repl.offset;
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        c.manual.end = now.0 + MANUAL_TIMEOUT;
        c.election = Election::default();
        if force {
            c.manual.can_start = true;
            return;
        }
        let Some(p) = c.nodes[MYSELF].replica_of else {
            return;
        };
        let Some(link) = c.nodes[p].link else {
            return;
        };
        let bytes = bus::encode(&Message {
            header: c.header(msg_type::MFSTART, offset),
            body: Body::Empty,
        });
        *c.sent.entry("mfstart").or_default() += 1;
        self.migrate.out.push(LinkOut::Send { link, bytes });
    }

    /// MFSTART from replica `r`: pause writes (twice the manual failover
    /// timeout) and PING it our final offset, flagged PAUSED.
    pub(super) fn on_mfstart(&mut self, now: Millis, r: usize) {
        let Some(c) = self.cluster.as_ref() else {
            return;
        };
        if c.nodes[r].replica_of != Some(MYSELF) {
            return;
        }
        self.reset_manual_failover();
        let end = crate::Millis(now.0 + MANUAL_TIMEOUT * MANUAL_PAUSE_MULT);
        self.pause = Some(match self.pause {
            Some(p) => crate::node::Pause {
                all: p.all,
                end: p.end.max(end),
            },
            None => crate::node::Pause { all: false, end },
        });
        self.set_db_modes();
        let offset = self.repl.offset;
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        c.manual.end = now.0 + MANUAL_TIMEOUT;
        c.manual.replica = Some(c.nodes[r].id.clone());
        if let Some(link) = c.nodes[r].link {
            let bytes = c.ping(msg_type::PING, offset, r);
            *c.sent.entry("ping").or_default() += 1;
            self.migrate.out.push(LinkOut::Send { link, bytes });
        }
    }

    /// `resetManualFailover`: a primary that paused its writes for one
    /// lets them go (CLIENT PAUSE's own pause stays).
    pub fn reset_manual_failover(&mut self) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let paused = c.manual.replica.is_some();
        c.manual = Manual::default();
        if paused {
            self.pause = self.pause_by_client;
            self.set_db_modes();
        }
    }

    /// `manualFailoverCheckTimeout` and `clusterHandleManualFailover`:
    /// give up after the timeout; a replica that reached its paused
    /// primary's offset may start the election.
    pub(super) fn manual_failover_cron(&mut self, now: Millis) {
        let offset = self.repl.offset;
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        if c.manual.end == 0 {
            return;
        }
        if c.manual.end < now.0 {
            self.reset_manual_failover();
            return;
        }
        if c.manual.primary_offset == Some(offset) && c.is_replica() {
            c.manual.can_start = true;
        }
    }
}
