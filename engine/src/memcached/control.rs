//! ElastiCache's side of a Memcached cluster, sans-IO: the node list, the
//! configuration endpoint's version (one more on every add or remove),
//! node failure and replacement, the node quota, and events in AWS's words.
//! Runtimes (the simulator, the playground's router) carry out its
//! [`McAction`]s: start a node, stop one, hand every node the new
//! configuration.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::ClusterConfig;
use crate::time::Millis;

/// Nodes per cluster by default: 60 in the current ElastiCache guide (its
/// API reference says 40, older material 20). A setting.
pub const MAX_NODES: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum McNodeState {
    /// Serving.
    Available,
    /// Its process died with its data; still listed until replaced.
    Failed,
    /// Taken out of the cluster.
    Removed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McNodeSpec {
    /// ElastiCache's node id: 0001, 0002, …
    pub id: String,
    /// The node's endpoint (DNS name) and address.
    pub host: String,
    pub addr: String,
    pub az: String,
    pub state: McNodeState,
    /// When it was (re)launched: empty since then.
    pub since: Millis,
}

/// What a runtime must do for the control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McAction {
    /// Start an empty memcached node for slot `slot`.
    Launch { slot: usize },
    /// Stop it (its data is gone).
    Terminate { slot: usize },
    /// Every running node answers `config get cluster` with this from now on.
    Publish,
}

pub struct McControl {
    pub cluster: String,
    pub config: ClusterConfig,
    /// Every node ever created, by slot (removed ones stay, marked).
    pub nodes: Vec<McNodeSpec>,
    pub events: Vec<(Millis, String)>,
    pub max_nodes: usize,
    azs: Vec<String>,
    actions: VecDeque<McAction>,
}

impl McControl {
    /// CreateSnapshot (and every other backup API) on a Memcached cluster:
    /// refused in ElastiCache's words, with the event the console shows.
    pub fn create_snapshot(
        &mut self,
        now: Millis,
        name: &str,
    ) -> Result<(), crate::control::ApiError> {
        let e = crate::backup::memcached_refusal();
        self.event(now, format!("CreateSnapshot {name} refused: {}", e.message));
        Err(e)
    }

    /// A cluster of `n` nodes spread over `azs`, configuration version 1.
    pub fn new(cluster: &str, azs: &[&str], n: usize, now: Millis) -> McControl {
        let mut c = McControl {
            cluster: cluster.to_string(),
            config: ClusterConfig::default(),
            nodes: Vec::new(),
            events: Vec::new(),
            max_nodes: MAX_NODES,
            azs: azs.iter().map(|a| a.to_string()).collect(),
            actions: VecDeque::new(),
        };
        for _ in 0..n {
            c.create(now);
        }
        c.config.version = 1;
        c.actions.push_back(McAction::Publish);
        c.event(now, format!("Cache cluster created with {n} nodes"));
        c
    }

    pub fn poll_action(&mut self) -> Option<McAction> {
        self.actions.pop_front()
    }

    fn event(&mut self, now: Millis, text: String) {
        self.events.push((now, text));
    }

    /// A new node (the next id, the next AZ in turn), listed and launched.
    fn create(&mut self, now: Millis) -> usize {
        let slot = self.nodes.len();
        let i = slot + 1;
        let host = format!("{}.x1y2z3.{i:04}.use1.cache.amazonaws.com", self.cluster);
        let ip = format!("10.0.{}.{}", (i - 1) % 3, 10 + i % 240);
        self.nodes.push(McNodeSpec {
            id: format!("{i:04}"),
            host: host.clone(),
            addr: format!("{ip}:11211"),
            az: self.azs[(i - 1) % self.azs.len().max(1)].clone(),
            state: McNodeState::Available,
            since: now,
        });
        self.config.nodes.push((host, ip, 11211));
        self.actions.push_back(McAction::Launch { slot });
        slot
    }

    /// Is the node still in the configuration?
    pub fn listed(&self, slot: usize) -> bool {
        self.nodes
            .get(slot)
            .is_some_and(|n| n.state != McNodeState::Removed)
    }

