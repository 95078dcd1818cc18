//! The cluster-mode view: an ElastiCache for Redis group with cluster mode
//! enabled — shards as columns of nodes, the 16384 hash slots as a map
//! coloured by the shard that serves them (a slot being moved striped),
//! online resharding (scale out/in, rebalance) with its progress and the
//! slot in flight sliding between shards, per-shard failover, nodes killed
//! or cut off (one, a whole shard, an AZ), the cluster going down while
//! slots are unserved, a reboot refused as the API refuses it, the cluster
//! bus's packets, and a console that follows MOVED and ASK as `redis-cli
//! -c` does. Everything
//! drawn is read from the [`CmeRouter`]: the control plane's records and
//! events, and the `NodeView`s the workers report.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use cachelab_engine::protocol::{cli, encode_request, parse_reply, split_args, Reply};
use cachelab_engine::store::slots::{key_slot, SLOTS};
use cachelab_engine::wire::FromWorker;
use cachelab_engine::{ConnId, Millis};
use leptos::prelude::*;

use crate::cmerouter::{BusLine, CmeRouter, SharedCmeRouter};

/// Slots per row of the slot map, and its rows.
const ROW: u16 = 2048;
const ROWS: u16 = 8;
/// The map's width in pixels (a slot is a quarter of a pixel wide… drawn
/// as ranges, so a lone slot still shows).
const MAP_W: f64 = 1024.0;
const ROW_H: f64 = 14.0;
/// Hops a console command may be redirected before the console gives up.
const MAX_HOPS: u8 = 5;

use crate::console::Lines;
/// Something the page asks of the group.
type Act = Box<dyn FnOnce(&mut CmeRouter) -> Result<(), String>>;

/// A command sent by the console, awaiting its reply.
struct Pending {
    argv: Vec<Vec<u8>>,
    /// An ASKING sent ahead of a redirected command: its +OK is not shown.
    asking: bool,
    hops: u8,
    /// The loader's writes: counted, not printed.
    quiet: bool,
}

/// The console's connections (one per node it has talked to, as
/// `redis-cli -c` reconnects on a redirect) and what each awaits.
#[derive(Default)]
struct Client {
    /// The node the prompt is connected to.
    at: String,
    /// By node address: the connection and the process it was opened to
    /// (a node replaced at the same address never heard of it).
    conns: BTreeMap<String, (ConnId, u64)>,
    waiting: BTreeMap<ConnId, (String, VecDeque<Pending>, Vec<u8>)>,
    next: u64,
    /// Loader: writes acknowledged, redirects followed.
    loaded: u64,
    redirects: u64,
}

thread_local! {
    static CME: RefCell<Option<SharedCmeRouter>> = const { RefCell::new(None) };
    static CLIENT: RefCell<Client> = RefCell::new(Client { next: 100, ..Client::default() });
    static LINES: RefCell<Option<Lines>> = const { RefCell::new(None) };
}

pub fn with_cme<R>(f: impl FnOnce(&mut CmeRouter) -> R) -> Option<R> {
    CME.with(|r| r.borrow().as_ref().map(|r| f(&mut r.borrow_mut())))
}

fn say(text: String, kind: &'static str) {
    if let Some(l) = LINES.with(|l| *l.borrow()) {
        l.update(|l| {
            l.push((text, kind));
            let n = l.len();
            if n > 300 {
                l.drain(..n - 300);
            }
        });
    }
}

/// Sends `p` to the node at `addr` on the console's connection there.
fn client_send(c: &mut Client, r: &mut CmeRouter, addr: &str, p: Pending) -> bool {
    let Some(process) = r.incarnation(addr) else {
        // Nobody listens there: what waited on the old process is lost.
        if let Some((conn, _)) = c.conns.remove(addr) {
            c.waiting.remove(&conn);
        }
        return false;
    };
    let conn = match c.conns.get(addr) {
        Some(&(conn, inc)) if inc == process => conn,
        _ => {
            if let Some((old, _)) = c.conns.remove(addr) {
                c.waiting.remove(&old);
            }
            c.next += 1;
            let conn = ConnId(c.next);
            if !r.open(addr, conn) {
                return false;
            }
            c.conns.insert(addr.to_string(), (conn, process));
            conn
        }
    };
    let bytes = encode_request(&p.argv);
    if !r.client_bytes(addr, conn, bytes) {
        return false;
    }
    c.waiting
        .entry(conn)
        .or_insert_with(|| (addr.to_string(), VecDeque::new(), Vec::new()))
        .1
        .push_back(p);
    true
}

/// A redirect's target: `MOVED 3999 10.0.1.11:6379` → (ASK?, slot, addr).
fn redirect(e: &str) -> Option<(bool, u16, String)> {
    let mut w = e.split(' ');
    let ask = match w.next()? {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let slot = w.next()?.parse().ok()?;
    Some((ask, slot, w.next()?.to_string()))
}

/// Replies on a console connection: printed, or followed (MOVED, ASK).
fn on_reply(conn: ConnId, bytes: &[u8]) {
    let done = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        let Some((addr, q, buf)) = c.waiting.get_mut(&conn) else {
            return Vec::new();
        };
        let addr = addr.clone();
        buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Ok(Some((reply, used))) = parse_reply(buf) {
            buf.drain(..used);
            if let Some(p) = q.pop_front() {
                out.push((addr.clone(), p, reply));
            }
        }
        out
    });
    for (addr, p, reply) in done {
        if p.asking {
            continue;
        }
        if let Reply::Error(e) = &reply {
            if let Some((ask, slot, to)) = redirect(e) {
                if p.hops < MAX_HOPS {
                    follow(p, ask, slot, &to);
                    continue;
                }
            }
        }
        if p.quiet {
            CLIENT.with(|c| c.borrow_mut().loaded += u64::from(!reply.is_error()));
            if reply.is_error() {
                say(cli::format_reply(&reply, false), "error");
            }
            continue;
        }
        let _ = addr;
        let raw = cli::raw_output(&p.argv);
        say(
            cli::format_reply(&reply, raw),
            if reply.is_error() { "error" } else { "reply" },
        );
    }
}

