//! The client side of an ElastiCache for Memcached cluster, sans-IO: what
//! an application's memcached library does, and what the playground and the
//! simulator drive.
//!
//! * [`Discovery`]: ElastiCache auto discovery. It asks the configuration
//!   endpoint `config get cluster` and, when the answer's version is newer
//!   than the one it holds, adopts the new node list.
//! * [`McClient`]: picks the node for a key — ketama (libmemcached's
//!   consistent hashing, [`super::hashing::Ketama`]) or modulo — over the
//!   discovered nodes, with either of AWS's behaviours for a failed node:
//!   it stays in the list while ElastiCache replaces it (requests to it
//!   fail, then miss on the empty replacement), or the client ejects it
//!   and its keys remap to the survivors.
//! * [`CacheAside`]: the lazy-loading pattern in front of a slower
//!   database, as a request generator: `get`, on a miss read the database
//!   and `set` with a TTL; counters per virtual second for charts.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::hashing::{modulo, Ketama};
use super::ClusterConfig;
use crate::rng::Rng;
use crate::time::Millis;

/// The request auto discovery sends to the configuration endpoint.
pub const CONFIG_REQUEST: &[u8] = b"config get cluster\r\n";

/// Parses a `config get cluster` answer:
/// `CONFIG cluster 0 <len>\r\n<version>\n<host|ip|port ...>\n\r\nEND\r\n`.
/// `None` while incomplete or when it is not one.
pub fn parse_config(reply: &[u8]) -> Option<ClusterConfig> {
    let text = std::str::from_utf8(reply).ok()?;
    let (head, rest) = text.split_once("\r\n")?;
    let mut h = head.split(' ');
    if (h.next(), h.next()) != (Some("CONFIG"), Some("cluster")) {
        return None;
    }
    let len: usize = h.nth(1)?.parse().ok()?;
    let payload = rest.get(..len)?;
    if !rest[len..].starts_with("\r\nEND\r\n") {
        return None;
    }
    let mut lines = payload.lines();
    let version = lines.next()?.trim().parse().ok()?;
    let nodes = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|n| {
            let mut p = n.split('|');
            let (host, ip, port) = (p.next()?, p.next()?, p.next()?.parse().ok()?);
            Some((host.to_string(), ip.to_string(), port))
        })
        .collect();
    Some(ClusterConfig { version, nodes })
}

/// Auto discovery's state: the newest configuration seen.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Discovery {
    pub config: ClusterConfig,
    /// Polls answered and configurations adopted.
    pub polls: u64,
    pub changes: u64,
}

