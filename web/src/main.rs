//! cachelab-web: the playground page (leptos, client-side rendered).
//!
//! Draws only what the workers report (`NodeView`s and reply bytes); holds
//! no copy of node state. The console speaks RESP to the selected node via
//! the router, and formats replies as redis-cli does.

mod router;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use cachelab_engine::protocol::{cli, encode_request, parse_reply, split_args};
use cachelab_engine::wire::FromWorker;
use cachelab_engine::{ConnId, Millis, NodeView};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use router::{Router, SharedRouter};

const NODES: usize = 3;
/// The console's connection id on every node.
const CONSOLE: ConnId = ConnId(1);
/// Real milliseconds between ticks of the virtual clock.
const TICK_MS: u64 = 100;
/// Virtual time starts at a fixed, readable instant (2026-01-01T00:00:00Z).
const EPOCH: Millis = Millis(1_767_225_600_000);

/// Per node: the console's commands awaiting replies, and unparsed reply bytes.
type Pending = Vec<(VecDeque<Vec<Vec<u8>>>, Vec<u8>)>;

thread_local! {
    static ROUTER: RefCell<Option<SharedRouter>> = const { RefCell::new(None) };
    static PENDING: RefCell<Pending> = RefCell::new(vec![(VecDeque::new(), Vec::new()); NODES]);
}

fn with_router(f: impl FnOnce(&mut Router)) {
    ROUTER.with(|r| {
        if let Some(r) = r.borrow().as_ref() {
            f(&mut r.borrow_mut());
        }
    });
}

#[derive(Clone, Debug, PartialEq)]
struct Line {
    text: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct NodeRow {
    ready: bool,
    view: Option<NodeView>,
    ops_per_sec: f64,
    last_cmds: u64,
    last_at: f64,
}

fn node_name(i: usize) -> String {
    format!("node-{}", i + 1)
}

fn fmt_bytes(n: usize) -> String {
    if n < 1024 * 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.2} MB", n as f64 / 1024.0 / 1024.0)
    }
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