/// Follows a redirect: redis-cli -c prints the move and reconnects there
/// (an ASK sends ASKING first, for that one command).
fn follow(p: Pending, ask: bool, slot: u16, to: &str) {
    if !p.quiet {
        say(
            format!("-> Redirected to slot [{slot}] located at {to}"),
            "hint",
        );
    }
    let ok = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        c.redirects += 1;
        if !p.quiet {
            c.at = to.to_string();
        }
        with_cme(|r| {
            if ask {
                let asking = Pending {
                    argv: vec![b"ASKING".to_vec()],
                    asking: true,
                    hops: 0,
                    quiet: true,
                };
                if !client_send(&mut c, r, to, asking) {
                    return false;
                }
            }
            let again = Pending {
                hops: p.hops + 1,
                ..p
            };
            client_send(&mut c, r, to, again)
        })
        .unwrap_or(false)
    });
    if !ok {
        say(
            format!("Could not connect to Redis at {to}: Connection refused"),
            "error",
        );
    }
}

/// The node at `addr` died: the console's commands waiting on it fail
/// as redis-cli's do when the server goes away.
fn server_gone(addr: &str) {
    let lost = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        let Some((conn, _)) = c.conns.remove(addr) else {
            return 0;
        };
        c.waiting
            .remove(&conn)
            .map_or(0, |(_, q, _)| q.iter().filter(|p| !p.asking).count())
    });
    if lost > 0 {
        say("Error: Server closed the connection".into(), "error");
    }
}

fn on_closed(conn: ConnId) {
    CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((addr, _, _)) = c.waiting.remove(&conn) {
            c.conns.remove(&addr);
        }
    });
}

fn inbox() -> crate::cmerouter::Inbox {
    std::rc::Rc::new(|_addr: &str, msg: FromWorker| match msg {
        FromWorker::Reply { conn, bytes } => {
            on_reply(conn, &bytes);
            crate::learn::labs::on_cme_reply(conn, &bytes);
        }
        FromWorker::Closed { conn } => {
            on_closed(conn);
            crate::learn::labs::on_closed(conn);
        }
        _ => {}
    })
}

/// The node the console starts on: the configuration endpoint's pick.
fn fresh_client(r: &CmeRouter) {
    let ep = r.cme.configuration_endpoint();
    let at = r.cme.resolve(&ep, 0).unwrap_or_default();
    CLIENT.with(|c| {
        *c.borrow_mut() = Client {
            at,
            next: 1000,
            ..Client::default()
        }
    });
}

