//! The cluster bus's wire format, Redis 7.0's `clusterMsg` byte for byte:
//! a 2256-byte header (signature "RCmb", total length, version 1, type,
//! epochs, replication offset, the sender's id, its slot bitmap, its
//! primary, address and flags) and a body by type — gossip sections (and
//! the hostname extension) for PING / PONG / MEET, the failed node for
//! FAIL, channel and message for PUBLISH / PUBLISHSHARD, a slot map for
//! UPDATE, nothing for the failover messages. All integers are big-endian.
//!
//! `frame` cuts a stream into packets as `clusterReadHandler` does (a bad
//! signature or a length under the header closes the link); `decode`
//! applies `clusterProcessPacket`'s checks (version, the exact length each
//! type must have) and ignores a packet that fails them.

use crate::store::slots::SLOTS;

pub const HEADER_LEN: usize = 2256;
pub const GOSSIP_LEN: usize = 104;
const NAME_LEN: usize = 40;
const IP_LEN: usize = 46;
pub const BITMAP_LEN: usize = SLOTS / 8;
/// `sizeof(clusterMsgDataUpdate)`.
const UPDATE_LEN: usize = 8 + NAME_LEN + BITMAP_LEN;
/// `CLUSTERMSG_FLAG0_PAUSED`: a primary whose writes are paused for a
/// manual failover (its offset is final).
pub const FLAG0_PAUSED: u8 = 1 << 0;
/// `CLUSTERMSG_FLAG0_FORCEACK`: vote even if the primary is up.
pub const FLAG0_FORCEACK: u8 = 1 << 1;
/// `CLUSTERMSG_FLAG0_EXT_DATA`.
pub const FLAG0_EXT_DATA: u8 = 1 << 2;
const EXT_HOSTNAME: u16 = 0;

/// `CLUSTER_NODE_*`: a node's flags as the bus carries them.
pub mod node_flag {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;
}

/// `CLUSTERMSG_TYPE_*`.
pub mod msg_type {
    pub const PING: u16 = 0;
    pub const PONG: u16 = 1;
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const FAILOVER_AUTH_REQUEST: u16 = 5;
    pub const FAILOVER_AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const MODULE: u16 = 9;
    pub const PUBLISHSHARD: u16 = 10;

    /// `clusterGetMessageTypeString`.
    pub fn name(t: u16) -> &'static str {
        match t {
            PING => "ping",
            PONG => "pong",
            MEET => "meet",
            FAIL => "fail",
            PUBLISH => "publish",
            PUBLISHSHARD => "publishshard",
            FAILOVER_AUTH_REQUEST => "auth-req",
            FAILOVER_AUTH_ACK => "auth-ack",
            UPDATE => "update",
            MFSTART => "mfstart",
            MODULE => "module",
            _ => "unknown",
        }
    }
}

/// A slot bitmap (`myslots`, UPDATE's `slots`).
#[derive(Clone, PartialEq, Eq)]
pub struct Slots(pub Box<[u8; BITMAP_LEN]>);

impl Default for Slots {
    fn default() -> Self {
        Slots(Box::new([0; BITMAP_LEN]))
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slots({} set)", self.count())
    }
}

impl Slots {
    pub fn get(&self, slot: u16) -> bool {
        self.0[slot as usize / 8] & (1 << (slot % 8)) != 0
    }
    pub fn set(&mut self, slot: u16, on: bool) {
        let (byte, bit) = (slot as usize / 8, 1u8 << (slot % 8));
        if on {
            self.0[byte] |= bit;
        } else {
            self.0[byte] &= !bit;
        }
    }
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }
    /// The slots set, in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.chunks_exact(8).enumerate().flat_map(|(w, c)| {
            let mut bits = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some((w * 64 + b) as u16)
            })
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub kind: u16,
    pub port: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: u64,
    /// The sender's id (40 hex characters).
    pub sender: String,
    pub myslots: Slots,
    /// The sender's primary, if it is a replica.
    pub slaveof: Option<String>,
    /// The address the sender announces; empty: use the link's peer address.
    pub myip: String,
    pub pport: u16,
    pub cport: u16,
    pub flags: u16,
    /// The cluster's state as the sender sees it: 0 ok, 1 fail.
    pub state: u8,
    pub mflags: [u8; 3],
}

