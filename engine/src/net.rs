//! TCP connections between nodes, for the runtimes that carry them as
//! messages (the simulator's network, the page's router): what a node dials
//! (`Output::Dial` — a replica's link to its primary in Redis's replication
//! protocol, MIGRATE's link) reaches the other node's port as an ordinary
//! client connection (`Input::ConnOpened`), and bytes flow both ways as
//! [`Segment`]s the runtime delays, holds and partitions as it likes.
//!
//! This table is the connections' state, shared so both runtimes keep
//! TCP's promises the same way: bytes in order (the runtime's links are
//! FIFO), once; a connection to an address where nobody listens, or to a
//! process that has since died or been replaced, is answered with a reset —
//! so a live end learns of a dead peer the next time it writes, as it would.

use std::collections::BTreeMap;

use crate::commands::migrate::LinkId;
use crate::{ConnId, Input};

/// Connections accepted from a dial are numbered from here, apart from the
/// runtimes' own clients.
pub const TCP_CONNS: u64 = 2 << 40;

/// What travels on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Syn,
    SynAck,
    Data(Vec<u8>),
    /// The sender closed its end (or a reset: it has none).
    Fin,
}

impl Segment {
    pub fn describe(&self, id: u64) -> String {
        match self {
            Segment::Syn => format!("tcp#{id} SYN"),
            Segment::SynAck => format!("tcp#{id} SYN-ACK"),
            Segment::Data(b) => format!("tcp#{id} {} bytes", b.len()),
            Segment::Fin => format!("tcp#{id} FIN"),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Segment::Data(b) => b.len(),
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A segment to put on the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub id: u64,
    /// Toward the listening node (else toward the dialler).
    pub to_server: bool,
    pub from: String,
    pub to: String,
    pub seg: Segment,
}

/// What a delivered segment means to the node at `addr`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Arrival {
    /// A dial reached this node on `port` (its client port, or another it
    /// listens on: a cluster node's bus).
    Opened {
        conn: ConnId,
        peer: String,
        port: u16,
    },
    Bytes {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    Up {
        link: LinkId,
    },
    LinkBytes {
        link: LinkId,
        bytes: Vec<u8>,
    },
    LinkClosed {
        link: LinkId,
    },
}

impl Arrival {
    /// The node's input (`local` is the node's address: an `Opened`
    /// connection's local end is its host and the port dialled).
    pub fn input<'a>(&'a self, local: &str) -> Input<'a> {
        match self {
            Arrival::Opened { conn, peer, port } => Input::ConnOpened {
                conn: *conn,
                peer: peer.clone(),
                local: format!(
                    "{}:{port}",
                    local.rsplit_once(':').map_or(local, |(h, _)| h)
                ),
            },
            Arrival::Bytes { conn, bytes } => Input::ClientBytes { conn: *conn, bytes },
            Arrival::Closed { conn } => Input::ConnClosed { conn: *conn },
            Arrival::Up { link } => Input::LinkUp { link: *link },
            Arrival::LinkBytes { link, bytes } => Input::LinkBytes { link: *link, bytes },
            Arrival::LinkClosed { link } => Input::LinkClosed { link: *link },
        }
    }
}

struct Conn {
    dialer: String,
    dialer_inc: u64,
    link: LinkId,
    server: String,
    /// The port dialled on `server`.
    port: u16,
    /// The listening process once it accepted (0 before).
    server_inc: u64,
    /// An end that closed: its FIN is on the way, it hears nothing more.
    dialer_closed: bool,
    server_closed: bool,
}

/// The open connections. `inc` arguments name a process: a node restarted
/// at the same address is a new incarnation, deaf to the old connections.
#[derive(Default)]
pub struct Tcps {
    conns: BTreeMap<u64, Conn>,
    next: u64,
}