    /// The listed nodes' addresses, in the configuration's order.
    pub fn addrs(&self) -> Vec<String> {
        self.config
            .nodes
            .iter()
            .map(|(_, ip, p)| format!("{ip}:{p}"))
            .collect()
    }

    pub fn slot_of(&self, addr: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    /// ModifyCacheCluster NumCacheNodes + 1.
    pub fn add(&mut self, now: Millis) -> Result<usize, String> {
        if self.config.nodes.len() >= self.max_nodes {
            return Err(format!(
                "NodeQuotaForClusterExceeded: the quota is {} nodes per cluster",
                self.max_nodes
            ));
        }
        let slot = self.create(now);
        self.config.version += 1;
        self.actions.push_back(McAction::Publish);
        let (id, az) = (self.nodes[slot].id.clone(), self.nodes[slot].az.clone());
        let v = self.config.version;
        self.event(
            now,
            format!("Added cache node {id} in availability zone {az} (configuration version {v})"),
        );
        Ok(slot)
    }

    /// ModifyCacheCluster with the node in CacheNodeIdsToRemove.
    pub fn remove(&mut self, now: Millis, slot: usize) -> Result<(), String> {
        if !self.listed(slot) {
            return Err(format!("CacheNodeNotFound: no node in slot {slot}"));
        }
        if self.config.nodes.len() <= 1 {
            return Err("InvalidParameterValue: a cluster needs at least one node".into());
        }
        let host = self.nodes[slot].host.clone();
        self.config.nodes.retain(|(h, _, _)| *h != host);
        self.config.version += 1;
        if self.nodes[slot].state == McNodeState::Available {
            self.actions.push_back(McAction::Terminate { slot });
        }
        self.nodes[slot].state = McNodeState::Removed;
        self.actions.push_back(McAction::Publish);
        let id = self.nodes[slot].id.clone();
        let v = self.config.version;
        self.event(
            now,
            format!("Removed cache node {id} (configuration version {v})"),
        );
        Ok(())
    }

    /// The node's process dies with its data; it stays listed.
    pub fn fail(&mut self, now: Millis, slot: usize) {
        if self.nodes.get(slot).map(|n| n.state) != Some(McNodeState::Available) {
            return;
        }
        self.nodes[slot].state = McNodeState::Failed;
        self.actions.push_back(McAction::Terminate { slot });
        let id = self.nodes[slot].id.clone();
        self.event(now, format!("Cache node {id} failed: its items are lost"));
    }

    /// ElastiCache replaces a failed node: new and empty, same endpoint.
    pub fn replace(&mut self, now: Millis, slot: usize) {
        if self.nodes.get(slot).map(|n| n.state) != Some(McNodeState::Failed) {
            return;
        }
        let id = self.nodes[slot].id.clone();
        self.event(now, format!("Recovering cache nodes {id}"));
        self.nodes[slot].state = McNodeState::Available;
        self.nodes[slot].since = now;
        self.actions.push_back(McAction::Launch { slot });
        self.event(
            now,
            format!("Finished recovery for cache nodes {id} (empty: the cache re-warms)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_on_add_and_remove_only() {
        let t = Millis(0);
        let mut c = McControl::new("demo", &["a", "b"], 2, t);
        let acts: Vec<McAction> = std::iter::from_fn(|| c.poll_action()).collect();
        assert_eq!(
            acts,
            [
                McAction::Launch { slot: 0 },
                McAction::Launch { slot: 1 },
                McAction::Publish
            ]
        );
        assert_eq!(c.config.version, 1);
        c.fail(t, 0);
        c.replace(t, 0);
        assert_eq!(c.config.version, 1, "a replacement keeps the list");
        let s = c.add(t).unwrap();
        assert_eq!((s, c.config.version, c.nodes[s].az.as_str()), (2, 2, "a"));
        c.remove(t, 1).unwrap();
        assert_eq!(c.config.version, 3);
        assert_eq!(c.config.nodes.len(), 2);
        c.max_nodes = 2;
        assert!(c
            .add(t)
            .unwrap_err()
            .starts_with("NodeQuotaForClusterExceeded"));
        c.remove(t, 0).unwrap();
        assert!(c
            .remove(t, 2)
            .unwrap_err()
            .starts_with("InvalidParameterValue"));
    }
}