/// One gossip section: what the sender knows of another node.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Gossip {
    pub node: String,
    /// Seconds (Redis sends its millisecond times divided by 1000).
    pub ping_sent: u32,
    pub pong_received: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// PING, PONG, MEET.
    Ping {
        gossip: Vec<Gossip>,
        hostname: Option<String>,
    },
    Fail {
        about: String,
    },
    /// PUBLISH and PUBLISHSHARD.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    Update {
        config_epoch: u64,
        node: String,
        slots: Slots,
    },
    /// FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK, MFSTART.
    Empty,
    Module {
        module_id: u64,
        kind: u8,
        payload: Vec<u8>,
    },
    /// A type this version does not know: accepted at any length.
    Unknown(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}

fn put_name(out: &mut Vec<u8>, name: Option<&str>) {
    let mut b = [0u8; NAME_LEN];
    if let Some(n) = name {
        let n = n.as_bytes();
        let len = n.len().min(NAME_LEN);
        b[..len].copy_from_slice(&n[..len]);
    }
    out.extend_from_slice(&b);
}

fn put_ip(out: &mut Vec<u8>, ip: &str) {
    let mut b = [0u8; IP_LEN];
    let ip = ip.as_bytes();
    // NUL-terminated: at most 45 characters.
    let len = ip.len().min(IP_LEN - 1);
    b[..len].copy_from_slice(&ip[..len]);
    out.extend_from_slice(&b);
}

/// A header's fields, borrowed from wherever they are kept (the node's
/// own view builds every packet's header from its state without copies).
#[derive(Clone, Copy, Debug)]
pub struct HeaderRef<'a> {
    pub kind: u16,
    pub port: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: u64,
    pub sender: &'a str,
    pub myslots: &'a [u8; BITMAP_LEN],
    pub slaveof: Option<&'a str>,
    pub myip: &'a str,
    pub pport: u16,
    pub cport: u16,
    pub flags: u16,
    pub state: u8,
    pub mflags: [u8; 3],
}

/// No slots.
pub static NO_SLOTS: [u8; BITMAP_LEN] = [0; BITMAP_LEN];

impl Header {
    pub fn borrowed(&self) -> HeaderRef<'_> {
        HeaderRef {
            kind: self.kind,
            port: self.port,
            current_epoch: self.current_epoch,
            config_epoch: self.config_epoch,
            offset: self.offset,
            sender: &self.sender,
            myslots: &self.myslots.0,
            slaveof: self.slaveof.as_deref(),
            myip: &self.myip,
            pport: self.pport,
            cport: self.cport,
            flags: self.flags,
            state: self.state,
            mflags: self.mflags,
        }
    }
}

impl HeaderRef<'_> {
    pub fn to_header(&self) -> Header {
        Header {
            kind: self.kind,
            port: self.port,
            current_epoch: self.current_epoch,
            config_epoch: self.config_epoch,
            offset: self.offset,
            sender: self.sender.to_string(),
            myslots: Slots(Box::new(*self.myslots)),
            slaveof: self.slaveof.map(str::to_string),
            myip: self.myip.to_string(),
            pport: self.pport,
            cport: self.cport,
            flags: self.flags,
            state: self.state,
            mflags: self.mflags,
        }
    }
}

/// The header, `totlen` left 0 (set once the body is written).
fn put_header(out: &mut Vec<u8>, h: &HeaderRef, count: u16, extensions: u16) {
    out.extend_from_slice(b"RCmb");
    out.extend_from_slice(&[0; 4]); // totlen, set at the end
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&h.port.to_be_bytes());
    out.extend_from_slice(&h.kind.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&h.current_epoch.to_be_bytes());
    out.extend_from_slice(&h.config_epoch.to_be_bytes());
    out.extend_from_slice(&h.offset.to_be_bytes());
    put_name(out, Some(h.sender));
    out.extend_from_slice(&h.myslots[..]);
    put_name(out, h.slaveof);
    put_ip(out, h.myip);
    out.extend_from_slice(&extensions.to_be_bytes());
    out.extend_from_slice(&[0; 30]);
    out.extend_from_slice(&h.pport.to_be_bytes());
    out.extend_from_slice(&h.cport.to_be_bytes());
    out.extend_from_slice(&h.flags.to_be_bytes());
    out.push(h.state);
    let mut mflags = h.mflags;
    if extensions > 0 {
        mflags[0] |= FLAG0_EXT_DATA;
    }
    out.extend_from_slice(&mflags);
}

