//! The cluster bus at work on a node (`cluster.c`'s link handling): CLUSTER
//! MEET starts a handshake with an address; the cron dials every known
//! node's bus port and PINGs it (a MEET first for a node being met); an
//! inbound MEET from a stranger adds it in handshake; every PING and MEET
//! is answered with a PONG; the first packet over a handshake link gives
//! the node its real id; the header of every packet from a known node
//! updates its role, epochs and the slots it claims (`clusterUpdateSlots
//! ConfigWith`: a claim with a newer config epoch wins); gossip sections
//! name nodes not known yet, which are met in turn.
//!
//! Inbound bus connections arrive as client connections on the bus port
//! (`Input::ConnOpened` whose local port is the cluster port); outbound
//! links are the node's dialled links (`Output::Dial`), shared with MIGRATE
//! and replication.
//!
//! Not yet: failure detection (PFAIL/FAIL), failover elections, UPDATE and
//! PUBLISH messages, nodes.conf.

use super::bus::{self, msg_type, node_flag, Body, Header, Message, Slots};
use super::{Cluster, ClusterNode, MYSELF};
use crate::commands::migrate::{LinkId, LinkOut};
use crate::node::Server;
use crate::time::Millis;
use crate::ConnId;

/// `CLUSTER_PORT_INCR`.
pub const PORT_INCR: u16 = 10000;

/// One end of a bus connection and what has arrived on it.
#[derive(Clone, Debug, Default)]
pub struct BusConn {
    pub buf: Vec<u8>,
    /// The id of the node it belongs to, once known.
    pub node: Option<String>,
    /// Our own address on this connection (how a node learns its IP).
    pub local_ip: String,
    pub peer_ip: String,
}

fn ip_of(addr: &str) -> String {
    addr.rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_string()
}

impl Cluster {
    /// `clusterStartHandshake`: false if the address is not valid.
    pub fn start_handshake(&mut self, ip: &str, port: u16, cport: u16, id: String) -> bool {
        if ip.parse::<core::net::IpAddr>().is_err() || port == 0 || cport == 0 {
            return false;
        }
        // Already meeting this address.
        if self.nodes.iter().any(|n| {
            n.flags & node_flag::HANDSHAKE != 0 && n.ip == ip && n.port == port && n.cport == cport
        }) {
            return true;
        }
        self.nodes.push(ClusterNode {
            id,
            ip: ip.to_string(),
            port,
            cport,
            flags: node_flag::HANDSHAKE | node_flag::MEET,
            ctime: self.now,
            ..ClusterNode::default()
        });
        self.indexed_push();
        true
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.lookup(id.as_bytes())
    }

    /// The header every packet from this node carries
    /// (`clusterBuildMessageHdr`).
    pub fn header(&self, kind: u16, offset: u64) -> Header {
        self.header_ref(kind, offset).to_header()
    }