#[derive(Clone, Debug, Default, PartialEq)]
struct NodeSnap {
    addr: String,
    name: String,
    az: String,
    /// primary, replica, failed, syncing, joining
    role: &'static str,
    up: bool,
    isolated: bool,
    keys: usize,
    id: String,
    /// Its link to its primary (a replica), or its replicas (a primary).
    detail: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct ShardSnap {
    shard: usize,
    slots: usize,
    ranges: String,
    keys: usize,
    nodes: Vec<NodeSnap>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Snap {
    now: u64,
    group: String,
    endpoint: String,
    status: String,
    /// What the control plane waits on and has queued (the status's tooltip).
    doing: String,
    reshard: Option<(usize, usize, u64, String)>,
    /// The slot migrating now: (slot, from shard, to shard).
    slide: Option<(u16, usize, usize)>,
    /// Primaries serving slots that report `cluster_state:fail`, of the
    /// running primaries serving slots (once the group is created).
    down: Option<(usize, usize)>,
    /// Slots no running primary serves (once the group is created).
    gaps: Vec<(u16, u16)>,
    shards: Vec<ShardSnap>,
    /// Served ranges (first, last, shard) and slots being moved.
    map: Vec<(u16, u16, usize)>,
    moving: Vec<u16>,
    /// The control plane's events (ElastiCache's words), newest first.
    events: Vec<(Millis, String)>,
    /// The nodes' own log lines (replication, elections), newest first.
    log: Vec<(Millis, String)>,
    traffic: Vec<BusLine>,
    counts: Vec<(&'static str, u64)>,
    loaded: u64,
    redirects: u64,
    prompt: String,
    /// The group's Availability Zones, and whether each is down.
    azs: Vec<(String, bool)>,
}

/// A node's name without its group's (`0001-002`).
fn short(name: &str) -> &str {
    let mut dashes = name.rmatch_indices('-').map(|(i, _)| i);
    match (dashes.next(), dashes.next()) {
        (Some(_), Some(i)) => &name[i + 1..],
        _ => name,
    }
}

fn label(shard: usize) -> String {
    format!("{:04}", shard + 1)
}

/// A shard's colour (its slots on the map, its column's band).
fn shard_color(shard: usize) -> String {
    let hue = (shard as u32 * 137 + 200) % 360;
    format!("hsl({hue}, 62%, 52%)")
}

fn ranges_text(ranges: &[(u16, u16)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if parts.len() > 4 {
        format!("{} … ({} ranges)", parts[..3].join(", "), parts.len())
    } else {
        parts.join(", ")
    }
}

fn snapshot(r: &CmeRouter) -> Snap {
    let cme = &r.cme;
    // Who the others mark as failed (`fail`, agreed by a majority).
    let mut failed_ids: Vec<String> = Vec::new();
    for v in r.views.values() {
        if let Some(c) = &v.cluster {
            for (id, _, flags) in &c.known {
                if flags.split(',').any(|f| f == "fail") {
                    failed_ids.push(id.clone());
                }
            }
        }
    }
    let mut map = Vec::new();
    let mut moving = Vec::new();
    let mut shards: Vec<ShardSnap> = Vec::new();
    for s in cme.shards() {
        let mut snap = ShardSnap {
            shard: s,
            ..ShardSnap::default()
        };
        for n in cme.nodes.iter().filter(|n| n.shard == s) {
            let view = r.views.get(&n.addr);
            let cv = view.and_then(|v| v.cluster.as_ref());
            let up = r.is_up(&n.addr);
            let id = cv.map(|c| c.id.clone()).unwrap_or_default();
            let role = if !up || failed_ids.contains(&id) {
                "failed"
            } else if let Some(c) = cv {
                if c.replica_of.is_some() {
                    match view.and_then(|v| v.repl.link.as_deref()) {
                        Some("connected") => "replica",
                        _ => "syncing",
                    }
                } else if c.slots.is_empty()
                    && cme.primary_of(s) != cme.nodes.iter().position(|m| m.addr == n.addr)
                {
                    "joining"
                } else {
                    "primary"
                }
            } else {
                "syncing"
            };
            if let Some(c) = cv.filter(|c| c.replica_of.is_none() && up) {
                for &(a, b) in &c.slots {
                    map.push((a, b, s));
                }
                snap.slots += c
                    .slots
                    .iter()
                    .map(|&(a, b)| (b - a) as usize + 1)
                    .sum::<usize>();
                if !c.slots.is_empty() {
                    snap.ranges = ranges_text(&c.slots);
                    snap.keys = view.map_or(0, |v| v.keys);
                }
                moving.extend(c.migrating.iter().map(|(slot, _)| *slot));
            }
            let detail = match (role, view) {
                ("replica" | "syncing", Some(v)) => format!(
                    "replicates {} · offset {}",
                    v.repl.master.clone().unwrap_or_default(),
                    v.repl.offset
                ),
                ("primary", Some(v)) => format!(
                    "{} replica{} · offset {}",
                    v.repl.replicas.len(),
                    if v.repl.replicas.len() == 1 { "" } else { "s" },
                    v.repl.offset
                ),
                _ => String::new(),
            };
            snap.nodes.push(NodeSnap {
                addr: n.addr.clone(),
                name: n.name.clone(),
                az: n.az.clone(),
                role,
                up,
                isolated: r.isolated.contains(&n.addr),
                keys: view.map_or(0, |v| v.keys),
                id,
                detail,
            });
        }
        shards.push(snap);
    }
    map.sort();
    let created = cme.status != "creating";
    let mut gaps = Vec::new();
    if created {
        let mut next = 0u32;
        for &(a, b, _) in &map {
            if (a as u32) > next {
                gaps.push((next as u16, a - 1));
            }
            next = next.max(b as u32 + 1);
        }
        if next < SLOTS as u32 {
            gaps.push((next as u16, (SLOTS - 1) as u16));
        }
    }
    // The cluster is down for clients when the primaries serving slots say
    // so (a node that just joined, with no slots yet, reports `fail` until
    // it has heard of every slot: it serves nothing, so it does not count).
    let serving: Vec<&cachelab_engine::cluster::view::ClusterNodeView> = cme
        .nodes
        .iter()
        .filter(|n| r.is_up(&n.addr))
        .filter_map(|n| r.views.get(&n.addr).and_then(|v| v.cluster.as_ref()))
        .filter(|c| c.replica_of.is_none() && !c.slots.is_empty())
        .collect();
    let failing = serving.iter().filter(|c| !c.ok).count();
    let down = (created && failing > 0).then_some((failing, serving.len()));
    let events: Vec<(Millis, String)> = cme.events.iter().rev().take(16).cloned().collect();
    let log: Vec<(Millis, String)> = r.log.iter().rev().take(8).cloned().collect();
    let (loaded, redirects, at) = CLIENT.with(|c| {
        let c = c.borrow();
        (c.loaded, c.redirects, c.at.clone())
    });
    Snap {
        now: r.now.0,
        group: cme.group.clone(),
        endpoint: cme.configuration_endpoint(),
        status: cme.status.to_string(),
        doing: cme.doing(),
        reshard: cme.reshard.as_ref().map(|rs| {
            let moving = rs
                .moving
                .map(|(slot, from, to)| {
                    format!("slot {slot}: shard {} → {}", label(from), label(to))
                })
                .unwrap_or_default();
            (rs.slots_total, rs.slots_done, rs.keys_moved, moving)
        }),
        slide: cme.reshard.as_ref().and_then(|rs| rs.moving),
        down,
        gaps,
        shards,
        map,
        moving,
        events,
        log,
        traffic: r
            .traffic
            .iter()
            .rev()
            .filter(|l| !matches!(l.kind, "PING" | "PONG" | "ACK"))
            .take(14)
            .cloned()
            .collect(),
        counts: r.counts.iter().map(|(k, v)| (*k, *v)).collect(),
        loaded,
        redirects,
        prompt: at,
        azs: cme
            .nodes
            .iter()
            .map(|n| n.az.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|az| {
                let down = cme.az_down(&az);
                (az, down)
            })
            .collect(),
    }
}

/// The key a console command names, to mark its slot on the map: the
/// first argument, or CLUSTER KEYSLOT's; none for commands without keys.
fn probe_key(argv: &[Vec<u8>]) -> Option<&Vec<u8>> {
    let name = String::from_utf8_lossy(argv.first()?).to_ascii_lowercase();
    const KEYLESS: [&str; 24] = [
        "ping",
        "echo",
        "info",
        "config",
        "client",
        "dbsize",
        "keys",
        "scan",
        "flushall",
        "flushdb",
        "time",
        "command",
        "hello",
        "auth",
        "select",
        "asking",
        "readonly",
        "readwrite",
        "multi",
        "exec",
        "discard",
        "role",
        "lastsave",
        "memory",
    ];
    if name == "cluster" {
        let sub = argv.get(1)?;
        return sub
            .eq_ignore_ascii_case(b"keyslot")
            .then(|| argv.get(2))
            .flatten();
    }
    if KEYLESS.contains(&name.as_str()) {
        return None;
    }
    argv.get(1)
}

/// The slot map's rectangles for a range: split at row ends.
fn range_rects(a: u16, b: u16) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    let mut s = a;
    while s <= b {
        let row = s / ROW;
        let end = b.min((row + 1) * ROW - 1);
        let x = (s % ROW) as f64 * MAP_W / ROW as f64;
        let w = ((end - s + 1) as f64 * MAP_W / ROW as f64).max(1.0);
        out.push((x, row as f64 * (ROW_H + 2.0), w));
        if end == u16::MAX {
            break;
        }
        s = end + 1;
    }
    out
}

/// Replaces the group with a lab's: `shards` × (1 + `replicas`) nodes,
/// a fresh console.
pub fn reset_for_lab(shards: usize, replicas: usize) {
    // The labs name the group "demo" (its nodes demo-0001-001, …), as the
    // simulator the checker validates them on does.
    start("demo", shards, replicas);
    if let Some(l) = LINES.with(|l| *l.borrow()) {
        l.set(vec![(
            format!("A new cluster-mode group for the lab: {shards} shards, {replicas} replica{} each. redis-cli -c, connected through the configuration endpoint.", if replicas == 1 { "" } else { "s" }),
            "hint",
        )]);
    }
}

/// Replaces the group (the view's first showing, a lab's).
fn start(group: &str, shards: usize, replicas: usize) {
    let old = CME.with(|m| m.borrow_mut().take());
    let now = old.as_ref().map(|o| o.borrow().now).unwrap_or(crate::EPOCH);
    if let Some(old) = old {
        old.borrow_mut().shutdown();
    }
    let r = CmeRouter::spawn(group, shards, replicas, now, inbox());
    fresh_client(&r.borrow());
    CME.with(|m| *m.borrow_mut() = Some(r));
}

#[component]
pub fn ClusterModeView(active: RwSignal<bool>) -> impl IntoView {
    let snap = RwSignal::new(Snap::default());
    let paused = RwSignal::new(false);
    let speed = RwSignal::new(1u64);
    let error = RwSignal::new(String::new());
    let show_pings = RwSignal::new(false);
    let key_probe = RwSignal::new(None::<(String, u16)>);
    let lines: Lines = RwSignal::new(vec![(
        "redis-cli -c, connected through the configuration endpoint. Try SET user:1 alice, GET user:2, CLUSTER SHARDS, CLUSTER KEYSLOT user:1 — a key on another shard answers MOVED and the console follows it.".into(),
        "hint",
    )]);
    LINES.with(|l| *l.borrow_mut() = Some(lines));
    let input_ref: NodeRef<leptos::html::Input> = NodeRef::new();

    let refresh = move || {
        if let Some(s) = with_cme(|r| snapshot(r)) {
            snap.set(s);
        }
    };
    crate::clock::run_while_shown(
        active,
        paused,
        speed,
        |ms| {
            with_cme(|r| r.advance(ms));
        },
        refresh,
    );
    Effect::new(move |_| {
        if active.get() && CME.with(|m| m.borrow().is_none()) {
            start("demo-cme", 3, 1);
            refresh();
        }
    });

    let act = move |f: Act| {
        match with_cme(|r| {
            let out = f(r);
            r.run_pending();
            out
        }) {
            Some(Err(e)) => error.set(e),
            _ => error.set(String::new()),
        }
        refresh();
    };

    let run_console = move || {
        let Some(input) = input_ref.get_untracked() else {
            return;
        };
        let text = input.value();
        input.set_value("");
        if text.trim().is_empty() {
            return;
        }
        // `@NODE command`: connect to that node first (redis-cli -h).
        let (text, to) = match text.strip_prefix('@').and_then(|t| t.split_once(' ')) {
            Some((node, rest)) => (rest.to_string(), Some(node.to_string())),
            None => (text, None),
        };
        if let Some(node) = to {
            let addr = with_cme(|r| {
                r.cme
                    .nodes
                    .iter()
                    .find(|n| n.name == node || n.addr == node || short(&n.name) == node)
                    .map(|n| n.addr.clone())
            })
            .flatten();
            match addr {
                Some(a) => CLIENT.with(|c| c.borrow_mut().at = a),
                None => {
                    say(format!("No node {node} in the group"), "error");
                    return;
                }
            }
        }
        let at = CLIENT.with(|c| c.borrow().at.clone());
        say(format!("{at}> {text}"), "cmd");
        let Some(argv) = split_args(text.as_bytes()) else {
            say("Invalid argument(s)".into(), "error");
            return;
        };
        if let Some(k) = probe_key(&argv) {
            key_probe.set(Some((String::from_utf8_lossy(k).into_owned(), key_slot(k))));
        }
        let ok = CLIENT.with(|c| {
            let mut c = c.borrow_mut();
            with_cme(|r| {
                client_send(
                    &mut c,
                    r,
                    &at,
                    Pending {
                        argv,
                        asking: false,
                        hops: 0,
                        quiet: false,
                    },
                )
            })
            .unwrap_or(false)
        });
        if !ok {
            say(
                format!("Could not connect to Redis at {at}: Connection refused — reconnecting through the configuration endpoint"),
                "error",
            );
            with_cme(|r| {
                let ep = r.cme.configuration_endpoint();
                let pick = (js_sys::Math::random() * 16.0) as usize;
                let to = r.cme.resolve(&ep, pick).unwrap_or_default();
                CLIENT.with(|c| c.borrow_mut().at = to);
            });
        }
    };
    // 200 writes through the cluster client (each to the node the console
    // is on, following MOVED like a client that never cached the map).
    let load = move || {
        let at = CLIENT.with(|c| c.borrow().at.clone());
        CLIENT.with(|c| {
            let mut c = c.borrow_mut();
            let base = c.loaded;
            with_cme(|r| {
                for i in 0..200u64 {
                    let n = base + i;
                    let p = Pending {
                        argv: vec![
                            b"SET".to_vec(),
                            format!("item:{n}").into_bytes(),
                            n.to_string().into_bytes(),
                        ],
                        asking: false,
                        hops: 0,
                        quiet: true,
                    };
                    client_send(&mut c, r, &at, p);
                }
            });
        });
        say(
            format!("Writing item:N … 200 keys through {at}, following each MOVED"),
            "hint",
        );
    };

    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" {
            run_console();
        }
    };

    let slot_map = move || {
        let s = snap.get();
        let mut rects = Vec::new();
        for row in 0..ROWS {
            rects.push(view! { <rect x="0" y=format!("{}", row as f64 * (ROW_H + 2.0)) width=MAP_W.to_string() height=ROW_H.to_string() fill="#d9dde3"></rect> }.into_any());
        }
        let keys_of = |shard: usize| {
            s.shards
                .iter()
                .find(|x| x.shard == shard)
                .map_or(0, |x| x.keys)
        };
        for &(a, b, shard) in &s.map {
            for (x, y, w) in range_rects(a, b) {
                let tip = format!(
                    "slots {a}–{b} ({} slots): shard {}, whose primary holds {} keys",
                    b - a + 1,
                    label(shard),
                    keys_of(shard)
                );
                rects.push(view! { <rect class="range" data-shard=label(shard) x=format!("{x:.2}") y=format!("{y:.1}") width=format!("{w:.2}") height=ROW_H.to_string() fill=shard_color(shard)><title>{tip}</title></rect> }.into_any());
            }
        }
        for &(a, b) in &s.gaps {
            for (x, y, w) in range_rects(a, b) {
                let tip = format!(
                    "slots {a}–{b} ({} slots): no running primary serves them — a command on one of their keys answers CLUSTERDOWN",
                    b - a + 1
                );
                rects.push(view! { <rect class="unserved" x=format!("{x:.2}") y=format!("{y:.1}") width=format!("{w:.2}") height=ROW_H.to_string() fill="url(#cme-hatch)"><title>{tip}</title></rect> }.into_any());
            }
        }
        for &slot in &s.moving {
            for (x, y, _) in range_rects(slot, slot) {
                rects.push(view! { <rect class="moving" x=format!("{:.2}", x - 1.0) y=format!("{:.1}", y - 1.0) width="3" height=(ROW_H + 2.0).to_string() fill="#111"><title>{format!("slot {slot} is migrating")}</title></rect> }.into_any());
            }
        }
        if let Some((key, slot)) = key_probe.get() {
            for (x, y, _) in range_rects(slot, slot) {
                rects.push(
                    view! {
                        <g class="probe" data-slot=slot.to_string()>
                            <title>{format!("{key}: CRC16 mod 16384 = slot {slot}")}</title>
                            <path d=format!("M{:.1} {:.1} l-5 -7 h10 z", x, y) fill="#111"></path>
                        </g>
                    }
                    .into_any(),
                );
            }
        }
        let h = ROWS as f64 * (ROW_H + 2.0) + 8.0;
        view! {
            <svg id="slot-map" viewBox=format!("0 -8 {MAP_W} {h}") width="100%" role="img" aria-label="The 16384 hash slots, coloured by the shard serving each">
                <defs>
                    <pattern id="cme-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
                        <rect width="6" height="6" fill="#fde2e2"></rect>
                        <rect width="3" height="6" fill="var(--failed)"></rect>
                    </pattern>
                </defs>
                {rects}
            </svg>
        }
    };

    let node_box = move |n: NodeSnap| {
        let addr = n.addr.clone();
        let addr2 = n.addr.clone();
        let name = n.name.clone();
        let reboot_name = n.name.clone();
        let removable = matches!(n.role, "replica" | "syncing");
        let tip = match n.role {
            "primary" => "Primary: serves its shard's slots, takes its writes and replicates them to the shard's replicas",
            "replica" => "Replica: copies its shard's primary; the bus promotes it if the primary fails",
            "syncing" => "Syncing: a replica catching up with its primary (full or partial resync)",
            "joining" => "A new node: in the cluster (it met the others on the bus), not yet given slots or a primary",
            _ => "Failed: the process is gone, or the cluster's primaries agreed it is unreachable (FAIL). ElastiCache replaces it at the same endpoint",
        };
        view! {
            <div class=format!("cme-node {}", n.role) data-node=n.name.clone() data-role=n.role title=tip>
                <div class="card-head">
                    <span class=format!("dot {}", n.role)></span>
                    <strong>{n.name.clone()}</strong>
                    <span class="role">{n.role}</span>
                </div>
                <div class="cme-addr" title="The node's endpoint: what MOVED and CLUSTER SLOTS name">{n.addr.clone()}{n.isolated.then_some(" · cut off")}</div>
                <div class="note" title="CLUSTER MYID · Availability Zone">{format!("{} · {}", if n.id.is_empty() { "—".to_string() } else { n.id[..8.min(n.id.len())].to_string() }, n.az)}</div>
                <div class="note">{format!("{} keys", n.keys)}{(!n.detail.is_empty()).then(|| format!(" · {}", n.detail))}</div>
                <div class="card-actions">
                    <button class="kill" disabled=!n.up on:click=move |_| { let a = addr.clone(); act(Box::new(move |r| { r.kill(&a); Ok(()) })); server_gone(&addr) }
                        title="The node's process crashes. The other primaries mark it FAIL after cluster-node-timeout; a replica of a failed primary wins an election; ElastiCache then replaces the node">"Kill"</button>
                    <button class="isolate" disabled=!n.up on:click=move |_| { let a = addr2.clone(); let cut = n.isolated; act(Box::new(move |r| { if cut { r.heal() } else { r.isolate(&a) } Ok(()) })) }
                        title="Cut the node off from every other node (a network partition). Cut off a primary: the majority fails it over, and the primary stops taking writes after the node timeout">{if n.isolated { "Heal" } else { "Cut off" }}</button>
                    <button class="reboot" on:click=move |_| { let name = reboot_name.clone(); act(Box::new(move |r| r.cme.reboot(&name).map_err(|e| format!("RebootCacheCluster: {}: {}", e.code, e.message)))) }
                        title="RebootCacheCluster: ElastiCache reboots Memcached and cluster-mode-disabled nodes only. In cluster mode enabled the API refuses it">"Reboot"</button>
                    {removable.then(|| view! {
                        <button class="remove" on:click=move |_| { let name = name.clone(); act(Box::new(move |r| { let now = r.now; r.cme.remove_replica(now, &name).map_err(|e| format!("{}: {}", e.code, e.message)) })) }
                            title="DecreaseReplicaCount for this shard: the replica is removed and forgotten by the others">"Remove"</button>
                    })}
                </div>
            </div>
        }
    };

    let shard_col = move |sh: ShardSnap| {
        let shard = sh.shard;
        view! {
            <div class="cme-shard" data-shard=label(shard) title="A shard (node group): one primary and 0–5 replicas, serving a share of the 16384 hash slots">
                <div class="cme-band" style=format!("background:{}", shard_color(shard))></div>
                <h3>{format!("Shard {}", label(shard))}</h3>
                <div class="note" title="The slots its primary serves (CLUSTER SHARDS)">{format!("{} slots · {} keys", sh.slots, sh.keys)}</div>
                <div class="note cme-ranges">{sh.ranges.clone()}</div>
                {sh.nodes.into_iter().map(node_box).collect_view()}
                <div class="card-actions">
                    <button on:click=move |_| act(Box::new(move |r| { let now = r.now; r.cme.test_failover(now, shard) }))
                        title="TestFailover: the shard's replica takes over (CLUSTER FAILOVER), as ElastiCache's API does">"Failover"</button>
                    <button on:click=move |_| act(Box::new(move |r| { let now = r.now; r.cme.add_replica(now, shard).map(|_| ()).map_err(|e| format!("{}: {}", e.code, e.message)) }))
                        title="IncreaseReplicaCount for this shard (at most 5 replicas)">"Add replica"</button>
                    <button class="lose" on:click=move |_| {
                            let gone: Vec<String> = with_cme(|r| r.cme.nodes.iter().filter(|n| n.shard == shard && r.is_up(&n.addr)).map(|n| n.addr.clone()).collect()).unwrap_or_default();
                            let kill = gone.clone();
                            act(Box::new(move |r| { kill.iter().for_each(|a| r.kill(a)); Ok(()) }));
                            gone.iter().for_each(|g| server_gone(g));
                        }
                        title="Every node of this shard crashes at once: no replica is left to elect, so its slots are not served and the cluster goes down (cluster-require-full-coverage yes, Redis's default): every key on every shard answers CLUSTERDOWN. ElastiCache replaces the nodes empty: the shard's data is lost">"Lose shard"</button>
                </div>
            </div>
        }
    };

    view! {
        <main class="cme">
            <div class="left">
                <section class="panel" aria-label="Hash slots">
                    <h2>"16384 hash slots — who serves each"</h2>
                    <p class="legend">"A key's slot is CRC16(key) mod 16384 (only the part inside "<code>"{…}"</code>" if it has a hash tag). Each colour is a shard; a black tick is a slot migrating. 2048 slots per row."</p>
                    {slot_map}
                    <div class="cme-legend">
                        {move || snap.get().shards.into_iter().map(|s| view! {
                            <span class="swatch-item"><span class="swatch" style=format!("background:{}", shard_color(s.shard))></span>{format!("shard {} ({} slots)", label(s.shard), s.slots)}</span>
                        }).collect_view()}
                    </div>
                    <p class="note" id="key-probe">{move || key_probe.get().map(|(k, s)| {
                        let owner = snap.get().map.iter().find(|&&(a, b, _)| a <= s && s <= b).map(|&(_, _, sh)| label(sh)).unwrap_or_else(|| "no shard (not served)".into());
                        format!("{k} → slot {s} → shard {owner}")
                    })}</p>
                </section>
                <section class="panel" aria-label="Shards">
                    <h2>"Shards "<span class="note">"— "<span class="dot primary"></span>"primary "<span class="dot replica"></span>"replica "<span class="dot syncing"></span>"syncing "<span class="dot failed"></span>"failed"</span></h2>
                    <div class="cme-keys" id="cme-keys" title="Keys per shard (each primary's DBSIZE): even when the slots are even and the keys spread by hash">
                        {move || {
                            let shards = snap.get().shards;
                            let max = shards.iter().map(|x| x.keys).max().unwrap_or(0).max(1);
                            shards.into_iter().map(|x| view! {
                                <div class="cme-keys-row" data-shard=label(x.shard)>
                                    <span class="cme-keys-label">{label(x.shard)}</span>
                                    <span class="cme-keys-bar"><span style=format!("width:{:.0}%;background:{}", x.keys as f64 * 100.0 / max as f64, shard_color(x.shard))></span></span>
                                    <span class="cme-keys-n">{format!("{} keys", x.keys)}</span>
                                </div>
                            }).collect_view()
                        }}
                    </div>
                    <div class="cme-shards" id="cme-shards">
                        {move || snap.get().shards.into_iter().map(shard_col).collect_view()}
                    </div>
                </section>
                <section class="panel" aria-label="Cluster bus">
                    <h2>"Cluster bus (port 16379)"</h2>
                    <p class="legend">"Nodes gossip in Redis Cluster's binary protocol: PING/PONG carry each node's slots and what it knows of others; FAIL spreads a majority's verdict; a replica asks for votes (AUTH-REQ) to replace a failed primary."</p>
                    <p class="note" id="bus-counts">{move || snap.get().counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(" · ")}</p>
                    <label class="note"><input type="checkbox" on:change=move |ev| show_pings.set(event_target_checked(&ev)) />" show PING/PONG and replication ACKs"</label>
                    <table class="traffic" id="cme-traffic">
                        <tbody>
                            {move || {
                                let lines: Vec<BusLine> = if show_pings.get() {
                                    with_cme(|r| r.traffic.iter().rev().take(10).cloned().collect()).unwrap_or_default()
                                } else {
                                    snap.get().traffic
                                };
                                lines.into_iter().map(|l| view! {
                                    <tr class:held=l.held class:bus=l.bus>
                                        <td>{crate::fmt_clock(l.at.0)}</td>
                                        <td class="who">{format!("{} → {}", short(&l.from), short(&l.to))}</td>
                                        <td class="kind">{l.kind}</td>
                                        <td>{l.detail}</td>
                                    </tr>
                                }).collect_view()
                            }}
                        </tbody>
                    </table>
                </section>
            </div>
            <div class="side">
                {crate::clock::panel(move || snap.get().now, paused, speed, move || { with_cme(|r| r.advance(1000)); refresh(); })}
                <section aria-label="Replication group">
                    <h2>"Replication group " <code>{move || snap.get().group}</code> " — cluster mode enabled"</h2>
                    <p class="note" id="cme-status" title=move || format!("The replication group's status. The control plane is {}", snap.get().doing)>{move || { let s = snap.get(); format!("{} · {} shards · {} nodes", s.status, s.shards.len(), s.shards.iter().map(|x| x.nodes.len()).sum::<usize>()) }}</p>
                    <p class="note" title="Cluster mode enabled has one endpoint: it resolves to any node; a client reads the slot map (CLUSTER SLOTS/SHARDS) and then talks to each key's node">"Configuration endpoint: "<code id="cme-endpoint">{move || snap.get().endpoint}</code></p>
                    <div class="buttons">
                        <button id="cme-scale-out" on:click=move |_| act(Box::new(|r| { let now = r.now; r.cme.scale_out(now, 1).map_err(|e| format!("{}: {}", e.code, e.message)) }))
                            title="Online resharding, scale out (ModifyReplicationGroupShardConfiguration): a new shard, then slots moved to it evenly while clients keep reading and writing">"Add shard"</button>
                        <button id="cme-scale-in" on:click=move |_| act(Box::new(|r| { let now = r.now; let last = *r.cme.shards().last().unwrap_or(&0); r.cme.scale_in(now, &[last]).map_err(|e| format!("{}: {}", e.code, e.message)) }))
                            title="Online resharding, scale in: the last shard's slots move to the others, then its nodes are deleted">"Remove last shard"</button>
                        <button id="cme-rebalance" on:click=move |_| act(Box::new(|r| { let now = r.now; r.cme.rebalance(now).map(|_| ()).map_err(|e| format!("{}: {}", e.code, e.message)) }))
                            title="Rebalance: move slots so every shard serves an even share">"Rebalance"</button>
                        <button id="cme-load" on:click=move |_| load()
                            title="Write 200 keys (item:N) through the console's client: each goes to the node the console is on and follows MOVED to its shard">"Write 200 keys"</button>
                    </div>
                    <div class="buttons azs" id="cme-azs" title="An Availability Zone outage: every node in the zone crashes. The surviving primaries elect replicas for the lost ones (a majority of primaries must be alive); ElastiCache launches the replacements in their own AZ once it is back">
                        <span class="note">"AZ outage:"</span>
                        {move || snap.get().azs.into_iter().map(|(az, down)| {
                            let name = az.clone();
                            view! {
                                <button class="az" class:down=down data-az=az.clone()
                                    on:click=move |_| {
                                        let a = name.clone();
                                        let gone: Vec<String> = with_cme(|r| r.cme.nodes.iter().filter(|n| n.az == a).map(|n| n.addr.clone()).collect()).unwrap_or_default();
                                        act(Box::new(move |r| { r.az(&a, down); Ok(()) }));
                                        if !down { gone.iter().for_each(|g| server_gone(g)) }
                                    }>
                                    {if down { format!("{az} back") } else { format!("{az} down") }}
                                </button>
                            }
                        }).collect_view()}
                    </div>
                    <p class="api-error" id="cme-error">{move || error.get()}</p>
                    {move || snap.get().down.map(|(failing, running)| {
                        let gaps = ranges_text(&snap.get().gaps);
                        view! {
                            <div class="cme-down" id="cme-down" role="status" title="cluster_state:fail (CLUSTER INFO). With cluster-require-full-coverage yes (Redis's default) a cluster with any slot unserved refuses every key, on every shard, until the slots are served again">
                                <strong>"Cluster down: CLUSTERDOWN The cluster is down"</strong>
                                <div class="note">{format!("{failing} of {running} primaries serving slots report cluster_state:fail: they refuse every key.")}{(!gaps.is_empty()).then(|| format!(" No primary serves slots {gaps}."))}</div>
                            </div>
                        }
                    })}
                    <Show when=move || snap.with(|s| s.reshard.is_some())>
                        <div class="cme-reshard" id="cme-reshard" title="Slots move one by one: SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE of its keys in batches, then SETSLOT NODE on both. Clients get ASK for a key already moved, MOVED once the slot is done">
                            <strong>{move || snap.with(|s| s.reshard.as_ref().map(|(total, done, keys, _)| format!("Resharding: {done} of {total} slots, {keys} keys moved")).unwrap_or_default())}</strong>
                            <div class="db-bar"><span class="cme-progress" style=move || snap.with(|s| {
                                let pct = s.reshard.as_ref().map_or(100.0, |(total, done, _, _)| if *total == 0 { 100.0 } else { *done as f64 * 100.0 / *total as f64 });
                                format!("width:{pct:.0}%;background:var(--primary)")
                            })></span></div>
                            <div class="cme-slide" id="cme-slide" class:idle=move || snap.with(|s| s.slide.is_none())
                                style=move || snap.with(|s| s.slide.map(|(_, from, to)| format!("--from:{};--to:{}", shard_color(from), shard_color(to))).unwrap_or_default())>
                                <span class="cme-end">{move || snap.with(|s| s.slide.map(|(_, from, _)| label(from)).unwrap_or_default())}</span>
                                <span class="cme-track"><span class="cme-chip">{move || snap.with(|s| s.slide.map(|(slot, _, _)| format!("slot {slot}")).unwrap_or_default())}</span></span>
                                <span class="cme-end">{move || snap.with(|s| s.slide.map(|(_, _, to)| label(to)).unwrap_or_default())}</span>
                            </div>
                            <div class="note">{move || snap.with(|s| s.reshard.as_ref().map(|r| r.3.clone()).unwrap_or_default())}</div>
                        </div>
                    </Show>
                    <p class="note" id="cme-loaded">{move || { let s = snap.get(); format!("console client: {} writes acknowledged, {} redirects followed", s.loaded, s.redirects) }}</p>
                </section>
                <section class="console-pane" aria-label="Cluster console">
                    <div class="console-head">"Console — redis-cli -c (follows MOVED and ASK)"</div>
                    <crate::console::ConsoleOutput id="cme-console-output" lines=lines />
                    <div class="prompt">
                        <span class="prompt-label">{move || format!("{}>", snap.get().prompt)}</span>
                        <input id="cme-console-input" node_ref=input_ref on:keydown=on_key placeholder="SET user:1 alice · CLUSTER SHARDS · @0002-002 CLUSTER NODES (to that node)" aria-label="Redis command" />
                    </div>
                </section>
                <section class="events" aria-label="Events">
                    <h2 title="What the control plane did, in ElastiCache's words (DescribeEvents)">"Events"</h2>
                    <ul id="cme-events">
                        {move || snap.get().events.into_iter().map(|(at, e)| view! { <li>{format!("{} {e}", crate::fmt_clock(at.0))}</li> }).collect_view()}
                    </ul>
                    <h2 title="The nodes' own log lines: replication and elections">"Node log"</h2>
                    <ul id="cme-log">
                        {move || snap.get().log.into_iter().map(|(at, e)| view! { <li>{format!("{} {e}", crate::fmt_clock(at.0))}</li> }).collect_view()}
                    </ul>
                </section>
            </div>
        </main>
    }
}
