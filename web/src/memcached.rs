//! The Memcached view: an ElastiCache for Memcached cluster of worker
//! nodes behind an auto-discovery client running cache-aside in front of a
//! database. Draws the client's ketama ring, the nodes' `McView`s, the
//! workload's counters over virtual time, and the configuration endpoint —
//! all read from the [`McRouter`] (engine objects and worker views).

use std::cell::RefCell;

use cachelab_engine::memcached::client::{CacheAside, Distribution, FailurePolicy, Second};
use cachelab_engine::memcached::hashing::md5_hash;
use cachelab_engine::memcached::ClusterConfig;
use cachelab_engine::wire::FromWorker;
use cachelab_engine::Millis;
use leptos::prelude::*;

use cachelab_engine::memcached::control::{McNodeState, MAX_NODES};

use crate::mcrouter::{hue, McRouter, Moved, SharedMcRouter, DB_CAPACITY, POLL_MS};

/// Sample keys placed on the ring.
const SAMPLES: [&str; 8] = [
    "user:1",
    "user:2",
    "cart:7",
    "page:/",
    "session:ab",
    "feed:9",
    "item:7",
    "price:3",
];
const RING_R: f64 = 100.0;
const CX: f64 = 150.0;

/// The node list a ring was drawn for, and its arcs (slot, SVG path).
type RingCache = (Vec<String>, Vec<(usize, String)>);
/// Something the page asks of the cluster.
type Act = Box<dyn FnOnce(&mut McRouter) -> Result<(), String>>;

thread_local! {
    static MC: RefCell<Option<SharedMcRouter>> = const { RefCell::new(None) };
    /// The console's lines (cleared when a lab rebuilds the cluster).
    static LINES: RefCell<Option<crate::console::Lines>> = const { RefCell::new(None) };
    /// The ring's drawing, kept until the node list changes.
    static RING: RefCell<RingCache> = const { RefCell::new((Vec::new(), Vec::new())) };
}

pub fn with_mc<R>(f: impl FnOnce(&mut McRouter) -> R) -> Option<R> {
    MC.with(|r| r.borrow().as_ref().map(|r| f(&mut r.borrow_mut())))
}

/// Worker messages the view does not draw: a lab's queries' replies.
fn inbox() -> crate::mcrouter::Inbox {
    std::rc::Rc::new(|slot: usize, msg: FromWorker| match msg {
        FromWorker::Reply { conn, bytes } => crate::learn::labs::on_mc_reply(slot, conn, &bytes),
        FromWorker::Closed { conn } => crate::learn::labs::on_closed(conn),
        _ => {}
    })
}

/// Replaces the cluster with a new one of `nodes` nodes whose application
/// runs no workload (a lab's starting point, as on the simulator).
pub fn reset_for_lab(nodes: usize) {
    let old = MC.with(|m| m.borrow_mut().take());
    if let Some(old) = &old {
        old.borrow_mut().shutdown();
    }
    let now = old.map(|o| o.borrow().now).unwrap_or(crate::EPOCH);
    let r = McRouter::spawn_with(nodes, now, inbox(), CacheAside::new(1, 1000, 0, 300), false);
    MC.with(|m| *m.borrow_mut() = Some(r));
    if let Some(lines) = LINES.with(|l| *l.borrow()) {
        lines.set(vec![(
            format!("A new Memcached cluster for the lab: {nodes} nodes, no workload running. Pick a node, or 'client' to go through the application's auto-discovery client."),
            "hint",
        )]);
    }
}

/// How a typed storage command carries its value.
#[derive(PartialEq)]
enum Storage {
    /// Not a storage command.
    No,
    /// `set k 0 60 hello`: the value inline; the console counts its bytes.
    Inline,
    /// `set k 0 60 5` (or `cas …`): the protocol's own form, the data on
    /// the next line.
    Counted,
}

fn storage(text: &str) -> Storage {
    let words: Vec<&str> = text.split_whitespace().collect();
    let verb = words
        .first()
        .map(|w| w.to_ascii_lowercase())
        .unwrap_or_default();
    let digits = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    match verb.as_str() {
        "cas" => Storage::Counted,
        "set" | "add" | "replace" | "append" | "prepend" if words.len() >= 5 => {
            let counted =
                digits(words[4]) && (words.len() == 5 || words.len() == 6 && words[5] == "noreply");
            if counted {
                Storage::Counted
            } else {
                Storage::Inline
            }
        }
        _ => Storage::No,
    }
}

