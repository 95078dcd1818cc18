//! cachelab-wasm: one cache node per module Web Worker.
//!
//! `worker_main` runs inside the worker: it posts `Ready` (messages posted
//! before the module initialised would be lost, so the page waits for it),
//! then feeds every `ToWorker` message to its `Node` and posts the node's
//! outputs back as `FromWorker`. The worker owns no clock: the page's router
//! passes virtual time in every message. Knows nothing of the DOM.

use std::cell::RefCell;
use std::rc::Rc;

use cachelab_engine::commands::migrate::LinkOut;
use cachelab_engine::memcached::McNode;
use cachelab_engine::wire::{FromWorker, ToWorker};
use cachelab_engine::{Input, Machine, Millis, Node, Output};
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// The node a worker hosts: a Redis node, a Redis node in cluster mode
/// (with the address it listens on), or a memcached node.
pub enum Hosted {
    Redis(Box<Node>),
    Cluster(Box<Node>, String),
    Memcached(Box<McNode>),
}

impl Hosted {
    fn machine(&mut self) -> &mut dyn Machine {
        match self {
            Hosted::Redis(n) | Hosted::Cluster(n, _) => n.as_mut(),
            Hosted::Memcached(n) => n.as_mut(),
        }
    }

    /// The address its connections arrive at. A cluster node's is its
    /// own (a bus connection is told by its port, and the node learns its
    /// IP from a MEET's local end); the others answer as 127.0.0.1:6379.
    fn local(&self) -> String {
        match self {
            Hosted::Cluster(_, addr) => addr.clone(),
            _ => "127.0.0.1:6379".to_string(),
        }
    }
}

