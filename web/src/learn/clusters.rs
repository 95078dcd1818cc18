//! The page's clusters as the checker's [`Cluster`]: the Redis tab's
//! replication group ([`RouterCluster`]) and the Memcached tab's cluster
//! ([`McPageCluster`]), the cluster-mode tab's CME group
//! ([`CmePageCluster`]), and [`PageCluster`], whichever one the lab or live
//! question in progress runs on. Queries go on connections of their own to
//! the worker nodes and are answered as the replies arrive; views are the
//! routers' control planes.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use cachelab_engine::control::{Api, NodeStatus};
use cachelab_engine::memcached::control::McNodeState;
use cachelab_engine::protocol::{encode_request, parse_reply};
use cachelab_engine::ConnId;
use cachelab_exercises::cluster::{reply_text, Cluster, ClusterView, Query, Ticket};
use cachelab_exercises::steps::{memcached_bytes, Action};

use crate::groups::with_group;
use crate::memcached::with_mc;
use crate::shards::with_cme;

/// The group labs run on: the page's first.
fn lab_group() -> String {
    crate::groups::first()
}

/// `via` as (group, endpoint or node within it): a restored group's name
/// means its primary endpoint; a node name, that node's group.
fn group_of(via: &str) -> (String, String) {
    let lab = lab_group();
    if via != lab && crate::groups::names().iter().any(|g| g == via) {
        return (via.to_string(), "primary".into());
    }
    match crate::groups::group_of_node(via) {
        Some(g) => (g, via.to_string()),
        None => (lab, via.to_string()),
    }
}

/// How long (real time) a query waits for its node.
const ASK_TIMEOUT_MS: f64 = 4000.0;

pub fn perf_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

struct Ask {
    ticket: Ticket,
    slot: usize,
    buf: Vec<u8>,
    at: f64,
    via: String,
    /// The replication group asked (`None`: the Memcached cluster or the
    /// cluster-mode group).
    group: Option<String>,
    /// A query to the cluster-mode group: where it is and how it follows.
    cme: Option<CmeHop>,
}

/// A cluster-mode query's way: the node asked, the command, whether a
/// MOVED or ASK is followed (a cluster client) and how often it was, and
/// the replies to skip (an ASKING's +OK).
#[derive(Clone)]
struct CmeHop {
    addr: String,
    argv: Vec<Vec<u8>>,
    follow: bool,
    hops: u8,
    skip: usize,
}

#[derive(Default)]
struct Asks {
    next_conn: u64,
    next_ticket: Ticket,
    open: BTreeMap<u64, Ask>,
    answers: BTreeMap<Ticket, Result<String, String>>,
}

/// Which cluster the lab or live question in progress runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Kind {
    #[default]
    Group,
    Memcached,
    /// The cluster-mode tab's group (scenario kind "cluster").
    Cme,
}

impl Kind {
    pub fn of(scenario_kind: &str) -> Kind {
        match scenario_kind {
            "memcached" => Kind::Memcached,
            "cluster" => Kind::Cme,
            _ => Kind::Group,
        }
    }
}

thread_local! {
    static ASKS: RefCell<Asks> = RefCell::new(Asks { next_conn: 1 << 40, ..Asks::default() });
    static KIND: Cell<Kind> = const { Cell::new(Kind::Group) };
}

/// Forgets every query in flight (a scenario is being rebuilt).
pub fn forget_asks(kind: Kind) {
    KIND.with(|k| k.set(kind));
    ASKS.with(|a| {
        let mut a = a.borrow_mut();
        a.open.clear();
        a.answers.clear();
    });
}

pub fn kind() -> Kind {
    KIND.with(|k| k.get())
}

fn new_ticket() -> Ticket {
    ASKS.with(|a| {
        let mut a = a.borrow_mut();
        a.next_ticket += 1;
        a.next_ticket
    })
}

fn fail(ticket: Ticket, e: String) -> Ticket {
    ASKS.with(|a| a.borrow_mut().answers.insert(ticket, Err(e)));
    ticket
}

fn open_ask(ticket: Ticket, slot: usize, via: &str, group: Option<String>) -> u64 {
    open_ask_with(ticket, slot, via, group, None)
}

fn open_ask_with(
    ticket: Ticket,
    slot: usize,
    via: &str,
    group: Option<String>,
    cme: Option<CmeHop>,
) -> u64 {
    ASKS.with(|a| {
        let mut a = a.borrow_mut();
        a.next_conn += 1;
        let conn = a.next_conn;
        a.open.insert(
            conn,
            Ask {
                ticket,
                slot,
                buf: Vec::new(),
                at: perf_now(),
                via: via.to_string(),
                group,
                cme,
            },
        );
        conn
    })
}

