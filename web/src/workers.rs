//! A node's Web Worker as every tab's router holds it: started as an ES
//! module worker named after the node, its messages decoded (a message
//! that does not decode is logged, never passed on), and what is sent
//! before the worker says `Ready` held and delivered in order (posting
//! earlier would lose it). The routers decide what the messages mean.
//!
//! A worker that has not said `Ready` after [`STUCK_MS`] of real time
//! (the browser failed to load or start it: seen under load in CI, with no
//! error reported to the page) is started again, with what it was to be
//! sent, at most [`RESTARTS`] times; each time is logged as a warning.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use cachelab_engine::wire::{FromWorker, ToWorker};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

/// Posts a message to a worker (an encoding or posting failure is logged).
pub fn post(worker: &Worker, msg: &ToWorker) {
    match serde_wasm_bindgen::to_value(msg) {
        Ok(v) => {
            if let Err(e) = worker.post_message(&v) {
                web_sys::console::error_2(&"cachelab: postMessage failed".into(), &e);
            }
        }
        Err(e) => {
            web_sys::console::error_1(&format!("cachelab: cannot encode message: {e}").into())
        }
    }
}

/// Real milliseconds a worker may take to say `Ready`.
pub const STUCK_MS: f64 = 20_000.0;
/// Starts again a node's worker gets before it is left as it is.
pub const RESTARTS: u32 = 3;

type Handler = Rc<RefCell<dyn FnMut(FromWorker)>>;
/// A started worker and its message and error listeners.
type Started = (
    Worker,
    Closure<dyn FnMut(MessageEvent)>,
    Closure<dyn FnMut(web_sys::Event)>,
);

pub struct NodeLink {
    worker: Worker,
    name: String,
    handler: Handler,
    /// When the worker was started (`Date.now()`), and how often again.
    started: f64,
    restarts: u32,
    ready: bool,
    /// Messages held until the worker is ready.
    pending: VecDeque<ToWorker>,
    /// This worker's process (a relaunch at the same place is a new one,
    /// deaf to the old one's TCP connections).
    pub incarnation: u64,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
    _onerror: Closure<dyn FnMut(web_sys::Event)>,
}

/// A module worker named `name`, its messages decoded for `handler`, its
/// errors logged.
fn start(name: &str, handler: &Handler) -> Result<Started, JsValue> {
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    opts.set_name(name);
    let worker = Worker::new_with_options("./worker.js", &opts)?;
    let h = handler.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        match serde_wasm_bindgen::from_value::<FromWorker>(ev.data()) {
            Ok(m) => (h.borrow_mut())(m),
            Err(e) => {
                web_sys::console::error_1(&format!("cachelab: bad worker message: {e}").into())
            }
        }
    });
    worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    let who = name.to_string();
    let onerror = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
        let what = ev
            .dyn_ref::<web_sys::ErrorEvent>()
            .map_or_else(|| ev.type_(), |e| e.message());
        web_sys::console::warn_1(&format!("cachelab: worker {who}: {what}").into());
    });
    worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    Ok((worker, onmessage, onerror))
}

impl NodeLink {
    /// Starts `worker.js` as the node `name`; `first` is what it is sent
    /// once ready, before anything else; `on_message` hears every message
    /// it posts.
    pub fn spawn(
        name: &str,
        incarnation: u64,
        first: Vec<ToWorker>,
        on_message: impl FnMut(FromWorker) + 'static,
    ) -> Result<NodeLink, JsValue> {
        let handler: Handler = Rc::new(RefCell::new(on_message));
        let (worker, onmessage, onerror) = start(name, &handler)?;
        Ok(NodeLink {
            worker,
            name: name.to_string(),
            handler,
            started: js_sys::Date::now(),
            restarts: 0,
            ready: false,
            pending: first.into(),
            incarnation,
            _onmessage: onmessage,
            _onerror: onerror,
        })
    }

    /// A worker that has not said `Ready` in [`STUCK_MS`] is started
    /// again (nothing was delivered to it: what it is to be sent is still
    /// held, in order). The routers call this on every tick.
    pub fn restart_if_stuck(&mut self) {
        let now = js_sys::Date::now();
        if self.ready || self.restarts >= RESTARTS || now - self.started < STUCK_MS {
            return;
        }
        self.restarts += 1;
        web_sys::console::warn_1(
            &format!(
                "cachelab: worker {} did not start in {} s; starting it again ({} of {RESTARTS})",
                self.name,
                STUCK_MS / 1000.0,
                self.restarts
            )
            .into(),
        );
        self.worker.terminate();
        self.started = now;
        match start(&self.name, &self.handler) {
            Ok((worker, onmessage, onerror)) => {
                self.worker = worker;
                self._onmessage = onmessage;
                self._onerror = onerror;
            }
            Err(e) => web_sys::console::error_2(&"cachelab: cannot start a worker".into(), &e),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The worker said `Ready`: what was held goes out, in order.
    pub fn mark_ready(&mut self) {
        self.ready = true;
        while let Some(m) = self.pending.pop_front() {
            post(&self.worker, &m);
        }
    }

    /// Posts `msg`, or holds it until the worker is ready.
    pub fn send(&mut self, msg: ToWorker) {
        if self.ready {
            post(&self.worker, &msg);
        } else {
            self.pending.push_back(msg);
        }
    }

    /// The process ends at once (a crash: what it had not sent is lost).
    pub fn terminate(self) {
        self.worker.terminate();
    }
}
