//! The npm package `cachelab`, its Rust half: a whole simulated cluster
//! (a replication group, a cluster-mode group or a Memcached cluster, on
//! the engine's simulators in virtual time — `exercises::sim::SimCluster`,
//! what the labs are graded on) and a single node, exported to JavaScript
//! with wasm-bindgen. Replies become JavaScript values here
//! ([`reply_to_js`]); `npm/js/index.js` wraps both classes in the
//! package's async API and loads this module in browsers and Node.js.

use cachelab_engine::memcached::McNode;
use cachelab_engine::protocol::{encode_request, parse_reply, split_args, Reply};
use cachelab_engine::{ConnId, Input, Millis, Output};
use cachelab_exercises::cluster::{Cluster as _, ClusterView};
use cachelab_exercises::content::Scenario;
use cachelab_exercises::grade::run_step;
use cachelab_exercises::sim::SimCluster;
use cachelab_exercises::steps::memcached_bytes;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

/// What `Cluster.create` and `Node.create` accept.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct Options {
    /// "redis" (the default) or "memcached".
    engine: Option<String>,
    /// Replicas per shard (0–5), or of the replication group.
    replicas: Option<usize>,
    /// Shards: given, the group is cluster mode enabled (1–10).
    shards: Option<usize>,
    /// Memcached nodes (1–20).
    nodes: Option<usize>,
    /// Multi-AZ with automatic failover (replication groups; default on).
    multi_az: Option<bool>,
    /// Seeds node ids, gossip's picks and the simulated clients.
    seed: Option<f64>,
}

const OPTION_NAMES: [&str; 6] = ["engine", "replicas", "shards", "nodes", "multiAz", "seed"];

fn options(v: JsValue) -> Result<Options, JsError> {
    if v.is_undefined() || v.is_null() {
        return Ok(Options::default());
    }
    // serde-wasm-bindgen reads only the fields it knows: a misspelt
    // option would pass unnoticed.
    if let Some(obj) = v.dyn_ref::<js_sys::Object>() {
        for k in js_sys::Object::keys(obj).iter() {
            let k = k.as_string().unwrap_or_default();
            if !OPTION_NAMES.contains(&k.as_str()) {
                return Err(JsError::new(&format!(
                    "cachelab: unknown option `{k}`, expected one of {}",
                    OPTION_NAMES.join(", ")
                )));
            }
        }
    }
    serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&format!("cachelab: {e}")))
}

fn check(name: &str, v: usize, lo: usize, hi: usize) -> Result<usize, JsError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(JsError::new(&format!(
            "InvalidParameterValue: {name} must be between {lo} and {hi} (got {v})"
        )))
    }
}

/// A simulated cluster: its nodes are real engine nodes, its control
/// plane ElastiCache's, its clock virtual (it moves only in `advance`).
#[wasm_bindgen]
pub struct Cluster {
    inner: SimCluster,
    memcached: bool,
}

#[wasm_bindgen]
impl Cluster {
    /// `{ engine: "redis" | "memcached", replicas, shards, nodes, multiAz,
    /// seed }`; created, available, and its clock where that left it.
    #[wasm_bindgen(constructor)]
    pub fn new(opts: JsValue) -> Result<Cluster, JsError> {
        console_error_panic_hook::set_once();
        let o = options(opts)?;
        let engine = o.engine.as_deref().unwrap_or("redis");
        let kind = match (engine, o.shards) {
            ("redis", Some(_)) => "cluster",
            ("redis", None) => "replication",
            ("memcached", _) => "memcached",
            (other, _) => {
                return Err(JsError::new(&format!(
                "InvalidParameterValue: engine must be \"redis\" or \"memcached\" (got {other:?})"
            )))
            }
        };
        let scenario = Scenario {
            kind: kind.into(),
            shards: check("shards", o.shards.unwrap_or(3), 1, 10)?,
            replicas: check("replicas", o.replicas.unwrap_or(2), 0, 5)?,
            multi_az: o.multi_az.unwrap_or(true),
            nodes: check("nodes", o.nodes.unwrap_or(3), 1, 20)?,
            setup: Vec::new(),
        };
        let seed = o.seed.unwrap_or(1.0).max(0.0) as u64;
        let inner = SimCluster::start(&scenario, seed).map_err(|e| JsError::new(&e))?;
        Ok(Cluster {
            inner,
            memcached: kind == "memcached",
        })
    }