/// The answer to a query, once it has come; queries whose node has not
/// answered in time fail.
fn answer(t: Ticket) -> Option<Result<String, String>> {
    let now = perf_now();
    let late: Vec<(u64, usize, Option<String>, Option<CmeHop>)> = ASKS.with(|a| {
        let mut a = a.borrow_mut();
        let late: Vec<u64> = a
            .open
            .iter()
            .filter(|(_, q)| now - q.at > ASK_TIMEOUT_MS)
            .map(|(c, _)| *c)
            .collect();
        late.into_iter()
            .filter_map(|c| {
                let q = a.open.remove(&c)?;
                a.answers.insert(
                    q.ticket,
                    Err(format!(
                        "no answer through {} within 4 s (is the node paused or cut off?)",
                        q.via
                    )),
                );
                Some((c, q.slot, q.group, q.cme))
            })
            .collect()
    });
    for (c, slot, group, cme) in late {
        match (group, cme) {
            (_, Some(hop)) => with_cme(|r| r.close(&hop.addr, ConnId(c))),
            (None, None) => with_mc(|r| r.close(slot, ConnId(c))),
            (Some(g), None) => with_group(&g, |r| r.close(slot, ConnId(c))),
        };
    }
    ASKS.with(|a| a.borrow_mut().answers.remove(&t))
}

/// The page's replication group as a [`Cluster`]: queries go on their own
/// connection to the endpoint or node and are answered from the worker
/// replies as they arrive; the view is the router's control plane.
pub struct RouterCluster;