fn set_totlen(out: &mut [u8]) {
    let total = out.len() as u32;
    out[4..8].copy_from_slice(&total.to_be_bytes());
}

/// One gossip section (`clusterSetGossipEntry`).
#[allow(clippy::too_many_arguments)]
pub fn put_gossip(
    out: &mut Vec<u8>,
    node: &str,
    ping_sent: u32,
    pong_received: u32,
    ip: &str,
    port: u16,
    cport: u16,
    flags: u16,
    pport: u16,
) {
    put_name(out, Some(node));
    out.extend_from_slice(&ping_sent.to_be_bytes());
    out.extend_from_slice(&pong_received.to_be_bytes());
    put_ip(out, ip);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&cport.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&pport.to_be_bytes());
    out.extend_from_slice(&[0; 2]);
}

/// A PING, PONG or MEET without extensions, its `count` gossip sections
/// written by `gossip` (with [`put_gossip`]): the bytes [`encode`] gives
/// for the same message, without building it first.
pub fn encode_ping(h: &HeaderRef, count: u16, gossip: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + count as usize * GOSSIP_LEN);
    put_header(&mut out, h, count, 0);
    debug_assert_eq!(out.len(), HEADER_LEN);
    gossip(&mut out);
    debug_assert_eq!(out.len(), HEADER_LEN + count as usize * GOSSIP_LEN);
    set_totlen(&mut out);
    out
}

/// Encodes a message (`count`, `extensions`, `totlen` and the extension
/// flag are derived from the body).
pub fn encode(m: &Message) -> Vec<u8> {
    let h = &m.header;
    let mut out = Vec::with_capacity(HEADER_LEN + 256);
    let (count, extensions) = match &m.body {
        Body::Ping { gossip, hostname } => (gossip.len() as u16, hostname.is_some() as u16),
        _ => (0, 0),
    };
    put_header(&mut out, &h.borrowed(), count, extensions);
    debug_assert_eq!(out.len(), HEADER_LEN);
    match &m.body {
        Body::Ping { gossip, hostname } => {
            for g in gossip {
                put_gossip(
                    &mut out,
                    &g.node,
                    g.ping_sent,
                    g.pong_received,
                    &g.ip,
                    g.port,
                    g.cport,
                    g.flags,
                    g.pport,
                );
            }
            if let Some(name) = hostname {
                // `writeHostnamePingExt`: NUL-terminated, padded to 8.
                let data = (name.len() + 1).div_ceil(8) * 8;
                let len = 8 + data;
                out.extend_from_slice(&(len as u32).to_be_bytes());
                out.extend_from_slice(&EXT_HOSTNAME.to_be_bytes());
                out.extend_from_slice(&[0; 2]);
                out.extend_from_slice(name.as_bytes());
                out.resize(out.len() + data - name.len(), 0);
            }
        }
        Body::Fail { about } => put_name(&mut out, Some(about)),
        Body::Publish { channel, message } => {
            out.extend_from_slice(&(channel.len() as u32).to_be_bytes());
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(channel);
            out.extend_from_slice(message);
        }
        Body::Update {
            config_epoch,
            node,
            slots,
        } => {
            out.extend_from_slice(&config_epoch.to_be_bytes());
            put_name(&mut out, Some(node));
            out.extend_from_slice(&slots.0[..]);
        }
        Body::Empty => {}
        Body::Module {
            module_id,
            kind,
            payload,
        } => {
            out.extend_from_slice(&module_id.to_be_bytes());
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.push(*kind);
            out.extend_from_slice(payload);
        }
        Body::Unknown(rest) => out.extend_from_slice(rest),
    }
    set_totlen(&mut out);
    out
}