    /// [`Cluster::header`], borrowed from this node's state.
    pub fn header_ref(&self, kind: u16, offset: u64) -> bus::HeaderRef<'_> {
        let me = &self.nodes[MYSELF];
        let primary = me.replica_of.unwrap_or(MYSELF);
        let myslots: &[u8; bus::BITMAP_LEN] = match self.owned.get(primary) {
            Some(Some(o)) => &o.0 .0,
            _ => &bus::NO_SLOTS,
        };
        bus::HeaderRef {
            kind,
            port: me.port,
            current_epoch: self.current_epoch,
            config_epoch: self.nodes[primary].config_epoch,
            offset,
            sender: &me.id,
            myslots,
            slaveof: me.replica_of.map(|p| self.nodes[p].id.as_str()),
            myip: "",
            pport: 0,
            cport: me.cport,
            flags: self.flags_of(MYSELF),
            state: if self.ok { 0 } else { 1 },
            // A primary in a manual failover has paused its writes.
            mflags: [
                if me.replica_of.is_none() && self.manual.end != 0 {
                    bus::FLAG0_PAUSED
                } else {
                    0
                },
                0,
                0,
            ],
        }
    }

    /// A node's flags as the bus and CLUSTER NODES show them.
    pub fn flags_of(&self, i: usize) -> u16 {
        let n = &self.nodes[i];
        let role = if n.flags & node_flag::HANDSHAKE != 0 && n.replica_of.is_none() {
            if n.flags & node_flag::MASTER != 0 {
                node_flag::MASTER
            } else {
                0
            }
        } else if n.replica_of.is_some() {
            node_flag::SLAVE
        } else {
            node_flag::MASTER
        };
        let mut f = (n.flags & !(node_flag::MASTER | node_flag::SLAVE)) | role;
        if i == MYSELF {
            f |= node_flag::MYSELF;
        }
        f
    }

    /// A PING, PONG or MEET with gossip about other nodes picked at
    /// random (`clusterSendPing`: a tenth of them, at least three, at most
    /// all but the two ends), then every node we suspect, so primaries'
    /// failure reports spread. Random, as Redis's, so that every node is
    /// eventually mentioned to every other and a cluster joined through
    /// one node meets in full.
    pub fn ping(&mut self, kind: u16, offset: u64, about: usize) -> Vec<u8> {
        let total = self.nodes.len();
        let mut fresh = total.saturating_sub(2);
        let wanted = (total / 10).max(3).min(fresh);
        let usable = |c: &Cluster, i: usize| {
            i != about
                && c.nodes[i].flags & (node_flag::HANDSHAKE | node_flag::NOADDR | node_flag::PFAIL)
                    == 0
        };
        // Which nodes are chosen already: marked with this ping's number.
        let mut chosen = std::mem::take(&mut self.pick);
        chosen.clear();
        let mut mark = std::mem::take(&mut self.pick_mark);
        mark.resize(total, 0);
        self.pick_gen = self.pick_gen.wrapping_add(1);
        if self.pick_gen == 0 {
            mark.iter_mut().for_each(|m| *m = 0);
            self.pick_gen = 1;
        }
        let gen = self.pick_gen;
        let mut tries = wanted * 3;
        while fresh > 0 && chosen.len() < wanted && tries > 0 {
            tries -= 1;
            let i = (self.next_random() % total as u64) as usize;
            if i == MYSELF || self.nodes[i].flags & node_flag::PFAIL != 0 {
                continue;
            }
            if !usable(self, i) {
                fresh -= 1;
                continue;
            }
            if mark[i] == gen {
                continue;
            }
            mark[i] = gen;
            chosen.push(i);
            fresh -= 1;
        }
        self.pick_mark = mark;
        chosen.extend((1..total).filter(|&i| {
            i != about
                && self.nodes[i].flags & node_flag::PFAIL != 0
                && self.nodes[i].flags & (node_flag::HANDSHAKE | node_flag::NOADDR) == 0
        }));
        let bytes = bus::encode_ping(&self.header_ref(kind, offset), chosen.len() as u16, |out| {
            for &i in &chosen {
                let n = &self.nodes[i];
                bus::put_gossip(
                    out,
                    &n.id,
                    (n.ping_sent / 1000) as u32,
                    (n.pong_received / 1000) as u32,
                    &n.ip,
                    n.port,
                    n.cport,
                    self.flags_of(i),
                    0,
                );
            }
        });
        self.pick = chosen;
        bytes
    }

    /// `clusterUpdateSlotsConfigWith`: slots `sender` claims in `claimed`
    /// become its own where they are unassigned or held with an older
    /// config epoch (slots this node imports are left alone).
    fn take_claims(&mut self, sender: usize, epoch: u64, claimed: &Slots) {
        for s in claimed.iter() {
            if self.owner(s) == Some(sender) || self.importing.contains_key(&s) {
                continue;
            }
            let wins = match self.owner(s) {
                None => true,
                Some(o) => self.nodes[o].config_epoch < epoch,
            };
            if wins {
                self.set_owner(s, Some(sender));
            }
        }
    }
}

impl Server {
    fn cluster_offset(&self) -> u64 {
        self.repl.offset
    }

    /// A connection on the bus port: a node's inbound link, not a client.
    pub fn bus_conn_opened(&mut self, conn: ConnId, peer: &str, local: &str) -> bool {
        let Some(c) = self.cluster.as_mut() else {
            return false;
        };
        let port = local.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
        if port != Some(c.nodes[MYSELF].cport) {
            return false;
        }
        c.inbound.insert(
            conn,
            BusConn {
                local_ip: ip_of(local),
                peer_ip: ip_of(peer),
                ..BusConn::default()
            },
        );
        true
    }