/// Applies one message to the node and returns what to post back.
pub fn step(node: &mut Option<Hosted>, msg: ToWorker) -> Vec<FromWorker> {
    let mut out = Vec::new();
    let local = node
        .as_ref()
        .map_or_else(|| "127.0.0.1:6379".to_string(), Hosted::local);
    let msg_now = msg.now().unwrap_or(Millis(0));
    match msg {
        ToWorker::Init { seed, name: _, now } => {
            let mut n = Node::new(seed);
            n.start(now, 6379);
            n.set_clock(micros);
            n.apply_elasticache_defaults();
            // Replicas sync over the router's TCP in Redis's own protocol.
            n.speak_redis_replication();
            *node = Some(Hosted::Redis(Box::new(n)));
        }
        ToWorker::InitCluster {
            seed,
            name: _,
            now,
            addr,
        } => {
            let port = addr
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok())
                .unwrap_or(6379);
            let mut n = Node::new(seed);
            n.start(now, port);
            n.set_clock(micros);
            n.apply_elasticache_defaults();
            n.speak_redis_replication();
            if let Err(e) = n.set_startup_config("cluster-enabled", "yes") {
                web_sys::console::error_1(&format!("cachelab worker: {e}").into());
            }
            *node = Some(Hosted::Cluster(Box::new(n), addr));
        }
        ToWorker::InitMemcached {
            seed,
            name: _,
            now,
            memory,
            port,
        } => {
            let mut n = McNode::with_memory(seed, memory);
            n.start(now, port);
            *node = Some(Hosted::Memcached(Box::new(n)));
        }
        ToWorker::Cluster { config } => {
            if let Some(Hosted::Memcached(n)) = node {
                n.cluster = Some(config);
            }
        }
        ToWorker::Open { conn, now } => {
            if let Some(n) = node {
                n.machine().handle(
                    now,
                    Input::ConnOpened {
                        conn,
                        peer: format!("browser:{}", conn.0),
                        local,
                    },
                );
            }
        }
        ToWorker::Bytes { conn, bytes, now } => {
            if let Some(n) = node {
                n.machine().handle(
                    now,
                    Input::ClientBytes {
                        conn,
                        bytes: &bytes,
                    },
                );
            }
        }
        ToWorker::Close { conn, now } => {
            if let Some(n) = node {
                n.machine().handle(now, Input::ConnClosed { conn });
            }
        }
        ToWorker::Tick { now } => {
            if let Some(n) = node {
                n.machine().handle(now, Input::Tick);
            }
        }
        ToWorker::Peer { from, msg, now } => {
            if let Some(n) = node {
                n.machine().handle(now, Input::Peer { from: &from, msg });
            }
        }
        ToWorker::Tcp { arrival, now } => {
            if let Some(n) = node {
                n.machine().handle(now, arrival.input(&local));
            }
        }
        ToWorker::ReplicaOf { primary, now } => {
            if let Some(n) = node {
                n.machine()
                    .replicaof(now, primary.as_ref().map(|(h, p)| (h.as_str(), *p)));
            }
        }
        ToWorker::Load { rdb, now } => {
            if let Some(Hosted::Redis(n) | Hosted::Cluster(n, _)) = node {
                if let Err(error) = n.load_rdb(&rdb, now) {
                    out.push(FromWorker::LoadFailed { error });
                }
            }
        }
        ToWorker::Snapshot { name, now } => {
            let rdb = match node {
                Some(n) => n.machine().snapshot(now),
                None => Err("the node has not started".into()),
            };
            out.push(FromWorker::Snapshot { name, rdb });
        }
    }
    if let Some(n) = node {
        while let Some(o) = n.machine().poll_output() {
            out.push(match o {
                Output::Dial { link, host, port } => FromWorker::Link {
                    out: LinkOut::Dial { link, host, port },
                },
                Output::LinkSend { link, bytes } => FromWorker::Link {
                    out: LinkOut::Send { link, bytes },
                },
                Output::LinkClose { link } => FromWorker::Link {
                    out: LinkOut::Close { link },
                },
                // A node in the page has no disk yet (the Backups view will
                // keep files in IndexedDB): the save fails, as it would on a
                // node that cannot write its file.
                Output::Save(req) => {
                    n.machine().save_done(msg_now, req.id, false);
                    continue;
                }
                // Nor a nodes.conf: a node restarted in the page starts anew.
                Output::SaveClusterConfig { .. } => continue,
                Output::ToClient { conn, bytes } => FromWorker::Reply { conn, bytes },
                Output::CloseConn { conn } => FromWorker::Closed { conn },
                Output::Event(event) => FromWorker::Event { event },
                Output::ToPeer { to, msg } => FromWorker::ToPeer { to, msg },
                Output::Shutdown(_) => FromWorker::Shutdown,
            });
        }
        out.push(match n {
            Hosted::Redis(n) | Hosted::Cluster(n, _) => FromWorker::View {
                view: Box::new(n.view()),
            },
            Hosted::Memcached(n) => FromWorker::McView { view: n.view() },
        });
    }
    out
}

/// The page's wall clock in microseconds, lent to the node to time commands
/// (SLOWLOG, LATENCY); the node's own time stays the router's virtual clock.
fn micros() -> u64 {
    if cfg!(target_arch = "wasm32") {
        (js_sys::Date::now() * 1000.0) as u64
    } else {
        0
    }
}

