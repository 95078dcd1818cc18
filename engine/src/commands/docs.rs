//! Redis's command docs rendered for people, as redis-cli renders them:
//! the argument syntax of its hints (`SET key value [NX|XX] [GET] …`), the
//! `help CMD` text and `help @group` lists, and name completion. Read from
//! the same COMMAND DOCS data the node answers with, without building the
//! command table (so the page's console links no command handlers); like
//! redis-cli's, the list covers Redis 7.0's commands.

use crate::protocol::{parse_reply, Reply};

/// One command's help, as `help CMD` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct Help {
    /// Upper case, subcommands spelled out: "SET", "CONFIG GET".
    pub name: String,
    /// The arguments after the name, in redis-cli's notation.
    pub syntax: String,
    pub summary: String,
    pub since: String,
    pub group: String,
    pub complexity: String,
}

impl Help {
    /// redis-cli's `help CMD` block.
    pub fn text(&self) -> String {
        format!(
            "\n  {} {}\n  summary: {}\n  since: {}\n  group: {}\n",
            self.name, self.syntax, self.summary, self.since, self.group
        )
    }
}

fn field<'a>(map: &'a Reply, name: &str) -> Option<&'a Reply> {
    let Reply::Map(pairs) = map else { return None };
    pairs
        .iter()
        .find(|(k, _)| matches!(k, Reply::Bulk(b) if b == name.as_bytes()))
        .map(|(_, v)| v)
}

