//! Pub/sub: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE
//! SUNSUBSCRIBE PUBLISH SPUBLISH PUBSUB (CHANNELS NUMSUB NUMPAT
//! SHARDCHANNELS SHARDNUMSUB), as pubsub.c in Redis 7.0: channel
//! subscribers are served in subscription order, then pattern subscribers;
//! messages are arrays in RESP2 and push frames in RESP3. A RESP2 client
//! with subscriptions may only run (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE /
//! PING / QUIT / RESET (checked in [`super::dispatch`]).
//!
//! Messages for other connections are queued in `Server::pubsub_out`; the
//! node encodes each in its receiver's protocol after the command.

use super::{Ctx, Handler};
use crate::glob::glob_match;
use crate::node::Server;
use crate::protocol::Reply;
use crate::ConnId;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "subscribe" => |c, a| subscribe(c, a, Kind::Channel),
        "ssubscribe" => |c, a| subscribe(c, a, Kind::Shard),
        "psubscribe" => |c, a| subscribe(c, a, Kind::Pattern),
        "unsubscribe" => |c, a| unsubscribe(c, a, Kind::Channel),
        "sunsubscribe" => |c, a| unsubscribe(c, a, Kind::Shard),
        "punsubscribe" => |c, a| unsubscribe(c, a, Kind::Pattern),
        "publish" => |c, a| publish(c, a, false),
        "spublish" => |c, a| publish(c, a, true),
        "pubsub|channels" => |c, a| channels(c, a, false),
        "pubsub|shardchannels" => |c, a| channels(c, a, true),
        "pubsub|numsub" => |c, a| numsub(c, a, false),
        "pubsub|shardnumsub" => |c, a| numsub(c, a, true),
        "pubsub|numpat" => |c, _| Reply::Int(c.srv.patterns.len() as i64),
        "pubsub|help" => help,
        _ => return None,
    })
}

/// A client's subscriptions.
#[derive(Clone, Debug, Default)]
pub struct Subs {
    pub channels: indexmap::IndexSet<Vec<u8>>,
    pub patterns: indexmap::IndexSet<Vec<u8>>,
    pub shard: indexmap::IndexSet<Vec<u8>>,
}

impl Subs {
    /// `clientSubscriptionsCount`: channels and patterns.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
    pub fn total(&self) -> usize {
        self.count() + self.shard.len()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

fn push(kind: &str, name: Option<&[u8]>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk(kind),
        name.map(Reply::bulk).unwrap_or(Reply::Nil),
        Reply::Int(count as i64),
    ])
}

fn subscribe(ctx: &mut Ctx, argv: &[Vec<u8>], kind: Kind) -> Reply {
    let in_exec = ctx.client().is_some_and(|c| c.in_multi);
    if kind == Kind::Shard && in_exec {
        return Reply::err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    }
    let conn = ctx.conn;
    let mut out = Vec::with_capacity(argv.len() - 1);
    for name in &argv[1..] {
        let c = ctx.client_mut();
        let added = match kind {
            Kind::Channel => c.subs.channels.insert(name.clone()),
            Kind::Pattern => c.subs.patterns.insert(name.clone()),
            Kind::Shard => c.subs.shard.insert(name.clone()),
        };
        let count = if kind == Kind::Shard {
            c.subs.shard.len()
        } else {
            c.subs.count()
        };
        if added {
            let table = match kind {
                Kind::Channel => ctx.srv.channels.entry(name.clone()).or_default(),
                Kind::Pattern => ctx.srv.patterns.entry(name.clone()).or_default(),
                Kind::Shard => ctx.srv.shard_channels.entry(name.clone()).or_default(),
            };
            table.push(conn);
        }
        let word = match kind {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        };
        out.push(push(word, Some(name), count));
    }
    Reply::Seq(out)
}

fn unsubscribe(ctx: &mut Ctx, argv: &[Vec<u8>], kind: Kind) -> Reply {
    let conn = ctx.conn;
    let names: Vec<Vec<u8>> = if argv.len() > 1 {
        argv[1..].to_vec()
    } else {
        let s = &ctx.client_mut().subs;
        match kind {
            Kind::Channel => s.channels.iter().cloned().collect(),
            Kind::Pattern => s.patterns.iter().cloned().collect(),
            Kind::Shard => s.shard.iter().cloned().collect(),
        }
    };
    let word = match kind {
        Kind::Channel => "unsubscribe",
        Kind::Pattern => "punsubscribe",
        Kind::Shard => "sunsubscribe",
    };
    let mut out = Vec::with_capacity(names.len().max(1));
    for name in &names {
        remove(ctx.srv, conn, name, kind);
        let s = &ctx.client_mut().subs;
        let count = if kind == Kind::Shard {
            s.shard.len()
        } else {
            s.count()
        };
        out.push(push(word, Some(name), count));
    }
    if out.is_empty() {
        let s = &ctx.client_mut().subs;
        let count = if kind == Kind::Shard {
            s.shard.len()
        } else {
            s.count()
        };
        out.push(push(word, None, count));
    }
    Reply::Seq(out)
}