impl Cluster for RouterCluster {
    fn ask(&mut self, q: &Query) -> Ticket {
        let ticket = new_ticket();
        let fail = |e: String| fail(ticket, e);
        let Query::Redis { via, argv } = q else {
            return fail("this is a replication group: mc commands need Memcached".into());
        };
        // The lab's group (the page's first), or a group restored from its
        // backups, by name (its primary endpoint) or by a node's name.
        let (group, via_in) = group_of(via);
        let target = with_group(&group, |r| {
            let c = &r.control;
            let pick = (js_sys::Math::random() * 16.0) as usize;
            let addr = match via_in.as_str() {
                "primary" => c.resolve(&c.dns.primary_endpoint.clone(), pick),
                "reader" => c.resolve(&c.dns.reader_endpoint.clone(), pick),
                node => c
                    .nodes
                    .iter()
                    .find(|n| n.name == node && n.status != NodeStatus::Deleted)
                    .map(|n| n.addr.clone()),
            };
            let slot = addr.and_then(|a| c.nodes.iter().position(|n| n.addr == a));
            match slot {
                Some(s) if r.is_up(s) => Ok(s),
                _ => Err(format!(
                    "Could not connect to {via}: it resolves to no running node"
                )),
            }
        })
        .unwrap_or_else(|| Err("no replication group".into()));
        let slot = match target {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let conn = open_ask(ticket, slot, via, Some(group.clone()));
        with_group(&group, |r| {
            r.open(slot, ConnId(conn));
            r.client_bytes(slot, ConnId(conn), encode_request(argv));
        });
        ticket
    }

    fn answer(&mut self, t: Ticket) -> Option<Result<String, String>> {
        answer(t)
    }

    fn view(&mut self) -> ClusterView {
        let groups = crate::groups::names();
        with_group(&lab_group(), |r| ClusterView {
            groups: groups
                .iter()
                .skip(1)
                .filter(|g| !crate::groups::is_deleting(g))
                .cloned()
                .collect(),
            ..ClusterView::of_group(&r.control)
        })
        .unwrap_or_default()
    }

    /// Control actions for scenario setups. `!wait` is carried out by the
    /// setup runner (virtual time passes with the page's clock).
    fn act(&mut self, a: &Action) -> Result<(), String> {
        let node = |r: &crate::router::Router, name: &str| {
            let name = if name == "primary" {
                let p = r.control.dns.primary.clone();
                r.control
                    .nodes
                    .iter()
                    .find(|n| Some(&n.addr) == p.as_ref())
                    .map(|n| n.name.clone())
                    .unwrap_or_default()
            } else {
                name.to_string()
            };
            r.control
                .nodes
                .iter()
                .position(|n| n.name == name && n.status != NodeStatus::Deleted)
                .ok_or_else(|| format!("no node {name}"))
        };
        let api = |r: &mut crate::router::Router, req: Api| {
            r.api(req).map_err(|e| format!("{}: {}", e.code, e.message))
        };
        match a {
            Action::Restore { backup, group } => {
                return crate::groups::restore(backup, group)
                    .map_err(|e| format!("{}: {}", e.code, e.message));
            }
            Action::DeleteGroup {
                group,
                final_backup,
            } => {
                return crate::groups::delete(group, final_backup.as_deref())
                    .map_err(|e| format!("{}: {}", e.code, e.message));
            }
            _ => {}
        }
        with_group(&lab_group(), |r| match a {
            Action::TestFailover => api(r, Api::TestFailover),
            Action::Kill(n) => {
                let s = node(r, n)?;
                r.kill(s);
                Ok(())
            }
            Action::Reboot(n) => {
                let s = node(r, n)?;
                let id = r.control.nodes[s].id.clone();
                api(r, Api::Reboot { id })
            }
            Action::AddReplica(az) => {
                let az = az
                    .clone()
                    .unwrap_or_else(|| crate::AZS[r.control.nodes.len() % 3].to_string());
                api(r, Api::AddReplica { az })
            }
            Action::RemoveReplica(n) => {
                let s = node(r, n)?;
                let id = r.control.nodes[s].id.clone();
                api(r, Api::RemoveReplica { id })
            }
            Action::MultiAz(on) => api(r, Api::SetMultiAz(*on)),
            Action::Isolate(n) => {
                let s = node(r, n)?;
                r.isolate(s);
                Ok(())
            }
            Action::Cut(x, y) => {
                let (x, y) = (node(r, x)?, node(r, y)?);
                r.cut_link(x, y);
                Ok(())
            }
            Action::Heal => {
                r.heal();
                Ok(())
            }
            Action::Az { az, up } => {
                r.set_az(az, *up);
                Ok(())
            }
            Action::Backup(name) => api(r, Api::CreateSnapshot { name: name.clone() }),
            Action::DeleteBackup(name) => api(r, Api::DeleteSnapshot { name: name.clone() }),
            Action::CopyBackup { source, target } => api(
                r,
                Api::CopySnapshot {
                    source: source.clone(),
                    target: target.clone(),
                },
            ),
            Action::ExportBackup(name) => api(r, Api::ExportSnapshot { name: name.clone() }),
            Action::BackupPolicy {
                window,
                retention_days,
            } => {
                let window = cachelab_exercises::steps::backup_window(window, r.now);
                api(
                    r,
                    Api::SetBackupPolicy {
                        window,
                        retention_days: *retention_days,
                    },
                )
            }
            other => Err(format!("{other:?} is not an action of this playground")),
        })
        .unwrap_or_else(|| Err("no replication group".into()))
    }
}

/// The Memcached tab's cluster as a [`Cluster`]: `mc` queries go to a
/// node's worker, or to the node the application's client hashes the key
/// to (`client`); the view is ElastiCache's side ([`McControl`]).
///
/// [`McControl`]: cachelab_engine::memcached::control::McControl
pub struct McPageCluster;

/// A node's slot by its id (`0002`), if it is in the cluster.
fn mc_slot(r: &crate::mcrouter::McRouter, id: &str) -> Result<usize, String> {
    r.control
        .nodes
        .iter()
        .position(|n| n.id == id && n.state != McNodeState::Removed)
        .ok_or_else(|| format!("no node {id}"))
}

impl Cluster for McPageCluster {
    fn ask(&mut self, q: &Query) -> Ticket {
        let ticket = new_ticket();
        let Query::Memcached { node, line } = q else {
            return fail(
                ticket,
                "this is a Memcached cluster: use mc commands".into(),
            );
        };
        let target = with_mc(|r| {
            let slot = if node == "client" {
                let key = line.split_whitespace().nth(1).unwrap_or("");
                r.slot_for_key(key)
                    .ok_or_else(|| "the client knows no nodes yet".to_string())?
            } else {
                mc_slot(r, node)?
            };
            if r.running(slot) {
                Ok(slot)
            } else {
                Err(format!("node {node} does not answer (it failed)"))
            }
        })
        .unwrap_or_else(|| Err("no Memcached cluster".into()));
        let slot = match target {
            Ok(s) => s,
            Err(e) => return fail(ticket, e),
        };
        let conn = open_ask(ticket, slot, node, None);
        // The meta no-op after the command marks the end of its reply,
        // whatever its shape.
        let mut bytes = memcached_bytes(line);
        bytes.extend_from_slice(b"mn\r\n");
        if with_mc(|r| r.request(slot, ConnId(conn), bytes)) != Some(true) {
            ASKS.with(|a| a.borrow_mut().open.remove(&conn));
            return fail(ticket, format!("node {node} does not answer (it failed)"));
        }
        ticket
    }

