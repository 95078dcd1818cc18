//! A byte encoding of [`PeerMsg`] for transports that carry bytes (TCP):
//! a length-prefixed frame per message. Decoding rejects anything malformed.

use super::PeerMsg;

/// What a peer connection sends first, followed by its own "host:port" and '\n'.
pub const PREFACE: &[u8] = b"CACHELAB-PEER ";

/// Frames larger than this are refused (a snapshot of 4 GiB is not ours to take).
pub const MAX_FRAME: usize = 1 << 31;

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends one frame: u32 little-endian body length, then the body.
pub fn encode_frame(msg: &PeerMsg, out: &mut Vec<u8>) {
    let mut body = Vec::new();
    match msg {
        PeerMsg::Psync {
            link,
            replid,
            offset,
        } => {
            body.push(1);
            put_u64(&mut body, *link);
            put_bytes(&mut body, replid.as_bytes());
            put_u64(&mut body, *offset as u64);
        }
        PeerMsg::FullResync {
            link,
            replid,
            offset,
            rdb,
        } => {
            body.push(2);
            put_u64(&mut body, *link);
            put_bytes(&mut body, replid.as_bytes());
            put_u64(&mut body, *offset);
            put_bytes(&mut body, rdb);
        }
        PeerMsg::Continue { link, replid } => {
            body.push(3);
            put_u64(&mut body, *link);
            put_bytes(&mut body, replid.as_bytes());
        }
        PeerMsg::Stream { link, start, bytes } => {
            body.push(4);
            put_u64(&mut body, *link);
            put_u64(&mut body, *start);
            put_bytes(&mut body, bytes);
        }
        PeerMsg::Ack { link, offset } => {
            body.push(5);
            put_u64(&mut body, *link);
            put_u64(&mut body, *offset);
        }
        PeerMsg::GetAck { link } => {
            body.push(6);
            put_u64(&mut body, *link);
        }
        PeerMsg::Refused { link, reason } => {
            body.push(7);
            put_u64(&mut body, *link);
            put_bytes(&mut body, reason.as_bytes());
        }
        PeerMsg::Health { seq } => {
            body.push(8);
            put_u64(&mut body, *seq);
        }
        PeerMsg::HealthOk {
            seq,
            primary,
            offset,
            synced,
        } => {
            body.push(9);
            put_u64(&mut body, *seq);
            put_u64(&mut body, *offset);
            body.push(*primary as u8 | (*synced as u8) << 1);
        }
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
}

/// A frame that cannot be decoded: the connection must be closed.
#[derive(Debug, PartialEq, Eq)]
pub struct BadFrame;

struct R<'a>(&'a [u8]);
impl R<'_> {
    fn u64(&mut self) -> Result<u64, BadFrame> {
        let (h, t) = self.0.split_at_checked(8).ok_or(BadFrame)?;
        self.0 = t;
        Ok(u64::from_le_bytes(h.try_into().map_err(|_| BadFrame)?))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, BadFrame> {
        let n = usize::try_from(self.u64()?).map_err(|_| BadFrame)?;
        let (h, t) = self.0.split_at_checked(n).ok_or(BadFrame)?;
        self.0 = t;
        Ok(h.to_vec())
    }
    fn string(&mut self) -> Result<String, BadFrame> {
        String::from_utf8(self.bytes()?).map_err(|_| BadFrame)
    }
}

/// Decodes the first frame of `buf`: `Ok(None)` when incomplete, else the
/// message and the bytes consumed.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(PeerMsg, usize)>, BadFrame> {
    let Some(len) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes(len.try_into().map_err(|_| BadFrame)?) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(BadFrame);
    }
    let Some(body) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    let mut r = R(&body[1..]);
    let msg = match body[0] {
        1 => PeerMsg::Psync {
            link: r.u64()?,
            replid: r.string()?,
            offset: r.u64()? as i64,
        },
        2 => PeerMsg::FullResync {
            link: r.u64()?,
            replid: r.string()?,
            offset: r.u64()?,
            rdb: r.bytes()?,
        },
        3 => PeerMsg::Continue {
            link: r.u64()?,
            replid: r.string()?,
        },
        4 => PeerMsg::Stream {
            link: r.u64()?,
            start: r.u64()?,
            bytes: r.bytes()?,
        },
        5 => PeerMsg::Ack {
            link: r.u64()?,
            offset: r.u64()?,
        },
        6 => PeerMsg::GetAck { link: r.u64()? },
        7 => PeerMsg::Refused {
            link: r.u64()?,
            reason: r.string()?,
        },
        8 => PeerMsg::Health { seq: r.u64()? },
        9 => {
            let seq = r.u64()?;
            let offset = r.u64()?;
            let (flags, rest) = r.0.split_first().ok_or(BadFrame)?;
            r.0 = rest;
            PeerMsg::HealthOk {
                seq,
                offset,
                primary: flags & 1 != 0,
                synced: flags & 2 != 0,
            }
        }
        _ => return Err(BadFrame),
    };
    if !r.0.is_empty() {
        return Err(BadFrame);
    }
    Ok(Some((msg, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<PeerMsg> {
        vec![
            PeerMsg::Psync {
                link: 1,
                replid: "?".into(),
                offset: -1,
            },
            PeerMsg::FullResync {
                link: 2,
                replid: "a".repeat(40),
                offset: 99,
                rdb: vec![0, 1, 2, 255],
            },
            PeerMsg::Continue {
                link: 3,
                replid: "b".repeat(40),
            },
            PeerMsg::Stream {
                link: 4,
                start: 5,
                bytes: b"*1\r\n$4\r\nPING\r\n".to_vec(),
            },
            PeerMsg::Ack { link: 5, offset: 6 },
            PeerMsg::GetAck { link: 7 },
            PeerMsg::Refused {
                link: 8,
                reason: "NOMASTERLINK".into(),
            },
            PeerMsg::Health { seq: 9 },
            PeerMsg::HealthOk {
                seq: 10,
                primary: true,
                offset: 11,
                synced: false,
            },
        ]
    }

    #[test]
    fn round_trips_whole_and_split() {
        let mut buf = Vec::new();
        for m in all() {
            encode_frame(&m, &mut buf);
        }
        // Every prefix decodes to whole frames only, never garbage.
        for cut in 0..buf.len() {
            let mut pos = 0;
            let mut got = Vec::new();
            while let Some((m, n)) = decode_frame(&buf[pos..cut]).unwrap() {
                got.push(m);
                pos += n;
            }
            assert_eq!(got, all()[..got.len()].to_vec());
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode_frame(&[0, 0, 0, 0]), Err(BadFrame));
        assert_eq!(decode_frame(&[1, 0, 0, 0, 99]), Err(BadFrame));
        // A length that runs past the frame.
        let mut b = vec![9, 0, 0, 0, 7];
        b.extend_from_slice(&100u64.to_le_bytes());
        assert_eq!(decode_frame(&b), Err(BadFrame));
    }
}
