//! Parsing client requests: RESP multibulk (`*N\r\n$len\r\n…`) and inline
//! (telnet style) commands, with Redis's limits and error words.
//!
//! `parse_request` is a pure function of the buffer: it returns the first
//! complete command and the bytes it consumed, `Ok(None)` when more bytes are
//! needed (nothing is consumed until a frame completes), or a protocol error
//! in Redis's words. It never allocates from a declared length.

use crate::limits::{
    ARGV_PREALLOC_MAX, PROTO_INLINE_MAX_SIZE, PROTO_MAX_MULTIBULK_LEN, UNAUTHENTICATED_MAX_ARGS,
    UNAUTHENTICATED_MAX_BULK,
};
use crate::protocol::args::split_args;

#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: u64,
    /// The client must still AUTH: Redis then allows at most 10 arguments
    /// of at most 16 KB each.
    pub unauthenticated: bool,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_bulk_len: crate::limits::PROTO_MAX_BULK_LEN,
            unauthenticated: false,
        }
    }
}

/// A protocol error; the text is what Redis sends after `-ERR `, after which
/// the connection is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(reason: &str) -> ProtocolError {
        ProtocolError(format!("Protocol error: {reason}"))
    }
}

/// One parsed request: the argument vector (possibly empty for a blank inline
/// line or `*0`, which Redis silently skips) and the bytes consumed.
pub type Parsed = (Vec<Vec<u8>>, usize);

pub fn parse_request(buf: &[u8], limits: &RequestLimits) -> Result<Option<Parsed>, ProtocolError> {
    let mut argv = Vec::new();
    Ok(parse_request_into(buf, limits, &mut argv)?.map(|n| (argv, n)))
}

/// [`parse_request`] into `argv`, whose argument buffers are reused (a
/// node parses a pipeline's commands into one vector, so a command costs
/// no allocation for its arguments once the vector has grown). On `Ok(Some(n))`
/// `argv` holds the command and `n` bytes were used; otherwise its
/// content means nothing.
pub fn parse_request_into(
    buf: &[u8],
    limits: &RequestLimits,
    argv: &mut Vec<Vec<u8>>,
) -> Result<Option<usize>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        parse_multibulk(buf, limits, argv)
    } else {
        Ok(parse_inline(buf)?.map(|(v, n)| {
            *argv = v;
            n
        }))
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|&b| b == b'\r')
        .map(|p| p + from)
}

/// Encodes an argument vector as a RESP multibulk request, the form clients
/// send (the console, tests, benchmarks).
pub fn encode_request(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + argv.iter().map(|a| a.len() + 16).sum::<usize>());
    encode_request_into(&mut out, argv);
    out
}