    fn answer(&mut self, t: Ticket) -> Option<Result<String, String>> {
        answer(t)
    }

    fn view(&mut self) -> ClusterView {
        with_mc(|r| ClusterView::of_memcached(&r.control)).unwrap_or_default()
    }

    fn act(&mut self, a: &Action) -> Result<(), String> {
        with_mc(|r| match a {
            Action::McAdd => r.add_node(),
            Action::McRemove(id) => {
                let s = mc_slot(r, id)?;
                r.remove_node(s)
            }
            Action::McKill(id) => {
                let s = mc_slot(r, id)?;
                r.kill(s);
                Ok(())
            }
            Action::McReplace(id) => {
                let s = mc_slot(r, id)?;
                r.replace(s);
                Ok(())
            }
            Action::McDiscover => {
                r.poll_discovery();
                Ok(())
            }
            other => Err(format!("{other:?} needs a replication group")),
        })
        .unwrap_or_else(|| Err("no Memcached cluster".into()))
    }
}

/// The cluster-mode tab's group as a [`Cluster`]: a query starts at the
/// node `via` names (`cluster`/`primary`: the configuration endpoint, then
/// MOVED and ASK followed as a cluster client does; `config`: the endpoint
/// only; a node's name), on a connection of its own; the view is the CME
/// control plane's.
pub struct CmePageCluster;

/// Sends a cluster-mode query's command on a new connection to its node.
fn cme_send(ticket: Ticket, via: &str, hop: CmeHop) -> Result<(), String> {
    let addr = hop.addr.clone();
    let mut bytes = Vec::new();
    if hop.skip > 0 {
        bytes.extend_from_slice(&encode_request(&[b"ASKING".to_vec()]));
    }
    bytes.extend_from_slice(&encode_request(&hop.argv));
    let conn = open_ask_with(ticket, 0, via, None, Some(hop));
    let sent =
        with_cme(|r| r.open(&addr, ConnId(conn)) && r.client_bytes(&addr, ConnId(conn), bytes));
    if sent == Some(true) {
        Ok(())
    } else {
        ASKS.with(|a| a.borrow_mut().open.remove(&conn));
        Err(format!(
            "Could not connect to Redis at {addr}: Connection refused"
        ))
    }
}

impl Cluster for CmePageCluster {
    fn ask(&mut self, q: &Query) -> Ticket {
        let ticket = new_ticket();
        let Query::Redis { via, argv } = q else {
            return fail(
                ticket,
                "this is a Redis cluster: mc commands need Memcached".into(),
            );
        };
        let pick = (js_sys::Math::random() * 16.0) as usize;
        let start = with_cme(|r| cachelab_exercises::cme::start(&r.cme, via, pick))
            .unwrap_or_else(|| Err("no cluster-mode group".into()));
        let hop = match start {
            Ok((addr, follow)) => CmeHop {
                addr,
                argv: argv.clone(),
                follow,
                hops: 0,
                skip: 0,
            },
            Err(e) => return fail(ticket, e),
        };
        if let Err(e) = cme_send(ticket, via, hop) {
            return fail(ticket, e);
        }
        ticket
    }

    fn answer(&mut self, t: Ticket) -> Option<Result<String, String>> {
        answer(t)
    }

    fn view(&mut self) -> ClusterView {
        with_cme(|r| ClusterView::of_cme(&r.cme)).unwrap_or_default()
    }