    pub fn is_bus_conn(&self, conn: ConnId) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|c| c.inbound.contains_key(&conn))
    }

    pub fn bus_conn_closed(&mut self, conn: ConnId) {
        if let Some(c) = self.cluster.as_mut() {
            c.inbound.remove(&conn);
        }
    }

    /// Bytes on an inbound bus connection; what to answer on it, and
    /// whether to close it. Whole packets are read where they arrived;
    /// only the start of one waits in the connection's buffer.
    pub fn bus_conn_bytes(&mut self, now: Millis, conn: ConnId, bytes: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let Some(c) = self.cluster.as_mut() else {
            return (out, true);
        };
        let Some(bc) = c.inbound.get_mut(&conn) else {
            return (out, true);
        };
        let mut held = std::mem::take(&mut bc.buf);
        let data = joined(&mut held, bytes);
        let mut at = 0;
        loop {
            let Some(bc) = self.cluster.as_mut().and_then(|c| c.inbound.get_mut(&conn)) else {
                return (out, true);
            };
            let n = match bus::frame(&data[at..]) {
                Ok(Some(n)) => n,
                Ok(None) => {
                    bc.buf = data[at..].to_vec();
                    return (out, false);
                }
                Err(_) => return (out, true),
            };
            let packet = &data[at..at + n];
            at += n;
            if let Some(m) = bus::decode_packet(packet) {
                self.process_packet(now, &m, Some(conn), None, &mut out);
            }
        }
    }

    /// Our outbound link to a node came up: MEET it or PING it.
    pub fn bus_link_up(&mut self, now: Millis, link: LinkId) -> bool {
        let offset = self.cluster_offset();
        let Some(c) = self.cluster.as_mut() else {
            return false;
        };
        let Some(id) = c.outbound.get(&link).map(|l| l.node.clone()) else {
            return false;
        };
        let Some(i) = id.and_then(|id| c.index_of(&id)) else {
            return true;
        };
        let meet = c.nodes[i].flags & node_flag::MEET != 0;
        let kind = if meet { msg_type::MEET } else { msg_type::PING };
        let bytes = c.ping(kind, offset, i);
        c.nodes[i].flags &= !node_flag::MEET;
        if c.nodes[i].ping_sent == 0 {
            c.nodes[i].ping_sent = now.0;
        }
        *c.sent.entry(msg_type::name(kind)).or_default() += 1;
        self.migrate.out.push(LinkOut::Send { link, bytes });
        true
    }

    pub fn bus_link_bytes(&mut self, now: Millis, link: LinkId, bytes: &[u8]) -> bool {
        let Some(c) = self.cluster.as_mut() else {
            return false;
        };
        let Some(l) = c.outbound.get_mut(&link) else {
            return false;
        };
        let mut held = std::mem::take(&mut l.buf);
        let data = joined(&mut held, bytes);
        let mut at = 0;
        loop {
            let Some(l) = self
                .cluster
                .as_mut()
                .and_then(|c| c.outbound.get_mut(&link))
            else {
                return true;
            };
            let n = match bus::frame(&data[at..]) {
                Ok(Some(n)) => n,
                Ok(None) => {
                    l.buf = data[at..].to_vec();
                    return true;
                }
                Err(_) => {
                    self.bus_link_closed(link);
                    self.migrate.out.push(LinkOut::Close { link });
                    return true;
                }
            };
            let packet = &data[at..at + n];
            at += n;
            if let Some(m) = bus::decode_packet(packet) {
                let mut out = Vec::new();
                self.process_packet(now, &m, None, Some(link), &mut out);
                if !out.is_empty() {
                    self.migrate.out.push(LinkOut::Send { link, bytes: out });
                }
            }
        }
    }

    pub fn bus_link_closed(&mut self, link: LinkId) -> bool {
        let Some(c) = self.cluster.as_mut() else {
            return false;
        };
        let Some(l) = c.outbound.remove(&link) else {
            return false;
        };
        if let Some(i) = l.node.and_then(|id| c.index_of(&id)) {
            c.nodes[i].link = None;
        }
        true
    }

    /// `clusterProcessPacket` for PING / PONG / MEET (other types are
    /// counted and ignored for now).
    fn process_packet(
        &mut self,
        now: Millis,
        m: &bus::Packet,
        inbound: Option<ConnId>,
        outbound: Option<LinkId>,
        out: &mut Vec<u8>,
    ) {
        let offset = self.cluster_offset();
        let timeout = self.config.cluster_node_timeout();
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let h = &m.header;
        *c.received.entry(msg_type::name(h.kind)).or_default() += 1;
        let is_ping = matches!(h.kind, msg_type::PING | msg_type::PONG | msg_type::MEET);
        // The node this link belongs to, or the sender by its id.
        let link_node = match (inbound, outbound) {
            (Some(conn), _) => c.inbound.get(&conn).and_then(|b| b.node.clone()),
            (_, Some(link)) => c.outbound.get(&link).and_then(|l| l.node.clone()),
            _ => None,
        };
        let link_idx = link_node.as_deref().and_then(|id| c.index_of(id));
        let in_handshake = |c: &Cluster, i: usize| c.nodes[i].flags & node_flag::HANDSHAKE != 0;
        let mut sender = match link_idx {
            Some(i) if !in_handshake(c, i) => Some(i),
            _ => c.index_of(&h.sender).filter(|&i| i != MYSELF),
        };
        if let (Some(i), Some(conn)) = (sender, inbound) {
            if let Some(b) = c.inbound.get_mut(&conn) {
                b.node = Some(c.nodes[i].id.clone());
            }
        }
        if let Some(i) = sender.filter(|&i| !in_handshake(c, i)) {
            c.current_epoch = c.current_epoch.max(h.current_epoch);
            if h.config_epoch > c.nodes[i].config_epoch && h.slaveof.is_none() {
                c.nodes[i].config_epoch = h.config_epoch;
            }
        }
        if !is_ping {
            let Some(s) = sender.filter(|&i| !in_handshake(c, i)) else {
                return;
            };
            let bus::PacketBody::Other(body) = &m.body else {
                return;
            };
            match (h.kind, body) {
                (msg_type::FAIL, Body::Fail { about }) => self.on_fail(now, about),
                (msg_type::FAILOVER_AUTH_REQUEST, _) => self.vote_if_needed(now, s, h),
                (msg_type::FAILOVER_AUTH_ACK, _) => self.on_vote(s, h.current_epoch),
                (msg_type::MFSTART, _) => self.on_mfstart(now, s),
                (
                    msg_type::PUBLISH | msg_type::PUBLISHSHARD,
                    Body::Publish { channel, message },
                ) => {
                    let shard = h.kind == msg_type::PUBLISHSHARD;
                    crate::commands::pubsub::deliver(self, channel, message, shard);
                }
                (
                    msg_type::UPDATE,
                    Body::Update {
                        config_epoch,
                        node,
                        slots,
                    },
                ) => self.on_update(now, node, *config_epoch, slots),
                _ => {}
            }
            return;
        }
        // A node learns its own address from the MEETs (and, while it has
        // none, the PINGs) other nodes send it.
        let gossip = match &m.body {
            bus::PacketBody::Ping { gossip, .. } => Some(*gossip),
            bus::PacketBody::Other(_) => None,
        };
        let ips = |c: &Cluster, conn: ConnId| {
            c.inbound
                .get(&conn)
                .map(|b| (b.local_ip.clone(), b.peer_ip.clone()))
                .unwrap_or_default()
        };
        if let Some(conn) = inbound {
            let learn = h.kind == msg_type::MEET
                || (h.kind == msg_type::PING && c.nodes[MYSELF].ip.is_empty());
            if learn {
                c.nodes[MYSELF].ip = ips(c, conn).0;
            }
        }
        if h.kind == msg_type::MEET || (sender.is_none() && h.kind == msg_type::PING) {
            if let Some(conn) = inbound {
                if sender.is_none() && h.kind == msg_type::MEET {
                    let peer_ip = ips(c, conn).1;
                    let ip = if h.myip.is_empty() { &peer_ip } else { &h.myip };
                    let id = c.fresh_id();
                    let known = c.nodes.len();
                    c.start_handshake(ip, h.port, h.cport, id);
                    // A node met this way is PINGed, not MET, back (one
                    // we were already meeting keeps its MEET).
                    if c.nodes.len() > known {
                        if let Some(new) = c.nodes.last_mut() {
                            new.flags &= !node_flag::MEET;
                        }
                    }
                    gossip_section(c, gossip, None, now, timeout);
                }
            }
            let pong = c.ping(msg_type::PONG, offset, sender.unwrap_or(usize::MAX));
            *c.sent.entry("pong").or_default() += 1;
            append(out, pong);
        } else if h.kind == msg_type::PING {
            let pong = c.ping(msg_type::PONG, offset, sender.unwrap_or(usize::MAX));
            *c.sent.entry("pong").or_default() += 1;
            append(out, pong);
        }
        // Our handshake link answered: the node now has its real id.
        if let (Some(i), Some(link)) = (link_idx, outbound) {
            if in_handshake(c, i) {
                if let Some(known) = c.index_of(&h.sender).filter(|&k| k != i) {
                    // Already known under that id: the handshake node goes.
                    let _ = known;
                    c.forget(i);
                    c.outbound.remove(&link);
                    self.migrate.out.push(LinkOut::Close { link });
                    return;
                }
                c.rename(i, h.sender.clone());
                let n = &mut c.nodes[i];
                n.flags &= !(node_flag::HANDSHAKE | node_flag::MEET);
                if let Some(l) = c.outbound.get_mut(&link) {
                    l.node = Some(h.sender.clone());
                }
                sender = Some(i);
            }
            if h.kind == msg_type::PONG {
                let n = &mut c.nodes[i];
                n.pong_received = now.0;
                n.ping_sent = 0;
                if n.flags & node_flag::PFAIL != 0 {
                    n.flags &= !node_flag::PFAIL;
                } else {
                    c.clear_failure_if_needed(i, now, timeout);
                }
            }
        }
        let Some(s) = sender else {
            return;
        };
        if in_handshake(c, s) {
            return;
        }
        c.nodes[s].data_received = now.0;
        c.nodes[s].repl_offset = h.offset;
        // Our primary paused its writes for our manual failover: the
        // offset it reports is the one to reach.
        if c.manual.end != 0
            && c.nodes[MYSELF].replica_of == Some(s)
            && h.mflags[0] & bus::FLAG0_PAUSED != 0
            && c.manual.primary_offset.is_none()
        {
            c.manual.primary_offset = Some(h.offset);
        }
        if c.nodes[s].ip.is_empty() && !h.myip.is_empty() {
            c.nodes[s].ip = h.myip.clone();
        }
        // Its role and primary.
        match &h.slaveof {
            None => c.set_replica_of(s, None),
            Some(p) => {
                if let Some(pi) = c.index_of(p) {
                    if c.nodes[s].replica_of != Some(pi) {
                        c.set_replica_of(s, Some(pi));
                        // A replica serves no slots of its own.
                        for o in c.slots_of(s).iter() {
                            c.set_owner(o, None);
                        }
                    }
                }
            }
        }
        // Only news is looked at (`dirty_slots` in clusterProcessPacket):
        // a primary claiming exactly the slots we know it has changes
        // nothing, and is not stale.
        let news = !c.same_slots(s, &h.myslots);
        // A sender claiming slots we know a newer owner of hears about
        // that owner (an UPDATE, one per packet), as a primary returning
        // from a partition must.
        let mut update_about = None;
        if h.slaveof.is_none() && news {
            for slot in h.myslots.iter() {
                if let Some(o) = c.owner(slot).filter(|&o| o != s) {
                    if c.nodes[o].config_epoch > h.config_epoch {
                        update_about = Some(o);
                        break;
                    }
                }
            }
        }
        if let (Some(o), Some(link)) = (update_about, c.nodes[s].link) {
            let bytes = bus::encode(&Message {
                header: c.header(msg_type::UPDATE, offset),
                body: Body::Update {
                    config_epoch: c.nodes[o].config_epoch,
                    node: c.nodes[o].id.clone(),
                    slots: c.slots_of(o),
                },
            });
            *c.sent.entry("update").or_default() += 1;
            self.migrate.out.push(LinkOut::Send { link, bytes });
        }
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let failed = gossip_section(c, gossip, Some(s), now, timeout);
        for f in failed {
            self.send_fail(f);
        }
        if h.slaveof.is_none() && news {
            self.update_slots_config_with(now, s, h.config_epoch, &h.myslots);
        }
    }

    /// UPDATE: node `about` serves `slots` with `epoch` (news only if the
    /// epoch is newer than we know; a node we took for a replica is a
    /// primary).
    fn on_update(&mut self, now: Millis, about: &str, epoch: u64, slots: &Slots) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let Some(n) = c.index_of(about) else {
            return;
        };
        if c.nodes[n].config_epoch >= epoch {
            return;
        }
        if n != MYSELF {
            c.set_replica_of(n, None);
        }
        c.nodes[n].config_epoch = epoch;
        self.update_slots_config_with(now, n, epoch, slots);
    }

    /// `clusterUpdateSlotsConfigWith`: primary `s` claims `claimed` with
    /// `epoch`. Slots it wins become its own; a primary that lost its
    /// last slot follows it (its replica was promoted, or the slots
    /// moved), as does a replica whose primary lost them all; a primary
    /// still serving others deletes the keys of the slots it lost.
    fn update_slots_config_with(&mut self, now: Millis, s: usize, epoch: u64, claimed: &Slots) {
        let allow_migration = self.config.get("cluster-allow-replica-migration") != Some("no");
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        if s == MYSELF {
            return;
        }
        let mut become_replica = None;
        let mut dirty: Vec<u16> = Vec::new();
        let mine_before = c.slots_of(MYSELF);
        let shard = c.nodes[MYSELF].replica_of.unwrap_or(MYSELF);
        let shard_before = c.slots_of(shard);
        c.take_claims(s, epoch, claimed);
        // Slots that left our shard take their shard channels with them.
        let shard_after = c.slots_of(shard);
        if shard_after != shard_before {
            crate::commands::pubsub::remove_channels_in_slots(self, |slot| {
                shard_before.get(slot) && !shard_after.get(slot)
            });
        }
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let lost: Vec<u16> = mine_before
            .iter()
            .filter(|&x| c.owner(x) != Some(MYSELF))
            .collect();
        // `clusterUpdateSlotsConfigWith`: the sender took slots of our
        // shard's primary (us, or the one we replicate) and it has none
        // left — it was failed over, or resharded empty: we follow the
        // sender (only when replica migration is allowed, or when the
        // sender took over exactly our primary's slots). A primary that
        // is not followed by its losses deletes their keys.
        let migrated = shard_before
            .iter()
            .filter(|&x| c.owner(x) == Some(s))
            .count();
        let shard_left = c.slot_count(shard);
        if s != shard
            && migrated > 0
            && shard_left == 0
            && (allow_migration || claimed.count() == migrated)
        {
            become_replica = Some(s);
        } else {
            dirty = lost;
        }
        for slot in dirty {
            let db = &mut self.ks.dbs[0];
            for k in db.slot_keys(slot, usize::MAX) {
                db.remove(&k);
            }
        }
        if let Some(n) = become_replica {
            let mut events = Vec::new();
            self.cluster_set_master(now, n, &mut events);
            self.cluster_events.extend(events);
        }
    }

    /// `clusterCron`'s link work: dial every node that has no link, PING
    /// one of five random nodes a second and every node not heard from in
    /// half the node timeout, drop handshakes that never completed (after
    /// the node timeout).
    pub fn cluster_cron(&mut self, now: Millis) {
        let offset = self.cluster_offset();
        let timeout = self.config.cluster_node_timeout();
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        c.now = now;
        c.rejoin_delay = timeout.clamp(500, 5000);
        let stale: Vec<usize> = (1..c.nodes.len())
            .filter(|&i| {
                c.nodes[i].flags & node_flag::HANDSHAKE != 0
                    && now.0.saturating_sub(c.nodes[i].ctime.0) > timeout.max(1000)
            })
            .collect();
        for i in stale.into_iter().rev() {
            self.cluster_forget(i);
        }
        self.detect_failures(now);
        self.manual_failover_cron(now);
        // A replica that does not replicate yet (restarted from nodes.conf)
        // follows its primary once it knows the primary's address.
        if let Some(c) = self.cluster.as_ref() {
            if let Some(p) = c.nodes[MYSELF].replica_of {
                let (ip, port) = (c.nodes[p].ip.clone(), c.nodes[p].port);
                if self.repl.master.is_none() && !ip.is_empty() && port != 0 {
                    let mut events = Vec::new();
                    self.replicaof(&ip, port, now, &mut events);
                    self.cluster_events.extend(events);
                }
            }
        }
        let mut events = Vec::new();
        self.handle_replica_failover(now, &mut events);
        self.handle_replica_migration(now);
        self.cluster_events.extend(events);
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        // Once a second (every tenth cron), of five nodes picked at random
        // the one whose PONG is oldest is pinged, as clusterCron does.
        c.iteration = c.iteration.wrapping_add(1);
        if c.iteration % 10 == 0 && c.nodes.len() > 1 {
            let mut oldest: Option<usize> = None;
            for _ in 0..5 {
                let i = (c.next_random() % c.nodes.len() as u64) as usize;
                let n = &c.nodes[i];
                if i == MYSELF
                    || n.link.is_none()
                    || n.ping_sent != 0
                    || n.flags & node_flag::HANDSHAKE != 0
                {
                    continue;
                }
                if oldest.is_none_or(|o| c.nodes[o].pong_received > n.pong_received) {
                    oldest = Some(i);
                }
            }
            if let (Some(i), Some(link)) = (oldest, oldest.and_then(|i| c.nodes[i].link)) {
                let bytes = c.ping(msg_type::PING, offset, i);
                c.nodes[i].ping_sent = now.0;
                *c.sent.entry("ping").or_default() += 1;
                self.migrate.out.push(LinkOut::Send { link, bytes });
            }
        }
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        for i in 1..c.nodes.len() {
            if c.nodes[i].flags & node_flag::NOADDR != 0 {
                continue;
            }
            match c.nodes[i].link {
                None => {
                    let link = self.migrate.new_link();
                    c.nodes[i].link = Some(link);
                    c.nodes[i].link_since = now.0;
                    // The PING queued on a new link counts from now, so a
                    // node that cannot be reached at all times out too.
                    if c.nodes[i].ping_sent == 0 && c.nodes[i].flags & node_flag::HANDSHAKE == 0 {
                        c.nodes[i].ping_sent = now.0;
                    }
                    c.outbound.insert(
                        link,
                        OutLink {
                            node: Some(c.nodes[i].id.clone()),
                            buf: Vec::new(),
                        },
                    );
                    self.migrate.out.push(LinkOut::Dial {
                        link,
                        host: c.nodes[i].ip.clone(),
                        port: c.nodes[i].cport,
                    });
                }
                Some(link) => {
                    let n = &c.nodes[i];
                    // Waiting for a PONG over half the node timeout with
                    // nothing else heard: the link may be what is broken
                    // (the node may be fine) — a fresh one is dialled on
                    // the next cron, the PING time kept.
                    let half = timeout / 2;
                    if now.0.saturating_sub(n.link_since) > timeout
                        && n.ping_sent != 0
                        && now.0.saturating_sub(n.ping_sent) > half
                        && now.0.saturating_sub(n.data_received) > half
                    {
                        c.nodes[i].link = None;
                        c.outbound.remove(&link);
                        self.migrate.out.push(LinkOut::Close { link });
                        continue;
                    }
                    // No PING in flight and its last PONG older than half
                    // the node timeout: every node is pinged that often
                    // (clusterCron); the one random PING a second is above.
                    let due = n.ping_sent == 0 && now.0.saturating_sub(n.pong_received) > half;
                    if due && n.flags & node_flag::HANDSHAKE == 0 {
                        let bytes = c.ping(msg_type::PING, offset, i);
                        c.nodes[i].ping_sent = now.0;
                        *c.sent.entry("ping").or_default() += 1;
                        self.migrate.out.push(LinkOut::Send { link, bytes });
                    }
                }
            }
        }
    }

    /// `clusterDelNode`: node `n` goes, its link closed.
    pub fn cluster_forget(&mut self, n: usize) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        if let Some(link) = c.nodes[n].link {
            self.migrate.out.push(LinkOut::Close { link });
        }
        c.forget(n);
    }

    /// `clusterSetMaster`: this node replicates node `n` (its slots given
    /// up, importing/migrating states closed).
    pub fn cluster_set_master(
        &mut self,
        now: Millis,
        n: usize,
        events: &mut Vec<crate::NodeEvent>,
    ) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        for s in 0..crate::store::slots::SLOTS as u16 {
            if c.owner(s) == Some(MYSELF) {
                c.set_owner(s, None);
            }
        }
        c.importing.clear();
        c.migrating.clear();
        c.set_replica_of(MYSELF, Some(n));
        let (ip, port) = (c.nodes[n].ip.clone(), c.nodes[n].port);
        self.replicaof(&ip, port, now, events);
        self.reset_manual_failover();
    }

    /// `clusterFailoverReplaceYourMaster`: this replica becomes a primary
    /// serving its primary's slots (the config epoch already bumped), and
    /// tells every node at once.
    pub fn cluster_take_over(&mut self, events: &mut Vec<crate::NodeEvent>) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let Some(old) = c.nodes[MYSELF].replica_of else {
            return;
        };
        c.set_replica_of(MYSELF, None);
        for s in 0..crate::store::slots::SLOTS as u16 {
            if c.owner(s) == Some(old) {
                c.set_owner(s, Some(MYSELF));
            }
        }
        self.replicaof_no_one(events);
        self.cluster_broadcast_pong();
        self.reset_manual_failover();
    }

    /// PUBLISH (to every node) or SPUBLISH (to the other nodes of this
    /// node's shard) over the bus (`clusterPropagatePublish[Shard]`).
    pub fn cluster_publish(&mut self, channel: &[u8], message: &[u8], shard: bool) {
        let offset = self.cluster_offset();
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let kind = if shard {
            msg_type::PUBLISHSHARD
        } else {
            msg_type::PUBLISH
        };
        let primary = c.nodes[MYSELF].replica_of.unwrap_or(MYSELF);
        let mut bytes = None;
        for i in 1..c.nodes.len() {
            let n = &c.nodes[i];
            let in_shard = i == primary || n.replica_of == Some(primary);
            if n.flags & node_flag::HANDSHAKE != 0 || (shard && !in_shard) {
                continue;
            }
            let Some(link) = n.link else {
                continue;
            };
            let bytes = bytes
                .get_or_insert_with(|| {
                    bus::encode(&Message {
                        header: c.header(kind, offset),
                        body: Body::Publish {
                            channel: channel.to_vec(),
                            message: message.to_vec(),
                        },
                    })
                })
                .clone();
            *c.sent.entry(msg_type::name(kind)).or_default() += 1;
            self.migrate.out.push(LinkOut::Send { link, bytes });
        }
    }

    /// `clusterBroadcastPong`: every linked node hears our new config now.
    fn cluster_broadcast_pong(&mut self) {
        let offset = self.cluster_offset();
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        for i in 1..c.nodes.len() {
            if let Some(link) = c.nodes[i].link {
                if c.nodes[i].flags & node_flag::HANDSHAKE == 0 {
                    let bytes = c.ping(msg_type::PONG, offset, i);
                    *c.sent.entry("pong").or_default() += 1;
                    self.migrate.out.push(LinkOut::Send { link, bytes });
                }
            }
        }
    }

    /// CLUSTER MEET: a handshake with `ip:port`, bus port `cport`.
    pub fn cluster_meet(&mut self, ip: &str, port: u16, cport: u16) -> bool {
        let Some(c) = self.cluster.as_mut() else {
            return false;
        };
        let id = c.fresh_id();
        c.start_handshake(ip, port, cport, id)
    }
}

