//! An ElastiCache for Memcached cluster in virtual time: [`McControl`]
//! (the node list, the configuration version, failure and replacement)
//! carried out on in-process [`McNode`]s, and an application with an
//! auto-discovery client ([`Discovery`] + [`McClient`]) running a
//! [`CacheAside`] workload in front of a database.
//!
//! Requests are delivered in-process and answered at once; a dead node
//! answers nothing, which the client sees as a failure.

use std::collections::BTreeMap;

use crate::memcached::client::{
    CacheAside, Discovery, Distribution, FailurePolicy, McClient, CONFIG_REQUEST,
};
use crate::memcached::control::{McAction, McControl};
use crate::memcached::McNode;
use crate::node::{ConnId, Input, Output};
use crate::time::Millis;

/// How often the client polls the configuration endpoint (AWS's clients
/// default to 60 s).
pub const DISCOVERY_INTERVAL_MS: u64 = 60_000;

pub struct McCluster {
    pub now: Millis,
    pub control: McControl,
    /// Running nodes by slot.
    pub nodes: BTreeMap<usize, McNode>,
    pub client: McClient,
    pub discovery: Discovery,
    pub workload: CacheAside,
    next_poll: Millis,
    seed: u64,
    launched: u64,
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
        let now = Millis(1_700_000_000_000);
        let mut c = McCluster {
            now,
            control: McControl::new(
                "mycluster",
                &["us-east-1a", "us-east-1b", "us-east-1c"],
                n,
                now,
            ),
            nodes: BTreeMap::new(),
            client: McClient::new(distribution, policy),
            discovery: Discovery::default(),
            workload,
            next_poll: Millis(0),
            seed,
            launched: 0,
        };
        c.run_actions();
        c.poll_discovery();
        c
    }

    /// Carries out what the control plane decided.
    fn run_actions(&mut self) {
        while let Some(a) = self.control.poll_action() {
            match a {
                McAction::Launch { slot } => {
                    self.launched += 1;
                    let mut node = McNode::new(self.seed ^ self.launched);
                    node.start(self.now, 11211);
                    node.cluster = Some(self.control.config.clone());
                    node.handle(
                        self.now,
                        Input::ConnOpened {
                            conn: CONN,
                            peer: "app".into(),
                            local: self.control.nodes[slot].addr.clone(),
                        },
                    );
                    self.nodes.insert(slot, node);
                    let addr = self.control.nodes[slot].addr.clone();
                    self.client.node_back(&addr);
                }
                McAction::Terminate { slot } => {
                    self.nodes.remove(&slot);
                }
                McAction::Publish => {
                    for n in self.nodes.values_mut() {
                        n.cluster = Some(self.control.config.clone());
                    }
                }
            }
        }
    }

    fn slot(&self, addr: &str) -> Option<usize> {
        self.control.slot_of(addr)
    }

    /// Adds a node; returns its address.
    pub fn add_node(&mut self) -> String {
        let slot = self.control.add(self.now).expect("under the node quota");
        self.run_actions();
        self.control.nodes[slot].addr.clone()
    }

    pub fn remove_node(&mut self, addr: &str) {
        if let Some(s) = self.slot(addr) {
            let _ = self.control.remove(self.now, s);
            self.run_actions();
        }
    }

    /// The node fails: its data is gone; it stays in the configuration.
    pub fn kill(&mut self, addr: &str) {
        if let Some(s) = self.slot(addr) {
            self.control.fail(self.now, s);
            self.run_actions();
        }
    }

    /// ElastiCache replaces a failed node: empty, at the same endpoint.
    pub fn replace(&mut self, addr: &str) {
        if let Some(s) = self.slot(addr) {
            self.control.replace(self.now, s);
            self.run_actions();
        }
    }

    /// One request to one node; `None` when the node is not running.
    pub fn request(&mut self, addr: &str, bytes: &[u8]) -> Option<Vec<u8>> {
        let now = self.now;
        let slot = self.slot(addr)?;
        let n = self.nodes.get_mut(&slot)?;
        n.handle(now, Input::ClientBytes { conn: CONN, bytes });
        let mut out = Vec::new();
        while let Some(o) = n.poll_output() {
            if let Output::ToClient { bytes, .. } = o {
                out.extend_from_slice(&bytes);
            }
        }
        Some(out)
    }

    /// Asks the configuration endpoint (the first running node) for the list.
    pub fn poll_discovery(&mut self) {
        let Some(&slot) = self.nodes.keys().next() else {
            return;
        };
        let addr = self.control.nodes[slot].addr.clone();
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

    /// Items per listed node: (address, items; 0 when not running).
    pub fn items(&self) -> Vec<(String, usize)> {
        (0..self.control.nodes.len())
            .filter(|&s| self.control.listed(s))
            .map(|s| {
                (
                    self.control.nodes[s].addr.clone(),
                    self.nodes.get(&s).map(|n| n.view().items).unwrap_or(0),
                )
            })
            .collect()
    }
}