    /// A command, its reply as a JavaScript value (an error reply is
    /// thrown as an `Error` named `ReplyError`). Redis: a command line
    /// (`SET k "a b"`) sent through `via` — `primary` (the default),
    /// `reader`, `cluster` (a cluster client following MOVED and ASK) or
    /// a node's name — on a connection of its own, as from a pool: what a
    /// connection keeps (HELLO 3, SELECT, MULTI) does not carry over to
    /// the next command; a `Node` keeps one connection. Memcached: a text-protocol line (`set k 0 0 hello`,
    /// the length counted for you; `get k`), to the node the client's
    /// hashing picks (`via` `client`, the default) or a node's id; its
    /// reply as text.
    pub fn send(&mut self, line: &str, via: Option<String>) -> Result<JsValue, JsValue> {
        if self.memcached {
            let node = via.as_deref().unwrap_or("client");
            return self
                .inner
                .memcached(node, line.trim())
                .map(|t| JsValue::from_str(&t))
                .map_err(|e| JsError::new(&e).into());
        }
        let argv = split_args(line.as_bytes())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| JsError::new(&format!("{line:?} is not a command line")))?;
        let via = via.as_deref().unwrap_or("primary");
        match self.inner.request(via, &argv) {
            Ok(Reply::Error(e)) => Err(reply_error(&e)),
            Ok(r) => Ok(reply_to_js(&r)),
            Err(e) => Err(JsError::new(&e).into()),
        }
    }

    /// One step in the labs' language: a command (`@reader GET k`), a
    /// memcached request (`mc client get k`) or an action (`!kill
    /// primary`, `!failover`, `!wait 30s`, `!scale-out 1`, `!mc-kill
    /// 0002`…); what it printed.
    pub fn step(&mut self, line: &str) -> Result<String, JsError> {
        run_step(&mut self.inner, line).map_err(|e| JsError::new(&e))
    }

    /// The node crashes (a replication group's `primary`, a node's name;
    /// a Memcached node's id).
    pub fn kill(&mut self, who: &str) -> Result<(), JsError> {
        let action = if self.memcached { "mc-kill" } else { "kill" };
        self.step(&format!("!{action} {who}")).map(|_| ())
    }

    /// Virtual time passes (ms): heartbeats, failure detection, elections,
    /// the control plane's replacements, expiries.
    pub fn advance(&mut self, ms: f64) -> Result<(), JsError> {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(JsError::new("advance: ms must be a number ≥ 0"));
        }
        self.step(&format!("!wait {}ms", ms as u64)).map(|_| ())
    }

    /// What the control plane shows: nodes (name, role, status, AZ),
    /// endpoints, shards, events — as a plain object.
    pub fn view(&mut self) -> Result<JsValue, JsError> {
        view_to_js(&self.inner.view())
    }

    /// The event log, oldest first, in DescribeEvents' words.
    pub fn events(&mut self) -> Vec<String> {
        self.inner.view().events
    }

    /// The virtual clock (ms since the epoch).
    pub fn now(&self) -> f64 {
        self.inner.now().0 as f64
    }
}

fn view_to_js(v: &ClusterView) -> Result<JsValue, JsError> {
    let s = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    serde::Serialize::serialize(v, &s).map_err(|e| JsError::new(&e.to_string()))
}

/// The client connection of a single node.
const CONN: ConnId = ConnId(1);

enum One {
    Redis(Box<cachelab_engine::Node>),
    Memcached(Box<McNode>),
}

/// One node, no network: bytes in, bytes out, on a clock that moves in
/// `advance`.
#[wasm_bindgen]
pub struct Node {
    node: One,
    now: Millis,
    /// Reply bytes not yet taken by `send`.
    pending: Vec<u8>,
}

#[wasm_bindgen]
impl Node {
    /// `{ engine: "redis" | "memcached", seed }`.
    #[wasm_bindgen(constructor)]
    pub fn new(opts: JsValue) -> Result<Node, JsError> {
        console_error_panic_hook::set_once();
        let o = options(opts)?;
        let seed = o.seed.unwrap_or(1.0).max(0.0) as u64;
        let now = Millis(1_800_000_000_000);
        let open = Input::ConnOpened {
            conn: CONN,
            peer: "127.0.0.1:50000".into(),
            local: "127.0.0.1:6379".into(),
        };
        let node = match o.engine.as_deref().unwrap_or("redis") {
            "redis" => {
                let mut n = cachelab_engine::Node::new(seed);
                n.start(now, 6379);
                n.handle(now, open);
                One::Redis(Box::new(n))
            }
            "memcached" => {
                let mut n = McNode::new(seed);
                n.start(now, 11211);
                n.handle(now, open);
                One::Memcached(Box::new(n))
            }
            other => {
                return Err(JsError::new(&format!(
                "InvalidParameterValue: engine must be \"redis\" or \"memcached\" (got {other:?})"
            )))
            }
        };
        let mut me = Node {
            node,
            now,
            pending: Vec::new(),
        };
        me.drain();
        me.pending.clear();
        Ok(me)
    }