    fn act(&mut self, a: &Action) -> Result<(), String> {
        use cachelab_exercises::cme::Fault;
        with_cme(|r| {
            let now = r.now;
            let fault = cachelab_exercises::cme::act(&mut r.cme, now, a);
            r.run_pending();
            match fault? {
                Fault::None => {}
                Fault::Wait(ms) => r.advance(ms),
                Fault::Kill(addr) => r.kill(&addr),
                Fault::Isolate(addr) => r.isolate(&addr),
                Fault::Heal => r.heal(),
                Fault::AzDown(addrs) => addrs.iter().for_each(|a| r.kill(a)),
            }
            Ok(())
        })
        .unwrap_or_else(|| Err("no cluster-mode group".into()))
    }
}

/// A cluster-mode worker's reply bytes on one of our connections: the
/// answer, or (a cluster client's query) a MOVED or ASK followed on a new
/// connection to the node it names.
pub fn on_cme_reply(conn: ConnId, bytes: &[u8]) {
    let done = ASKS.with(|a| {
        let mut a = a.borrow_mut();
        let q = a.open.get_mut(&conn.0).filter(|q| q.cme.is_some())?;
        q.buf.extend_from_slice(bytes);
        let mut reply = None;
        while let Ok(Some((r, used))) = parse_reply(&q.buf) {
            q.buf.drain(..used);
            let hop = q.cme.as_mut()?;
            if hop.skip > 0 {
                hop.skip -= 1;
                continue;
            }
            reply = Some(r);
            break;
        }
        let reply = reply?;
        let q = a.open.remove(&conn.0)?;
        Some((q, reply))
    });
    let Some((q, reply)) = done else {
        return;
    };
    let Some(hop) = q.cme else {
        return;
    };
    with_cme(|r| r.close(&hop.addr, conn));
    let redirect = match &reply {
        cachelab_engine::protocol::Reply::Error(e) if hop.follow => {
            cachelab_exercises::cme::redirect(e)
        }
        _ => None,
    };
    let answer = match redirect {
        Some(_) if hop.hops >= 5 => Err("redirected too often".to_string()),
        Some((ask, to)) => {
            let next = CmeHop {
                addr: to,
                hops: hop.hops + 1,
                skip: usize::from(ask),
                ..hop
            };
            match cme_send(q.ticket, &q.via, next) {
                Ok(()) => return,
                Err(e) => Err(e),
            }
        }
        None => Ok(reply_text(&reply)),
    };
    ASKS.with(|a| a.borrow_mut().answers.insert(q.ticket, answer));
}

/// Whichever cluster the lab or live question in progress runs on.
pub struct PageCluster;

impl PageCluster {
    fn inner() -> Box<dyn Cluster> {
        match kind() {
            Kind::Group => Box::new(RouterCluster),
            Kind::Memcached => Box::new(McPageCluster),
            Kind::Cme => Box::new(CmePageCluster),
        }
    }
}

impl Cluster for PageCluster {
    fn ask(&mut self, q: &Query) -> Ticket {
        Self::inner().ask(q)
    }
    fn answer(&mut self, t: Ticket) -> Option<Result<String, String>> {
        answer(t)
    }
    fn view(&mut self) -> ClusterView {
        Self::inner().view()
    }
    fn act(&mut self, a: &Action) -> Result<(), String> {
        Self::inner().act(a)
    }
}

/// A replication-group worker's reply bytes: answers a query if the
/// connection is ours.
pub fn on_reply(conn: ConnId, bytes: &[u8]) {
    let done = ASKS.with(|a| {
        let mut a = a.borrow_mut();
        let q = a.open.get_mut(&conn.0).filter(|q| q.group.is_some())?;
        q.buf.extend_from_slice(bytes);
        let Ok(Some((reply, _))) = parse_reply(&q.buf) else {
            return None;
        };
        let q = a.open.remove(&conn.0)?;
        a.answers.insert(q.ticket, Ok(reply_text(&reply)));
        Some((q.slot, q.group.unwrap_or_default()))
    });
    if let Some((slot, group)) = done {
        with_group(&group, |r| r.close(slot, conn));
    }
}

/// A memcached worker's reply bytes: the reply is complete at the meta
/// no-op's `MN` (the text as the simulator gives it: trailing line ends
/// trimmed).
pub fn on_mc_reply(slot: usize, conn: ConnId, bytes: &[u8]) {
    let done = ASKS.with(|a| {
        let mut a = a.borrow_mut();
        let q = a
            .open
            .get_mut(&conn.0)
            .filter(|q| q.group.is_none() && q.cme.is_none() && q.slot == slot)?;
        q.buf.extend_from_slice(bytes);
        if !(q.buf == b"MN\r\n" || q.buf.ends_with(b"\r\nMN\r\n")) {
            return None;
        }
        let q = a.open.remove(&conn.0)?;
        let text = String::from_utf8_lossy(&q.buf[..q.buf.len() - 4]);
        a.answers.insert(q.ticket, Ok(text.trim_end().to_string()));
        Some(q.slot)
    });
    if let Some(slot) = done {
        with_mc(|r| r.close(slot, conn));
    }
}

/// A connection of ours closed before its answer.
pub fn on_closed(conn: ConnId) {
    ASKS.with(|a| {
        let mut a = a.borrow_mut();
        if let Some(q) = a.open.remove(&conn.0) {
            a.answers.insert(
                q.ticket,
                Err(format!("the connection through {} closed", q.via)),
            );
        }
    });
}