/// `clusterReadHandler`'s framing: the length of the first packet in `buf`
/// once it has all arrived (`Ok(None)` until then); `Err` when the link
/// must be closed (no "RCmb" signature, or a length under the header's).
pub fn frame(buf: &[u8]) -> Result<Option<usize>, &'static str> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let total = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if &buf[..4] != b"RCmb" || total < HEADER_LEN {
        return Err("Bad message length or signature received from Cluster bus.");
    }
    Ok((buf.len() >= total).then_some(total))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_be_bytes(s.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")))
    }
    /// A fixed-size NUL-padded string.
    fn text(&mut self, n: usize) -> Option<String> {
        let s = self.take(n)?;
        let end = s.iter().position(|&c| c == 0).unwrap_or(n);
        Some(String::from_utf8_lossy(&s[..end]).into_owned())
    }
    fn name(&mut self) -> Option<Option<String>> {
        let s = self.take(NAME_LEN)?;
        Some((s != [0u8; NAME_LEN]).then(|| String::from_utf8_lossy(s).into_owned()))
    }
    fn slots(&mut self) -> Option<Slots> {
        let s = self.take(BITMAP_LEN)?;
        let mut b = Box::new([0u8; BITMAP_LEN]);
        b.copy_from_slice(s);
        Some(Slots(b))
    }
}

/// One packet (as `frame` cut it), checked as `clusterProcessPacket`
/// checks it; `None`: Redis ignores such a packet.
pub fn decode(p: &[u8]) -> Option<Message> {
    let Packet { header, body } = decode_packet(p)?;
    let body = match body {
        PacketBody::Ping { gossip, hostname } => Body::Ping {
            gossip: gossip.iter().map(|g| g.to_gossip()).collect(),
            hostname,
        },
        PacketBody::Other(b) => b,
    };
    Some(Message { header, body })
}

/// A packet as [`decode_packet`] reads it: the gossip sections of a PING,
/// PONG or MEET left where they are in the packet, read as they are used.
#[derive(Clone, Debug)]
pub struct Packet<'a> {
    pub header: Header,
    pub body: PacketBody<'a>,
}

#[derive(Clone, Debug)]
pub enum PacketBody<'a> {
    Ping {
        gossip: GossipSections<'a>,
        hostname: Option<String>,
    },
    /// Any other type, as [`decode`] gives it.
    Other(Body),
}

/// The gossip sections of a packet, on the wire.
#[derive(Clone, Copy, Debug)]
pub struct GossipSections<'a>(&'a [u8]);

impl<'a> GossipSections<'a> {
    pub fn iter(&self) -> impl Iterator<Item = GossipRef<'a>> {
        self.0
            .chunks_exact(GOSSIP_LEN)
            .map(|c| GossipRef(c.try_into().expect("a gossip section")))
    }
}

/// One gossip section on the wire, its fields read as [`decode`] reads them.
#[derive(Clone, Copy, Debug)]
pub struct GossipRef<'a>(&'a [u8; GOSSIP_LEN]);

impl<'a> GossipRef<'a> {
    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.0[at], self.0[at + 1]])
    }
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.0[at..at + 4].try_into().expect("4 bytes"))
    }
    /// The node's id ("" if all NULs; invalid UTF-8 replaced).
    pub fn node(&self) -> std::borrow::Cow<'a, str> {
        let s: &'a [u8] = &self.0[..NAME_LEN];
        if s == [0u8; NAME_LEN] {
            return std::borrow::Cow::Borrowed("");
        }
        String::from_utf8_lossy(s)
    }
    pub fn ping_sent(&self) -> u32 {
        self.u32_at(NAME_LEN)
    }
    pub fn pong_received(&self) -> u32 {
        self.u32_at(NAME_LEN + 4)
    }
    pub fn ip(&self) -> String {
        let s = &self.0[NAME_LEN + 8..NAME_LEN + 8 + IP_LEN];
        let end = s.iter().position(|&c| c == 0).unwrap_or(IP_LEN);
        String::from_utf8_lossy(&s[..end]).into_owned()
    }
    pub fn port(&self) -> u16 {
        self.u16_at(NAME_LEN + 8 + IP_LEN)
    }
    pub fn cport(&self) -> u16 {
        self.u16_at(NAME_LEN + 8 + IP_LEN + 2)
    }
    pub fn flags(&self) -> u16 {
        self.u16_at(NAME_LEN + 8 + IP_LEN + 4)
    }
    pub fn pport(&self) -> u16 {
        self.u16_at(NAME_LEN + 8 + IP_LEN + 6)
    }
    pub fn to_gossip(&self) -> Gossip {
        Gossip {
            node: self.node().into_owned(),
            ping_sent: self.ping_sent(),
            pong_received: self.pong_received(),
            ip: self.ip(),
            port: self.port(),
            cport: self.cport(),
            flags: self.flags(),
            pport: self.pport(),
        }
    }
}