    /// Raw protocol: request bytes (RESP, or memcached's text protocol)
    /// in, every reply byte they drew out.
    pub fn handle(&mut self, bytes: &[u8]) -> Vec<u8> {
        let now = self.now;
        let input = Input::ClientBytes { conn: CONN, bytes };
        match &mut self.node {
            One::Redis(n) => n.handle(now, input),
            One::Memcached(n) => n.handle(now, input),
        }
        self.drain();
        std::mem::take(&mut self.pending)
    }

    /// A command line; its reply as a JavaScript value (an error reply is
    /// thrown as `ReplyError`). Memcached: a text-protocol line, its reply
    /// as text.
    pub fn send(&mut self, line: &str) -> Result<JsValue, JsValue> {
        if matches!(self.node, One::Memcached(_)) {
            let out = self.handle(&memcached_bytes(line.trim()));
            return Ok(JsValue::from_str(String::from_utf8_lossy(&out).trim_end()));
        }
        let argv = split_args(line.as_bytes())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| JsError::new(&format!("{line:?} is not a command line")))?;
        let out = self.handle(&encode_request(&argv));
        let mut replies = Vec::new();
        let mut at = 0;
        while let Ok(Some((r, used))) = parse_reply(&out[at..]) {
            replies.push(r);
            at += used;
        }
        match replies.len() {
            0 => Err(JsError::new("no reply yet (a blocking command)").into()),
            1 => match replies.remove(0) {
                Reply::Error(e) => Err(reply_error(&e)),
                r => Ok(reply_to_js(&r)),
            },
            _ => Ok(reply_to_js(&Reply::Array(replies))),
        }
    }

    /// Virtual time passes (ms), in 100 ms ticks: expiries, the cron.
    pub fn advance(&mut self, ms: f64) -> Result<(), JsError> {
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(JsError::new("advance: ms must be a number ≥ 0"));
        }
        let end = self.now.plus(ms as u64);
        while self.now < end {
            self.now = self.now.plus(100.min(end.0 - self.now.0));
            let now = self.now;
            match &mut self.node {
                One::Redis(n) => n.handle(now, Input::Tick),
                One::Memcached(n) => n.handle(now, Input::Tick),
            }
        }
        self.drain();
        Ok(())
    }

    /// The virtual clock (ms since the epoch).
    pub fn now(&self) -> f64 {
        self.now.0 as f64
    }
}

impl Node {
    fn drain(&mut self) {
        loop {
            let o = match &mut self.node {
                One::Redis(n) => n.poll_output(),
                One::Memcached(n) => n.poll_output(),
            };
            match o {
                Some(Output::ToClient { conn, bytes }) if conn == CONN => {
                    self.pending.extend_from_slice(&bytes)
                }
                Some(_) => {}
                None => return,
            }
        }
    }
}

/// An error reply as a thrown value: an `Error` named `ReplyError` whose
/// message is Redis's words.
fn reply_error(text: &str) -> JsValue {
    let e = js_sys::Error::new(text);
    e.set_name("ReplyError");
    e.into()
}

/// A reply as JavaScript values: strings (bulk strings that are not UTF-8
/// as `Uint8Array`), numbers (integers beyond 2^53 as `BigInt`), `null`,
/// arrays, RESP3 maps as `Map`, sets as `Set`, booleans, big numbers as
/// `BigInt`; an error inside an array as an `Error` named `ReplyError`.
pub fn reply_to_js(r: &Reply) -> JsValue {
    const SAFE: i64 = (1 << 53) - 1;
    let list = |items: &[Reply]| -> JsValue {
        items
            .iter()
            .map(reply_to_js)
            .collect::<js_sys::Array>()
            .into()
    };
    match r {
        Reply::Simple(s) => JsValue::from_str(s),
        Reply::DoubleText(s) => JsValue::from_f64(s.parse().unwrap_or(f64::NAN)),
        Reply::Error(e) => reply_error(e),
        Reply::Int(n) if (-SAFE..=SAFE).contains(n) => JsValue::from_f64(*n as f64),
        Reply::Int(n) => js_sys::BigInt::from(*n).into(),
        Reply::Bulk(b) | Reply::Verbatim(_, b) => match std::str::from_utf8(b) {
            Ok(s) => JsValue::from_str(s),
            Err(_) => js_sys::Uint8Array::from(&b[..]).into(),
        },
        Reply::Nil | Reply::NilArray => JsValue::NULL,
        Reply::Array(v) | Reply::Push(v) | Reply::Seq(v) => list(v),
        Reply::Double(d) => JsValue::from_f64(*d),
        Reply::Map(pairs) => {
            let m = js_sys::Map::new();
            for (k, v) in pairs {
                m.set(&reply_to_js(k), &reply_to_js(v));
            }
            m.into()
        }
        Reply::Set(v) => {
            let s = js_sys::Set::new(&JsValue::UNDEFINED);
            for x in v {
                s.add(&reply_to_js(x));
            }
            s.into()
        }
        Reply::Bool(b) => JsValue::from_bool(*b),
        Reply::BigNumber(s) => js_sys::BigInt::new(&JsValue::from_str(s))
            .map(JsValue::from)
            .unwrap_or_else(|_| JsValue::from_str(s)),
    }
}

