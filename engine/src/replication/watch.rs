//! Reads a replication link's bytes as a bystander on the wire would: what
//! the playground's traffic view says about each segment between a replica
//! and its primary — the handshake, `PSYNC`, the `+FULLRESYNC` or
//! `+CONTINUE` decision, the RDB payload, the command stream with the
//! offsets it covers, `REPLCONF ACK`. Keeps only what it needs across
//! segments (where the stream's offset is, how much payload is left), never
//! a copy of the data.

use crate::protocol::{parse_request, RequestLimits};

use super::{describe_stream, short_id};

/// One segment, described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// `PING`, `PSYNC`, `ACK`, `FULLRESYNC`, `CONTINUE`, `RDB`, `STREAM`,
    /// `GETACK`, `REPLY`, `ERROR`, …
    pub kind: &'static str,
    pub detail: String,
}

#[derive(Clone, Debug, Default)]
enum Payload {
    #[default]
    None,
    Len(usize),
    Eof(Vec<u8>),
}

/// The state of one link, as seen from the wire.
#[derive(Clone, Debug, Default)]
pub struct LinkWatch {
    /// The stream offset the next command from the primary starts at.
    offset: Option<u64>,
    /// The offset a `+FULLRESYNC` announced (the stream starts there once
    /// the payload is through).
    full_at: Option<u64>,
    /// The replica's `PSYNC` offset (the first byte it lacks).
    asked: Option<u64>,
    payload: Payload,
}

fn limits() -> RequestLimits {
    RequestLimits {
        max_bulk_len: u64::MAX,
        unauthenticated: false,
    }
}

fn line(b: &[u8]) -> Option<(String, usize)> {
    let end = b.windows(2).position(|w| w == b"\r\n")?;
    Some((String::from_utf8_lossy(&b[..end]).into_owned(), end + 2))
}