/// What the console sends for a typed line.
fn console_bytes(text: &str) -> Vec<u8> {
    if storage(text) == Storage::Inline {
        return cachelab_exercises::steps::memcached_bytes(text);
    }
    let mut b = text.as_bytes().to_vec();
    b.extend_from_slice(b"\r\n");
    b
}

/// The console target `client`: the slot the application's client hashes
/// a command's key to.
const CLIENT: usize = usize::MAX;

#[derive(Clone, Debug, PartialEq)]
struct NodeSnap {
    slot: usize,
    id: String,
    host: String,
    az: String,
    hue: u32,
    failed: bool,
    /// In the client's list (it polled since the node was added) and not ejected.
    in_client: bool,
    ejected: bool,
    items: usize,
    bytes: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
    warming: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Snap {
    now: u64,
    nodes: Vec<NodeSnap>,
    config: ClusterConfig,
    client_version: u64,
    next_poll_s: u64,
    ketama: bool,
    eject: bool,
    ring: Vec<(usize, String)>,
    samples: Vec<(String, f64, Option<usize>)>,
    seconds: Vec<Second>,
    items_history: Vec<(u64, Vec<(usize, usize)>)>,
    events: Vec<(Millis, String)>,
    moved: Option<Moved>,
    workload_on: bool,
    totals: Second,
    max_nodes: usize,
}

fn point(angle: f64, r: f64) -> (f64, f64) {
    let a = (angle - 90.0).to_radians();
    (CX + r * a.cos(), CX + r * a.sin())
}

fn angle_of(hash: u32) -> f64 {
    hash as f64 / 4_294_967_296.0 * 360.0
}

/// SVG paths, one per node, of the ring's arcs each node owns: a key
/// hashing into (previous point, point] belongs to the point's server.
fn ring_paths(r: &McRouter) -> Vec<(usize, String)> {
    let live = r.client.live().to_vec();
    let mut by_slot: std::collections::BTreeMap<usize, String> = Default::default();
    let points = r.client.ring().points();
    if points.is_empty() {
        return Vec::new();
    }
    let slot_of: Vec<Option<usize>> = live.iter().map(|a| r.control.slot_of(a)).collect();
    let mut prev = angle_of(points[points.len() - 1].0) - 360.0;
    for &(p, server) in points {
        let a = angle_of(p);
        if let Some(Some(slot)) = slot_of.get(server) {
            let (x1, y1) = point(prev, RING_R);
            let (x2, y2) = point(a, RING_R);
            let large = if a - prev > 180.0 { 1 } else { 0 };
            by_slot.entry(*slot).or_default().push_str(&format!(
                "M{x1:.2} {y1:.2}A{RING_R} {RING_R} 0 {large} 1 {x2:.2} {y2:.2}"
            ));
        }
        prev = a;
    }
    by_slot.into_iter().collect()
}

fn snapshot(r: &McRouter) -> Snap {
    let live = r.client.live().to_vec();
    let ring = RING.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != live || c.1.is_empty() {
            *c = (live.clone(), ring_paths(r));
        }
        c.1.clone()
    });
    let nodes = r
        .control
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| r.control.listed(*i))
        .map(|(i, n)| {
            let failed = n.state == McNodeState::Failed;
            let v = r.views.get(&i).cloned().unwrap_or_default();
            NodeSnap {
                slot: i,
                id: n.id.clone(),
                host: n.host.clone(),
                az: n.az.clone(),
                hue: hue(i),
                failed,
                in_client: r.client.nodes().contains(&n.addr),
                ejected: r.client.is_ejected(&n.addr),
                items: v.items,
                bytes: v.bytes,
                hits: v.stats.get_hits,
                misses: v.stats.get_misses,
                evictions: v.stats.evictions,
                warming: !failed && r.now.saturating_sub(n.since) < 30_000,
            }
        })
        .collect();
    let samples = SAMPLES
        .iter()
        .map(|k| {
            (
                k.to_string(),
                angle_of(md5_hash(k.as_bytes())),
                r.slot_for_key(k),
            )
        })
        .collect();
    // Whole seconds only: the one under way is not a rate yet.
    let mut seconds = r.workload.seconds.clone();
    seconds.pop();
    let from = seconds.len().saturating_sub(120);
    let hist: Vec<_> = r.items_history.iter().cloned().collect();
    let hfrom = hist.len().saturating_sub(120);
    Snap {
        now: r.now.0,
        nodes,
        config: r.control.config.clone(),
        client_version: r.discovery.config.version,
        next_poll_s: 0,
        ketama: r.client.distribution == Distribution::Ketama,
        eject: r.client.policy == FailurePolicy::Eject,
        ring,
        samples,
        seconds: seconds[from..].to_vec(),
        items_history: hist[hfrom..].to_vec(),
        events: {
            // The control plane's events and the application's, newest first.
            let mut e: Vec<(Millis, String)> = r
                .control
                .events
                .iter()
                .chain(r.app_events.iter())
                .cloned()
                .collect();
            e.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
            e.truncate(12);
            e
        },
        moved: r.moved.clone(),
        workload_on: r.workload_on,
        totals: r.workload.totals.clone(),
        max_nodes: r.control.max_nodes,
    }
}

