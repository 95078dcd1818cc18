//! An ElastiCache for Memcached cluster in virtual time: N [`McNode`]s, the
//! configuration endpoint (whose version grows on every add or remove), an
//! application with an auto-discovery client ([`Discovery`] + [`McClient`])
//! running a [`CacheAside`] workload in front of a database. Nodes can be
//! killed (they stay listed until replaced, as ElastiCache does), replaced
//! (empty, same endpoint), added and removed.
//!
//! Requests are delivered in-process and answered at once; a dead node
//! answers nothing, which the client sees as a failure.

use std::collections::BTreeMap;

use crate::memcached::client::{
    CacheAside, Discovery, Distribution, FailurePolicy, McClient, CONFIG_REQUEST,
};
use crate::memcached::{ClusterConfig, McNode};
use crate::node::{ConnId, Input, Output};
use crate::time::Millis;

/// How often the client polls the configuration endpoint (AWS's clients
/// default to 60 s).
pub const DISCOVERY_INTERVAL_MS: u64 = 60_000;

pub struct SimNode {
    pub node: McNode,
    pub alive: bool,
    pub host: String,
}

pub struct McCluster {
    pub now: Millis,
    pub nodes: BTreeMap<String, SimNode>,
    /// What the configuration endpoint answers.
    pub config: ClusterConfig,
    pub client: McClient,
    pub discovery: Discovery,
    pub workload: CacheAside,
    next_node: usize,
    next_poll: Millis,
    seed: u64,
}

const CONN: ConnId = ConnId(1);

impl McCluster {
    pub fn new(
        seed: u64,
        n: usize,
        distribution: Distribution,
        policy: FailurePolicy,
        workload: CacheAside,
    ) -> McCluster {
        let mut c = McCluster {
            now: Millis(1_700_000_000_000),
            nodes: BTreeMap::new(),
            config: ClusterConfig::default(),
            client: McClient::new(distribution, policy),
            discovery: Discovery::default(),
            workload,
            next_node: 1,
            next_poll: Millis(0),
            seed,
        };
        for _ in 0..n {
            c.launch();
        }
        c.config.version = 1;
        c.publish();
        c.poll_discovery();
        c
    }

    fn launch(&mut self) -> String {
        let i = self.next_node;
        self.next_node += 1;
        let addr = format!("10.0.{}.{}:11211", i / 250, 10 + i % 250);
        let host = format!("mycluster.abc123.{i:04}.use1.cache.amazonaws.com");
        self.start_node(&addr, &host);
        self.config.nodes.push((
            host,
            addr.split(':').next().unwrap_or("").to_string(),
            11211,
        ));
        addr
    }

    fn start_node(&mut self, addr: &str, host: &str) {
        let mut node = McNode::new(self.seed ^ self.next_node as u64);
        node.start(self.now, 11211);
        node.handle(
            self.now,
            Input::ConnOpened {
                conn: CONN,
                peer: "app".into(),
                local: addr.into(),
            },
        );
        self.nodes.insert(
            addr.to_string(),
            SimNode {
                node,
                alive: true,
                host: host.to_string(),
            },
        );
    }

    /// Every node answers `config get cluster` with the current list.
    fn publish(&mut self) {
        for n in self.nodes.values_mut() {
            n.node.cluster = Some(self.config.clone());
        }
    }

    /// Adds a node (a new endpoint); the configuration version grows.
    pub fn add_node(&mut self) -> String {
        let addr = self.launch();
        self.config.version += 1;
        self.publish();
        addr
    }

    /// Removes a node from the cluster; the configuration version grows.
    pub fn remove_node(&mut self, addr: &str) {
        self.nodes.remove(addr);
        let ip = addr.split(':').next().unwrap_or("");
        self.config.nodes.retain(|(_, i, _)| i != ip);
        self.config.version += 1;
        self.publish();
    }

    /// The node fails: its data is gone; it stays in the configuration.
    pub fn kill(&mut self, addr: &str) {
        if let Some(n) = self.nodes.get_mut(addr) {
            n.alive = false;
        }
    }

    /// ElastiCache replaces a failed node: empty, at the same endpoint.
    pub fn replace(&mut self, addr: &str) {
        if let Some(host) = self.nodes.get(addr).map(|n| n.host.clone()) {
            self.start_node(addr, &host);
            self.nodes.get_mut(addr).expect("replaced").node.cluster = Some(self.config.clone());
            self.client.node_back(addr);
        }
    }

    /// One request to one node; `None` when the node is dead.
    pub fn request(&mut self, addr: &str, bytes: &[u8]) -> Option<Vec<u8>> {
        let now = self.now;
        let n = self.nodes.get_mut(addr)?;
        if !n.alive {
            return None;
        }
        n.node.handle(now, Input::ClientBytes { conn: CONN, bytes });
        let mut out = Vec::new();
        while let Some(o) = n.node.poll_output() {
            if let Output::ToClient { bytes, .. } = o {
                out.extend_from_slice(&bytes);
            }
        }
        Some(out)
    }

    /// Asks the configuration endpoint (the first live node) for the list.
    pub fn poll_discovery(&mut self) {
        let Some(addr) = self
            .nodes
            .iter()
            .find(|(_, n)| n.alive)
            .map(|(a, _)| a.clone())
        else {
            return;
        };
        if let Some(reply) = self.request(&addr, CONFIG_REQUEST) {
            if self.discovery.on_reply(&reply) {
                self.client.set_config(&self.discovery.config);
            }
        }
    }

    /// Runs the workload for `ms` of virtual time in 10 ms steps.
    pub fn run(&mut self, ms: u64) {
        let end = self.now.0 + ms;
        while self.now.0 < end {
            self.now = Millis(self.now.0 + 10);
            if self.now >= self.next_poll {
                self.next_poll = Millis(self.now.0 + DISCOVERY_INTERVAL_MS);
                self.poll_discovery();
            }
            let mut reqs = self.workload.poll(self.now, &self.client);
            while !reqs.is_empty() {
                for r in reqs {
                    let reply = self.request(&r.node, &r.bytes);
                    if reply.is_none() {
                        self.client.node_failed(&r.node);
                    }
                    self.workload.on_reply(self.now, r.id, reply.as_deref());
                }
                reqs = self.workload.take_queued();
            }
        }
    }

    /// Items per node, in address order.
    pub fn items(&self) -> Vec<(String, usize)> {
        self.nodes
            .iter()
            .map(|(a, n)| (a.clone(), if n.alive { n.node.view().items } else { 0 }))
            .collect()
    }
}