impl Tcps {
    /// Node `dialer` (process `inc`) dials `server` (already resolved) on
    /// `port`.
    pub fn dial(&mut self, dialer: &str, inc: u64, link: LinkId, server: &str, port: u16) -> Sent {
        self.next += 1;
        let id = self.next;
        self.conns.insert(
            id,
            Conn {
                dialer: dialer.into(),
                dialer_inc: inc,
                link,
                server: server.into(),
                port,
                server_inc: 0,
                dialer_closed: false,
                server_closed: false,
            },
        );
        Sent {
            id,
            to_server: true,
            from: dialer.into(),
            to: server.into(),
            seg: Segment::Syn,
        }
    }

    /// The dialler writes to (`Data`) or closes (`Fin`) its link.
    pub fn from_dialer(
        &mut self,
        dialer: &str,
        inc: u64,
        link: LinkId,
        seg: Segment,
    ) -> Option<Sent> {
        let (&id, c) = self.conns.iter_mut().find(|(_, c)| {
            c.dialer == dialer && c.dialer_inc == inc && c.link == link && !c.dialer_closed
        })?;
        let to = c.server.clone();
        c.dialer_closed |= seg == Segment::Fin;
        Some(Sent {
            id,
            to_server: true,
            from: dialer.into(),
            to,
            seg,
        })
    }

    /// The connection node `addr`'s client `conn` is, if a dial's.
    pub fn of_conn(&self, addr: &str, conn: ConnId) -> Option<u64> {
        if conn.0 & TCP_CONNS == 0 {
            return None;
        }
        let id = conn.0 & !TCP_CONNS;
        self.conns
            .get(&id)
            .filter(|c| c.server == addr && !c.server_closed)
            .map(|_| id)
    }

    /// The listener answers (`Data`) or closes (`Fin`) connection `id`.
    pub fn from_server(&mut self, id: u64, seg: Segment) -> Option<Sent> {
        let c = self.conns.get_mut(&id).filter(|c| !c.server_closed)?;
        let (from, to) = (c.server.clone(), c.dialer.clone());
        c.server_closed |= seg == Segment::Fin;
        Some(Sent {
            id,
            to_server: false,
            from,
            to,
            seg,
        })
    }