fn hue_color(hue: u32) -> String {
    format!("hsl({hue} 55% 48%)")
}

/// A polyline over the chart's 120 s window.
fn polyline(values: &[(u64, f64)], t_end: u64, max: f64, w: f64, h: f64) -> String {
    values
        .iter()
        .map(|(t, v)| {
            let x = w - (t_end.saturating_sub(*t) as f64) * w / 120.0;
            let y = h - (v / max).min(1.0) * (h - 4.0) - 2.0;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[component]
pub fn MemcachedView(active: RwSignal<bool>) -> impl IntoView {
    let snap = RwSignal::new(Snap::default());
    let paused = RwSignal::new(false);
    let speed = RwSignal::new(1u64);
    let error = RwSignal::new(String::new());
    let console_lines = RwSignal::new(Vec::<(String, &'static str)>::new());
    LINES.with(|l| *l.borrow_mut() = Some(console_lines));
    let console_slot = RwSignal::new(0usize);
    // A storage command sent with a byte count: its data line goes to the
    // same node.
    let data_for = RwSignal::new(None::<usize>);
    let input_ref: NodeRef<leptos::html::Input> = NodeRef::new();

    let refresh = move || {
        if let Some(s) = with_mc(|r| {
            let mut s = snapshot(r);
            s.next_poll_s = 0;
            let out: Vec<(usize, Vec<u8>)> = r.console_out.drain(..).collect();
            (s, out)
        }) {
            let (s, out) = s;
            for (_, bytes) in out {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                console_lines.update(|l| {
                    for line in text.trim_end_matches("\r\n").split("\r\n") {
                        let kind = if line.starts_with("ERROR")
                            || line.starts_with("CLIENT_ERROR")
                            || line.starts_with("SERVER_ERROR")
                        {
                            "error"
                        } else {
                            "reply"
                        };
                        l.push((line.to_string(), kind));
                    }
                    let n = l.len();
                    if n > 200 {
                        l.drain(..n - 200);
                    }
                });
            }
            snap.set(s);
        }
    };

    // The virtual clock runs while the tab shows (a lab's setup drives it
    // otherwise).
    crate::clock::run_while_shown(
        active,
        paused,
        speed,
        |ms| {
            with_mc(|r| r.advance(ms));
        },
        refresh,
    );
    // Start the cluster the first time the view is shown.
    Effect::new(move |_| {
        if !active.get() || MC.with(|m| m.borrow().is_some()) {
            return;
        }
        let r = McRouter::spawn(3, crate::EPOCH, inbox());
        MC.with(|m| *m.borrow_mut() = Some(r));
        refresh();
    });

    let act = move |f: Act| {
        match with_mc(f) {
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
        let mut slot = console_slot.get_untracked();
        let mut id = snap
            .get_untracked()
            .nodes
            .iter()
            .find(|n| n.slot == slot)
            .map(|n| n.id.clone())
            .unwrap_or_default();
        if let Some(s) = data_for.get_untracked() {
            data_for.set(None);
            slot = s;
            console_lines.update(|l| l.push((format!("  {text}"), "cmd")));
        } else if slot == CLIENT {
            // The client's hashing picks the node, by the command's key.
            let key = text.split_whitespace().nth(1).unwrap_or("").to_string();
            match with_mc(|r| r.slot_for_key(&key)).flatten() {
                Some(s) => {
                    slot = s;
                    id = with_mc(|r| r.control.nodes[s].id.clone()).unwrap_or_default();
                    console_lines.update(|l| {
                        l.push((
                            format!("client> {text}   (key {key} hashes to node {id})"),
                            "cmd",
                        ))
                    });
                }
                None => {
                    console_lines.update(|l| {
                        l.push((format!("client> {text}"), "cmd"));
                        l.push(("The client knows no nodes yet (it has not polled the configuration endpoint)".into(), "error"));
                    });
                    return;
                }
            }
        } else {
            console_lines.update(|l| l.push((format!("{id}> {text}"), "cmd")));
        }
        let bytes = console_bytes(&text);
        if storage(&text) == Storage::Counted {
            data_for.set(Some(slot));
        }
        if with_mc(|r| r.console(slot, bytes)) != Some(true) {
            console_lines
                .update(|l| l.push((format!("Connection refused: node {id} is down"), "error")));
        }
    };

    let ring_view = move || {
        let s = snap.get();
        let hue_of = |slot: usize| {
            s.nodes
                .iter()
                .find(|n| n.slot == slot)
                .map(|n| n.hue)
                .unwrap_or(0)
        };
        let failed = |slot: usize| s.nodes.iter().any(|n| n.slot == slot && n.failed);
        let arcs = s
            .ring
            .iter()
            .map(|(slot, d)| {
                let c = hue_color(hue_of(*slot));
                // A failed node still listed: its arcs (and keys) lead nowhere.
                let opacity = if failed(*slot) { "0.18" } else { "1" };
                view! { <path d=d.clone() stroke=c fill="none" stroke-width="22" stroke-opacity=opacity></path> }
            })
            .collect_view();
        let dots = s
            .samples
            .iter()
            .map(|(k, a, slot)| {
                let (x, y) = point(*a, RING_R);
                let (lx, ly) = point(*a, RING_R + 26.0);
                let c = match slot {
                    Some(sl) if failed(*sl) => "#d64545".to_string(),
                    Some(sl) => hue_color(hue_of(*sl)),
                    None => "#999".into(),
                };
                let owner = slot
                    .and_then(|sl| s.nodes.iter().find(|n| n.slot == sl))
                    .map(|n| n.id.clone())
                    .unwrap_or_else(|| "none".into());
                let tip = format!("{k}: MD5 → {a:.1}° on the ring → node {owner}");
                view! {
                    <g class="sample" data-key=k.clone() data-node=owner.clone()>
                        <title>{tip}</title>
                        <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="6" fill="#fff" stroke=c.clone() stroke-width="3"></circle>
                        <text x=format!("{lx:.1}") y=format!("{ly:.1}") text-anchor="middle" font-size="10" fill="#1c2330">{k.clone()}</text>
                    </g>
                }
            })
            .collect_view();
        view! {
            <svg class="ring" viewBox="-20 0 340 300" role="img" aria-label="Ketama ring: 160 points per node, coloured by node">
                <circle cx="150" cy="150" r=RING_R.to_string() fill="none" stroke="#e3e7ee" stroke-width="22"></circle>
                {arcs}
                {dots}
                <text x="150" y="146" text-anchor="middle" font-size="13" fill="#1c2330">{if s.ketama { "ketama ring" } else { "modulo: no ring" }}</text>
                <text x="150" y="163" text-anchor="middle" font-size="11" fill="#5b6575">{format!("{} points", s.nodes.iter().filter(|n| n.in_client && !n.ejected).count() * 160)}</text>
            </svg>
        }
    };

    let chart = move |which: &'static str| {
        let s = snap.get();
        let t_end = s.seconds.last().map(|x| x.t).unwrap_or(0);
        let (w, h) = (560.0, 90.0);
        let body = match which {
            "hit" => {
                let pts: Vec<(u64, f64)> = s
                    .seconds
                    .iter()
                    .filter(|x| x.gets > 0)
                    .map(|x| (x.t, x.hit_rate()))
                    .collect();
                view! { <polyline points=polyline(&pts, t_end, 1.0, w, h) fill="none" stroke="#1f9d55" stroke-width="2"></polyline> }.into_any()
            }
            "db" => {
                let max = (DB_CAPACITY as f64 * 1.6).max(
                    s.seconds
                        .iter()
                        .map(|x| x.db_reads as f64)
                        .fold(0.0, f64::max),
                );
                let pts: Vec<(u64, f64)> =
                    s.seconds.iter().map(|x| (x.t, x.db_reads as f64)).collect();
                let cap_y = h - (DB_CAPACITY as f64 / max) * (h - 4.0) - 2.0;
                view! {
                    <line x1="0" x2=w.to_string() y1=format!("{cap_y:.1}") y2=format!("{cap_y:.1}") stroke="#d64545" stroke-dasharray="4 3" stroke-width="1"></line>
                    <text x="4" y=format!("{:.1}", cap_y - 3.0) font-size="10" fill="#d64545">{format!("database capacity {DB_CAPACITY}/s")}</text>
                    <polyline points=polyline(&pts, t_end, max, w, h) fill="none" stroke="#7a4fd6" stroke-width="2"></polyline>
                }.into_any()
            }
            _ => {
                let max = s
                    .items_history
                    .iter()
                    .flat_map(|(_, v)| v.iter().map(|(_, n)| *n as f64))
                    .fold(10.0, f64::max);
                let h_end = s.items_history.last().map(|x| x.0).unwrap_or(0);
                s.nodes
                    .iter()
                    .map(|n| {
                        let pts: Vec<(u64, f64)> = s
                            .items_history
                            .iter()
                            .map(|(t, v)| {
                                (*t, v.iter().find(|(sl, _)| *sl == n.slot).map(|x| x.1).unwrap_or(0) as f64)
                            })
                            .collect();
                        view! { <polyline points=polyline(&pts, h_end, max, w, h) fill="none" stroke=hue_color(n.hue) stroke-width="2"></polyline> }
                    })
                    .collect_view()
                    .into_any()
            }
        };
        view! {
            <svg class="chart" viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" data-chart=which>
                <rect x="0" y="0" width=w.to_string() height=h.to_string() fill="#fbfcfe" stroke="#dde2ea"></rect>
                {body}
            </svg>
        }
    };

    let last_second = move || {
        let s = snap.get();
        let n = s.seconds.len();
        // The last whole second.
        s.seconds
            .get(n.saturating_sub(1))
            .cloned()
            .unwrap_or_default()
    };

    let node_card = move |n: NodeSnap| {
        let slot = n.slot;
        let state = if n.failed {
            "failed"
        } else if n.warming {
            "syncing"
        } else {
            "primary"
        };
        let word = if n.failed {
            "failed"
        } else if n.warming {
            "warming"
        } else {
            "available"
        };
        let tip = match state {
            "failed" => "Failed node: its items are gone. It stays in the cluster's configuration until ElastiCache replaces it (Replace), or the client ejects it.",
            "syncing" => "A new or replaced node: empty, filling as the application misses and loads from the database (lazy loading).",
            _ => "A memcached node: it holds only the keys that hash to it. No replica, no snapshot: if it fails, its keys are lost.",
        };
        let mem = if n.bytes > 0 {
            format!("{:.1} KB", n.bytes as f64 / 1024.0)
        } else {
            "0 B".into()
        };
        view! {
            <div class=format!("mc-card {state}") data-node=n.id.clone() data-state=word title=tip>
                <div class="mc-swatch" style=format!("background:{}", hue_color(n.hue))></div>
                <div class="card-head">
                    <span class=format!("dot {state}")></span>
                    <strong>{format!("node {}", n.id)}</strong>
                    <span class="role">{word}</span>
                </div>
                <div class="mc-host" title="The node's endpoint (DNS name)">{n.host.split('.').take(3).collect::<Vec<_>>().join(".")}"…"</div>
                <div class="card-body">
                    <div title="stats: curr_items and bytes (from the node)">{format!("{} items · {mem}", n.items)}</div>
                    <div title="stats: get_hits / get_misses / evictions">{format!("hits {} · misses {} · evictions {}", n.hits, n.misses, n.evictions)}</div>
                    <div class="mc-az" title="Availability Zone">{n.az.clone()}
                        {(!n.in_client).then(|| view! { <span class="tag" title="The client has not polled the configuration endpoint since this node was added">" not yet discovered"</span> })}
                        {n.ejected.then(|| view! { <span class="tag" title="The client dropped this node from its ring: its keys now go to the other nodes">" ejected by client"</span> })}
                    </div>
                </div>
                <div class="card-actions">
                    <button class="kill" disabled=n.failed on:click=move |_| act(Box::new(move |r| { r.kill(slot); Ok(()) }))
                        title="The node fails: its process and all its items are gone">"Kill"</button>
                    <button class="replace" disabled=!n.failed on:click=move |_| act(Box::new(move |r| { r.replace(slot); Ok(()) }))
                        title="ElastiCache replaces a failed node: a new, empty node at the same endpoint">"Replace"</button>
                    <button class="remove" on:click=move |_| act(Box::new(move |r| r.remove_node(slot)))
                        title="Remove this node from the cluster: the configuration version goes up and its keys remap">"Remove"</button>
                </div>
            </div>
        }
    };

    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" {
            run_console();
        }
    };

    view! {
        <main class="mc">
            <div class="left">
                <section class="panel ring-panel" aria-label="Consistent hashing">
                    <h2>"Where keys live — the client's hash ring"</h2>
                    <p class="legend">"Each node owns the arcs before its 160 ketama points (MD5 of its address). A key's MD5 lands on the ring; the next point clockwise names its node. The application's client computes this — the nodes know nothing of each other."</p>
                    <div class="ring-row">
                        {ring_view}
                        <div class="ring-side">
                            <div class="field">
                                <span title="How the client maps keys to nodes">"Distribution: "</span>
                                <button id="dist-ketama" class:active=move || snap.get().ketama on:click=move |_| act(Box::new(|r| { r.set_distribution(Distribution::Ketama); Ok(()) }))
                                    title="Consistent hashing (libmemcached's ketama): adding or removing a node moves about 1/n of the keys. AWS recommends it.">"ketama"</button>
                                <button id="dist-modulo" class:active=move || !snap.get().ketama on:click=move |_| act(Box::new(|r| { r.set_distribution(Distribution::Modulo); Ok(()) }))
                                    title="hash(key) mod n: simple, but changing n moves (n−1)/n of the keys">"modulo"</button>
                            </div>
                            <div class="field">
                                <span title="What the client does when a node stops answering">"Failed node: "</span>
                                <button id="policy-keep" class:active=move || !snap.get().eject on:click=move |_| act(Box::new(|r| { r.set_policy(FailurePolicy::KeepListed); Ok(()) }))
                                    title="Keep it listed while ElastiCache replaces it: its keys fail, then miss on the empty replacement; no other key moves">"keep listed"</button>
                                <button id="policy-eject" class:active=move || snap.get().eject on:click=move |_| act(Box::new(|r| { r.set_policy(FailurePolicy::Eject); Ok(()) }))
                                    title="Eject it from the ring: its keys remap to the survivors (and miss there once)">"eject"</button>
                            </div>
                            <div class="buttons">
                                <button id="mc-add" on:click=move |_| act(Box::new(|r| r.add_node()))
                                    title="Add a node (ModifyCacheCluster NumCacheNodes+1): the configuration version goes up; clients learn of it on their next poll">"Add node"</button>
                                <button id="mc-poll" on:click=move |_| act(Box::new(|r| { r.poll_discovery(); Ok(()) }))
                                    title="Auto discovery: ask the configuration endpoint now (clients poll about once a minute)">"Poll config now"</button>
                            </div>
                            <div class="field">
                                <label for="mc-node-limit" title="Nodes per Memcached cluster: 60 in the current ElastiCache guide; its API reference says 40 and older material 20. A quota: change it to see NodeQuotaForClusterExceeded.">"Node quota: "</label>
                                <input id="mc-node-limit" type="number" min="1" max="60" class="quota"
                                    value=MAX_NODES.to_string()
                                    on:change=move |ev| {
                                        let v: usize = event_target_value(&ev).parse().unwrap_or(60);
                                        act(Box::new(move |r| { r.control.max_nodes = v.clamp(1, 60); Ok(()) }));
                                    } />
                                <span class="note">{move || format!("{} of {} nodes", snap.get().nodes.len(), snap.get().max_nodes)}</span>
                            </div>
                            <p class="api-error" id="mc-error">{move || error.get()}</p>
                            {move || snap.get().moved.map(|m| view! {
                                <div class="moved" id="mc-moved" title="Share of 10,000 keys whose node changed">
                                    <strong>{format!("{}: {} → {} nodes", m.what, m.from, m.to)}</strong>
                                    <div>{format!("ketama moved {:.1}% of keys (≈ 1/{} = {:.1}%)", m.ketama * 100.0, m.from.max(m.to), 100.0 / m.from.max(m.to) as f64)}</div>
                                    <div>{format!("modulo would move {:.1}% (≈ (n−1)/n = {:.1}%)", m.modulo * 100.0, 100.0 * (m.from.max(m.to) - 1) as f64 / m.from.max(m.to) as f64)}</div>
                                </div>
                            })}
                        </div>
                    </div>
                </section>
                <section class="panel" aria-label="Cache-aside workload">
                    <h2>"Cache-aside in front of a database"</h2>
                    <p class="legend">"The application reads with "<code>"get"</code>"; on a miss it queries the database and "<code>"set"</code>"s the row (lazy loading). 100 reads/s over 3,000 keys, 80% on a hot fifth."</p>
                    <div class="meters">
                        <div class="meter" title="Share of reads answered by the cache in the last second">
                            <div class="meter-label">"hit rate"</div>
                            <div class="big" id="hit-rate">{move || format!("{:.0}%", last_second().hit_rate() * 100.0)}</div>
                        </div>
                        <div class="meter" title="Reads that reached the database in the last second (its comfortable capacity is the dashed line)">
                            <div class="meter-label">"database load"</div>
                            <div class="big" id="db-load">{move || format!("{}/s", last_second().db_reads)}</div>
                            <div class="db-bar"><span style=move || {
                                let l = last_second().db_reads;
                                let pct = (l as f64 / DB_CAPACITY as f64 * 100.0).min(100.0);
                                let c = if l > DB_CAPACITY { "var(--failed)" } else if l * 2 > DB_CAPACITY { "var(--syncing)" } else { "var(--primary)" };
                                format!("width:{pct:.0}%;background:{c}")
                            }></span></div>
                        </div>
                        <div class="meter" title="Requests to a failed node in the last second (served from the database)">
                            <div class="meter-label">"failed requests"</div>
                            <div class="big" id="errors">{move || format!("{}/s", last_second().errors)}</div>
                        </div>
                    </div>
                    <h3>"Hit rate (last 120 s)"</h3>
                    {move || chart("hit")}
                    <h3>"Database reads per second"</h3>
                    {move || chart("db")}
                    <h3>"Items per node"</h3>
                    {move || chart("items")}
                    <div class="buttons">
                        <button on:click=move |_| act(Box::new(|r| { r.workload_on = !r.workload_on; Ok(()) }))>{move || if snap.get().workload_on { "Pause workload" } else { "Resume workload" }}</button>
                    </div>
                </section>
            </div>
            <div class="side">
                {crate::clock::panel(move || snap.get().now, paused, speed, move || { with_mc(|r| r.advance(1000)); refresh(); })}
                <section aria-label="Memcached nodes">
                    <h2>"Cluster " <code>"demo-mc"</code> " — ElastiCache for Memcached"</h2>
                    <p class="legend">
                        <span class="dot primary"></span>"available " <span class="dot syncing"></span>"new, warming " <span class="dot failed"></span>"failed — colour bars: the node's arcs on the ring"
                    </p>
                    <div class="mc-cards">
                        {move || snap.get().nodes.into_iter().map(node_card).collect_view()}
                    </div>
                </section>
                <section aria-label="Configuration endpoint">
                    <h2>"Configuration endpoint"</h2>
                    <p class="legend"><code>"demo-mc.x1y2z3.cfg.use1.cache.amazonaws.com:11211"</code>" answers "<code>"config get cluster"</code>":"</p>
                    <pre class="config" id="mc-config">{move || {
                        let c = snap.get().config;
                        let p = c.payload();
                        format!("CONFIG cluster 0 {}\n{}END", p.len(), p.replace(' ', "\n"))
                    }}</pre>
                    <p class="note" id="mc-versions">{move || {
                        let s = snap.get();
                        format!("cluster configuration version {} · the client's: {} (it polls every {} s)", s.config.version, s.client_version, POLL_MS / 1000)
                    }}</p>
                </section>
                <section aria-label="Memcached limits">
                    <h2>"What ElastiCache for Memcached does not do"</h2>
                    <table class="limits" id="mc-limits">
                        <thead><tr><th>"Feature"</th><th>"Memcached"</th><th>"Redis (the other view)"</th></tr></thead>
                        <tbody>
                            <tr><td>"Backup and restore"</td><td><button id="mc-backup" title="CreateSnapshot on a Memcached cluster: ElastiCache refuses it — the data lives only in memory"
                                on:click=move |_| act(Box::new(|r| { let now = r.now; r.control.create_snapshot(now, "mc-backup").map_err(|e| format!("{}: {}", e.code, e.message)) }))>"Create backup"</button>" not supported"</td><td>"yes (RDB snapshots)"</td></tr>
                            <tr><td>"Snapshots"</td><td><button id="mc-snapshot" title="No snapshots: a restarted or replaced node starts empty — the API refuses"
                                on:click=move |_| act(Box::new(|r| { let now = r.now; r.control.create_snapshot(now, "mc-snapshot").map_err(|e| format!("{}: {}", e.code, e.message)) }))>"Snapshot"</button>" not supported"</td><td>"yes, automatic or manual"</td></tr>
                            <tr><td>"Replication"</td><td><button disabled=true title="No replicas: each key lives on exactly one node">"Add replica"</button>" not supported"</td><td>"up to 5 replicas, Multi-AZ failover"</td></tr>
                            <tr><td>"Encryption at rest"</td><td><button disabled=true title="Memcached clusters cannot encrypt data at rest">"Encrypt"</button>" not supported"</td><td>"yes"</td></tr>
                            <tr><td>"Data types"</td><td>"strings only"</td><td>"hashes, lists, sets, sorted sets, streams…"</td></tr>
                            <tr><td>"Scaling"</td><td>"add/remove nodes (1–60); the client spreads keys"</td><td>"shards and replicas"</td></tr>
                            <tr><td>"Threads"</td><td>"multithreaded: scales up with cores"</td><td>"single-threaded command loop"</td></tr>
                        </tbody>
                    </table>
                </section>
                <section class="console-pane mc-console" aria-label="Memcached console">
                    <div class="console-head">
                        <label for="mc-node-picker">"Console — the text protocol, like telnet to node "</label>
                        <select id="mc-node-picker" title="A node's own endpoint, or 'client': the application's auto-discovery client, whose hashing picks the node by the command's key"
                            on:change=move |ev| console_slot.set(event_target_value(&ev).parse().unwrap_or(CLIENT))>
                            <option value=CLIENT.to_string() selected=move || console_slot.get() == CLIENT>"client (hashes the key)"</option>
                            {move || snap.get().nodes.into_iter().map(|n| view! { <option value=n.slot.to_string() selected=n.slot == console_slot.get_untracked()>{n.id.clone()}</option> }).collect_view()}
                        </select>
                    </div>
                    <crate::console::ConsoleOutput id="mc-console-output" lines=console_lines />
                    <div class="prompt">
                        <span class="prompt-label">">"</span>
                        <input id="mc-console-input" node_ref=input_ref on:keydown=on_key placeholder="get item:1 · stats · set k 0 60 hello (the value inline), or set k 0 60 5 then the data on its own line" aria-label="memcached command" />
                    </div>
                </section>
                <section class="events" aria-label="Events">
                    <h2>"Events"</h2>
                    <ul id="mc-events">
                        {move || snap.get().events.into_iter().map(|(at, e)| view! { <li>{format!("{} {e}", crate::fmt_clock(at.0))}</li> }).collect_view()}
                    </ul>
                </section>
            </div>
        </main>
    }
}
