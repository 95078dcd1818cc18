//! cachelab-web: the playground page (leptos, client-side rendered).
//!
//! A replication group (cluster mode disabled: 1 primary, 2 replicas in
//! three AZs) whose nodes each run in a Web Worker. Draws only what the
//! engine reports: `NodeView`s from the workers, the control plane's nodes,
//! endpoints and events (kept by the router), and reply bytes. The console
//! connects through an endpoint, as an application would, and reconnects
//! through DNS when its node goes away.

mod backlog;
mod backups;
mod clock;
mod cmerouter;
mod console;
mod files;
mod groups;
mod learn;
mod mcrouter;
mod memcached;
mod recipes;
mod router;
mod shards;
mod vault;
mod workers;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use cachelab_engine::control::{Api, CacheNode, ControlEvent, Dns, NodeStatus, Role};
use cachelab_engine::protocol::{cli, encode_request, parse_reply, split_args, Reply};
use cachelab_engine::wire::FromWorker;
use cachelab_engine::{ConnId, Millis, NodeView};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use router::{short, Router, SharedRouter, Traffic};

const AZS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
/// Real milliseconds between ticks of the virtual clock.
const TICK_MS: u64 = 100;
/// Virtual time starts at a fixed, readable instant (2026-01-01T00:00:00Z).
const EPOCH: Millis = Millis(1_767_225_600_000);

/// A client connection through an endpoint: which node it reached, and
/// the commands awaiting replies.
#[derive(Default)]
struct Session {
    endpoint: String,
    conn: Option<(usize, ConnId)>,
    waiting: VecDeque<Vec<Vec<u8>>>,
    buf: Vec<u8>,
}