impl Discovery {
    /// Adopts `reply`'s configuration if it is newer; true when it changed.
    pub fn on_reply(&mut self, reply: &[u8]) -> bool {
        self.polls += 1;
        match parse_config(reply) {
            Some(c) if c.version > self.config.version || self.config.nodes.is_empty() => {
                self.config = c;
                self.changes += 1;
                true
            }
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distribution {
    Ketama,
    Modulo,
}

/// What the client does with a node that stopped answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailurePolicy {
    /// Keep it in the ring (ElastiCache replaces it at the same endpoint):
    /// its keys fail, then miss, and no other key moves.
    KeepListed,
    /// Drop it from the ring: its keys remap to the survivors.
    Eject,
}

/// A memcached client's server selection.
#[derive(Clone, Debug)]
pub struct McClient {
    pub distribution: Distribution,
    pub policy: FailurePolicy,
    /// "ip:port" of each node, in the configuration's order.
    nodes: Vec<String>,
    ejected: BTreeSet<String>,
    /// The nodes in the ring, and the ring over them.
    live: Vec<String>,
    ring: Ketama,
}

fn split_addr(a: &str) -> (&str, u16) {
    let (h, p) = a.rsplit_once(':').unwrap_or((a, "11211"));
    (h, p.parse().unwrap_or(11211))
}

impl McClient {
    pub fn new(distribution: Distribution, policy: FailurePolicy) -> McClient {
        McClient {
            distribution,
            policy,
            nodes: Vec::new(),
            ejected: BTreeSet::new(),
            live: Vec::new(),
            ring: Ketama::new(&[]),
        }
    }

    /// Uses the nodes of `config` (as auto discovery hands them over).
    pub fn set_config(&mut self, config: &ClusterConfig) {
        let nodes = config
            .nodes
            .iter()
            .map(|(_, ip, port)| format!("{ip}:{port}"))
            .collect();
        self.set_nodes(nodes);
    }

    pub fn set_nodes(&mut self, nodes: Vec<String>) {
        self.ejected.retain(|e| nodes.contains(e));
        self.nodes = nodes;
        self.rebuild();
    }

    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The nodes keys are spread over (the list minus the ejected ones).
    pub fn live(&self) -> &[String] {
        &self.live
    }

    pub fn ring(&self) -> &Ketama {
        &self.ring
    }

    pub fn is_ejected(&self, addr: &str) -> bool {
        self.ejected.contains(addr)
    }

    /// A node failed a request: ejected under [`FailurePolicy::Eject`].
    /// True when the ring changed.
    pub fn node_failed(&mut self, addr: &str) -> bool {
        let eject = self.policy == FailurePolicy::Eject
            && self.nodes.iter().any(|n| n == addr)
            && self.ejected.insert(addr.to_string());
        if eject {
            self.rebuild();
        }
        eject
    }

    /// The node answers again (or was replaced): back in the ring.
    pub fn node_back(&mut self, addr: &str) -> bool {
        if self.ejected.remove(addr) {
            self.rebuild();
            return true;
        }
        false
    }

    fn rebuild(&mut self) {
        self.live = self
            .nodes
            .iter()
            .filter(|n| !self.ejected.contains(*n))
            .cloned()
            .collect();
        let servers: Vec<(&str, u16)> = self.live.iter().map(|a| split_addr(a)).collect();
        self.ring = Ketama::new(&servers);
    }

    /// The node that holds `key`.
    pub fn server_for(&self, key: &[u8]) -> Option<&str> {
        let i = match self.distribution {
            Distribution::Ketama => self.ring.server_for(key),
            Distribution::Modulo => modulo(key, self.live.len()),
        }?;
        self.live.get(i).map(String::as_str)
    }
}

/// A request the workload wants sent to a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub id: u64,
    pub node: String,
    pub bytes: Vec<u8>,
}

/// What the workload counted in one virtual second.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// Virtual seconds since the workload started.
    pub t: u64,
    pub gets: u64,
    pub hits: u64,
    pub misses: u64,
    /// Requests that failed (a dead node): served from the database.
    pub errors: u64,
    pub db_reads: u64,
}

impl Second {
    pub fn hit_rate(&self) -> f64 {
        if self.gets == 0 {
            0.0
        } else {
            self.hits as f64 / self.gets as f64
        }
    }
}

enum Pending {
    Get { key: String, node: String },
    Set,
}

/// Cache-aside (lazy loading) over a keyspace with a hot set, in front of a
/// database: `get key`; on a miss (or a failed node) read the database —
/// counted as its load — and `set key` with a TTL on the key's node.
pub struct CacheAside {
    rng: Rng,
    pub keys: usize,
    pub ttl: u32,
    /// Reads per virtual second the workload issues.
    pub rate: u32,
    started: Option<Millis>,
    next_at: Millis,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    queued: VecDeque<Request>,
    pub seconds: Vec<Second>,
    pub totals: Second,
}

impl CacheAside {
    pub fn new(seed: u64, keys: usize, rate: u32, ttl: u32) -> CacheAside {
        CacheAside {
            rng: Rng::new(seed),
            keys,
            ttl,
            rate,
            started: None,
            next_at: Millis(0),
            next_id: 1,
            pending: BTreeMap::new(),
            queued: VecDeque::new(),
            seconds: Vec::new(),
            totals: Second::default(),
        }
    }

    fn second(&mut self, now: Millis) -> &mut Second {
        let start = *self.started.get_or_insert(now);
        let t = now.saturating_sub(start) / 1000;
        if self.seconds.last().map(|s| s.t) != Some(t) {
            self.seconds.push(Second {
                t,
                ..Second::default()
            });
        }
        self.seconds.last_mut().expect("a second")
    }