impl LinkWatch {
    /// What the replica (the dialling end) sent.
    pub fn replica_says(&mut self, bytes: &[u8]) -> Seen {
        let mut kind = "";
        let mut words = Vec::new();
        let mut pos = 0;
        while let Ok(Some((argv, n))) = parse_request(&bytes[pos..], &limits()) {
            pos += n;
            let Some(name) = argv.first() else { continue };
            let name = String::from_utf8_lossy(name).to_ascii_uppercase();
            let sub = argv
                .get(1)
                .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase());
            let k = match (name.as_str(), sub.as_deref()) {
                ("REPLCONF", Some("ACK")) => "ACK",
                ("PSYNC", _) | ("SYNC", _) => {
                    self.asked = argv
                        .get(2)
                        .and_then(|o| std::str::from_utf8(o).ok())
                        .and_then(|o| o.parse::<i64>().ok())
                        .filter(|&o| o > 0)
                        .map(|o| o as u64);
                    "PSYNC"
                }
                ("PING", _) => "PING",
                ("AUTH", _) => "AUTH",
                _ => "REPLCONF",
            };
            if kind.is_empty() {
                kind = k;
            }
            words.push(if k == "AUTH" {
                // A password is not for the screen.
                "AUTH ••••".to_string()
            } else if k == "PSYNC" && argv.len() == 3 {
                let id = String::from_utf8_lossy(&argv[1]);
                format!(
                    "PSYNC {} {}",
                    short_id(&id),
                    String::from_utf8_lossy(&argv[2])
                )
            } else {
                describe_stream(&crate::protocol::encode_request(&argv), 1)
            });
        }
        Seen {
            kind: if kind.is_empty() { "BYTES" } else { kind },
            detail: if words.is_empty() {
                format!("{} B", bytes.len())
            } else {
                words.join(" · ")
            },
        }
    }

    /// What the primary (the listening end) sent.
    pub fn primary_says(&mut self, bytes: &[u8]) -> Seen {
        let mut kind = "";
        let mut parts: Vec<String> = Vec::new();
        let mut pos = 0;
        let mut note = |k: &'static str, text: String, kind: &mut &'static str| {
            if kind.is_empty() || *kind == "RDB" && k == "STREAM" {
                *kind = k;
            }
            parts.push(text);
        };
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            match std::mem::take(&mut self.payload) {
                Payload::Len(left) => {
                    let n = left.min(rest.len());
                    pos += n;
                    if n < left {
                        self.payload = Payload::Len(left - n);
                        note(
                            "RDB",
                            format!("RDB payload: {n} B, {} B to come", left - n),
                            &mut kind,
                        );
                    } else {
                        self.offset = self.full_at.take();
                        note("RDB", format!("RDB payload: {n} B, loaded"), &mut kind);
                    }
                    continue;
                }
                Payload::Eof(mark) => {
                    match rest.windows(mark.len()).position(|w| w == mark.as_slice()) {
                        Some(at) => {
                            pos += at + mark.len();
                            self.offset = self.full_at.take();
                            note(
                                "RDB",
                                format!("RDB payload (diskless): {at} B, then the end mark"),
                                &mut kind,
                            );
                        }
                        None => {
                            pos = bytes.len();
                            note(
                                "RDB",
                                format!("RDB payload (diskless): {} B", rest.len()),
                                &mut kind,
                            );
                            self.payload = Payload::Eof(mark);
                        }
                    }
                    continue;
                }
                Payload::None => {}
            }
            match rest[0] {
                b'\n' => {
                    let n = rest.iter().take_while(|&&b| b == b'\n').count();
                    pos += n;
                    note(
                        "PING",
                        "newline (keep-alive while the RDB is prepared)".into(),
                        &mut kind,
                    );
                }
                b'+' | b'-' => {
                    let Some((l, n)) = line(rest) else { break };
                    pos += n;
                    if let Some(r) = l.strip_prefix("+FULLRESYNC ") {
                        let mut it = r.split(' ');
                        let id = it.next().unwrap_or("");
                        self.full_at = it.next().and_then(|o| o.parse().ok());
                        self.offset = None;
                        note("FULLRESYNC", format!("+FULLRESYNC {} {} · a full sync: the whole data set follows as an RDB", short_id(id), self.full_at.unwrap_or(0)), &mut kind);
                    } else if l.starts_with("+CONTINUE") {
                        self.offset = self.asked.map(|o| o - 1);
                        let from = self
                            .asked
                            .map(|o| format!(" from offset {}", o - 1))
                            .unwrap_or_default();
                        note(
                            "CONTINUE",
                            format!("{l} · a partial resync: only the backlog{from} follows"),
                            &mut kind,
                        );
                    } else if l.starts_with('-') {
                        note("ERROR", l, &mut kind);
                    } else {
                        note("REPLY", l, &mut kind);
                    }
                }
                b'$' => {
                    let Some((l, n)) = line(rest) else { break };
                    pos += n;
                    if let Some(mark) = l.strip_prefix("$EOF:") {
                        self.payload = Payload::Eof(mark.as_bytes().to_vec());
                        note(
                            "RDB",
                            "$EOF:<mark> · the RDB streams straight from memory (diskless)".into(),
                            &mut kind,
                        );
                    } else {
                        let len = l[1..].parse::<usize>().unwrap_or(0);
                        self.payload = Payload::Len(len);
                        note(
                            "RDB",
                            format!("${len} · an RDB file of {len} B follows"),
                            &mut kind,
                        );
                    }
                }
                b'*' => {
                    let start = pos;
                    let mut cmds = 0;
                    let mut getack = true;
                    while let Ok(Some((argv, n))) = parse_request(&bytes[pos..], &limits()) {
                        pos += n;
                        cmds += 1;
                        getack &= argv.len() == 3 && argv[0].eq_ignore_ascii_case(b"REPLCONF");
                    }
                    if cmds == 0 {
                        break; // a command cut between segments: not ours to guess
                    }
                    let span = (pos - start) as u64;
                    let text = describe_stream(&bytes[start..pos], 3);
                    let text = match self.offset.as_mut() {
                        Some(o) => {
                            let from = *o;
                            *o += span;
                            format!("offset {from}→{}: {text}", *o)
                        }
                        None => text,
                    };
                    note(if getack { "GETACK" } else { "STREAM" }, text, &mut kind);
                }
                _ => break,
            }
        }
        if pos < bytes.len() {
            parts.push(format!("{} B", bytes.len() - pos));
        }
        Seen {
            kind: if kind.is_empty() { "BYTES" } else { kind },
            detail: parts.join(" · "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode_request;

    fn req(words: &[&str]) -> Vec<u8> {
        encode_request(
            &words
                .iter()
                .map(|w| w.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_full_sync_then_the_stream_with_its_offsets() {
        let mut w = LinkWatch::default();
        assert_eq!(w.replica_says(&req(&["PING"])).kind, "PING");
        assert_eq!(
            w.replica_says(&req(&["AUTH", "secret"])).detail,
            "AUTH ••••"
        );
        let s = w.replica_says(&req(&["PSYNC", "?", "-1"]));
        assert_eq!((s.kind, s.detail.as_str()), ("PSYNC", "PSYNC ? -1"));
        let id = "a".repeat(40);
        let s = w.primary_says(format!("+FULLRESYNC {id} 100\r\n").as_bytes());
        assert_eq!(s.kind, "FULLRESYNC");
        assert!(
            s.detail.starts_with("+FULLRESYNC aaaaaaaa… 100"),
            "{}",
            s.detail
        );
        // The payload split over two segments, the stream right after it.
        let s = w.primary_says(b"$9\r\nREDIS0");
        assert_eq!(s.kind, "RDB");
        let mut rest = b"010".to_vec();
        rest.extend(req(&["SET", "k", "v"]));
        let s = w.primary_says(&rest);
        assert_eq!(s.kind, "STREAM");
        assert!(s.detail.contains("offset 100→127: SET k v"), "{}", s.detail);
        let s = w.primary_says(&req(&["REPLCONF", "GETACK", "*"]));
        assert_eq!(s.kind, "GETACK");
        assert!(s.detail.starts_with("offset 127→"), "{}", s.detail);
        let s = w.replica_says(&req(&["REPLCONF", "ACK", "166"]));
        assert_eq!((s.kind, s.detail.as_str()), ("ACK", "REPLCONF ACK 166"));
    }

    #[test]
    fn a_partial_resync_continues_where_the_replica_asked() {
        let mut w = LinkWatch::default();
        let id = "b".repeat(40);
        w.replica_says(&req(&["PSYNC", &id, "501"]));
        let s = w.primary_says(format!("+CONTINUE {id}\r\n").as_bytes());
        assert_eq!(s.kind, "CONTINUE");
        assert!(
            s.detail.contains("only the backlog from offset 500"),
            "{}",
            s.detail
        );
        let s = w.primary_says(&req(&["DEL", "x"]));
        assert!(s.detail.starts_with("offset 500→"), "{}", s.detail);
    }

    #[test]
    fn a_diskless_payload_ends_at_its_mark() {
        let mut w = LinkWatch::default();
        w.primary_says(format!("+FULLRESYNC {} 7\r\n", "c".repeat(40)).as_bytes());
        let mark = "m".repeat(40);
        let mut b = format!("\n\n$EOF:{mark}\r\nREDIS0010").into_bytes();
        b.extend(mark.as_bytes());
        b.extend(req(&["PING"]));
        let s = w.primary_says(&b);
        assert!(s.detail.contains("keep-alive"), "{}", s.detail);
        assert!(s.detail.contains("offset 7→"), "{}", s.detail);
    }
}
