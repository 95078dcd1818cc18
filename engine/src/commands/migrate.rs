//! MIGRATE: keys moved to another server (cachelab or redis-server) over an
//! outbound link, as Redis's `migrateCommand` does it — DUMP payloads sent
//! as `RESTORE key ttl payload [REPLACE]`, after `AUTH` and `SELECT` when
//! needed, the replies read one line each, the keys the target accepted
//! deleted here (unless COPY), and the link kept for 10 seconds for the next
//! MIGRATE to the same address (`migrate_cached_sockets`).
//!
//! The node does no I/O: it asks the runtime for a link
//! (`Output::Dial`), writes to it (`Output::LinkSend`), and is told what
//! comes back (`Input::LinkUp/LinkBytes/LinkClosed`). Redis blocks the
//! whole server while MIGRATE waits, up to the command's timeout; so does
//! this node: the caller is blocked and every other client's commands wait
//! in their query buffers until the reply, the error or the timeout.

use std::collections::BTreeMap;

use super::{eq_ic, Ctx, Handler};
use crate::node::{Blocked, ConnId};
use crate::persistence::rdb::dump_payload;
use crate::protocol::request::encode_request;
use crate::protocol::Reply;
use crate::time::Millis;

/// An outbound link, numbered by the node.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct LinkId(pub u64);

/// What the node asks of the runtime about its outbound links.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LinkOut {
    Dial {
        link: LinkId,
        host: String,
        port: u16,
    },
    Send {
        link: LinkId,
        bytes: Vec<u8>,
    },
    Close {
        link: LinkId,
    },
}

/// Redis's `MIGRATE_SOCKET_CACHE_ITEMS` and `MIGRATE_SOCKET_CACHE_TTL`.
const CACHE_ITEMS: usize = 64;
const CACHE_TTL_MS: u64 = 10_000;

const ERR_CONNECT: &str = "IOERR error or timeout connecting to the client";
const ERR_READ: &str = "IOERR error or timeout reading to target instance";

struct Cached {
    link: LinkId,
    up: bool,
    /// The database SELECTed on the target (-1: unknown, SELECT next time).
    last_dbid: i64,
    last_use: Millis,
}

/// The MIGRATE in progress (at most one: every other client waits).
pub struct Op {
    pub conn: ConnId,
    db: usize,
    name: String,
    host: String,
    port: u16,
    link: LinkId,
    keys: Vec<Vec<u8>>,
    dbid: i64,
    copy: bool,
    replace: bool,
    auth: Option<(Option<Vec<u8>>, Vec<u8>)>,
    select: bool,
    pub deadline: Millis,
    /// A cached link may have gone stale: one retry on a fresh one, if
    /// nothing was read yet (`may_retry`).
    may_retry: bool,
    sent: bool,
    buf: Vec<u8>,
    lines: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct Migrate {
    next_link: u64,
    cache: BTreeMap<String, Cached>,
    pub op: Option<Op>,
    pub out: Vec<LinkOut>,
    /// Clients whose input arrived while the MIGRATE ran.
    pub held: Vec<ConnId>,
}

/// How a MIGRATE ended: the caller's reply and the keys to delete.
pub struct Done {
    pub conn: ConnId,
    pub reply: Reply,
    pub db: usize,
    pub delete: Vec<Vec<u8>>,
}

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "migrate" => migrate,
        _ => return None,
    })
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
/// [AUTH password] [AUTH2 username password] [KEYS key …], with
/// migrateCommand's checks in its order.
fn migrate(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<(Option<Vec<u8>>, Vec<u8>)> = None;
    let (mut first_key, mut num_keys) = (3, 1);
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let a = &argv[j];
        if eq_ic(a, "copy") {
            copy = true;
        } else if eq_ic(a, "replace") {
            replace = true;
        } else if eq_ic(a, "auth") {
            if more == 0 {
                return super::err_syntax();
            }
            j += 1;
            auth = Some((None, argv[j].clone()));
        } else if eq_ic(a, "auth2") {
            if more < 2 {
                return super::err_syntax();
            }
            auth = Some((Some(argv[j + 1].clone()), argv[j + 2].clone()));
            j += 2;
        } else if eq_ic(a, "keys") {
            if !argv[3].is_empty() {
                return Reply::err(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                );
            }
            first_key = j + 1;
            num_keys = argv.len() - j - 1;
            break;
        } else {
            return super::err_syntax();
        }
        j += 1;
    }
    let timeout = match super::parse_int(&argv[5]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let dbid = match super::parse_int(&argv[4]) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let timeout = if timeout <= 0 { 1000 } else { timeout as u64 };
    let now = ctx.now;
    let mut keys = Vec::new();
    for k in &argv[first_key..first_key + num_keys] {
        if super::keys::lookup_read(ctx, k, now) {
            keys.push(k.clone());
        }
    }
    if keys.is_empty() {
        return Reply::Simple("NOKEY".into());
    }
    // Redis runs MIGRATE synchronously, even inside MULTI or a script;
    // here it waits for its link, which a transaction or a script cannot.
    if ctx.client().is_some_and(|c| c.in_multi || c.in_script) {
        return Reply::err(
            "ERR MIGRATE inside MULTI/EXEC or a script is not supported by cachelab",
        );
    }
    let host = String::from_utf8_lossy(&argv[1]).into_owned();
    // atoi(): leading digits, 0 when there are none (the dial then fails).
    let port = String::from_utf8_lossy(&argv[2])
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse::<u16>()
        .unwrap_or(0);
    let name = format!("{host}:{}", String::from_utf8_lossy(&argv[2]));
    let db = ctx.db_index();
    let conn = ctx.conn;
    let m = &mut ctx.srv.migrate;
    let mut op = Op {
        conn,
        db,
        name,
        host,
        port,
        link: LinkId(0),
        keys,
        dbid,
        copy,
        replace,
        auth,
        select: true,
        deadline: now.plus(timeout),
        may_retry: true,
        sent: false,
        buf: Vec::new(),
        lines: Vec::new(),
    };
    m.connect(&mut op, now);
    m.op = Some(op);
    ctx.block(Blocked::Migrate);
    Reply::Seq(Vec::new())
}