/// [`decode`], the gossip sections read in place.
pub fn decode_packet(p: &[u8]) -> Option<Packet<'_>> {
    let mut r = Reader { b: p, at: 0 };
    if r.take(4)? != b"RCmb" {
        return None;
    }
    let total = r.u32()? as usize;
    if total != p.len() || total < HEADER_LEN {
        return None;
    }
    if r.u16()? != 1 {
        return None;
    }
    let port = r.u16()?;
    let kind = r.u16()?;
    let count = r.u16()? as usize;
    let current_epoch = r.u64()?;
    let config_epoch = r.u64()?;
    let offset = r.u64()?;
    let sender = r.name()?.unwrap_or_default();
    let myslots = r.slots()?;
    let slaveof = r.name()?;
    let myip = r.text(IP_LEN)?;
    let extensions = r.u16()?;
    r.take(30)?;
    let pport = r.u16()?;
    let cport = r.u16()?;
    let flags = r.u16()?;
    let state = r.u8()?;
    let mflags: [u8; 3] = r.take(3)?.try_into().ok()?;
    let header = Header {
        kind,
        port,
        current_epoch,
        config_epoch,
        offset,
        sender,
        myslots,
        slaveof,
        myip,
        pport,
        cport,
        flags,
        state,
        mflags,
    };
    use msg_type::*;
    let body = match kind {
        PING | PONG | MEET => {
            let gossip = GossipSections(r.take(count * GOSSIP_LEN)?);
            let mut hostname = None;
            if header.mflags[0] & FLAG0_EXT_DATA != 0 {
                for _ in 0..extensions {
                    let start = r.at;
                    let len = r.u32()? as usize;
                    if !len.is_multiple_of(8) || len < 8 || total - start < len {
                        return None;
                    }
                    let ext_type = r.u16()?;
                    r.take(2)?;
                    let data = r.take(len - 8)?;
                    if ext_type == EXT_HOSTNAME {
                        let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
                        hostname = Some(String::from_utf8_lossy(&data[..end]).into_owned());
                    }
                }
            }
            PacketBody::Ping { gossip, hostname }
        }
        FAIL => PacketBody::Other(Body::Fail {
            about: r.name()?.unwrap_or_default(),
        }),
        PUBLISH | PUBLISHSHARD => {
            let (cl, ml) = (r.u32()? as usize, r.u32()? as usize);
            PacketBody::Other(Body::Publish {
                channel: r.take(cl)?.to_vec(),
                message: r.take(ml)?.to_vec(),
            })
        }
        FAILOVER_AUTH_REQUEST | FAILOVER_AUTH_ACK | MFSTART => PacketBody::Other(Body::Empty),
        UPDATE => {
            if total != HEADER_LEN + UPDATE_LEN {
                return None;
            }
            PacketBody::Other(Body::Update {
                config_epoch: r.u64()?,
                node: r.name()?.unwrap_or_default(),
                slots: r.slots()?,
            })
        }
        MODULE => {
            let module_id = r.u64()?;
            let len = r.u32()? as usize;
            let kind = r.u8()?;
            PacketBody::Other(Body::Module {
                module_id,
                kind,
                payload: r.take(len)?.to_vec(),
            })
        }
        _ => PacketBody::Other(Body::Unknown(r.take(total - HEADER_LEN)?.to_vec())),
    };
    // Every byte accounted for: the length each type must have.
    (r.at == total).then_some(Packet { header, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u16) -> Header {
        let mut myslots = Slots::default();
        for s in [0, 7, 8, 5461, 16383] {
            myslots.set(s, true);
        }
        Header {
            kind,
            port: 7000,
            current_epoch: 5,
            config_epoch: 3,
            offset: 1234,
            sender: "a".repeat(40),
            myslots,
            slaveof: None,
            myip: "127.0.0.1".into(),
            pport: 0,
            cport: 17000,
            flags: node_flag::MASTER | node_flag::MYSELF,
            state: 0,
            mflags: [0; 3],
        }
    }

    #[test]
    fn every_type_round_trips_at_its_exact_length() {
        let gossip = Gossip {
            node: "b".repeat(40),
            ping_sent: 9,
            pong_received: 10,
            ip: "10.0.0.2".into(),
            port: 7001,
            cport: 17001,
            flags: node_flag::SLAVE,
            pport: 0,
        };
        let mut slots = Slots::default();
        slots.set(100, true);
        let cases = [
            (
                msg_type::PING,
                Body::Ping {
                    gossip: vec![gossip.clone(), gossip.clone()],
                    hostname: None,
                },
                HEADER_LEN + 2 * GOSSIP_LEN,
            ),
            (
                msg_type::MEET,
                Body::Ping {
                    gossip: vec![gossip],
                    hostname: Some("node-1.example".into()),
                },
                HEADER_LEN + GOSSIP_LEN + 8 + 16,
            ),
            (
                msg_type::FAIL,
                Body::Fail {
                    about: "c".repeat(40),
                },
                HEADER_LEN + 40,
            ),
            (
                msg_type::PUBLISH,
                Body::Publish {
                    channel: b"news".to_vec(),
                    message: b"hello".to_vec(),
                },
                HEADER_LEN + 8 + 9,
            ),
            (
                msg_type::UPDATE,
                Body::Update {
                    config_epoch: 8,
                    node: "d".repeat(40),
                    slots,
                },
                HEADER_LEN + UPDATE_LEN,
            ),
            (msg_type::FAILOVER_AUTH_ACK, Body::Empty, HEADER_LEN),
        ];
        for (kind, body, len) in cases {
            let mut m = Message {
                header: header(kind),
                body,
            };
            let bytes = encode(&m);
            assert_eq!(bytes.len(), len, "{}", msg_type::name(kind));
            assert_eq!(frame(&bytes), Ok(Some(len)));
            assert_eq!(frame(&bytes[..len - 1]), Ok(None));
            if matches!(
                &m.body,
                Body::Ping {
                    hostname: Some(_),
                    ..
                }
            ) {
                m.header.mflags[0] |= FLAG0_EXT_DATA;
            }
            assert_eq!(decode(&bytes).as_ref(), Some(&m));
            // A byte short or over: ignored, as Redis ignores it.
            let mut longer = bytes.clone();
            longer.push(0);
            let n = longer.len() as u32;
            longer[4..8].copy_from_slice(&n.to_be_bytes());
            assert_eq!(decode(&longer), None, "{}", msg_type::name(kind));
        }
    }

    #[test]
    fn bad_frames_close_the_link_and_bad_packets_are_ignored() {
        assert!(frame(b"RCmx\0\0\x08\xd0").is_err());
        assert!(frame(b"RCmb\0\0\0\x10").is_err());
        assert_eq!(frame(b"RCmb"), Ok(None));
        let mut m = encode(&Message {
            header: header(msg_type::PONG),
            body: Body::Ping {
                gossip: Vec::new(),
                hostname: None,
            },
        });
        m[8..10].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(decode(&m), None, "protocol version 2");
        // Gossip counted but missing.
        let mut m = encode(&Message {
            header: header(msg_type::PING),
            body: Body::Ping {
                gossip: Vec::new(),
                hostname: None,
            },
        });
        m[14..16].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(decode(&m), None);
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&m[..100]), None);
    }
}
