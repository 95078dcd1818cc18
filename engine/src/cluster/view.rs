//! What a cluster-mode node shows of itself ([`ClusterNodeView`], in
//! `NodeView::cluster`), and the cluster bus read as a bystander would
//! ([`BusWatch`]: each packet of a link named in Redis's words), for the
//! playground's slot map and traffic view. Plain data; decides nothing.

use serde::{Deserialize, Serialize};

use super::bus::{self, msg_type, Body};
use super::{Cluster, MYSELF};

/// A node's own cluster state: its id, its slots and migrations, and the
/// nodes it knows with their flags (as CLUSTER NODES words them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterNodeView {
    pub id: String,
    /// `cluster_state:ok`.
    pub ok: bool,
    pub current_epoch: u64,
    pub config_epoch: u64,
    /// Its primary's id, if it is a replica.
    pub replica_of: Option<String>,
    /// The slots it serves, as inclusive ranges.
    pub slots: Vec<(u16, u16)>,
    /// Slots it is moving out (slot, target id) and in (slot, source id).
    pub migrating: Vec<(u16, String)>,
    pub importing: Vec<(u16, String)>,
    /// The other nodes it knows: id, "ip:port", flags ("master,fail?").
    pub known: Vec<(String, String, String)>,
}

impl Cluster {
    pub fn view(&self) -> ClusterNodeView {
        let me = &self.nodes[MYSELF];
        let id_of = |i: usize| self.nodes[i].id.clone();
        ClusterNodeView {
            id: me.id.clone(),
            ok: self.ok,
            current_epoch: self.current_epoch,
            config_epoch: me.config_epoch,
            replica_of: me.replica_of.map(id_of),
            slots: self.ranges(MYSELF),
            migrating: self
                .migrating
                .iter()
                .map(|(&s, &t)| (s, id_of(t)))
                .collect(),
            importing: self
                .importing
                .iter()
                .map(|(&s, &f)| (s, id_of(f)))
                .collect(),
            known: (1..self.nodes.len())
                .map(|i| {
                    let n = &self.nodes[i];
                    let line = self.node_line(i);
                    let flags = line.split(' ').nth(2).unwrap_or("").to_string();
                    (n.id.clone(), format!("{}:{}", n.ip, n.port), flags)
                })
                .collect(),
        }
    }
}

/// One bus link's bytes, framed into packets and described.
#[derive(Default)]
pub struct BusWatch {
    buf: Vec<u8>,
    broken: bool,
}

/// A packet, as the traffic view lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct BusSeen {
    /// PING, PONG, MEET, FAIL, UPDATE, AUTH-REQ, …
    pub kind: &'static str,
    pub detail: String,
}

impl BusWatch {
    /// The packets `bytes` complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<BusSeen> {
        if self.broken {
            return Vec::new();
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match bus::frame(&self.buf) {
                Ok(Some(len)) => {
                    let packet: Vec<u8> = self.buf.drain(..len).collect();
                    if let Some(m) = bus::decode(&packet) {
                        out.push(describe(&m));
                    }
                }
                Ok(None) => return out,
                Err(e) => {
                    self.broken = true;
                    out.push(BusSeen {
                        kind: "BAD",
                        detail: e.to_string(),
                    });
                    return out;
                }
            }
        }
    }
}

fn short_id(id: &str) -> &str {
    &id[..id.len().min(8)]
}

fn describe(m: &bus::Message) -> BusSeen {
    let h = &m.header;
    let kind = match h.kind {
        msg_type::PING => "PING",
        msg_type::PONG => "PONG",
        msg_type::MEET => "MEET",
        msg_type::FAIL => "FAIL",
        msg_type::PUBLISH => "PUBLISH",
        msg_type::PUBLISHSHARD => "PUBLISHSHARD",
        msg_type::FAILOVER_AUTH_REQUEST => "AUTH-REQ",
        msg_type::FAILOVER_AUTH_ACK => "AUTH-ACK",
        msg_type::UPDATE => "UPDATE",
        msg_type::MFSTART => "MFSTART",
        msg_type::MODULE => "MODULE",
        _ => "UNKNOWN",
    };
    let who = if h.sender.is_empty() {
        "a new node".to_string()
    } else {
        format!("node {}", short_id(&h.sender))
    };
    let role = match &h.slaveof {
        Some(p) => format!("replica of {}", short_id(p)),
        None => format!("primary of {} slots", h.myslots.count()),
    };
    let detail = match &m.body {
        Body::Ping { gossip, .. } => {
            let about: Vec<&str> = gossip.iter().map(|g| short_id(&g.node)).collect();
            let verb = match h.kind {
                msg_type::MEET => "introduces itself",
                msg_type::PONG => "answers",
                _ => "pings",
            };
            let flagged: Vec<String> = gossip
                .iter()
                .filter(|g| g.flags & (bus::node_flag::PFAIL | bus::node_flag::FAIL) != 0)
                .map(|g| format!("{} seems down", short_id(&g.node)))
                .collect();
            let mut d = format!(
                "{who} {verb} ({role}, epoch {}), gossip about {}",
                h.config_epoch,
                if about.is_empty() {
                    "no one".to_string()
                } else {
                    about.join(", ")
                }
            );
            if !flagged.is_empty() {
                d.push_str(&format!(" — {}", flagged.join(", ")));
            }
            d
        }
        Body::Fail { about } => format!(
            "{who}: node {} is FAIL (a majority of primaries agreed)",
            short_id(about)
        ),
        Body::Update {
            config_epoch,
            node,
            slots,
        } => format!(
            "{who}: node {} serves {} slots as of config epoch {config_epoch}",
            short_id(node),
            slots.count()
        ),
        Body::Publish { channel, .. } => format!(
            "{who} relays a message on {}",
            String::from_utf8_lossy(channel)
        ),
        Body::Empty if h.kind == msg_type::FAILOVER_AUTH_REQUEST => format!(
            "{who} asks for votes to replace its primary (epoch {})",
            h.current_epoch
        ),
        Body::Empty if h.kind == msg_type::FAILOVER_AUTH_ACK => {
            format!("{who} votes for the replica (epoch {})", h.current_epoch)
        }
        Body::Empty if h.kind == msg_type::MFSTART => {
            format!("{who} asks its primary to pause writes for a manual failover")
        }
        _ => format!("{who}: {}", msg_type::name(h.kind)),
    };
    BusSeen { kind, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_frames_packets_split_anywhere_and_names_them() {
        let m = bus::Message {
            header: bus::Header {
                kind: msg_type::FAIL,
                sender: "a".repeat(40),
                ..bus::Header::default()
            },
            body: Body::Fail {
                about: "b".repeat(40),
            },
        };
        let bytes = bus::encode(&m);
        let mut w = BusWatch::default();
        assert!(w.feed(&bytes[..100]).is_empty());
        let mut two = bytes[100..].to_vec();
        two.extend_from_slice(&bytes);
        let seen = w.feed(&two);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].kind, "FAIL");
        assert!(
            seen[0].detail.contains("node bbbbbbbb is FAIL"),
            "{:?}",
            seen[0]
        );
        let mut bad = BusWatch::default();
        assert_eq!(bad.feed(b"GET / HTTP/1.1\r\n")[0].kind, "BAD");
        assert!(bad.feed(&bytes).is_empty());
    }
}