/// An outbound bus link: the node it reaches and what has arrived.
#[derive(Clone, Debug, Default)]
pub struct OutLink {
    pub node: Option<String>,
    pub buf: Vec<u8>,
}

/// `clusterProcessGossipSection`: a primary's word that a node is failing
/// (or is not) becomes a failure report; newer PONG times are taken from
/// healthy nodes; nodes we do not know yet are met. Returns the nodes that
/// just turned FAIL.
fn gossip_section(
    c: &mut Cluster,
    gossip: Option<bus::GossipSections>,
    sender: Option<usize>,
    now: Millis,
    timeout: u64,
) -> Vec<usize> {
    let mut failed = Vec::new();
    let Some(gossip) = gossip else {
        return failed;
    };
    let from_primary = sender.filter(|&s| c.nodes[s].replica_of.is_none());
    for g in gossip.iter() {
        let node = g.node();
        if *node == c.nodes[MYSELF].id {
            continue;
        }
        if let Some(i) = c.index_of(&node) {
            let failing = g.flags() & (node_flag::FAIL | node_flag::PFAIL) != 0;
            if let Some(s) = from_primary {
                if c.failure_report(i, s, failing, now, timeout) {
                    failed.push(i);
                }
            }
            let n = &mut c.nodes[i];
            if !failing && n.ping_sent == 0 && n.fail_reports.is_empty() {
                let pong = g.pong_received() as u64 * 1000;
                if pong <= now.0 + 500 && pong > n.pong_received {
                    n.pong_received = pong;
                }
            }
            continue;
        }
        if g.flags() & node_flag::NOADDR != 0 || c.is_forgotten(&node) {
            continue;
        }
        let id = c.fresh_id();
        c.start_handshake(&g.ip(), g.port(), g.cport(), id);
    }
    failed
}

/// `bytes` appended to `out` (taken whole if `out` is empty).
fn append(out: &mut Vec<u8>, bytes: Vec<u8>) {
    if out.is_empty() {
        *out = bytes;
    } else {
        out.extend_from_slice(&bytes);
    }
}

/// A bus connection's bytes to read: the start of a packet it held from
/// before, with the new bytes after it — or, when it held nothing, the new
/// bytes where they arrived, uncopied.
fn joined<'a>(held: &'a mut Vec<u8>, bytes: &'a [u8]) -> &'a [u8] {
    if held.is_empty() {
        bytes
    } else {
        held.extend_from_slice(bytes);
        held
    }
}
