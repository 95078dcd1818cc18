//! The simulator's side of nodes' TCP connections ([`crate::net`]): the
//! replication links replicas open to their primaries, MIGRATE's links.
//! Segments travel the same delaying, partitionable network as the control
//! plane's messages, but as TCP: never lost (a dropped one comes late),
//! never doubled, held by a partition and delivered in order when it heals.

use super::{Carried, Held, Packet, Sim};
use crate::commands::migrate::LinkId;
use crate::net::{Segment, Sent};
use crate::ConnId;

impl Sim {
    fn put(&mut self, s: Sent) {
        let (from, to) = (s.from.clone(), s.to.clone());
        self.send_carried(&from, &to, Carried::Tcp(s));
    }

    fn incarnation(&self, addr: &str) -> u64 {
        self.hosts.get(addr).map_or(0, |h| h.incarnation)
    }

    /// `Output::Dial` of node `addr`.
    pub(super) fn tcp_dial(&mut self, addr: &str, link: LinkId, host: &str, port: u16) {
        let name = format!("{host}:{port}");
        let server = self.control.resolve(&name, 0).unwrap_or(name);
        let inc = self.incarnation(addr);
        let s = self.tcps.dial(addr, inc, link, &server, port);
        self.put(s);
    }

    /// `Output::LinkSend` / `Output::LinkClose` of the dialling node.
    pub(super) fn tcp_from_dialer(&mut self, addr: &str, link: LinkId, seg: Segment) {
        let inc = self.incarnation(addr);
        if let Some(s) = self.tcps.from_dialer(addr, inc, link, seg) {
            self.put(s);
        }
    }

    /// `Output::ToClient` / `Output::CloseConn` of the listening node on
    /// a dial's connection.
    pub(super) fn tcp_from_server(&mut self, addr: &str, conn: ConnId, seg: Segment) {
        let s = self
            .tcps
            .of_conn(addr, conn)
            .and_then(|id| self.tcps.from_server(id, seg));
        if let Some(s) = s {
            self.put(s);
        }
    }

    /// A segment arrives (partitions were checked); held if its node is paused.
    pub(super) fn tcp_deliver(&mut self, p: Packet) {
        let Carried::Tcp(s) = p.msg else {
            return;
        };
        let to = s.to.clone();
        if let Some(h) = self.hosts.get_mut(&to).filter(|h| h.paused) {
            h.held.push(Held::Tcp(Packet {
                from: p.from,
                to: p.to,
                msg: Carried::Tcp(s),
            }));
            return;
        }
        let inc = self.hosts.get(&to).map(|h| h.incarnation);
        let (arrival, back) = self.tcps.deliver(s, inc);
        if let Some((addr, a)) = arrival {
            let local = addr.clone();
            self.node_input(&addr, a.input(&local));
        }
        if let Some(b) = back {
            self.put(b);
        }
    }
}
