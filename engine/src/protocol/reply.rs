//! Replies: the [`Reply`] tree a command produces, its RESP2 and RESP3
//! encodings, and a reply parser for the client side (the browser console,
//! tests, and later replication links). The parser caps nesting depth and
//! never preallocates from a declared length.

use crate::limits::{ARGV_PREALLOC_MAX, REPLY_MAX_DEPTH};
use crate::protocol::request::{number, parse_i64_strict};

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR …`: the full text including the error code.
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// A null bulk string (`$-1` / `_`).
    Nil,
    /// A null array (`*-1` / `_`).
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 double; RESP2 sends it as a bulk string.
    Double(f64),
    /// A RESP3 double written as given (GEOPOS's human-friendly long
    /// double, `%.17Lf` trimmed); RESP2 sends the text as a bulk string.
    DoubleText(String),
    /// RESP3 map; RESP2 sends a flat array of key, value, key, value…
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; RESP2 sends an array.
    Set(Vec<Reply>),
    /// RESP3 boolean; RESP2 sends 1 or 0.
    Bool(bool),
    /// RESP3 verbatim string (`=15\r\ntxt:…`); RESP2 sends a bulk string.
    Verbatim(&'static str, Vec<u8>),
    /// RESP3 push (`>`); only meaningful in RESP3.
    Push(Vec<Reply>),
    /// RESP3 big number (`(`); RESP2 sends a bulk string.
    BigNumber(String),
    /// Several replies sent back to back for one command (SUBSCRIBE's
    /// confirmations, one per channel). Never produced by the parser.
    Seq(Vec<Reply>),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply::Error(msg.into())
    }
    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(b.as_ref().to_vec())
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends this reply's encoding for protocol version `resp` (2 or 3).
    pub fn encode(&self, resp: u8, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            // An error line cannot hold CR or LF: RESP3 sends a blob error,
            // RESP2 turns them into spaces as Redis's addReplyError does.
            Reply::Error(s) if s.contains(['\r', '\n']) => {
                if resp >= 3 {
                    number(out, b'!', s.len() as i64);
                    out.extend_from_slice(s.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    line(out, b'-', s.replace(['\r', '\n'], " ").as_bytes());
                }
            }
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Int(i) => number(out, b':', *i),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Nil => out.extend_from_slice(if resp >= 3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.extend_from_slice(if resp >= 3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => {
                number(out, b'*', items.len() as i64);
                for i in items {
                    i.encode(resp, out);
                }
            }
            Reply::Double(d) => {
                let s = format_double(*d);
                if resp >= 3 {
                    line(out, b',', s.as_bytes());
                } else {
                    bulk(out, s.as_bytes());
                }
            }
            Reply::Map(pairs) => {
                let (tag, n) = if resp >= 3 {
                    (b'%', pairs.len())
                } else {
                    (b'*', pairs.len() * 2)
                };
                number(out, tag, n as i64);
                for (k, v) in pairs {
                    k.encode(resp, out);
                    v.encode(resp, out);
                }
            }
            Reply::Set(items) | Reply::Push(items) => {
                let tag = match (self, resp >= 3) {
                    (Reply::Set(_), true) => b'~',
                    (Reply::Push(_), true) => b'>',
                    _ => b'*',
                };
                number(out, tag, items.len() as i64);
                for i in items {
                    i.encode(resp, out);
                }
            }
            Reply::Bool(b) => {
                if resp >= 3 {
                    out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Verbatim(fmt, body) => {
                if resp >= 3 {
                    number(out, b'=', (body.len() + 4) as i64);
                    out.extend_from_slice(fmt.as_bytes());
                    out.push(b':');
                    out.extend_from_slice(body);
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, body);
                }
            }
            Reply::DoubleText(s) => {
                if resp >= 3 {
                    line(out, b',', s.as_bytes());
                } else {
                    bulk(out, s.as_bytes());
                }
            }
            Reply::BigNumber(s) => {
                if resp >= 3 {
                    line(out, b'(', s.as_bytes());
                } else {
                    bulk(out, s.as_bytes());
                }
            }
            Reply::Seq(items) => {
                for i in items {
                    i.encode(resp, out);
                }
            }
        }
    }

    pub fn to_bytes(&self, resp: u8) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(resp, &mut v);
        v
    }
}

fn line(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() + 16);
    number(out, b'$', b.len() as i64);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Redis's RESP3 double formatting (`%.17g`, with `inf`, `-inf`, `nan`).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        crate::store::number::format_g17(d)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyError(pub String);

/// Parses one reply from `buf`: `Ok(Some((reply, consumed)))`, `Ok(None)` if
/// incomplete, or an error for malformed input or nesting deeper than
/// [`REPLY_MAX_DEPTH`].
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    // Iterative, with an explicit stack of open aggregates, so hostile
    // nesting costs heap (bounded by REPLY_MAX_DEPTH), never the call stack.
    struct Open {
        tag: u8,
        want: usize,
        items: Vec<Reply>,
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut pos = 0;
    loop {
        let (mut reply, next) = match parse_scalar(buf, pos)? {
            None => return Ok(None),
            Some(Scalar::Done(r, n)) => (r, n),
            Some(Scalar::Aggregate(tag, count, n)) => {
                if stack.len() >= REPLY_MAX_DEPTH {
                    return Err(ReplyError("reply nested too deeply".into()));
                }
                pos = n;
                if count > 0 {
                    stack.push(Open {
                        tag,
                        want: count,
                        items: Vec::with_capacity(count.min(ARGV_PREALLOC_MAX)),
                    });
                    continue;
                }
                (close_aggregate(tag, Vec::new()), n)
            }
        };
        pos = next;
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(Some((reply, pos)));
            };
            top.items.push(reply);
            if top.items.len() < top.want {
                break;
            }
            let done = stack.pop().expect("non-empty");
            reply = close_aggregate(done.tag, done.items);
        }
    }
}

enum Scalar {
    Done(Reply, usize),
    /// An aggregate header: its tag, how many child replies follow, where they start.
    Aggregate(u8, usize, usize),
}

fn close_aggregate(tag: u8, items: Vec<Reply>) -> Reply {
    match tag {
        b'~' => Reply::Set(items),
        b'>' => Reply::Push(items),
        b'%' => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        _ => Reply::Array(items),
    }
}

/// The line after the type byte at `pos`: (body, position after its CRLF).
fn read_line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let body = pos + 1;
    let cr = buf.get(body..)?.windows(2).position(|w| w == b"\r\n")? + body;
    Some((&buf[body..cr], cr + 2))
}

fn int_of(s: &[u8]) -> Result<i64, ReplyError> {
    parse_i64_strict(s)
        .ok_or_else(|| ReplyError(format!("bad length {:?}", String::from_utf8_lossy(s))))
}

fn parse_scalar(buf: &[u8], pos: usize) -> Result<Option<Scalar>, ReplyError> {
    if pos >= buf.len() {
        return Ok(None);
    }
    let tag = buf[pos];
    if !b"+-:_#,($=!*~>%".contains(&tag) {
        return Err(ReplyError(format!(
            "unknown reply type byte {:?}",
            tag as char
        )));
    }
    let Some((body, next)) = read_line(buf, pos) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    let done = |r| Ok(Some(Scalar::Done(r, next)));
    match tag {
        b'+' => done(Reply::Simple(text())),
        b'-' => done(Reply::Error(text())),
        b':' => done(Reply::Int(int_of(body)?)),
        b'_' => done(Reply::Nil),
        b'#' => done(Reply::Bool(body == b"t")),
        b',' => {
            let s = text();
            let d = match s.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => s
                    .parse()
                    .map_err(|_| ReplyError(format!("bad double {s:?}")))?,
            };
            done(Reply::Double(d))
        }
        b'(' => done(Reply::BigNumber(text())),
        b'$' | b'=' | b'!' => {
            let n = int_of(body)?;
            if n < 0 {
                return done(Reply::Nil);
            }
            let n = n as usize;
            if buf.len() - next < n.saturating_add(2) {
                return Ok(None);
            }
            let data = buf[next..next + n].to_vec();
            let end = next + n + 2;
            let r = match tag {
                b'=' if data.len() >= 4 => Reply::Verbatim("txt", data[4..].to_vec()),
                b'!' => Reply::Error(String::from_utf8_lossy(&data).into_owned()),
                _ => Reply::Bulk(data),
            };
            Ok(Some(Scalar::Done(r, end)))
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = int_of(body)?;
            if n < 0 {
                return done(Reply::NilArray);
            }
            let count = if tag == b'%' {
                (n as usize).saturating_mul(2)
            } else {
                n as usize
            };
            Ok(Some(Scalar::Aggregate(tag, count, next)))
        }
        other => Err(ReplyError(format!(
            "unknown reply type byte {:?}",
            other as char
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        let replies = vec![
            Reply::ok(),
            Reply::err("ERR x"),
            Reply::Int(-42),
            Reply::bulk("a\r\nb"),
            Reply::bulk(""),
            Reply::Nil,
            Reply::Array(vec![Reply::Int(1), Reply::Array(vec![Reply::bulk("x")])]),
            Reply::Double(1.5),
            Reply::Map(vec![(Reply::bulk("k"), Reply::Int(1))]),
            Reply::Set(vec![Reply::bulk("m")]),
            Reply::Bool(true),
            Reply::Verbatim("txt", b"hello".to_vec()),
            Reply::Push(vec![Reply::bulk("message")]),
            Reply::BigNumber("123456789012345678901234567890".into()),
        ];
        for r in replies {
            let bytes = r.to_bytes(3);
            let (back, n) = parse_reply(&bytes).unwrap().unwrap();
            assert_eq!(n, bytes.len());
            assert_eq!(back, r, "{:?}", String::from_utf8_lossy(&bytes));
            assert_eq!(back.to_bytes(3), bytes);
            for cut in 0..bytes.len() {
                assert_eq!(parse_reply(&bytes[..cut]).unwrap(), None);
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        // Found by `cargo xtask fuzz resp_reply`: a CRLF where the type byte goes.
        assert!(parse_reply(b"\r\n\n\x1d").is_err());
        assert!(parse_reply(b"\r").is_err());
        assert!(parse_reply(b"$5\r\nab").unwrap().is_none());
        // A blob error with CRLF inside re-encodes to something that parses back.
        let (r, _) = parse_reply(b"!6\r\n\r\n4*,~\r\n").unwrap().unwrap();
        let enc = r.to_bytes(3);
        assert_eq!(parse_reply(&enc).unwrap().unwrap().0, r);
        assert_eq!(r.to_bytes(2), b"-  4*,~\r\n");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "*1\r\n".repeat(100_000);
        assert!(parse_reply(deep.as_bytes()).is_err());
        assert_eq!(parse_reply(b"*2147483647\r\n:1\r\n").unwrap(), None);
    }

    #[test]
    fn resp2_downgrades() {
        assert_eq!(Reply::Nil.to_bytes(2), b"$-1\r\n");
        assert_eq!(Reply::NilArray.to_bytes(2), b"*-1\r\n");
        assert_eq!(parse_reply(b"*-1\r\n").unwrap(), Some((Reply::NilArray, 5)));
        assert_eq!(
            Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]).to_bytes(2),
            b"*2\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(Reply::Bool(false).to_bytes(2), b":0\r\n");
        assert_eq!(Reply::Double(0.5).to_bytes(2), b"$3\r\n0.5\r\n");
    }
}