impl Migrate {
    /// A fresh outbound link id (replication's links share the counter,
    /// and the queue `out`, with MIGRATE's).
    pub fn new_link(&mut self) -> LinkId {
        self.next_link += 1;
        LinkId(self.next_link)
    }

    /// migrateGetSocket: the cached link to the op's address, or a new one.
    fn connect(&mut self, op: &mut Op, now: Millis) {
        if let Some(c) = self.cache.get_mut(&op.name) {
            c.last_use = now;
            op.link = c.link;
            op.select = c.last_dbid != op.dbid;
            return;
        }
        op.may_retry = false;
        if self.cache.len() >= CACHE_ITEMS {
            // Too many: drop one (Redis drops a random one).
            if let Some((name, _)) = self.cache.iter().next() {
                let name = name.clone();
                self.close(&name);
            }
        }
        self.next_link += 1;
        let link = LinkId(self.next_link);
        self.cache.insert(
            op.name.clone(),
            Cached {
                link,
                up: false,
                last_dbid: -1,
                last_use: now,
            },
        );
        op.link = link;
        op.select = true;
        self.out.push(LinkOut::Dial {
            link,
            host: op.host.clone(),
            port: op.port,
        });
    }

    fn close(&mut self, name: &str) {
        if let Some(c) = self.cache.remove(name) {
            self.out.push(LinkOut::Close { link: c.link });
        }
    }

    fn name_of(&self, link: LinkId) -> Option<String> {
        self.cache
            .iter()
            .find(|(_, c)| c.link == link)
            .map(|(n, _)| n.clone())
    }

    /// The runtime connected a link.
    pub fn link_up(&mut self, link: LinkId) {
        if let Some(name) = self.name_of(link) {
            if let Some(c) = self.cache.get_mut(&name) {
                c.up = true;
            }
        }
    }

    /// Closes links idle for more than 10 seconds (migrateCloseTimedoutSockets).
    pub fn cron(&mut self, now: Millis) {
        let busy = self.op.as_ref().map(|o| o.name.clone());
        let stale: Vec<String> = self
            .cache
            .iter()
            .filter(|(n, c)| {
                Some(*n) != busy.as_ref() && now.0.saturating_sub(c.last_use.0) > CACHE_TTL_MS
            })
            .map(|(n, _)| n.clone())
            .collect();
        for n in stale {
            self.close(&n);
        }
    }

    pub fn cached_links(&self) -> usize {
        self.cache.len()
    }
}

