//! The client side of redis-cli: replies formatted exactly as redis-cli
//! formats them on a terminal (`cliFormatReplyTTY`), and its quoting
//! (`sdscatrepr`). Used by the playground's console.

use crate::protocol::Reply;

/// redis-cli's `sdscatrepr`: a double-quoted string with C escapes.
pub fn repr(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// Commands whose bulk replies redis-cli prints raw (INFO, CLIENT LIST, …).
pub fn raw_output(argv: &[Vec<u8>]) -> bool {
    let lower = |i: usize| {
        argv.get(i)
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .unwrap_or_default()
    };
    let (cmd, sub) = (lower(0), lower(1));
    cmd == "info"
        || cmd == "lolwut"
        || (cmd == "client" && (sub == "list" || sub == "info"))
        || (cmd == "memory" && (sub == "doctor" || sub == "malloc-stats"))
        || (cmd == "cluster" && (sub == "nodes" || sub == "info"))
}

pub fn format_reply(r: &Reply, raw: bool) -> String {
    format_indented(r, "", raw)
}

fn format_indented(r: &Reply, prefix: &str, raw: bool) -> String {
    match r {
        Reply::Simple(s) => s.clone(),
        Reply::Error(e) => format!("(error) {e}"),
        Reply::Int(i) => format!("(integer) {i}"),
        Reply::Bulk(b) if raw => String::from_utf8_lossy(b).into_owned(),
        Reply::Bulk(b) => repr(b),
        Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        Reply::BigNumber(n) => format!("(big number) {n}"),
        Reply::DoubleText(d) => format!("(double) {d}"),
        Reply::Seq(items) => items
            .iter()
            .map(|i| format_indented(i, prefix, raw))
            .collect::<Vec<_>>()
            .join("\n"),
        Reply::Nil | Reply::NilArray => "(nil)".into(),
        Reply::Double(d) => format!("(double) {}", crate::protocol::reply::format_double(*d)),
        Reply::Bool(b) => {
            if *b {
                "(true)".into()
            } else {
                "(false)".into()
            }
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            if items.is_empty() {
                return match r {
                    Reply::Set(_) => "(empty set)".into(),
                    _ => "(empty array)".into(),
                };
            }
            let width = items.len().to_string().len();
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                let label = format!("{:>width$}) ", i + 1);
                let child_prefix = format!("{prefix}{}", " ".repeat(label.len()));
                if i > 0 {
                    out.push('\n');
                    out.push_str(prefix);
                }
                out.push_str(&label);
                out.push_str(&format_indented(item, &child_prefix, raw));
            }
            out
        }
        Reply::Map(pairs) => {
            if pairs.is_empty() {
                return "(empty hash)".into();
            }
            let width = pairs.len().to_string().len();
            let mut out = String::new();
            for (i, (k, v)) in pairs.iter().enumerate() {
                let label = format!("{:>width$}# ", i + 1);
                let child_prefix = format!("{prefix}{}", " ".repeat(label.len()));
                if i > 0 {
                    out.push('\n');
                    out.push_str(prefix);
                }
                out.push_str(&label);
                out.push_str(&format_indented(k, &child_prefix, raw));
                out.push_str(" => ");
                out.push_str(&format_indented(v, &child_prefix, raw));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_redis_cli() {
        let cases: Vec<(Reply, &str)> = vec![
            (Reply::ok(), "OK"),
            (Reply::Int(1), "(integer) 1"),
            (Reply::bulk("bar"), "\"bar\""),
            (Reply::bulk("a\"b\n\x01"), "\"a\\\"b\\n\\x01\""),
            (Reply::Nil, "(nil)"),
            (
                Reply::err("ERR unknown command"),
                "(error) ERR unknown command",
            ),
            (Reply::Array(vec![]), "(empty array)"),
            (
                Reply::Array(vec![Reply::bulk("a"), Reply::Nil]),
                "1) \"a\"\n2) (nil)",
            ),
            (
                Reply::Array(vec![
                    Reply::bulk("0"),
                    Reply::Array(vec![Reply::bulk("k1"), Reply::bulk("k2")]),
                ]),
                "1) \"0\"\n2) 1) \"k1\"\n   2) \"k2\"",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(format_reply(&r, false), want);
        }
    }
}