#[wasm_bindgen]
pub fn worker_main() -> Result<(), JsValue> {
    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().dyn_into()?;
    let node: Rc<RefCell<Option<Hosted>>> = Rc::new(RefCell::new(None));
    let post_scope = scope.clone();
    let post = move |m: &FromWorker| {
        if let Ok(v) = serde_wasm_bindgen::to_value(m) {
            let _ = post_scope.post_message(&v);
        }
    };
    let post2 = post.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let msg: ToWorker = match serde_wasm_bindgen::from_value(ev.data()) {
            Ok(m) => m,
            Err(e) => {
                web_sys::console::error_1(&format!("cachelab worker: bad message: {e}").into());
                return;
            }
        };
        for out in step(&mut node.borrow_mut(), msg) {
            post2(&out);
        }
    });
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(&FromWorker::Ready);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cachelab_engine::{ConnId, Millis};

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    fn replies(out: &[FromWorker]) -> Vec<u8> {
        out.iter()
            .filter_map(|o| {
                if let FromWorker::Reply { bytes, .. } = o {
                    Some(bytes.clone())
                } else {
                    None
                }
            })
            .flatten()
            .collect()
    }

    #[test]
    fn a_worker_node_answers_and_expires_keys_in_virtual_time() {
        let mut node = None;
        let c = ConnId(1);
        step(
            &mut node,
            ToWorker::Init {
                seed: 7,
                name: "node-1".into(),
                now: Millis(0),
            },
        );
        step(
            &mut node,
            ToWorker::Open {
                conn: c,
                now: Millis(0),
            },
        );
        let out = step(
            &mut node,
            ToWorker::Bytes {
                conn: c,
                bytes: b"SET foo bar PX 1500\r\nGET foo\r\n".to_vec(),
                now: Millis(0),
            },
        );
        assert_eq!(replies(&out), b"+OK\r\n$3\r\nbar\r\n");
        // Active expiry removes the key once virtual time passes its TTL.
        let out = step(&mut node, ToWorker::Tick { now: Millis(1600) });
        let view = out
            .iter()
            .find_map(|o| {
                if let FromWorker::View { view } = o {
                    Some(view.clone())
                } else {
                    None
                }
            })
            .unwrap();
        assert_eq!(view.keys, 0);
        assert_eq!(view.expired_keys, 1);
        // Round trip through the JS boundary's serde shape.
        let out = step(
            &mut node,
            ToWorker::Bytes {
                conn: c,
                bytes: b"GET foo\r\n".to_vec(),
                now: Millis(1700),
            },
        );
        assert_eq!(replies(&out), b"$-1\r\n");
    }

    /// The same engine runs Lua in the worker: a rate limiter script, a
    /// function library, cjson, and a runaway script that yields across
    /// ticks, is answered BUSY to others, and is killed.
    #[cfg(target_arch = "wasm32")]
    #[test]
    fn scripts_run_in_the_worker() {
        let mut node = None;
        let (a, b) = (ConnId(1), ConnId(2));
        step(
            &mut node,
            ToWorker::Init {
                seed: 9,
                name: "node-1".into(),
                now: Millis(0),
            },
        );
        for c in [a, b] {
            step(
                &mut node,
                ToWorker::Open {
                    conn: c,
                    now: Millis(0),
                },
            );
        }
        let send = |node: &mut Option<Hosted>, c: ConnId, line: &str, now: u64| {
            let argv = cachelab_engine::protocol::split_args(line.as_bytes()).unwrap();
            let out = step(
                node,
                ToWorker::Bytes {
                    conn: c,
                    bytes: cachelab_engine::protocol::encode_request(&argv),
                    now: Millis(now),
                },
            );
            out.iter()
                .filter_map(|o| match o {
                    FromWorker::Reply { conn, bytes } if *conn == c => Some(bytes.clone()),
                    _ => None,
                })
                .flatten()
                .collect::<Vec<u8>>()
        };
        let limiter = "EVAL \"local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end if n > tonumber(ARGV[2]) then return 0 end return 1\" 1 rate:ip 60 2";
        assert_eq!(send(&mut node, a, limiter, 1), b":1\r\n");
        assert_eq!(send(&mut node, a, limiter, 2), b":1\r\n");
        assert_eq!(send(&mut node, a, limiter, 3), b":0\r\n");
        assert_eq!(
            send(&mut node, a, "EVAL \"return cjson.encode({ok=true})\" 0", 4),
            b"$11\r\n{\"ok\":true}\r\n"
        );
        let lib = "FUNCTION LOAD \"#!lua name=lib\nredis.register_function('hi', function(k, a) return 'hi ' .. a[1] end)\"";
        assert_eq!(send(&mut node, a, lib, 5), b"$3\r\nlib\r\n");
        assert_eq!(
            send(&mut node, a, "FCALL hi 0 there", 6),
            b"$8\r\nhi there\r\n"
        );
        // A runaway script: it yields, the node asks for ticks, others wait
        // and then get BUSY, SCRIPT KILL ends it.
        assert_eq!(send(&mut node, a, "EVAL \"while true do end\" 0", 10), b"");
        step(&mut node, ToWorker::Tick { now: Millis(6000) });
        assert_eq!(
            send(&mut node, b, "GET rate:ip", 6001),
            b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
        );
        assert_eq!(send(&mut node, b, "SCRIPT KILL", 6002), b"+OK\r\n");
        let out = step(&mut node, ToWorker::Tick { now: Millis(6003) });
        let killed: Vec<u8> = out
            .iter()
            .filter_map(|o| match o {
                FromWorker::Reply { conn, bytes } if *conn == a => Some(bytes.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(killed.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."));
        assert_eq!(send(&mut node, b, "GET rate:ip", 6004), b"$1\r\n3\r\n");
    }

    /// Two cluster-mode workers at their own IPs meet over a bus carried
    /// the way the page's router carries it (`net::Arrival`s): a dial to
    /// port 16379 arrives as a bus connection, and each learns the
    /// other's address and its own from the connection's ends.
    #[test]
    fn cluster_workers_meet_on_the_bus_port_at_their_own_addresses() {
        use cachelab_engine::commands::migrate::LinkId;
        use cachelab_engine::net::Arrival;
        let addrs = ["10.0.1.11:6379", "10.0.2.11:6379"];
        let mut nodes: Vec<Option<Hosted>> = vec![None, None];
        let mut queue: Vec<(usize, FromWorker)> = Vec::new();
        for (i, a) in addrs.iter().enumerate() {
            for m in [
                ToWorker::InitCluster {
                    seed: 11 + i as u64,
                    name: format!("n{i}"),
                    now: Millis(0),
                    addr: a.to_string(),
                },
                ToWorker::Open {
                    conn: ConnId(1),
                    now: Millis(0),
                },
            ] {
                queue.extend(step(&mut nodes[i], m).into_iter().map(|o| (i, o)));
            }
        }
        let out = step(
            &mut nodes[0],
            ToWorker::Bytes {
                conn: ConnId(1),
                bytes: b"CLUSTER MEET 10.0.2.11 6379 16379\r\n".to_vec(),
                now: Millis(0),
            },
        );
        assert_eq!(replies(&out), b"+OK\r\n");
        queue.extend(out.into_iter().map(|o| (0, o)));
        // (dialler, link) <-> (listener, conn)
        let mut links: Vec<((usize, LinkId), (usize, ConnId))> = Vec::new();
        let mut next = 1000;
        for t in 0..40u64 {
            let now = Millis(t * 100);
            while let Some((from, o)) = queue.pop() {
                let (to, msg) = match o {
                    FromWorker::Link {
                        out: LinkOut::Dial { link, host, port },
                    } => {
                        let to = addrs
                            .iter()
                            .position(|a| a.starts_with(&format!("{host}:")))
                            .unwrap();
                        assert_eq!(port, 16379);
                        next += 1;
                        links.push(((from, link), (to, ConnId(next))));
                        let up = step(
                            &mut nodes[from],
                            ToWorker::Tcp {
                                arrival: Arrival::Up { link },
                                now,
                            },
                        );
                        queue.extend(up.into_iter().map(|o| (from, o)));
                        let peer = format!(
                            "{}:{}",
                            addrs[from].split(':').next().unwrap(),
                            40000 + next
                        );
                        (
                            to,
                            ToWorker::Tcp {
                                arrival: Arrival::Opened {
                                    conn: ConnId(next),
                                    peer,
                                    port,
                                },
                                now,
                            },
                        )
                    }
                    FromWorker::Link {
                        out: LinkOut::Send { link, bytes },
                    } => {
                        let &(_, (to, conn)) =
                            links.iter().find(|(d, _)| *d == (from, link)).unwrap();
                        (
                            to,
                            ToWorker::Tcp {
                                arrival: Arrival::Bytes { conn, bytes },
                                now,
                            },
                        )
                    }
                    FromWorker::Reply { conn, bytes } if conn.0 >= 1000 => {
                        let &((to, link), _) =
                            links.iter().find(|(_, l)| *l == (from, conn)).unwrap();
                        (
                            to,
                            ToWorker::Tcp {
                                arrival: Arrival::LinkBytes { link, bytes },
                                now,
                            },
                        )
                    }
                    _ => continue,
                };
                queue.extend(step(&mut nodes[to], msg).into_iter().map(|o| (to, o)));
            }
            for (i, n) in nodes.iter_mut().enumerate() {
                queue.extend(step(n, ToWorker::Tick { now }).into_iter().map(|o| (i, o)));
            }
        }
        let view = |n: &mut Option<Hosted>| {
            step(n, ToWorker::Tick { now: Millis(4000) })
                .into_iter()
                .find_map(|o| match o {
                    FromWorker::View { view } => view.cluster,
                    _ => None,
                })
                .expect("a cluster view")
        };
        let (a, b) = (view(&mut nodes[0]), view(&mut nodes[1]));
        assert_eq!(a.known.len(), 1, "{a:?}");
        assert_eq!(a.known[0].0, b.id);
        assert_eq!(a.known[0].1, "10.0.2.11:6379");
        assert_eq!(a.known[0].2, "master");
        assert_eq!(b.known[0].1, "10.0.1.11:6379");
        assert!(a.replica_of.is_none() && a.slots.is_empty());
    }

    #[test]
    fn a_worker_hosts_a_memcached_node_and_its_cluster_config() {
        let mut node = None;
        let c = ConnId(1);
        step(
            &mut node,
            ToWorker::InitMemcached {
                seed: 7,
                name: "mc-0001".into(),
                now: Millis(1_000_000),
                memory: 64 << 20,
                port: 11211,
            },
        );
        step(
            &mut node,
            ToWorker::Cluster {
                config: cachelab_engine::memcached::ClusterConfig {
                    version: 3,
                    nodes: vec![("a".into(), "10.0.0.1".into(), 11211)],
                },
            },
        );
        step(
            &mut node,
            ToWorker::Open {
                conn: c,
                now: Millis(1_000_000),
            },
        );
        let out = step(
            &mut node,
            ToWorker::Bytes {
                conn: c,
                bytes: b"set a 0 0 1\r\nx\r\nget a\r\nconfig get cluster\r\n".to_vec(),
                now: Millis(1_000_000),
            },
        );
        assert_eq!(
            replies(&out),
            b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nCONFIG cluster 0 19\r\n3\na|10.0.0.1|11211\n\r\nEND\r\n"
        );
        assert!(out
            .iter()
            .any(|o| matches!(o, FromWorker::McView { view } if view.items == 1)));
    }

    /// Determinism across platforms: the simulator replays the golden seed
    /// in wasm (in Chromium) with exactly the trace hash recorded natively.
    #[test]
    fn the_simulator_replays_the_golden_seed_identically() {
        use cachelab_engine::sim::scenario;
        let o = scenario::run(scenario::GOLDEN_SEED, false);
        assert!(o.violations.is_empty(), "{:?}", o.violations);
        assert_eq!(o.trace_hash, scenario::GOLDEN_TRACE_HASH);
    }

    /// The same for cluster mode: a CME group resharding while a primary
    /// dies, replayed to the trace hash recorded natively.
    #[test]
    fn the_cluster_simulator_replays_its_golden_run_identically() {
        use cachelab_engine::sim::cluster;
        assert_eq!(cluster::golden(1), cluster::GOLDEN_CME_TRACE_HASH);
    }
}

/// Simulator speed for `cargo xtask bench`: plays `seeds` seeds and returns
/// simulated node-seconds per wall-clock second.
#[cfg(feature = "sim-bench")]
#[wasm_bindgen]
pub fn bench_sim(seeds: u32) -> f64 {
    let start = js_sys::Date::now();
    let mut node_ms = 0u64;
    for seed in 1..=seeds as u64 {
        node_ms += cachelab_engine::sim::scenario::run(seed, false).node_ms;
    }
    let secs = ((js_sys::Date::now() - start) / 1000.0).max(0.001);
    node_ms as f64 / 1000.0 / secs
}

/// Engine-only throughput for `cargo xtask bench`: `n` SET+GET pairs through
/// a node's full request path, timed with the host's clock (the engine itself
/// never reads one). Returns ops/s.
#[wasm_bindgen]
pub fn bench_engine(n: u32) -> f64 {
    let start = js_sys::Date::now();
    let ops = cachelab_engine::bench::set_get_loop(n);
    ops as f64 / ((js_sys::Date::now() - start).max(0.001) / 1000.0)
}