/// The op's request bytes: AUTH, SELECT, one RESTORE per live key (keys
/// that expired meanwhile are dropped from the op).
fn payload(srv: &mut crate::node::Server, now: Millis) -> Vec<u8> {
    let compress = srv.config.get("rdbcompression") != Some("no");
    // In cluster mode the target may be importing the slot: RESTORE-ASKING
    // is served there as if after ASKING (migrateCommand's choice).
    let restore: &[u8] = if srv.cluster.is_some() {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    let Some(op) = srv.migrate.op.as_mut() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some((user, pass)) = &op.auth {
        let mut argv = vec![b"AUTH".to_vec()];
        argv.extend(user.clone());
        argv.push(pass.clone());
        out.extend(encode_request(&argv));
    }
    if op.select {
        out.extend(encode_request(&[
            b"SELECT".to_vec(),
            op.dbid.to_string().into_bytes(),
        ]));
    }
    let db = &srv.ks.dbs[op.db];
    let mut kept = Vec::new();
    for k in &op.keys {
        let Some(e) = db.peek(k) else { continue };
        let ttl = match db.expire_at(k) {
            Some(at) if at.0 < now.0 => continue,
            Some(at) => (at.0 - now.0).max(1),
            None => 0,
        };
        let mut argv = vec![
            restore.to_vec(),
            k.clone(),
            ttl.to_string().into_bytes(),
            crate::persistence::rdb::with_compression(compress, || dump_payload(&e.value)),
        ];
        if op.replace {
            argv.push(b"REPLACE".to_vec());
        }
        out.extend(encode_request(&argv));
        kept.push(k.clone());
    }
    op.keys = kept;
    out
}

/// Sends the op's commands if its link is up.
pub fn pump(srv: &mut crate::node::Server, now: Millis) {
    let ready = srv
        .migrate
        .op
        .as_ref()
        .is_some_and(|op| !op.sent && srv.migrate.cache.get(&op.name).is_some_and(|c| c.up));
    if ready {
        let bytes = payload(srv, now);
        let op = srv.migrate.op.as_mut().expect("ready op");
        op.sent = true;
        let link = op.link;
        srv.migrate.out.push(LinkOut::Send { link, bytes });
    }
}

/// Bytes from a link: when every reply of the op has arrived, it ends.
pub fn link_bytes(srv: &mut crate::node::Server, link: LinkId, bytes: &[u8]) -> Option<Done> {
    let m = &mut srv.migrate;
    let op = m.op.as_mut().filter(|op| op.link == link && op.sent)?;
    op.buf.extend_from_slice(bytes);
    while let Some(i) = op.buf.windows(2).position(|w| w == b"\r\n") {
        let line: Vec<u8> = op.buf.drain(..i + 2).take(i).collect();
        op.lines.push(line);
    }
    let expected = op.keys.len() + op.auth.is_some() as usize + op.select as usize;
    if op.lines.len() < expected {
        return None;
    }
    Some(finish(m, None))
}

/// A link closed (or never connected).
pub fn link_closed(srv: &mut crate::node::Server, link: LinkId, now: Millis) -> Option<Done> {
    let m = &mut srv.migrate;
    let name = m.name_of(link);
    if let Some(n) = &name {
        m.cache.remove(n);
    }
    let op = m.op.as_mut().filter(|op| op.link == link)?;
    if !op.sent {
        return Some(finish(m, Some(ERR_CONNECT)));
    }
    if op.lines.is_empty() && op.may_retry {
        // A stale cached link: once more on a fresh one (`goto try_again`).
        let mut op = m.op.take().expect("op");
        op.may_retry = false;
        op.sent = false;
        op.buf.clear();
        m.connect(&mut op, now);
        m.op = Some(op);
        return None;
    }
    Some(finish(m, Some(ERR_READ)))
}

/// The op's deadline passed.
pub fn timed_out(srv: &mut crate::node::Server, now: Millis) -> Option<Done> {
    let m = &mut srv.migrate;
    let op = m.op.as_ref().filter(|op| now >= op.deadline)?;
    let err = if op.sent { ERR_READ } else { ERR_CONNECT };
    let name = op.name.clone();
    m.close(&name);
    Some(finish(m, Some(err)))
}

/// Ends the op: the reply, the keys the target accepted (to delete unless
/// COPY), the cached link's selected database.
fn finish(m: &mut Migrate, io_error: Option<&str>) -> Done {
    let op = m.op.take().expect("an op in progress");
    if let Some(err) = io_error {
        m.close(&op.name);
        return Done {
            conn: op.conn,
            reply: Reply::err(err),
            db: op.db,
            delete: Vec::new(),
        };
    }
    let skip = op.auth.is_some() as usize + op.select as usize;
    let head_err = op.lines[..skip].iter().find(|l| l.first() == Some(&b'-'));
    let mut error = None;
    let mut delete = Vec::new();
    for (k, line) in op.keys.iter().zip(&op.lines[skip..]) {
        if head_err.is_some() || line.first() == Some(&b'-') {
            if error.is_none() {
                let e = head_err.unwrap_or(line);
                error = Some(format!(
                    "ERR Target instance replied with error: {}",
                    String::from_utf8_lossy(&e[1..])
                ));
            }
        } else if !op.copy {
            delete.push(k.clone());
        }
    }
    if let Some(c) = m.cache.get_mut(&op.name) {
        c.last_dbid = if error.is_some() { -1 } else { op.dbid };
    }
    Done {
        conn: op.conn,
        reply: error.map_or_else(Reply::ok, Reply::err),
        db: op.db,
        delete,
    }
}