fn text(r: Option<&Reply>) -> String {
    match r {
        Some(Reply::Bulk(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Reply::Simple(s)) => s.clone(),
        _ => String::new(),
    }
}

fn has_flag(arg: &Reply, flag: &str) -> bool {
    match field(arg, "flags") {
        Some(Reply::Set(fs) | Reply::Array(fs)) => fs
            .iter()
            .any(|f| matches!(f, Reply::Simple(s) if s == flag)),
        _ => false,
    }
}

fn args_of(r: Option<&Reply>) -> &[Reply] {
    match r {
        Some(Reply::Array(a)) => a,
        _ => &[],
    }
}

/// One argument in redis-cli's notation: tokens upper case, `oneof` joined
/// by `|`, blocks by spaces, `[…]` when optional, `x [x ...]` when multiple.
pub fn argument(arg: &Reply) -> String {
    let ty = text(field(arg, "type"));
    let token = text(field(arg, "token"));
    let name = {
        let d = text(field(arg, "display_text"));
        if d.is_empty() {
            text(field(arg, "name"))
        } else {
            d
        }
    };
    let subs = args_of(field(arg, "arguments"));
    let body = match ty.as_str() {
        "pure-token" => token.clone(),
        "oneof" => subs.iter().map(argument).collect::<Vec<_>>().join("|"),
        "block" => subs.iter().map(argument).collect::<Vec<_>>().join(" "),
        _ => name,
    };
    let body = if !token.is_empty() && ty != "pure-token" {
        format!("{token} {body}")
    } else {
        body
    };
    let body = if has_flag(arg, "multiple") {
        format!("{body} [{body} ...]")
    } else {
        body
    };
    if has_flag(arg, "optional") {
        format!("[{body}]")
    } else {
        body
    }
}

fn help_of(fullname: &str, docs: &Reply) -> Help {
    let syntax = args_of(field(docs, "arguments"))
        .iter()
        .map(argument)
        .collect::<Vec<_>>()
        .join(" ");
    Help {
        name: fullname.replace('|', " ").to_ascii_uppercase(),
        syntax,
        summary: text(field(docs, "summary")),
        since: text(field(docs, "since")),
        group: text(field(docs, "group")),
        complexity: text(field(docs, "complexity")),
    }
}

/// Every command and subcommand of Redis 7.0, sorted by name (a container
/// such as CONFIG is listed by its subcommands).
pub fn all() -> Vec<Help> {
    let mut out = Vec::new();
    if let Ok(Some((Reply::Map(pairs), _))) = parse_reply(super::DOCS) {
        for (name, doc) in &pairs {
            collect(&text(Some(name)), doc, &mut out);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn collect(name: &str, doc: &Reply, out: &mut Vec<Help>) {
    match field(doc, "subcommands") {
        Some(Reply::Map(subs)) if !subs.is_empty() => {
            for (sub, sdoc) in subs {
                collect(&text(Some(sub)), sdoc, out);
            }
        }
        _ => out.push(help_of(name, doc)),
    }
}

/// The command a typed line starts with (its longest name, so `CONFIG GET`
/// before `CONFIG`), and how many words that name takes.
pub fn lookup<'a>(helps: &'a [Help], line: &str) -> Option<(&'a Help, usize)> {
    let words: Vec<String> = line
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_uppercase)
        .collect();
    let two = words.join(" ");
    if words.len() == 2 {
        if let Some(h) = helps.iter().find(|h| h.name == two) {
            return Some((h, 2));
        }
    }
    let one = words.first()?;
    helps.iter().find(|h| &h.name == one).map(|h| (h, 1))
}

/// redis-cli's hint: the syntax still to type after what the line already
/// has (one syntax word per typed argument is dropped, roughly as
/// redis-cli does for plain arguments).
pub fn hint(helps: &[Help], line: &str) -> Option<String> {
    let (h, taken) = lookup(helps, line)?;
    if !line.ends_with(' ') && line.split_whitespace().count() == taken {
        // Still typing the name.
        return None;
    }
    let typed = line.split_whitespace().count() - taken;
    let mut rest: Vec<&str> = h.syntax.split(' ').collect();
    // Only plain leading words (not optional groups) are consumed.
    let mut n = 0;
    while n < typed && !rest.is_empty() && !rest[0].starts_with('[') {
        rest.remove(0);
        n += 1;
    }
    if n < typed {
        return Some(String::new());
    }
    Some(rest.join(" "))
}

/// Tab: the names that start with what is typed (case-insensitive).
pub fn complete(helps: &[Help], prefix: &str) -> Vec<String> {
    let p = prefix.trim_start().to_ascii_uppercase();
    if p.is_empty() {
        return Vec::new();
    }
    let mut names: Vec<String> = helps
        .iter()
        .filter(|h| h.name.starts_with(&p))
        .map(|h| h.name.clone())
        .collect();
    names.dedup();
    names
}

/// `help @group`: the commands of a group, as redis-cli lists them.
pub fn group<'a>(helps: &'a [Help], group: &str) -> Vec<&'a Help> {
    helps
        .iter()
        .filter(|h| h.group.eq_ignore_ascii_case(group))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helps() -> Vec<Help> {
        all()
    }

    #[test]
    fn syntax_reads_as_redis_cli_writes_it() {
        let h = helps();
        let set = lookup(&h, "set").unwrap().0;
        assert_eq!(
            set.syntax,
            "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"
        );
        assert_eq!(set.summary, "Set the string value of a key");
        assert_eq!(set.group, "string");
        assert_eq!(lookup(&h, "DEL").unwrap().0.syntax, "key [key ...]");
        let (cg, 2) = lookup(&h, "config get maxmemory").unwrap() else {
            panic!("CONFIG GET is two words");
        };
        assert_eq!(cg.name, "CONFIG GET");
        assert_eq!(cg.syntax, "parameter [parameter ...]");
        assert!(set.text().contains("\n  SET key value [NX|XX]"));
    }

    #[test]
    fn hints_follow_what_is_typed_and_tab_completes() {
        let h = helps();
        assert_eq!(hint(&h, "SET"), None);
        assert_eq!(
            hint(&h, "set ").unwrap(),
            lookup(&h, "set").unwrap().0.syntax
        );
        assert!(hint(&h, "set k ").unwrap().starts_with("value [NX|XX]"));
        assert!(hint(&h, "set k v ").unwrap().starts_with("[NX|XX]"));
        assert_eq!(hint(&h, "nosuchcommand x"), None);
        assert_eq!(
            complete(&h, "zra"),
            vec![
                "ZRANDMEMBER",
                "ZRANGE",
                "ZRANGEBYLEX",
                "ZRANGEBYSCORE",
                "ZRANGESTORE",
                "ZRANK"
            ]
        );
        assert!(complete(&h, "config g").contains(&"CONFIG GET".to_string()));
        assert!(group(&h, "geo").iter().any(|c| c.name == "GEOSEARCH"));
    }
}