/// The lost-writes demo: a client writing `SET order:N N` through the
/// primary endpoint, optionally confirming each with `WAIT 1 100`.
#[derive(Default)]
struct Writer {
    on: bool,
    wait: bool,
    next: u64,
    session: Session,
    /// Acknowledged writes: (n, node that acknowledged it, virtual time).
    acked: Vec<(u64, String, Millis)>,
    /// A SET acknowledged, its WAIT pending: (n, node).
    unconfirmed: Option<(u64, String)>,
    failed: u64,
    check: Session,
    checking: Vec<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Check {
    at: Millis,
    acked: usize,
    lost: Vec<u64>,
    wait: bool,
    primary: String,
}

thread_local! {
    static ROUTER: RefCell<Option<SharedRouter>> = const { RefCell::new(None) };
    static CONSOLE: RefCell<Session> = RefCell::new(Session::default());
    /// The chat recipe's second client, which subscribes.
    static SUBSCRIBER: RefCell<Session> = RefCell::new(Session::default());
    static WRITER: RefCell<Writer> = RefCell::new(Writer::default());
    static NEXT_CONN: RefCell<u64> = const { RefCell::new(1) };
}

fn with_router<R>(f: impl FnOnce(&mut Router) -> R) -> Option<R> {
    ROUTER.with(|r| r.borrow().as_ref().map(|r| f(&mut r.borrow_mut())))
}

/// Shows another group (see `groups`).
fn set_router(r: SharedRouter) {
    ROUTER.with(|slot| *slot.borrow_mut() = Some(r));
}

fn next_conn() -> ConnId {
    NEXT_CONN.with(|n| {
        let mut n = n.borrow_mut();
        *n += 1;
        ConnId(*n)
    })
}

/// Sends a command on a session, (re)connecting through its endpoint's DNS
/// first if needed. Returns the node it went to, or None if the endpoint
/// resolves to nothing that is up (the command fails, as a connect would).
fn session_send(s: &mut Session, argv: Vec<Vec<u8>>) -> Option<usize> {
    with_router(|r| {
        if let Some((slot, _)) = s.conn {
            if !r.is_up(slot) {
                s.conn = None;
                s.waiting.clear();
                s.buf.clear();
            }
        }
        if s.conn.is_none() {
            let pick = (js_sys::Math::random() * 16.0) as usize;
            let addr = r.control.resolve(&s.endpoint, pick)?;
            let slot = r.control.nodes.iter().position(|n| n.addr == addr)?;
            if !r.is_up(slot) {
                return None;
            }
            let conn = next_conn();
            r.open(slot, conn);
            s.conn = Some((slot, conn));
        }
        let (slot, conn) = s.conn?;
        r.client_bytes(slot, conn, encode_request(&argv));
        s.waiting.push_back(argv);
        Some(slot)
    })
    .flatten()
}

/// Replies that arrived for `conn` on this session, with their commands
/// (a pushed pub/sub message, which answers none, with an empty one).
fn session_replies(s: &mut Session, conn: ConnId, bytes: &[u8]) -> Vec<(Vec<Vec<u8>>, Reply)> {
    subscriber_replies(s, conn, bytes)
        .into_iter()
        .map(|(cmd, reply)| (cmd.unwrap_or_default(), reply))
        .collect()
}

/// Sends on a session through endpoint `ep`, first dropping its connection
/// if the page switched endpoints since (the next command reconnects).
fn send_via(s: &mut Session, ep: &str, argv: Vec<Vec<u8>>) -> Option<usize> {
    if s.endpoint != ep {
        s.endpoint = ep.to_string();
        if let Some((slot, conn)) = s.conn.take() {
            with_router(|r| r.close(slot, conn));
        }
        s.waiting.clear();
        s.buf.clear();
    }
    session_send(s, argv)
}

/// The replies that arrived for `conn` on a session, each with the command
/// it answers; a pushed message (`message`, `pmessage`, `smessage`, RESP3
/// push) answers none, so a subscribed client's commands stay paired.
fn subscriber_replies(
    s: &mut Session,
    conn: ConnId,
    bytes: &[u8],
) -> Vec<(Option<Vec<Vec<u8>>>, Reply)> {
    if s.conn.map(|(_, c)| c) != Some(conn) {
        return Vec::new();
    }
    s.buf.extend_from_slice(bytes);
    let mut out = Vec::new();
    while let Ok(Some((reply, n))) = parse_reply(&s.buf) {
        s.buf.drain(..n);
        let pushed = match &reply {
            Reply::Push(_) => true,
            Reply::Array(v) => matches!(
                v.first(),
                Some(Reply::Bulk(k)) if [&b"message"[..], b"pmessage", b"smessage"].contains(&k.as_slice())
            ),
            _ => false,
        };
        let cmd = if pushed { None } else { s.waiting.pop_front() };
        out.push((cmd, reply));
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
struct Line {
    text: String,
    kind: &'static str,
}

thread_local! {
    /// The command docs as redis-cli shows them, read once from the data
    /// COMMAND DOCS answers with.
    static HELPS: Vec<cachelab_engine::commands::docs::Help> =
        cachelab_engine::commands::docs::all();
}

/// The console's `help`, `help @group`, `help COMMAND`, as redis-cli words them.
fn help_text(helps: &[cachelab_engine::commands::docs::Help], topic: &str) -> String {
    use cachelab_engine::commands::docs;
    if topic.is_empty() {
        return "To get help about Redis commands type:\n      \"help @<group>\" to get a list of commands in <group> (e.g. help @string, help @list, help @geo)\n      \"help <command>\" for help on <command>\n      Tab completes a command's name; the line under the prompt hints its arguments".to_string();
    }
    if let Some(g) = topic.strip_prefix('@') {
        let cmds = docs::group(helps, g);
        if cmds.is_empty() {
            let mut groups: Vec<&str> = helps.iter().map(|h| h.group.as_str()).collect();
            groups.sort_unstable();
            groups.dedup();
            return format!(
                "No group @{g}. Groups: {}",
                groups
                    .iter()
                    .map(|g| format!("@{g}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        return cmds.iter().map(|h| h.text()).collect();
    }
    match docs::lookup(helps, topic) {
        Some((h, _)) => h.text(),
        None => format!("No help for '{topic}': not a Redis 7.0 command"),
    }
}

/// What the page draws of the group, refreshed every tick from the router.
#[derive(Clone, Debug, Default, PartialEq)]
struct Snapshot {
    now: Millis,
    nodes: Vec<CacheNode>,
    up: Vec<bool>,
    paused: Vec<bool>,
    isolated: Vec<bool>,
    /// The network between this node and the primary is cut.
    link_cut: Vec<bool>,
    azs_down: Vec<String>,
    partitioned_azs: Vec<String>,
    dns: Dns,
    multi_az: bool,
    events: Vec<ControlEvent>,
    traffic: Vec<Traffic>,
    node_log: Vec<(Millis, String)>,
    /// The shown group, every group's name.
    group: String,
    groups: Vec<String>,
    /// Nodes writing a backup's file now: (node, backup).
    forking: Vec<(String, String)>,
}

fn snapshot(r: &Router) -> Snapshot {
    let n = r.control.nodes.len();
    Snapshot {
        now: r.now,
        nodes: r.control.nodes.clone(),
        up: (0..n).map(|i| r.is_up(i)).collect(),
        paused: (0..n).map(|i| r.is_paused(i)).collect(),
        isolated: (0..n).map(|i| r.is_isolated(i)).collect(),
        link_cut: (0..n)
            .map(|i| primary_slot(r).is_some_and(|p| r.is_cut(i, p)))
            .collect(),
        azs_down: r.azs_down.iter().cloned().collect(),
        partitioned_azs: r.partitioned_azs.iter().cloned().collect(),
        dns: r.control.dns.clone(),
        multi_az: r.control.multi_az,
        events: r.control.events.clone(),
        traffic: r.traffic.iter().cloned().collect(),
        node_log: r.node_log.iter().rev().take(12).cloned().collect(),
        group: r.control.group.clone(),
        groups: groups::names(),
        forking: r
            .control
            .backups
            .snapshots
            .iter()
            .filter(|b| b.status == cachelab_engine::backup::Status::Creating)
            .map(|b| (b.node.clone(), b.name.clone()))
            .collect(),
    }
}

/// The slot the primary endpoint resolves to.
fn primary_slot(r: &Router) -> Option<usize> {
    let p = r.control.dns.primary.as_ref()?;
    r.control.nodes.iter().position(|n| &n.addr == p)
}

/// The node the console's connection reached (else the primary endpoint's).
fn console_node(s: &Snapshot) -> Option<usize> {
    CONSOLE
        .with(|c| c.borrow().conn.map(|(slot, _)| slot))
        .filter(|&i| s.up.get(i).copied().unwrap_or(false))
        .or_else(|| {
            s.dns
                .primary
                .as_ref()
                .and_then(|p| s.nodes.iter().position(|n| &n.addr == p))
        })
}

fn fmt_clock(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:01}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        (ms % 1000) / 100
    )
}

/// The role colour class of a node, as the legend explains it.
fn role_class(n: &CacheNode, view: Option<&NodeView>, up: bool) -> &'static str {
    if !up || matches!(n.status, NodeStatus::Failed | NodeStatus::Rebooting) {
        return "failed";
    }
    if n.status == NodeStatus::Creating
        || view.is_some_and(|v| v.repl.link.as_deref().is_some_and(|l| l != "connected"))
    {
        return "syncing";
    }
    match view.map(|v| v.repl.role.as_str()) {
        Some("master") => "primary",
        Some(_) => "replica",
        None => "syncing",
    }
}

#[component]
fn App() -> impl IntoView {
    let views = RwSignal::new(Vec::<Option<NodeView>>::new());
    let snap = RwSignal::new(Snapshot::default());
    let lines = RwSignal::new(vec![Line {
        text: "Connected through the primary endpoint, as an application would be. Try SET foo bar, then kill the primary (→ Kill on its card) and run GET foo again.".into(),
        kind: "hint",
    }]);
    let endpoint = RwSignal::new(String::new());
    let paused = RwSignal::new(false);
    let speed = RwSignal::new(1u64);
    let history = RwSignal::new(Vec::<String>::new());
    let hist_pos = RwSignal::new(0usize);
    // The console's hint line (redis-cli's hints, Tab's candidates).
    let hint = RwSignal::new(String::new());
    let api_error = RwSignal::new(String::new());
    let checks = RwSignal::new(Vec::<Check>::new());
    let writer_state = RwSignal::new((false, false, 0usize, 0u64));
    let input_ref: NodeRef<leptos::html::Input> = NodeRef::new();
    let new_az = RwSignal::new(AZS[0].to_string());
    // DeleteReplicationGroup's --final-snapshot-identifier.
    let final_name = RwSignal::new(String::new());
    let mc_active = RwSignal::new(false);
    let cme_active = RwSignal::new(false);
    let learn_active = RwSignal::new(false);
    let drawn = RwSignal::new(recipes::Drawn::default());
    let sub_lines = RwSignal::new(Vec::<Line>::new());

    let inbox: router::Inbox = Rc::new(move |slot: usize, msg: FromWorker| match msg {
        FromWorker::View { view } => views.update(|v| {
            while v.len() <= slot {
                v.push(None);
            }
            v[slot] = Some(*view);
        }),
        FromWorker::Reply { conn, bytes } => {
            let out = CONSOLE.with(|c| session_replies(&mut c.borrow_mut(), conn, &bytes));
            if !out.is_empty() {
                drawn.update(|d| {
                    for (cmd, reply) in &out {
                        recipes::observe(d, cmd, reply);
                    }
                });
                lines.update(|l| {
                    for (cmd, reply) in out {
                        let raw = cli::raw_output(&cmd);
                        l.push(Line {
                            text: cli::format_reply(&reply, raw),
                            kind: if reply.is_error() { "error" } else { "reply" },
                        });
                    }
                });
            }
            let sub = SUBSCRIBER.with(|c| subscriber_replies(&mut c.borrow_mut(), conn, &bytes));
            if !sub.is_empty() {
                let ep = short(&endpoint.get_untracked());
                sub_lines.update(|l| {
                    for (cmd, reply) in sub {
                        // The command is shown with its reply, so pushed
                        // messages land between the commands as they came.
                        if let Some(cmd) = &cmd {
                            let words: Vec<String> = cmd
                                .iter()
                                .map(|a| String::from_utf8_lossy(a).into_owned())
                                .collect();
                            l.push(Line {
                                text: format!("{ep}> {}", words.join(" ")),
                                kind: "cmd",
                            });
                        }
                        let cmd = cmd.unwrap_or_default();
                        l.push(Line {
                            text: cli::format_reply(&reply, false),
                            kind: if reply.is_error() { "error" } else { "reply" },
                        });
                        let subscribed = cmd.first().is_some_and(|c| {
                            c.eq_ignore_ascii_case(b"subscribe")
                                || c.eq_ignore_ascii_case(b"psubscribe")
                        });
                        if subscribed && !reply.is_error() {
                            l.push(Line {
                                text: "Reading messages... (press Ctrl-C to quit)".into(),
                                kind: "hint",
                            });
                        }
                    }
                });
            }
            writer_replies(conn, &bytes, checks);
            learn::labs::on_reply(conn, &bytes);
        }
        FromWorker::Closed { conn } => {
            learn::labs::on_closed(conn);
            SUBSCRIBER.with(|c| {
                let mut c = c.borrow_mut();
                if c.conn.map(|(_, id)| id) == Some(conn) {
                    c.conn = None;
                }
            });
            CONSOLE.with(|c| {
                let mut c = c.borrow_mut();
                if c.conn.map(|(_, id)| id) == Some(conn) {
                    c.conn = None;
                }
            });
        }
        _ => {}
    });
    // The account's clock carries on from the last visit (the stored
    // backups' dates are on it).
    let router = Router::spawn_group(
        "demo",
        &AZS,
        true,
        vault::start_clock(),
        groups::gated("demo"),
        None,
    );
    groups::add(router.clone());
    let primary_ep = router.borrow().control.dns.primary_endpoint.clone();
    endpoint.set(primary_ep.clone());
    CONSOLE.with(|c| c.borrow_mut().endpoint = primary_ep.clone());
    SUBSCRIBER.with(|c| c.borrow_mut().endpoint = primary_ep.clone());
    WRITER.with(|w| {
        let mut w = w.borrow_mut();
        w.session.endpoint = primary_ep.clone();
        w.check.endpoint = primary_ep.clone();
    });
    ROUTER.with(|slot| *slot.borrow_mut() = Some(router));
    snap.set(with_router(|r| snapshot(r)).unwrap_or_default());

    let refresh = move || {
        if let Some(s) = with_router(|r| snapshot(r)) {
            snap.set(s);
        }
        writer_state.set(WRITER.with(|w| {
            let w = w.borrow();
            (w.on, w.wait, w.acked.len(), w.failed)
        }));
    };
    // A lab's scenario: the group rebuilt with `replicas` replicas (one
    // node per AZ, round the AZs), every client starting afresh.
    // Every client of the page starts afresh on the shown group (a lab's
    // rebuilt group, or another group picked), `hint` in the console.
    let fresh_clients = move |hint: String| {
        let ep = with_router(|r| r.control.dns.primary_endpoint.clone()).unwrap_or_default();
        for s in [&CONSOLE, &SUBSCRIBER] {
            s.with(|c| {
                let mut c = c.borrow_mut();
                *c = Session::default();
                c.endpoint = ep.clone();
            });
        }
        WRITER.with(|w| {
            let mut w = w.borrow_mut();
            *w = Writer::default();
            w.session.endpoint = ep.clone();
            w.check.endpoint = ep.clone();
        });
        endpoint.set(ep);
        views.set(Vec::new());
        checks.set(Vec::new());
        drawn.set(recipes::Drawn::default());
        sub_lines.set(Vec::new());
        api_error.set(String::new());
        lines.set(vec![Line {
            text: hint,
            kind: "hint",
        }]);
        refresh();
    };
    let reset_group = move |replicas: usize, multi_az: bool| {
        // A lab's sandbox: its backups are not the account's.
        vault::stop_saving();
        groups::drop_others();
        let azs: Vec<&str> = (0..=replicas.min(5)).map(|i| AZS[i % 3]).collect();
        with_router(|r| r.rebuild(&azs, multi_az));
        fresh_clients(format!(
            "A new replication group for the lab: 1 primary and {replicas} replica{}, Multi-AZ {}. Connected through the primary endpoint.",
            if replicas == 1 { "" } else { "s" },
            if multi_az && replicas > 0 { "on" } else { "off" }
        ));
    };
    groups::init(
        inbox.clone(),
        Rc::new(move || {
            let g = groups::current();
            fresh_clients(format!(
                "Now showing replication group {g}. Connected through its primary endpoint."
            ))
        }),
        "demo",
    );
    // The account's backups kept by the browser come back.
    vault::load();
    let advance = move |ms: u64| {
        groups::advance_all(ms);
        writer_tick();
        refresh();
    };

    // The virtual clock.
    let tick = Closure::<dyn FnMut()>::new(move || {
        if !paused.get_untracked() {
            advance(TICK_MS * speed.get_untracked());
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            TICK_MS as i32,
        );
    }
    tick.forget();
    let learning = learn::init(mc_active, cme_active, learn_active, Rc::new(reset_group));

    let exec = move |text: String| {
        if text.trim().is_empty() {
            return;
        }
        history.update(|h| h.push(text.clone()));
        hist_pos.set(history.get_untracked().len());
        let Some(argv) = split_args(text.as_bytes()) else {
            lines.update(|l| {
                l.push(Line {
                    text: "Invalid argument(s)".into(),
                    kind: "error",
                })
            });
            return;
        };
        if argv.is_empty() {
            return;
        }
        if argv[0].eq_ignore_ascii_case(b"clear") {
            lines.set(Vec::new());
            return;
        }
        // redis-cli answers `help` itself, from its command docs.
        if argv[0].eq_ignore_ascii_case(b"help") {
            let topic = text.trim()[4..].trim().to_string();
            let out = HELPS.with(|h| help_text(h, &topic));
            lines.update(|l| {
                l.push(Line {
                    text: format!("{}> {}", short(&endpoint.get_untracked()), text),
                    kind: "cmd",
                });
                l.push(Line {
                    text: out,
                    kind: "reply",
                });
            });
            return;
        }
        let ep = endpoint.get_untracked();
        let sent = CONSOLE.with(|c| send_via(&mut c.borrow_mut(), &ep, argv));
        let s = snap.get_untracked();
        match sent {
            Some(slot) => lines.update(|l| {
                l.push(Line {
                    text: format!("{} ({})> {}", short(&ep), s.nodes[slot].name, text),
                    kind: "cmd",
                })
            }),
            None => lines.update(|l| {
                l.push(Line {
                    text: format!("{}> {}", short(&ep), text),
                    kind: "cmd",
                });
                l.push(Line {
                    text: format!(
                        "Could not connect to {}: it resolves to no running node (the primary failed and no replacement is ready yet)",
                        short(&ep)
                    ),
                    kind: "error",
                });
            }),
        }
    };

    // The second client's console (the chat recipe's subscriber).
    let exec_sub = move |text: String| {
        let Some(argv) = split_args(text.as_bytes()).filter(|a| !a.is_empty()) else {
            return;
        };
        let ep = endpoint.get_untracked();
        let sent = SUBSCRIBER.with(|c| send_via(&mut c.borrow_mut(), &ep, argv));
        if sent.is_none() {
            sub_lines.update(|l| {
                l.push(Line {
                    text: format!("{}> {}", short(&ep), text),
                    kind: "cmd",
                });
                l.push(Line {
                    text: format!("Could not connect to {}", short(&ep)),
                    kind: "error",
                });
            });
        }
    };
    let run_recipe = move |cmds: Vec<String>| {
        for c in cmds {
            match c.strip_prefix("@sub ") {
                Some(rest) => exec_sub(rest.to_string()),
                None => exec(c),
            }
        }
    };

    let run = move || {
        let Some(input) = input_ref.get_untracked() else {
            return;
        };
        let text = input.value();
        input.set_value("");
        exec(text);
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let key = ev.key();
        match key.as_str() {
            "Enter" => {
                run();
                hint.set(String::new());
            }
            "Tab" => {
                let Some(input) = input_ref.get_untracked() else {
                    return;
                };
                let value = input.value();
                // Only the command's name completes (one or two words).
                if value.split_whitespace().count() > 2 || value.ends_with(' ') {
                    return;
                }
                ev.prevent_default();
                let names = HELPS.with(|h| cachelab_engine::commands::docs::complete(h, &value));
                match names.as_slice() {
                    [] => {}
                    [one] => {
                        input.set_value(&format!("{one} "));
                        hint.set(HELPS.with(|h| {
                            cachelab_engine::commands::docs::hint(h, &format!("{one} "))
                                .unwrap_or_default()
                        }));
                    }
                    many => {
                        let common = many.iter().skip(1).fold(many[0].clone(), |acc, n| {
                            acc.chars()
                                .zip(n.chars())
                                .take_while(|(a, b)| a == b)
                                .map(|(a, _)| a)
                                .collect()
                        });
                        if common.len() > value.trim().len() {
                            input.set_value(&common);
                        }
                        hint.set(many.join("  "));
                    }
                }
            }
            "ArrowUp" | "ArrowDown" => {
                ev.prevent_default();
                let h = history.get_untracked();
                if h.is_empty() {
                    return;
                }
                let pos = hist_pos.get_untracked();
                let pos = if key == "ArrowUp" {
                    pos.saturating_sub(1)
                } else {
                    (pos + 1).min(h.len())
                };
                hist_pos.set(pos);
                if let Some(input) = input_ref.get_untracked() {
                    input.set_value(h.get(pos).map(String::as_str).unwrap_or(""));
                }
            }
            _ => {}
        }
    };

    Effect::new(move |_| {
        if let Some(input) = input_ref.get() {
            let _ = input.focus();
        }
    });

    let api = move |req: Api| {
        match with_router(|r| r.api(req)) {
            Some(Err(e)) => api_error.set(format!("{}: {}", e.code, e.message)),
            _ => api_error.set(String::new()),
        }
        refresh();
    };
    let fault = move |f: Box<dyn FnOnce(&mut Router)>| {
        with_router(f);
        refresh();
    };

    let primary_offset = move || {
        let s = snap.get();
        let v = views.get();
        s.dns
            .primary
            .as_ref()
            .and_then(|p| s.nodes.iter().position(|n| &n.addr == p))
            .and_then(|i| v.get(i).cloned().flatten())
            .map(|v| v.repl.offset)
    };

    let node_card = move |i: usize| {
        let s = snap.get();
        let v = views.get();
        let Some(n) = s.nodes.get(i).cloned() else {
            return view! { <div></div> }.into_any();
        };
        let up = s.up.get(i).copied().unwrap_or(false);
        let view = v.get(i).cloned().flatten().filter(|_| up);
        let class = role_class(&n, view.as_ref(), up);
        let role_word = match class {
            "primary" => "primary",
            "replica" => "replica",
            "failed" => "failed",
            _ => "syncing",
        };
        let offset = view.as_ref().map(|v| v.repl.offset);
        let lag = match (primary_offset(), offset, class) {
            (Some(p), Some(o), "replica" | "syncing") => Some(p.saturating_sub(o)),
            _ => None,
        };
        let keys = view.as_ref().map(|v| v.keys).unwrap_or(0);
        let link = view.as_ref().and_then(|v| v.repl.link.clone());
        let paused_now = s.paused.get(i).copied().unwrap_or(false);
        let isolated = s.isolated.get(i).copied().unwrap_or(false);
        let link_cut = s.link_cut.get(i).copied().unwrap_or(false);
        let is_replica = n.role == Role::Replica && n.status != NodeStatus::Deleted;
        let id = n.id.clone();
        let id2 = n.id.clone();
        let removable = n.role == Role::Replica && n.status != NodeStatus::Deleted;
        let tip = match class {
            "primary" => "Primary node: the only node that accepts writes. The primary endpoint resolves here.",
            "replica" => "Read replica: an asynchronous copy of the primary. The reader endpoint spreads connections over replicas; Multi-AZ promotes the least-lagged one if the primary fails.",
            "failed" => "Failed or offline node. ElastiCache replaces it with a new node in the same Availability Zone.",
            _ => "Syncing: a node copying the primary's data (full or partial resynchronisation) or starting up.",
        };
        let width = lag
            .map(|l| ((l as f64).log2().max(0.0) * 6.0).min(100.0))
            .unwrap_or(0.0);
        // Cause and effect: stream bytes this node sent or received in the
        // last virtual second light up its card.
        let recent = |t: &Traffic| {
            s.now.saturating_sub(t.at) < 1000
                && !t.lost
                && matches!(t.kind, "STREAM" | "FULLRESYNC" | "RDB" | "CONTINUE")
        };
        let sending = up && s.traffic.iter().any(|t| recent(t) && t.from == n.name);
        let forking = s
            .forking
            .iter()
            .find(|(node, _)| *node == n.name)
            .map(|(_, b)| b.clone());
        let fork_cost = view.as_ref().map(|v| v.fork);
        let receiving = up && s.traffic.iter().any(|t| recent(t) && t.to == n.name);
        let flow = if sending {
            " sending"
        } else if receiving {
            " receiving"
        } else {
            ""
        };
        view! {
            <div class=format!("card {class}{flow}") data-node=n.name.clone() data-role=role_word title=tip>
                <div class="card-head">
                    <span class=format!("dot {class}")></span>
                    <strong>{n.name.clone()}</strong>
                    <span class="role">{role_word}</span>
                </div>
                {sending.then(|| view! { <div class="flow" title="Replication stream: this primary is sending its writes to the replicas">"⇢ streaming writes to replicas"</div> })}
                {receiving.then(|| view! { <div class="flow" title="Replication stream: this replica is applying the primary's writes">"⇠ applying the primary's writes"</div> })}
                {forking.map(|b| view! { <div class="forking" title="This node took a backup's snapshot: Redis forks (a pause while the page tables are copied, then copy-on-write memory for every page written until the file is done); cachelab serializes the point-in-time file (the pause, measured) and holds that copy until it is stored (the memory). That cost is why ElastiCache prefers a read replica.">
                    {format!("snapshot for backup {b}: paused {} · holds a {} copy", fork_cost.map(|f| format!("{:.1} ms", f.usec as f64 / 1000.0)).unwrap_or_else(|| "–".into()), fork_cost.map(|f| format!("{:.1} KB", f.bytes as f64 / 1024.0)).unwrap_or_else(|| "–".into()))}
                </div> })}
                <div class="card-body">
                    <div title="The control plane's view (DescribeCacheClusters)">{format!("status: {}", n.status.word())}{(!up && n.status == NodeStatus::Available).then_some(" (health checks not yet missed)")}{paused_now.then_some(" · paused")}{isolated.then_some(" · partitioned")}</div>
                    <div title="INFO replication master_repl_offset: bytes of the replication stream this node holds">{format!("offset {}", offset.map(|o| o.to_string()).unwrap_or_else(|| "–".into()))}{format!(" · {keys} keys")}</div>
                    {link.map(|l| view! { <div title="ROLE: the replica's link to its primary">{format!("link: {l}")}</div> })}
                    {lag.map(|l| view! {
                        <div class="lag" title="Replication lag: bytes of the primary's stream this replica has not applied yet">
                            <span class="lag-bar" style=format!("width:{width:.0}%")></span>
                            <span class="lag-text">{format!("lag {l} B")}</span>
                        </div>
                    })}
                </div>
                <div class="card-actions">
                    <button class="kill" disabled=!up on:click=move |_| fault(Box::new(move |r| r.kill(i)))
                        title="Crash this node: its worker stops and its data is gone. The control plane notices missed health checks.">"Kill"</button>
                    <button class="reboot" on:click=move |_| api(Api::Reboot { id: id.clone() })
                        title="RebootCacheCluster: a customer reboot restarts the node in place; it never triggers a failover">"Reboot"</button>
                    <button class="pause" disabled=!up on:click=move |_| fault(Box::new(move |r| r.set_paused(i, !paused_now)))
                        title="Freeze the node (like a long GC pause): it answers nothing until resumed">{if paused_now { "Resume" } else { "Pause" }}</button>
                    <button class="isolate" on:click=move |_| fault(Box::new(move |r| if isolated { r.heal() } else { r.isolate(i) }))
                        title="Network partition: cut this node off from the other nodes and the control plane">{if isolated { "Heal" } else { "Partition" }}</button>
                    {is_replica.then(|| view! {
                        <button class="cut-link" on:click=move |_| fault(Box::new(move |r| if link_cut { r.heal() } else if let Some(p) = primary_slot(r) { r.cut_link(i, p) }))
                            title="Cut only the network between this replica and the primary: the replication link stalls, and breaks after repl-timeout (60 s); the control plane still reaches both. On reconnect the replica asks PSYNC: a partial resync if the backlog still holds what it missed, else a full sync.">{if link_cut { "Heal link" } else { "Cut link" }}</button>
                    })}
                    {removable.then(|| view! {
                        <button class="remove" on:click=move |_| api(Api::RemoveReplica { id: id2.clone() })
                            title="DecreaseReplicaCount: remove this read replica">"Remove"</button>
                    })}
                </div>
            </div>
        }
        .into_any()
    };

    view! {
        <header>
            <h1>"cachelab"</h1>
            <p class="tagline">"ElastiCache in your browser: every node is a real engine in its own Web Worker; every message between them passes through this page."</p>
            <nav class="tabs" role="tablist" aria-label="Engine">
                <button role="tab" id="tab-redis" aria-selected=move || (!mc_active.get() && !learn_active.get() && !cme_active.get()).to_string() class:active=move || !mc_active.get() && !learn_active.get() && !cme_active.get() on:click=move |_| { mc_active.set(false); cme_active.set(false); learn_active.set(false); }
                    title="A replication group: one primary, read replicas, Multi-AZ failover">"Redis · replication group"</button>
                <button role="tab" id="tab-cluster" aria-selected=move || (cme_active.get() && !learn_active.get()).to_string() class:active=move || cme_active.get() && !learn_active.get() on:click=move |_| { mc_active.set(false); cme_active.set(true); learn_active.set(false); }
                    title="Cluster mode enabled: shards, 16384 hash slots, online resharding, the cluster bus">"Redis · cluster mode"</button>
                <button role="tab" id="tab-memcached" aria-selected=move || (mc_active.get() && !learn_active.get()).to_string() class:active=move || mc_active.get() && !learn_active.get() on:click=move |_| { mc_active.set(true); cme_active.set(false); learn_active.set(false); }
                    title="A Memcached cluster: nodes the client spreads keys over, no replication">"Memcached · cluster"</button>
                <button role="tab" id="tab-learn" aria-selected=move || learn_active.get().to_string() class:active=move || learn_active.get() on:click=move |_| learn_active.set(true)
                    title="Study for the AWS certifications: a learning path, practice questions, labs on the live playground, mock exams">"Learn"</button>
            </nav>
        </header>
        <div style:display=move || if learn_active.get() { "block" } else { "none" }>
            <learn::LearnView />
        </div>
        // The lab's task, docked above the cluster it runs on.
        <div style:display=move || if !learn_active.get() && learn::lab_kind().as_deref() == Some(learn::tab_kind(&learning)) { "block" } else { "none" }>
            <learn::LabDock />
        </div>
        <div style:display=move || if mc_active.get() && !learn_active.get() { "block" } else { "none" }>
            <memcached::MemcachedView active=mc_active />
        </div>
        <div style:display=move || if cme_active.get() && !learn_active.get() { "block" } else { "none" }>
            <shards::ClusterModeView active=cme_active />
        </div>
        <main style:display=move || if mc_active.get() || cme_active.get() || learn_active.get() { "none" } else { "grid" }>
            <div class="left">
                <section class="console-pane" aria-label="Console">
                    <div class="console-head">
                        <label for="endpoint-picker">"Console — like redis-cli, connected through "</label>
                        <select id="endpoint-picker"
                            title="Applications connect to an endpoint (a DNS name), not to a node: the primary endpoint follows the primary through failovers, the reader endpoint spreads over replicas."
                            on:change=move |ev| endpoint.set(event_target_value(&ev))>
                            {move || {
                                let s = snap.get();
                                let mut opts = vec![
                                    (s.dns.primary_endpoint.clone(), "primary endpoint".to_string()),
                                    (s.dns.reader_endpoint.clone(), "reader endpoint".to_string()),
                                ];
                                opts.extend(s.nodes.iter().filter(|n| n.status != NodeStatus::Deleted).map(|n| (n.addr.clone(), format!("node {}", n.name))));
                                let cur = endpoint.get_untracked();
                                opts.into_iter().map(|(v, label)| view! { <option value=v.clone() selected=v == cur>{label}</option> }).collect_view()
                            }}
                        </select>
                    </div>
                    <crate::console::ConsoleOutput id="console-output" lines=Signal::derive(move || lines.get().into_iter().map(|l| (l.text, l.kind)).collect::<Vec<_>>()) />
                    <div class="prompt">
                        <span class="prompt-label">{move || format!("{}>", short(&endpoint.get()))}</span>
                        <input id="console-input" type="text" autocomplete="off" spellcheck="false" autofocus
                            placeholder="Type a command, e.g. SET foo bar — Enter to run, Tab completes, ↑/↓ for history, help SET"
                            node_ref=input_ref on:keydown=on_key
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                hint.set(HELPS.with(|h| cachelab_engine::commands::docs::hint(h, &v).unwrap_or_default()));
                            } />
                    </div>
                    <div id="console-hint" class="console-hint" aria-live="polite"
                        title="The arguments still to type, from Redis's command docs (as redis-cli hints them); Tab completes a command name">{move || hint.get()}</div>
                </section>
                <section class="panel usecases" id="use-cases" aria-label="Use cases">
                    <h2>"Use cases — live recipes"</h2>
                    <p class="note">"Each button sends a short script through the console (watch its lines above) to the primary endpoint; the drawing below is made from the replies."</p>
                    <div class="recipes">
                        {recipes::RECIPES.iter().map(|r| {
                            let cmds = r.commands;
                            view! {
                                <div class="recipe">
                                    <button id=format!("recipe-{}", r.id) title=r.concept
                                        on:click=move |_| run_recipe(cmds())>{r.title}</button>
                                    <span class="concept">{r.concept}</span>
                                </div>
                            }
                        }).collect_view()}
                    </div>
                    <div class="drawn">
                        {move || {
                            let d = drawn.get();
                            (!d.board.is_empty()).then(|| {
                                let top = d.board.first().and_then(|(_, s)| s.parse::<f64>().ok()).unwrap_or(1.0).max(1.0);
                                view! {
                                    <table id="leaderboard-table" title="ZREVRANGE leaderboard 0 9 WITHSCORES: the sorted set, highest score first">
                                        <thead><tr><th>"#"</th><th>"player"</th><th>"score"</th></tr></thead>
                                        <tbody>
                                            {d.board.iter().enumerate().map(|(i, (p, sc))| {
                                                let w = sc.parse::<f64>().unwrap_or(0.0) / top * 100.0;
                                                view! {
                                                    <tr data-player=p.clone()>
                                                        <td>{i + 1}</td>
                                                        <td>{p.clone()}</td>
                                                        <td class="score"><span class="score-bar" style=format!("width:{w:.0}%")></span><span class="score-text">{sc.clone()}</span></td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }
                            })
                        }}
                        {move || {
                            let d = drawn.get();
                            d.hll.zip(d.exact).map(|(est, exact)| {
                                let err = (est - exact).abs() as f64 / exact.max(1) as f64 * 100.0;
                                view! {
                                    <p id="visitors-result" class="visitors" title="HyperLogLog trades exactness for constant memory">
                                        {format!("unique visitors: PFCOUNT {est} vs SCARD {exact} (error {err:.2}%)")}
                                        {d.hll_bytes.zip(d.exact_bytes).map(|(h, e)| format!(" — memory {h} B vs {e} B"))}
                                    </p>
                                }
                            })
                        }}
                        {move || {
                            let d = drawn.get();
                            (!d.rate.is_empty()).then(|| view! {
                                <p id="rate-result" class="rate" title="Each EVAL ran the whole script atomically: INCR, EXPIRE on the first hit, compare with the limit">
                                    {"requests from 203.0.113.7 (limit 3 a minute): "}
                                    {d.rate.iter().enumerate().map(|(i, r)| {
                                        let ok = *r == 1;
                                        view! {
                                            <span class=if ok { "req allowed" } else { "req refused" }>
                                                {format!("#{} {}", i + 1, if ok { "allowed" } else { "refused" })}
                                            </span>
                                        }
                                    }).collect_view()}
                                </p>
                            })
                        }}
                        {move || {
                            let d = drawn.get();
                            (!d.cas.is_empty()).then(|| view! {
                                <p id="cas-result" class="cas" title="The script compares and sets in one atomic step on the node">
                                    {d.cas.iter().enumerate().map(|(i, r)| format!(
                                        "attempt {}: {}",
                                        i + 1,
                                        if *r == 1 { "stock was 5 → set to 4" } else { "stock no longer 5 → refused, re-read and retry" }
                                    )).collect::<Vec<_>>().join(" · ")}
                                </p>
                            })
                        }}
                        {move || {
                            let d = drawn.get();
                            d.queue.map(|q| view! {
                                <p id="queue-result" class="queue" title="LRANGE jobs 0 -1 after a worker's BRPOP took the oldest job">
                                    {format!("jobs waiting (newest first): {}", if q.is_empty() { "none".to_string() } else { q.join(", ") })}
                                </p>
                            })
                        }}                        {move || {
                            let l = sub_lines.get();
                            (!l.is_empty()).then(|| view! {
                                <div class="sub-console" id="subscriber-console" title="A second client on its own connection: after SUBSCRIBE it is in subscriber mode and receives every PUBLISH on the channel">
                                    <div class="sub-title">"Second client (subscriber)"</div>
                                    <div class="console-output">
                                        {l.into_iter().map(|l| view! { <pre class=format!("line {}", l.kind)>{l.text}</pre> }).collect_view()}
                                    </div>
                                </div>
                            })
                        }}
                        {move || {
                            let d = drawn.get();
                            d.places.clone().map(|places| geo_map(&places, d.nearby.as_ref()))
                        }}
                        {move || {
                            let d = drawn.get();
                            d.entries.clone().map(|entries| {
                                let groups = d.groups.clone().unwrap_or_default();
                                let pending = d.pending.clone().unwrap_or_default();
                                view! {
                                    <div class="stream-view" id="stream-view">
                                        <table id="stream-entries" title="XRANGE orders - +: the stream keeps every entry, in ID order (milliseconds-sequence)">
                                            <thead><tr><th>"entry ID"</th><th>"fields"</th></tr></thead>
                                            <tbody>
                                                {entries.into_iter().map(|(id, f)| view! { <tr><td class="mono">{id}</td><td>{f}</td></tr> }).collect_view()}
                                            </tbody>
                                        </table>
                                        {groups.into_iter().map(|(name, last, pend, lag)| view! {
                                            <p class="group-line" title="XINFO GROUPS orders: where the group has read up to, how many entries await an XACK, how many it has not read yet">
                                                {format!("group {name}: last delivered {last} · pending {pend} · lag {lag}")}
                                            </p>
                                        }).collect_view()}
                                        <table id="pending-table" title="XPENDING orders shipping - + 10: delivered but not acknowledged">
                                            <thead><tr><th>"pending ID"</th><th>"consumer"</th><th>"deliveries"</th><th></th></tr></thead>
                                            <tbody>
                                                {pending.into_iter().map(|(id, consumer, _idle, n)| {
                                                    let ack = format!("XACK orders shipping {id}");
                                                    view! {
                                                        <tr data-id=id.clone()>
                                                            <td class="mono">{id.clone()}</td>
                                                            <td>{consumer}</td>
                                                            <td>{n}</td>
                                                            <td><button class="ack" title="Acknowledge: the entry leaves the pending list"
                                                                on:click=move |_| run_recipe(vec![ack.clone(), "XINFO GROUPS orders".into(), "XPENDING orders shipping - + 10".into()])>"XACK"</button></td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                        <button id="stream-autoclaim" title="XAUTOCLAIM: worker-2 takes over entries pending for at least 0 ms — how a group recovers the work of a consumer that crashed"
                                            on:click=move |_| run_recipe(vec!["XAUTOCLAIM orders shipping worker-2 0 0-0".into(), "XINFO GROUPS orders".into(), "XPENDING orders shipping - + 10".into()])>
                                            "worker-1 crashed: worker-2 claims its entries (XAUTOCLAIM)"
                                        </button>
                                    </div>
                                }
                            })
                        }}

                    </div>
                </section>
                <section class="panel keys" aria-label="Keys">
                    <h2>{move || format!("Keys on {}", console_node(&snap.get()).map(|i| snap.get().nodes[i].name.clone()).unwrap_or_else(|| "the console's node".into()))}</h2>
                    {move || {
                        let s = snap.get();
                        let Some(view) = console_node(&s).and_then(|i| views.get().get(i).cloned().flatten()) else {
                            return view! { <p class="note">"Run a command to connect."</p> }.into_any();
                        };
                        if view.sample.is_empty() {
                            return view! { <p class="note" id="keys-empty">"No keys yet. Try SET session alice PX 5000 and watch it expire."</p> }.into_any();
                        }
                        let more = view.keys.saturating_sub(view.sample.len());
                        view! {
                            <table id="key-table">
                                <thead><tr>
                                    <th title="The key (SELECT its database to use it)">"key"</th>
                                    <th title="TYPE and OBJECT ENCODING">"type"</th>
                                    <th title="Time to live (PTTL). Keys without a TTL live until deleted or evicted.">"TTL"</th>
                                    <th title="MEMORY USAGE, in bytes">"bytes"</th>
                                </tr></thead>
                                <tbody>
                                    {view.sample.into_iter().take(8).map(|k| {
                                        let (ttl, class, width) = match k.ttl_ms {
                                            None => ("no TTL".to_string(), "ttl none", 0.0),
                                            Some(ms) => (format!("{:.1} s", ms as f64 / 1000.0), if ms < 5000 { "ttl soon" } else { "ttl" }, (ms as f64 / 600.0).min(100.0)),
                                        };
                                        let name = if k.db == 0 { k.key.clone() } else { format!("{} (db{})", k.key, k.db) };
                                        view! {
                                            <tr data-key=k.key.clone()>
                                                <td class="key">{name}</td>
                                                <td>{format!("{} · {}", k.kind, k.encoding)}</td>
                                                <td class=class>
                                                    <span class="ttl-bar" style=format!("width:{width:.0}%")></span>
                                                    <span class="ttl-text">{ttl}</span>
                                                </td>
                                                <td>{k.memory}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            {(more > 0).then(|| view! { <p class="note">{format!("…and {more} more (SCAN to list them all)")}</p> })}
                        }.into_any()
                    }}
                </section>
                <section class="panel lost" id="lost-writes" aria-label="Lost writes">
                    <h2>"Acknowledged writes vs. failover"</h2>
                    <p class="note">"A client writes SET order:N through the primary endpoint. Replication is asynchronous: writes the primary acknowledged but had not yet sent to a replica are lost when that replica is promoted. With WAIT 1, a write counts only once a replica has it."</p>
                    <div class="buttons">
                        <button id="btn-writer" on:click=move |_| { WRITER.with(|w| { let mut w = w.borrow_mut(); w.on = !w.on; }); refresh(); }>
                            {move || if writer_state.get().0 { "Stop writing" } else { "Start writing" }}
                        </button>
                        <label title="Confirm every write with WAIT 1 1000 (at least one replica has it)">
                            <input id="chk-wait" type="checkbox" prop:checked=move || writer_state.get().1
                                on:change=move |ev| { let on = event_target_checked(&ev); WRITER.with(|w| { let mut w = w.borrow_mut(); w.wait = on; w.acked.clear(); w.failed = 0; }); refresh(); } />
                            " use WAIT 1"
                        </label>
                        <button id="btn-check" on:click=move |_| start_check() title="MGET every acknowledged key through the primary endpoint">"Check now"</button>
                    </div>
                    <p id="writer-stats">{move || { let (on, wait, acked, failed) = writer_state.get(); format!("{} · {acked} acknowledged{} · {failed} failed or unconfirmed", if on { "writing" } else { "stopped" }, if wait { " (with WAIT 1)" } else { "" }) }}</p>
                    <ul id="checks">
                        {move || checks.get().into_iter().rev().take(4).map(|c| {
                            let lost = c.lost.len();
                            let class = if lost > 0 { "check bad" } else { "check ok" };
                            let sample: Vec<String> = c.lost.iter().take(8).map(|n| format!("order:{n}")).collect();
                            view! {
                                <li class=class data-lost=lost.to_string()>
                                    {format!("{} — primary {}: {} of {} acknowledged writes lost{}", fmt_clock(c.at.0), short(&c.primary), lost, c.acked, if c.wait { " (writes confirmed with WAIT 1)" } else { "" })}
                                    {(lost > 0).then(|| view! { <div class="why">{format!("{}{} — acknowledged by the old primary but not yet replicated when it failed: asynchronous replication.", sample.join(" "), if lost > 8 { " …" } else { "" })}</div> })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </section>
                <backups::BackupsPanel views=views />
            </div>
            <div class="side">
                <section class="time" aria-label="Virtual time">
                    <h2>"Virtual time"</h2>
                    <div class="clock" id="virtual-clock" data-ms=move || snap.get().now.0.to_string() title="The time every node and the control plane see. TTLs, health checks, failover timers and the backup window follow it; it carries on across reloads, as the stored backups' dates do.">
                        <span class="date">{move || cachelab_engine::backup::date(snap.get().now)}" "</span>
                        {move || fmt_clock(snap.get().now.0)}
                        <span class="state">{move || if paused.get() { " paused".to_string() } else { format!(" running {}x", speed.get()) }}</span>
                    </div>
                    <div class="buttons">
                        <button id="btn-pause" on:click=move |_| paused.update(|p| *p = !*p) title="Stop or resume the clock for every node">
                            {move || if paused.get() { "Resume" } else { "Pause" }}
                        </button>
                        <button id="btn-step" on:click=move |_| advance(1000) title="Advance virtual time by one second">"Step +1 s"</button>
                        <button id="btn-1x" class:active=move || speed.get() == 1 on:click=move |_| speed.set(1)>"1x"</button>
                        <button id="btn-10x" class:active=move || speed.get() == 10 on:click=move |_| speed.set(10)>"10x"</button>
                    </div>
                </section>
                <section class="topology" aria-label="Replication group">
                    <h2>"Replication group " <code id="group-name">{move || snap.get().group}</code> " — cluster mode disabled"</h2>
                    {move || (snap.get().groups.len() > 1).then(|| view! {
                        <div class="group-picker" role="tablist" aria-label="Replication groups"
                            title="Groups restored from backups run beside the first one; pick which one this page shows">
                            {snap.get().groups.into_iter().map(|g| {
                                let shown = g == snap.get_untracked().group;
                                let g2 = g.clone();
                                view! { <button role="tab" class="group-tab" class:active=shown aria-selected=shown.to_string() data-group=g.clone()
                                    on:click=move |_| { groups::switch(&g2); refresh(); }>{g.clone()}</button> }
                            }).collect_view()}
                        </div>
                    })}
                    {move || (snap.get().group != groups::first()).then(|| view! {
                        <div class="field delete-group">
                            <input id="final-backup-name" class="short" placeholder="final backup name (optional)"
                                prop:value=move || final_name.get() on:input=move |ev| final_name.set(event_target_value(&ev)) />
                            <button id="btn-delete-group" class="kill"
                                title="DeleteReplicationGroup: its automatic backups go with it; a final backup (from the primary) is kept when named"
                                on:click=move |_| {
                                    let g = snap.get_untracked().group;
                                    let f = final_name.get_untracked();
                                    let f = f.trim();
                                    match groups::delete(&g, (!f.is_empty()).then_some(f)) {
                                        Ok(()) => { api_error.set(String::new()); final_name.set(String::new()); }
                                        Err(e) => api_error.set(format!("{}: {}", e.code, e.message)),
                                    }
                                    refresh();
                                }>"Delete group"</button>
                        </div>
                    })}
                    <p class="legend">
                        <span class="dot primary"></span>"primary "
                        <span class="dot replica"></span>"replica "
                        <span class="dot syncing"></span>"syncing / starting "
                        <span class="dot failed"></span>"failed"
                    </p>
                    <div class="lanes">
                        {AZS.iter().map(|az| {
                            let az = az.to_string();
                            let az2 = az.clone();
                            let az3 = az.clone();
                            let az4 = az.clone();
                            let az5 = az.clone();
                            let az6 = az.clone();
                            let az8 = az.clone();
                            view! {
                                <div class="lane" data-az=az5>
                                    <div class="lane-head" title="An Availability Zone: an isolated data centre. Multi-AZ places replicas in other AZs so one AZ failing does not lose the group.">
                                        {az.clone()}
                                        <span class="az-buttons">
                                            <button class="az-partition" title="Network partition: this AZ's nodes keep running but reach only each other (not the other AZs, not the control plane)"
                                                on:click=move |_| { let cut = snap.get_untracked().partitioned_azs.contains(&az6); let az7 = az6.clone(); fault(Box::new(move |r| if cut { r.heal() } else { r.partition_az(&az7) })) }>
                                                {move || if snap.get().partitioned_azs.contains(&az8) { "Heal" } else { "Partition" }}
                                            </button>
                                            <button class="az-toggle" title="AZ outage: every node in this AZ fails, and nothing can be launched there until it is back"
                                                on:click=move |_| { let down = snap.get_untracked().azs_down.contains(&az2); let az3 = az3.clone(); fault(Box::new(move |r| r.set_az(&az3, down))) }>
                                                {move || if snap.get().azs_down.contains(&az) { "AZ back" } else { "Outage" }}
                                            </button>
                                        </span>
                                    </div>
                                    {
                                        let az = az4.clone();
                                        move || {
                                            let s = snap.get();
                                            (0..s.nodes.len())
                                                .filter(|&i| s.nodes[i].az == az && s.nodes[i].status != NodeStatus::Deleted)
                                                .map(node_card)
                                                .collect_view()
                                        }
                                    }
                                </div>
                            }
                        }).collect_view()}
                    </div>
                    <div class="buttons group-actions">
                        <button id="btn-test-failover" on:click=move |_| api(Api::TestFailover) title="TestFailover API: fail the primary on purpose and watch Multi-AZ promote a replica (15 calls per rolling 24 hours)">"Test failover"</button>
                        <label title="Multi-AZ with automatic failover: when the primary fails, the least-lagged replica is promoted and the primary endpoint moves to it">
                            <input id="chk-multi-az" type="checkbox" prop:checked=move || snap.get().multi_az on:change=move |ev| api(Api::SetMultiAz(event_target_checked(&ev))) />
                            " Multi-AZ"
                        </label>
                        <select id="add-az" on:change=move |ev| new_az.set(event_target_value(&ev)) title="The AZ for a new replica">
                            {AZS.iter().map(|a| view! { <option value=a.to_string()>{a.to_string()}</option> }).collect_view()}
                        </select>
                        <button id="btn-add-replica" on:click=move |_| api(Api::AddReplica { az: new_az.get_untracked() }) title="IncreaseReplicaCount: up to 5 read replicas per shard">"Add replica"</button>
                        <button id="btn-heal" on:click=move |_| fault(Box::new(|r| r.heal())) title="Remove every network partition">"Heal network"</button>
                    </div>
                    <p class="api-error" id="api-error" role="alert">{move || api_error.get()}</p>
                </section>
                <section class="endpoints" aria-label="Endpoints">
                    <h2>"Endpoints (DNS)"</h2>
                    <table id="endpoint-table">
                        <thead><tr><th title="The DNS name applications connect to">"endpoint"</th><th title="What the name resolves to now">"resolves to"</th></tr></thead>
                        <tbody>
                            <tr id="ep-primary" title="Primary endpoint: always the current primary; writers need no change after a failover">
                                <td class="name">{move || snap.get().dns.primary_endpoint}</td>
                                <td class="target">{move || snap.get().dns.primary.as_deref().map(short).unwrap_or_else(|| "—".into())}</td>
                            </tr>
                            <tr id="ep-reader" title="Reader endpoint: spreads connections over the read replicas">
                                <td class="name">{move || snap.get().dns.reader_endpoint}</td>
                                <td class="target">{move || { let r = snap.get().dns.readers; if r.is_empty() { "the primary (no replicas)".into() } else { r.iter().map(|a| short(a)).collect::<Vec<_>>().join(", ") } }}</td>
                            </tr>
                        </tbody>
                    </table>
                </section>
                <section class="events" aria-label="Events">
                    <h2>"Events"</h2>
                    <div class="timeline" id="timeline" title="The last minute of virtual time: each mark is an event">
                        {move || {
                            let s = snap.get();
                            let end = s.now.0;
                            s.events.iter().filter(|e| end.saturating_sub(e.at.0) <= 60_000).map(|e| {
                                let left = 100.0 - (end.saturating_sub(e.at.0) as f64 / 600.0);
                                let class = if e.message.contains("Failover") { "mark failover" } else if e.message.contains("Finished") { "mark done" } else if e.message.contains("Recovering") { "mark recovering" } else { "mark" };
                                view! { <span class=class style=format!("left:{left:.1}%") title=e.message.clone()></span> }
                            }).collect_view()
                        }}
                    </div>
                    <ol id="event-log">
                        {move || snap.get().events.into_iter().rev().take(10).map(|e| view! {
                            <li><span class="when">{fmt_clock(e.at.0)}</span>" "<span class="src">{e.source_id.clone()}</span>" "<span class="msg">{e.message.clone()}</span></li>
                        }).collect_view()}
                    </ol>
                </section>
                <section class="traffic" aria-label="Replication traffic">
                    <h2 title="What the nodes say to each other, in Redis's replication protocol: PSYNC, +FULLRESYNC with the RDB or +CONTINUE with the backlog, then the stream of write commands with its offsets, and REPLCONF ACKs">"Replication traffic"</h2>
                    {move || {
                        let s = snap.get();
                        let v = views.get();
                        let at = |i: usize| v.get(i).cloned().flatten().filter(|_| s.up.get(i).copied().unwrap_or(false));
                        let p = s.dns.primary.as_ref().and_then(|p| s.nodes.iter().position(|n| &n.addr == p));
                        let primary = p.and_then(|i| at(i).filter(|v| v.repl.role == "master").map(|v| (s.nodes[i].name.clone(), v.repl)));
                        primary.map(|(name, repl)| {
                            let replicas = s.nodes.iter().enumerate()
                                .filter(|(i, n)| Some(*i) != p && n.status != NodeStatus::Deleted)
                                .map(|(i, n)| {
                                    let view = at(i);
                                    let up = s.up.get(i).copied().unwrap_or(false);
                                    backlog::Replica { name: n.name.clone(), class: role_class(n, view.as_ref(), up), view: view.map(|v| v.repl) }
                                })
                                .collect();
                            backlog::backlog_view(name, repl, replicas)
                        })
                    }}
                    <ol id="traffic">
                        {move || snap.get().traffic.into_iter().rev().take(8).map(|t| view! {
                            <li class:lost=t.lost class:held=t.held title=t.detail.clone()>{format!("{} {} → {} {}{}", fmt_clock(t.at.0), t.from, t.to, t.kind, if t.bytes > 0 { format!(" ({} B)", t.bytes) } else { String::new() })}{t.lost.then_some(" — lost")}{t.held.then_some(" — waiting at the partition")}
                                {(!t.detail.is_empty()).then(|| view! { <div class="detail">{t.detail.clone()}</div> })}</li>
                        }).collect_view()}
                    </ol>
                    <ol id="node-log" class="node-log">
                        {move || snap.get().node_log.into_iter().take(5).map(|(at, l)| view! { <li>{format!("{} {l}", fmt_clock(at.0))}</li> }).collect_view()}
                    </ol>
                </section>
            </div>
        </main>
    }
}

/// One step of the writer: a write (and its WAIT) when nothing is pending.
fn writer_tick() {
    WRITER.with(|w| {
        let mut w = w.borrow_mut();
        // Without WAIT, three pipelined writes every tick, whether or not
        // the last ones are answered yet (so writes are always in the air
        // when a node dies), up to 30 outstanding; with WAIT, one write
        // and its WAIT at a time.
        let outstanding = w.session.waiting.len();
        if !w.on || (w.wait && outstanding > 0) || outstanding > 30 {
            return;
        }
        let batch = if w.wait { 1 } else { 3 };
        for _ in 0..batch {
            w.next += 1;
            let n = w.next;
            let argv = vec![
                b"SET".to_vec(),
                format!("order:{n}").into_bytes(),
                n.to_string().into_bytes(),
            ];
            if session_send(&mut w.session, argv).is_none() {
                w.failed += 1;
                return;
            }
            if w.wait {
                let argv = vec![b"WAIT".to_vec(), b"1".to_vec(), b"1000".to_vec()];
                session_send(&mut w.session, argv);
            }
        }
    });
}

fn writer_replies(conn: ConnId, bytes: &[u8], checks: RwSignal<Vec<Check>>) {
    let done = WRITER.with(|w| {
        let mut w = w.borrow_mut();
        let node = w
            .session
            .conn
            .and_then(|(slot, _)| with_router(|r| r.control.nodes[slot].name.clone()))
            .unwrap_or_default();
        let now = with_router(|r| r.now).unwrap_or(Millis(0));
        for (cmd, reply) in session_replies(&mut w.session, conn, bytes) {
            let n: u64 = cmd
                .get(1)
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|k| k.strip_prefix("order:"))
                .and_then(|k| k.parse().ok())
                .unwrap_or(0);
            match (cmd[0].as_slice(), reply) {
                (b"SET", Reply::Simple(s)) if s == "OK" => {
                    if w.wait {
                        w.unconfirmed = Some((n, node.clone()));
                    } else {
                        w.acked.push((n, node.clone(), now));
                    }
                }
                (b"WAIT", Reply::Int(k)) => match w.unconfirmed.take() {
                    Some((n, node)) if k >= 1 => w.acked.push((n, node, now)),
                    _ => w.failed += 1,
                },
                _ => w.failed += 1,
            }
        }
        // The check's answer.
        let out = session_replies(&mut w.check, conn, bytes);
        let mut result = None;
        for (_, reply) in out {
            if let Reply::Array(vals) = reply {
                let lost: Vec<u64> = w
                    .checking
                    .iter()
                    .zip(vals)
                    .filter(|(_, v)| matches!(v, Reply::Nil))
                    .map(|(n, _)| *n)
                    .collect();
                let primary = w
                    .check
                    .conn
                    .and_then(|(slot, _)| with_router(|r| r.control.nodes[slot].addr.clone()))
                    .unwrap_or_default();
                result = Some(Check {
                    at: now,
                    acked: w.checking.len(),
                    lost,
                    wait: w.wait,
                    primary,
                });
            }
        }
        result
    });
    if let Some(c) = done {
        checks.update(|v| v.push(c));
    }
}

/// MGETs every acknowledged key through the primary endpoint.
fn start_check() {
    WRITER.with(|w| {
        let mut w = w.borrow_mut();
        let keys: Vec<u64> = w.acked.iter().map(|(n, _, _)| *n).collect();
        if keys.is_empty() {
            return;
        }
        let mut argv = vec![b"MGET".to_vec()];
        argv.extend(keys.iter().map(|n| format!("order:{n}").into_bytes()));
        w.checking = keys;
        let mut check = std::mem::take(&mut w.check);
        session_send(&mut check, argv);
        w.check = check;
    });
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// The geo recipe's map: every restaurant from the wide GEOSEARCH, the
/// radius of the narrow one and its hits, nearest first — positions and
/// distances are the replies' (an equirectangular view around the centre).
fn geo_map(places: &[(String, f64, f64)], nearby: Option<&recipes::Nearby>) -> impl IntoView {
    let (lon0, lat0) = (recipes::HERE_LON, recipes::HERE_LAT);
    let px_per_km = 45.0;
    let km_x = 111.32 * lat0.to_radians().cos();
    let at = move |lon: f64, lat: f64| {
        (
            190.0 + (lon - lon0) * km_x * px_per_km,
            130.0 - (lat - lat0) * 110.57 * px_per_km,
        )
    };
    let hits: Vec<String> = nearby
        .map(|n| n.hits.iter().map(|h| h.0.clone()).collect())
        .unwrap_or_default();
    let circle = nearby.map(|n| {
        let (cx, cy) = at(n.lon, n.lat);
        view! {
            <circle class="radius" cx=format!("{cx:.1}") cy=format!("{cy:.1}") r=format!("{:.1}", n.km * px_per_km)>
                <title>{format!("GEOSEARCH … BYRADIUS {} km", n.km)}</title>
            </circle>
            <circle class="here" cx=format!("{cx:.1}") cy=format!("{cy:.1}") r="4"><title>"You are here (FROMLONLAT)"</title></circle>
        }
    });
    let dots = places
        .iter()
        .map(|(name, lon, lat)| {
            let (x, y) = at(*lon, *lat);
            let hit = hits.contains(name);
            view! {
                <g class=if hit { "place hit" } else { "place" } data-name=name.clone()>
                    <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="5"><title>{format!("{name}: {lon:.4}, {lat:.4}")}</title></circle>
                    <text x=format!("{:.1}", x + 7.0) y=format!("{:.1}", y + 4.0)>{name.clone()}</text>
                </g>
            }
        })
        .collect_view();
    let list = nearby.map(|n| {
        view! {
            <ol class="nearby" id="nearby-list" title="GEOSEARCH … WITHDIST ASC: nearest first, distances in km as Redis formats them">
                {n.hits.iter().map(|(name, d, _, _)| view! { <li>{format!("{name} — {d} km")}</li> }).collect_view()}
            </ol>
        }
    });
    view! {
        <div class="geo-view">
            <svg id="geo-map" viewBox="0 0 380 260" role="img" aria-label="Restaurants around the search centre, with the search radius">
                <rect class="ground" x="0" y="0" width="380" height="260" />
                {circle}
                {dots}
            </svg>
            {list}
        </div>
    }
}