/// The embeddable demos (`exercises/demos.toml`): id, title, and why a
/// demo cannot run yet (`pending`), with each step's caption.
#[wasm_bindgen]
pub fn demos() -> Result<JsValue, JsError> {
    let all = cachelab_exercises::demos::demos().map_err(|e| JsError::new(&e))?;
    let s = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    serde::Serialize::serialize(&all, &s).map_err(|e| JsError::new(&e.to_string()))
}

/// One demo being played: its cluster on the simulator, step by step.
/// Deterministic: a demo restarted with the same seed replays the same
/// way (how the embed steps back).
#[wasm_bindgen]
pub struct DemoRun {
    demo: cachelab_exercises::demos::Demo,
    cluster: SimCluster,
    next: usize,
}

#[wasm_bindgen]
impl DemoRun {
    /// The demo `id`, its cluster created and available. A pending demo
    /// is refused with what it waits for.
    #[wasm_bindgen(constructor)]
    pub fn new(id: &str, seed: f64) -> Result<DemoRun, JsError> {
        console_error_panic_hook::set_once();
        let all = cachelab_exercises::demos::demos().map_err(|e| JsError::new(&e))?;
        let demo = all
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| JsError::new(&format!("no demo named {id:?}")))?;
        if let Some(why) = &demo.pending {
            return Err(JsError::new(&format!(
                "the {id} demo is not available yet: {why}"
            )));
        }
        let scenario = demo
            .scenario
            .clone()
            .ok_or_else(|| JsError::new("the demo has no scenario"))?;
        let cluster =
            SimCluster::start(&scenario, seed.max(0.0) as u64).map_err(|e| JsError::new(&e))?;
        Ok(DemoRun {
            demo,
            cluster,
            next: 0,
        })
    }

    /// Steps in all, and the next one to play.
    pub fn steps(&self) -> usize {
        self.demo.steps.len()
    }

    pub fn next(&self) -> usize {
        self.next
    }

    /// Plays the next step: `{ index, caption, lines: [{ line, output,
    /// error }], ok }` — each line with what it printed (or its error);
    /// `ok` false when a line failed or the expected text did not appear.
    pub fn play(&mut self) -> Result<JsValue, JsError> {
        let Some(step) = self.demo.steps.get(self.next).cloned() else {
            return Err(JsError::new("the demo has ended"));
        };
        let index = self.next;
        self.next += 1;
        let lines = js_sys::Array::new();
        let mut ok = true;
        let mut last = String::new();
        for line in &step.run {
            let o = js_sys::Object::new();
            let set = |k: &str, v: &JsValue| {
                let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), v);
            };
            set("line", &JsValue::from_str(line));
            match run_step(&mut self.cluster, line) {
                Ok(out) => {
                    set("output", &JsValue::from_str(&out));
                    last = out;
                }
                Err(e) => {
                    set("error", &JsValue::from_str(&e));
                    ok = false;
                }
            }
            lines.push(&o);
        }
        if let Some(want) = &step.expect {
            ok &= last.contains(want.as_str());
        }
        let r = js_sys::Object::new();
        let set = |k: &str, v: &JsValue| {
            let _ = js_sys::Reflect::set(&r, &JsValue::from_str(k), v);
        };
        set("index", &JsValue::from_f64(index as f64));
        set("caption", &JsValue::from_str(&step.caption));
        set("lines", &lines);
        set("ok", &JsValue::from_bool(ok));
        Ok(r.into())
    }

    /// The cluster as the control plane shows it.
    pub fn view(&mut self) -> Result<JsValue, JsError> {
        view_to_js(&self.cluster.view())
    }
}