    /// A segment arrives at its end, whose running process is `inc`
    /// (`None`: nothing runs there). Returns what the node there is told,
    /// and what goes back (a SYN-ACK, or a reset).
    pub fn deliver(
        &mut self,
        s: Sent,
        inc: Option<u64>,
    ) -> (Option<(String, Arrival)>, Option<Sent>) {
        let Some(c) = self.conns.get_mut(&s.id) else {
            return (None, None); // closed at both ends already
        };
        let reset = |s: &Sent| Sent {
            id: s.id,
            to_server: !s.to_server,
            from: s.to.clone(),
            to: s.from.clone(),
            seg: Segment::Fin,
        };
        let (closed, alive) = if s.to_server {
            let alive = inc.is_some() && (s.seg == Segment::Syn || Some(c.server_inc) == inc);
            (c.server_closed, alive)
        } else {
            (c.dialer_closed, inc == Some(c.dialer_inc))
        };
        if closed {
            // This end closed already: its peer's last words go nowhere.
            if s.seg == Segment::Fin {
                self.conns.remove(&s.id);
            }
            return (None, None);
        }
        if !alive {
            if s.seg == Segment::Fin {
                self.conns.remove(&s.id);
                return (None, None);
            }
            // The reset closes the connection when it reaches the live end.
            return (None, Some(reset(&s)));
        }
        let conn = ConnId(TCP_CONNS | s.id);
        let link = c.link;
        let arrival = match (s.to_server, s.seg) {
            (true, Segment::Syn) => {
                c.server_inc = inc.unwrap_or(0);
                let host = c.dialer.rsplit_once(':').map_or(&c.dialer[..], |(h, _)| h);
                let peer = format!("{host}:{}", 40000 + s.id % 20000);
                let back = Sent {
                    id: s.id,
                    to_server: false,
                    from: s.to.clone(),
                    to: s.from.clone(),
                    seg: Segment::SynAck,
                };
                let port = c.port;
                return (
                    Some((s.to, Arrival::Opened { conn, peer, port })),
                    Some(back),
                );
            }
            (true, Segment::Data(bytes)) => Arrival::Bytes { conn, bytes },
            (true, Segment::Fin) => {
                self.conns.remove(&s.id);
                Arrival::Closed { conn }
            }
            (false, Segment::SynAck) => Arrival::Up { link },
            (false, Segment::Data(bytes)) => Arrival::LinkBytes { link, bytes },
            (false, Segment::Fin) => {
                self.conns.remove(&s.id);
                Arrival::LinkClosed { link }
            }
            (true, Segment::SynAck) | (false, Segment::Syn) => return (None, None),
        };
        (Some((s.to, arrival)), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dial_opens_carries_bytes_and_closes_both_ways() {
        let mut t = Tcps::default();
        let syn = t.dial("r:6379", 1, LinkId(7), "p:6379", 6379);
        let (arr, back) = t.deliver(syn, Some(3));
        let (at, Arrival::Opened { conn, .. }) = arr.unwrap() else {
            panic!("not opened")
        };
        assert_eq!(at, "p:6379");
        let (arr, _) = t.deliver(back.unwrap(), Some(1));
        assert_eq!(arr.unwrap().1, Arrival::Up { link: LinkId(7) });
        let d = t
            .from_dialer("r:6379", 1, LinkId(7), Segment::Data(b"PING".to_vec()))
            .unwrap();
        assert_eq!(
            t.deliver(d, Some(3)).0.unwrap().1,
            Arrival::Bytes {
                conn,
                bytes: b"PING".to_vec()
            }
        );
        let id = t.of_conn("p:6379", conn).unwrap();
        assert_eq!(t.of_conn("other:6379", conn), None);
        let d = t.from_server(id, Segment::Data(b"+PONG".to_vec())).unwrap();
        assert_eq!(
            t.deliver(d, Some(1)).0.unwrap().1,
            Arrival::LinkBytes {
                link: LinkId(7),
                bytes: b"+PONG".to_vec()
            }
        );
        let fin = t.from_server(id, Segment::Fin).unwrap();
        assert_eq!(
            t.deliver(fin, Some(1)).0.unwrap().1,
            Arrival::LinkClosed { link: LinkId(7) }
        );
        assert!(t.conns.is_empty());
    }

    #[test]
    fn nobody_listening_or_a_restarted_process_answers_with_a_reset() {
        let mut t = Tcps::default();
        let syn = t.dial("r:6379", 1, LinkId(1), "gone:6379", 6379);
        let (arr, back) = t.deliver(syn, None);
        assert!(arr.is_none());
        let rst = back.unwrap();
        assert_eq!((rst.seg.clone(), rst.to.as_str()), (Segment::Fin, "r:6379"));
        assert_eq!(
            t.deliver(rst, Some(1)).0.unwrap().1,
            Arrival::LinkClosed { link: LinkId(1) }
        );

        let syn = t.dial("r:6379", 1, LinkId(2), "p:6379", 6379);
        let (_, back) = t.deliver(syn, Some(5));
        t.deliver(back.unwrap(), Some(1));
        let d = t
            .from_dialer("r:6379", 1, LinkId(2), Segment::Data(b"x".to_vec()))
            .unwrap();
        // The listener was restarted (incarnation 6): a reset comes back.
        let (arr, back) = t.deliver(d, Some(6));
        assert!(arr.is_none());
        let rst = back.unwrap();
        assert_eq!(rst.seg, Segment::Fin);
        assert_eq!(
            t.deliver(rst, Some(1)).0.unwrap().1,
            Arrival::LinkClosed { link: LinkId(2) }
        );
        assert!(t.conns.is_empty());
    }
}