#[component]
fn App() -> impl IntoView {
    let rows = RwSignal::new(vec![NodeRow::default(); NODES]);
    let lines = RwSignal::new(vec![Line {
        text: "Connected to a cachelab node running in a Web Worker. Try: SET foo bar, GET foo, SET session v PX 1500, TTL session".into(),
        kind: "hint",
    }]);
    let selected = RwSignal::new(0usize);
    let paused = RwSignal::new(false);
    let speed = RwSignal::new(1u64);
    let now = RwSignal::new(EPOCH.0);
    let history = RwSignal::new(Vec::<String>::new());
    let hist_pos = RwSignal::new(0usize);
    let input_ref: NodeRef<leptos::html::Input> = NodeRef::new();

    // Start the workers once.
    let inbox: router::Inbox = Rc::new(move |i: usize, msg: FromWorker| match msg {
        FromWorker::Ready => {
            rows.update(|r| r[i].ready = true);
            with_router(|r| r.open(i, CONSOLE));
        }
        FromWorker::View { view } => {
            let t = js_sys::Date::now();
            rows.update(|r| {
                let row = &mut r[i];
                let dt = (t - row.last_at) / 1000.0;
                if row.last_at > 0.0 && dt >= 0.5 {
                    row.ops_per_sec =
                        (view.commands_processed.saturating_sub(row.last_cmds)) as f64 / dt;
                    row.last_cmds = view.commands_processed;
                    row.last_at = t;
                } else if row.last_at == 0.0 {
                    row.last_cmds = view.commands_processed;
                    row.last_at = t;
                }
                row.view = Some(view);
            });
        }
        FromWorker::Reply { conn, bytes } if conn == CONSOLE => {
            let mut out = Vec::new();
            PENDING.with(|p| {
                let mut p = p.borrow_mut();
                let (cmds, buf) = &mut p[i];
                buf.extend_from_slice(&bytes);
                while let Ok(Some((reply, n))) = parse_reply(buf) {
                    buf.drain(..n);
                    let raw = cmds
                        .pop_front()
                        .map(|a| cli::raw_output(&a))
                        .unwrap_or(false);
                    let kind = if reply.is_error() { "error" } else { "reply" };
                    out.push(Line {
                        text: cli::format_reply(&reply, raw),
                        kind,
                    });
                }
            });
            lines.update(|l| l.extend(out));
        }
        FromWorker::Closed { conn } if conn == CONSOLE => {
            lines.update(|l| {
                l.push(Line {
                    text: format!("(connection to {} closed; reconnected)", node_name(i)),
                    kind: "hint",
                })
            });
            with_router(|r| r.open(i, CONSOLE));
        }
        _ => {}
    });
    match Router::spawn(NODES, EPOCH, inbox) {
        Ok(r) => ROUTER.with(|slot| *slot.borrow_mut() = Some(r)),
        Err(e) => web_sys::console::error_2(&"cachelab: cannot start workers".into(), &e),
    }

    // The virtual clock.
    let tick = Closure::<dyn FnMut()>::new(move || {
        if !paused.get_untracked() {
            let ms = TICK_MS * speed.get_untracked();
            with_router(|r| r.advance(ms));
            now.update(|n| *n += ms);
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            TICK_MS as i32,
        );
    }
    tick.forget();

    let step = move |_| {
        with_router(|r| r.advance(1000));
        now.update(|n| *n += 1000);
    };

    let run = move || {
        let Some(input) = input_ref.get_untracked() else {
            return;
        };
        let text = input.value();
        input.set_value("");
        if text.trim().is_empty() {
            return;
        }
        history.update(|h| h.push(text.clone()));
        hist_pos.set(history.get_untracked().len());
        let node = selected.get_untracked();
        lines.update(|l| {
            l.push(Line {
                text: format!("{}> {}", node_name(node), text),
                kind: "cmd",
            })
        });
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
        let bytes = encode_request(&argv);
        PENDING.with(|p| p.borrow_mut()[node].0.push_back(argv));
        with_router(|r| r.client_bytes(node, CONSOLE, bytes));
    };

    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let key = ev.key();
        match key.as_str() {
            "Enter" => run(),
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
    // Keep the newest console line in view.
    Effect::new(move |_| {
        lines.track();
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("console-output"))
        {
            el.set_scroll_top(el.scroll_height());
        }
    });

    let ready_count = move || rows.get().iter().filter(|r| r.ready).count();

    view! {
        <header>
            <h1>"cachelab"</h1>
            <p class="tagline">"A Redis-compatible cache engine in your browser: each node below is a real engine in its own Web Worker."</p>
        </header>
        <main>
            <section class="console-pane" aria-label="Console">
                <div class="console-head">
                    <label for="console-input">"Console — like redis-cli, connected to "</label>
                    <select
                        id="node-picker"
                        title="Which node the console talks to (an ElastiCache node endpoint)"
                        on:change=move |ev| selected.set(event_target_value(&ev).parse().unwrap_or(0))
                    >
                        {(0..NODES).map(|i| view! { <option value=i.to_string()>{node_name(i)}</option> }).collect_view()}
                    </select>
                </div>
                <div id="console-output" class="console-output" role="log" aria-live="polite">
                    {move || lines.get().into_iter().map(|l| view! { <pre class=format!("line {}", l.kind)>{l.text}</pre> }).collect_view()}
                </div>
                <div class="prompt">
                    <span class="prompt-label">{move || format!("{}>", node_name(selected.get()))}</span>
                    <input
                        id="console-input"
                        type="text"
                        autocomplete="off"
                        spellcheck="false"
                        autofocus
                        placeholder="Type a command, e.g. SET foo bar — Enter to run, ↑/↓ for history"
                        node_ref=input_ref
                        on:keydown=on_key
                    />
                </div>
            </section>
            <aside class="side">
                <section class="time" aria-label="Virtual time">
                    <h2>"Virtual time"</h2>
                    <div class="clock" id="virtual-clock" title="The time every node sees. TTLs and active expiry follow it.">
                        {move || fmt_clock(now.get())}
                        <span class="state">{move || if paused.get() { " paused".to_string() } else { format!(" running {}x", speed.get()) }}</span>
                    </div>
                    <div class="buttons">
                        <button id="btn-pause" on:click=move |_| paused.update(|p| *p = !*p)
                            title="Stop or resume the clock for every node">
                            {move || if paused.get() { "Resume" } else { "Pause" }}
                        </button>
                        <button id="btn-step" on:click=step title="Advance virtual time by one second">"Step +1 s"</button>
                        <button id="btn-1x" class:active=move || speed.get() == 1 on:click=move |_| speed.set(1)>"1x"</button>
                        <button id="btn-10x" class:active=move || speed.get() == 10 on:click=move |_| speed.set(10)>"10x"</button>
                    </div>
                </section>
                <section class="nodes" aria-label="Nodes">
                    <h2>"Nodes " <span id="ready-count" data-ready=move || ready_count().to_string()>{move || format!("({}/{} ready)", ready_count(), NODES)}</span></h2>
                    <p class="legend"><span class="dot primary"></span>" primary (standalone, accepts writes) "<span class="dot starting"></span>" starting"</p>
                    <table id="node-table">
                        <thead><tr>
                            <th title="Node id (one Web Worker each)">"node"</th>
                            <th title="Keys in all databases (DBSIZE summed)">"keys"</th>
                            <th title="INFO memory used_memory">"memory"</th>
                            <th title="INFO stats total_commands_processed">"commands"</th>
                            <th title="Commands per real second">"ops/s"</th>
                            <th title="Keys removed because their TTL passed (INFO stats expired_keys)">"expired"</th>
                        </tr></thead>
                        <tbody>
                            {move || rows.get().into_iter().enumerate().map(|(i, r)| {
                                let sel = selected.get() == i;
                                let (keys, mem, cmds, expired) = match &r.view {
                                    Some(v) => (v.keys.to_string(), fmt_bytes(v.used_memory), v.commands_processed.to_string(), v.expired_keys.to_string()),
                                    None => ("–".into(), "–".into(), "–".into(), "–".into()),
                                };
                                view! {
                                    <tr class:selected=sel class=if r.ready { "node ready" } else { "node starting" } data-node=node_name(i)>
                                        <td><span class=if r.ready { "dot primary" } else { "dot starting" }></span>{node_name(i)}</td>
                                        <td class="keys">{keys}</td>
                                        <td>{mem}</td>
                                        <td>{cmds}</td>
                                        <td>{format!("{:.0}", r.ops_per_sec)}</td>
                                        <td>{expired}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    <p class="note">"Three independent nodes for now: replication groups, shards and failover arrive next. All traffic passes through the page's router."</p>
                </section>
                <section class="keys" aria-label="Keys">
                    <h2>{move || format!("Keys on {}", node_name(selected.get()))}</h2>
                    {move || {
                        let row = rows.get().get(selected.get()).cloned().unwrap_or_default();
                        let Some(view) = row.view else {
                            return view! { <p class="note">"Waiting for the node…"</p> }.into_any();
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
                                    {view.sample.into_iter().map(|k| {
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
            </aside>
        </main>
    }
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