/// Appends `argv` as a RESP multibulk request, allocating nothing of its
/// own (the replication stream encodes every write with it).
pub fn encode_request_into<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    number(out, b'*', argv.len() as i64);
    for a in argv {
        let a = a.as_ref();
        number(out, b'$', a.len() as i64);
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `<tag><i>\r\n`, the digits written on the stack (no allocation: every
/// integer reply, every reply length and every request header goes
/// through here).
pub(crate) fn number(out: &mut Vec<u8>, tag: u8, i: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = i.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.reserve(24);
    out.push(tag);
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// Redis's `string2ll`: strict decimal, optional '-', no '+', no spaces, no
/// leading zeros.
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Reads a `<prefix><number>\r\n` line at `pos`. `Ok(None)`: incomplete.
fn read_len_line<'a>(
    buf: &'a [u8],
    pos: usize,
    too_big: &str,
) -> Result<Option<(&'a [u8], usize)>, ProtocolError> {
    match find_crlf(buf, pos) {
        None => {
            if buf.len() - pos > PROTO_INLINE_MAX_SIZE {
                Err(ProtocolError::new(too_big))
            } else {
                Ok(None)
            }
        }
        Some(cr) => {
            if cr + 1 >= buf.len() {
                return Ok(None); // need the '\n'
            }
            if cr - pos > PROTO_INLINE_MAX_SIZE {
                return Err(ProtocolError::new(too_big));
            }
            Ok(Some((&buf[pos + 1..cr], cr + 2)))
        }
    }
}

fn parse_multibulk(
    buf: &[u8],
    limits: &RequestLimits,
    argv: &mut Vec<Vec<u8>>,
) -> Result<Option<usize>, ProtocolError> {
    let Some((count, mut pos)) = read_len_line(buf, 0, "too big mbulk count string")? else {
        return Ok(None);
    };
    let count = match parse_i64_strict(count) {
        Some(n) if n <= PROTO_MAX_MULTIBULK_LEN => n,
        _ => return Err(ProtocolError::new("invalid multibulk length")),
    };
    if limits.unauthenticated && count > UNAUTHENTICATED_MAX_ARGS {
        return Err(ProtocolError::new("unauthenticated multibulk length"));
    }
    if count <= 0 {
        argv.clear();
        return Ok(Some(pos));
    }
    argv.truncate(count as usize);
    argv.reserve(
        (count as usize)
            .min(ARGV_PREALLOC_MAX)
            .saturating_sub(argv.len()),
    );
    for i in 0..count as usize {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            let got = buf[pos] as char;
            return Err(ProtocolError(format!(
                "Protocol error: expected '$', got '{got}'"
            )));
        }
        let Some((len, next)) = read_len_line(buf, pos, "too big bulk count string")? else {
            return Ok(None);
        };
        let len = match parse_i64_strict(len) {
            Some(n) if limits.unauthenticated && n > UNAUTHENTICATED_MAX_BULK => {
                return Err(ProtocolError::new("unauthenticated bulk length"))
            }
            Some(n) if n >= 0 && (n as u64) <= limits.max_bulk_len => n as usize,
            _ => return Err(ProtocolError::new("invalid bulk length")),
        };
        // `len + 2` cannot overflow: len <= max_bulk_len which is far below usize::MAX.
        if buf.len() < next || buf.len() - next < len + 2 {
            return Ok(None);
        }
        let bytes = &buf[next..next + len];
        match argv.get_mut(i) {
            Some(arg) => {
                arg.clear();
                arg.extend_from_slice(bytes);
            }
            None => argv.push(bytes.to_vec()),
        }
        // Redis does not check that the two bytes after the bulk are CRLF; it skips them.
        pos = next + len + 2;
    }
    Ok(Some(pos))
}

fn parse_inline(buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > PROTO_INLINE_MAX_SIZE {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    if nl > PROTO_INLINE_MAX_SIZE {
        return Err(ProtocolError::new("too big inline request"));
    }
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    match split_args(line) {
        Some(argv) => Ok(Some((argv, nl + 1))),
        None => Err(ProtocolError::new("unbalanced quotes in request")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
        parse_request(b, &RequestLimits::default())
    }

    #[test]
    fn every_split_parses_the_same() {
        let frames: &[u8] =
            b"*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\nGET \"a b\" 'c'\r\n";
        let mut whole = Vec::new();
        let mut rest = frames;
        while let Some((argv, n)) = parse(rest).unwrap() {
            whole.push(argv);
            rest = &rest[n..];
        }
        assert_eq!(whole.len(), 3);
        assert_eq!(
            whole[2],
            vec![b"GET".to_vec(), b"a b".to_vec(), b"c".to_vec()]
        );
        for cut in 0..frames.len() {
            // Feed in two chunks: nothing may be consumed before a frame completes.
            let mut buf = frames[..cut].to_vec();
            let mut got = Vec::new();
            let mut drain = |buf: &mut Vec<u8>| {
                while let Some((argv, n)) = parse(buf).unwrap() {
                    got.push(argv);
                    buf.drain(..n);
                }
            };
            drain(&mut buf);
            buf.extend_from_slice(&frames[cut..]);
            drain(&mut buf);
            assert_eq!(got, whole, "split at {cut}");
        }
    }

    #[test]
    fn limits_answer_with_redis_words() {
        let cases: &[(&[u8], &str)] = &[
            (b"*abc\r\n", "Protocol error: invalid multibulk length"),
            (
                b"*2147483648\r\n",
                "Protocol error: invalid multibulk length",
            ),
            (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
            (
                b"*1\r\n$536870913\r\n",
                "Protocol error: invalid bulk length",
            ),
            (b"*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'"),
            (
                b"GET \"abc\r\n",
                "Protocol error: unbalanced quotes in request",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse(input),
                Err(ProtocolError(want.to_string())),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(
            parse(&long),
            Err(ProtocolError(
                "Protocol error: too big inline request".into()
            ))
        );
        let mut mb = b"*".to_vec();
        mb.extend(std::iter::repeat_n(b'1', PROTO_INLINE_MAX_SIZE + 1));
        assert_eq!(
            parse(&mb),
            Err(ProtocolError(
                "Protocol error: too big mbulk count string".into()
            ))
        );
    }

    #[test]
    fn huge_declared_lengths_allocate_nothing_up_front() {
        // A declared 2^31-1 element array with one element present: incomplete, not OOM.
        assert_eq!(parse(b"*2147483647\r\n$1\r\na\r\n").unwrap(), None);
        // A declared 512 MB bulk with 3 bytes present: incomplete.
        assert_eq!(parse(b"*1\r\n$536870912\r\nabc").unwrap(), None);
    }

    #[test]
    fn strict_integers() {
        for (s, v) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("+1", None),
            ("01", None),
            (" 1", None),
            ("-0", None),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("-9223372036854775808", Some(i64::MIN)),
        ] {
            assert_eq!(parse_i64_strict(s.as_bytes()), v, "{s}");
        }
    }
}