    /// A key: 80% of reads go to a hot fifth of the keyspace.
    fn key(&mut self) -> String {
        let hot = (self.keys / 5).max(1);
        let i = if self.rng.below(10) < 8 {
            self.rng.below(hot)
        } else {
            hot + self.rng.below(self.keys - hot.min(self.keys - 1))
        };
        format!("item:{i}")
    }

    /// The requests due by `now` (reads at `rate` per second), routed by `client`.
    pub fn poll(&mut self, now: Millis, client: &McClient) -> Vec<Request> {
        self.second(now);
        // A rate of 0: an application that sends nothing (the learning
        // mode's labs, where only the learner's commands reach the nodes).
        if self.rate == 0 {
            return Vec::new();
        }
        let step = (1000 / self.rate.max(1) as u64).max(1);
        if self.next_at.0 == 0 {
            self.next_at = now;
        }
        while self.next_at <= now {
            self.next_at = Millis(self.next_at.0 + step);
            let key = self.key();
            let Some(node) = client.server_for(key.as_bytes()) else {
                // No node at all: straight to the database.
                let s = self.second(now);
                s.gets += 1;
                s.misses += 1;
                s.db_reads += 1;
                continue;
            };
            let node = node.to_string();
            let id = self.next_id;
            self.next_id += 1;
            self.pending.insert(
                id,
                Pending::Get {
                    key: key.clone(),
                    node: node.clone(),
                },
            );
            self.queued.push_back(Request {
                id,
                node,
                bytes: format!("get {key}\r\n").into_bytes(),
            });
        }
        self.queued.drain(..).collect()
    }

    /// A node answered request `id` (`None`: it failed — a dead node).
    pub fn on_reply(&mut self, now: Millis, id: u64, reply: Option<&[u8]>) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        let Pending::Get { key, node } = p else {
            return;
        };
        let hit = reply.is_some_and(|r| r.starts_with(b"VALUE "));
        let failed = reply.is_none();
        let ttl = self.ttl;
        let s = self.second(now);
        s.gets += 1;
        if hit {
            s.hits += 1;
        } else {
            s.misses += 1;
            s.db_reads += 1;
            if failed {
                s.errors += 1;
            }
        }
        let tot = &mut self.totals;
        tot.gets += 1;
        if hit {
            tot.hits += 1;
        } else {
            tot.misses += 1;
            tot.db_reads += 1;
            tot.errors += failed as u64;
        }
        if !hit && !failed {
            // Lazy loading: the database row goes into the cache.
            let value = format!("row-for-{key}");
            let id = self.next_id;
            self.next_id += 1;
            self.pending.insert(id, Pending::Set);
            let mut bytes = format!("set {key} 0 {ttl} {}\r\n", value.len()).into_bytes();
            bytes.extend_from_slice(value.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            self.queued.push_back(Request { id, node, bytes });
        }
    }

    /// Requests queued by replies (the sets after misses).
    pub fn take_queued(&mut self) -> Vec<Request> {
        self.queued.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_configuration_endpoint_answer() {
        let cfg = ClusterConfig {
            version: 7,
            nodes: vec![
                ("a.cache.amazonaws.com".into(), "10.0.0.1".into(), 11211),
                ("b.cache.amazonaws.com".into(), "10.0.0.2".into(), 11211),
            ],
        };
        let p = cfg.payload();
        let reply = format!("CONFIG cluster 0 {}\r\n{p}\r\nEND\r\n", p.len());
        assert_eq!(parse_config(reply.as_bytes()), Some(cfg.clone()));
        assert_eq!(parse_config(&reply.as_bytes()[..10]), None);
        let mut d = Discovery::default();
        assert!(d.on_reply(reply.as_bytes()));
        assert!(!d.on_reply(reply.as_bytes()), "same version: no change");
        let mut c = McClient::new(Distribution::Ketama, FailurePolicy::Eject);
        c.set_config(&d.config);
        assert_eq!(c.live(), ["10.0.0.1:11211", "10.0.0.2:11211"]);
        assert!(c.node_failed("10.0.0.1:11211"));
        assert_eq!(c.live(), ["10.0.0.2:11211"]);
        assert_eq!(c.server_for(b"anything"), Some("10.0.0.2:11211"));
        assert!(c.node_back("10.0.0.1:11211"));
        assert_eq!(c.live().len(), 2);
    }
}