fn remove(srv: &mut Server, conn: ConnId, name: &[u8], kind: Kind) {
    let Some(c) = srv.clients.get_mut(&conn) else {
        return;
    };
    let was = match kind {
        Kind::Channel => c.subs.channels.shift_remove(name),
        Kind::Pattern => c.subs.patterns.shift_remove(name),
        Kind::Shard => c.subs.shard.shift_remove(name),
    };
    if !was {
        return;
    }
    let table = match kind {
        Kind::Channel => &mut srv.channels,
        Kind::Shard => &mut srv.shard_channels,
        Kind::Pattern => {
            if let Some(v) = srv.patterns.get_mut(name) {
                v.retain(|c| *c != conn);
                if v.is_empty() {
                    srv.patterns.shift_remove(name);
                }
            }
            return;
        }
    };
    if let Some(v) = table.get_mut(name) {
        v.retain(|c| *c != conn);
        if v.is_empty() {
            table.remove(name);
        }
    }
}

/// Drops every subscription of `conn` (RESET, a closed connection).
pub fn forget(srv: &mut Server, conn: ConnId) {
    let Some(c) = srv.clients.get(&conn) else {
        return;
    };
    let s = c.subs.clone();
    for n in &s.channels {
        remove(srv, conn, n, Kind::Channel);
    }
    for n in &s.patterns {
        remove(srv, conn, n, Kind::Pattern);
    }
    for n in &s.shard {
        remove(srv, conn, n, Kind::Shard);
    }
}

/// Delivers `msg` on `channel`: to its subscribers in subscription order,
/// then (not for shard channels) to pattern subscribers. Returns receivers.
pub fn deliver(srv: &mut Server, channel: &[u8], msg: &[u8], shard: bool) -> usize {
    let mut n = 0;
    let subs = if shard {
        srv.shard_channels.get(channel).cloned()
    } else {
        srv.channels.get(channel).cloned()
    };
    let word = if shard { "smessage" } else { "message" };
    for conn in subs.unwrap_or_default() {
        srv.pubsub_out.push((
            conn,
            Reply::Push(vec![
                Reply::bulk(word),
                Reply::bulk(channel),
                Reply::bulk(msg),
            ]),
        ));
        n += 1;
    }
    if shard {
        return n;
    }
    let matching: Vec<(Vec<u8>, Vec<ConnId>)> = srv
        .patterns
        .iter()
        .filter(|(p, _)| glob_match(p, channel, false))
        .map(|(p, c)| (p.clone(), c.clone()))
        .collect();
    for (pat, conns) in matching {
        for conn in conns {
            srv.pubsub_out.push((
                conn,
                Reply::Push(vec![
                    Reply::bulk("pmessage"),
                    Reply::Bulk(pat.clone()),
                    Reply::bulk(channel),
                    Reply::bulk(msg),
                ]),
            ));
            n += 1;
        }
    }
    n
}

/// PUBLISH / SPUBLISH: the receivers here are counted; the message also
/// reaches the other nodes — over the cluster bus in cluster mode (every
/// node, or the shard's nodes for SPUBLISH), else through the replication
/// stream to the replicas (`forceCommandPropagation`).
fn publish(ctx: &mut Ctx, argv: &[Vec<u8>], shard: bool) -> Reply {
    let n = deliver(ctx.srv, &argv[1], &argv[2], shard);
    if ctx.srv.cluster.is_some() {
        ctx.srv.cluster_publish(&argv[1], &argv[2], shard);
    } else {
        let db = ctx.db_index();
        ctx.srv.repl.propagate_command(Some(db), argv.to_vec());
    }
    Reply::Int(n as i64)
}

/// Slots left this node's shard: the subscribers of their shard channels
/// are unsubscribed and told so (`removeChannelsInSlot`). One pass over
/// the shard channels, however many slots went.
pub fn remove_channels_in_slots(srv: &mut Server, lost: impl Fn(u16) -> bool) {
    let gone: Vec<Vec<u8>> = srv
        .shard_channels
        .keys()
        .filter(|c| lost(crate::store::slots::key_slot(c)))
        .cloned()
        .collect();
    for ch in gone {
        for conn in srv.shard_channels.get(&ch).cloned().unwrap_or_default() {
            remove(srv, conn, &ch, Kind::Shard);
            let count = srv.clients.get(&conn).map_or(0, |c| c.subs.shard.len());
            srv.pubsub_out
                .push((conn, push("sunsubscribe", Some(&ch), count)));
        }
    }
}

fn channels(ctx: &mut Ctx, argv: &[Vec<u8>], shard: bool) -> Reply {
    if argv.len() > 3 {
        return Reply::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&argv[1])
        ));
    }
    let pat = argv.get(2);
    let table = if shard {
        &ctx.srv.shard_channels
    } else {
        &ctx.srv.channels
    };
    Reply::Array(
        table
            .keys()
            .filter(|c| pat.is_none_or(|p| glob_match(p, c, false)))
            .map(Reply::bulk)
            .collect(),
    )
}

fn numsub(ctx: &mut Ctx, argv: &[Vec<u8>], shard: bool) -> Reply {
    let table = if shard {
        &ctx.srv.shard_channels
    } else {
        &ctx.srv.channels
    };
    let mut out = Vec::with_capacity((argv.len() - 2) * 2);
    for c in &argv[2..] {
        out.push(Reply::bulk(c));
        out.push(Reply::Int(table.get(c).map_or(0, Vec::len) as i64));
    }
    Reply::Array(out)
}

fn help(_: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::Simple(l.to_string())).collect())
}
