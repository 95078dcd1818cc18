//! A node's Web Worker as every tab's router holds it: started as an ES
//! module worker named after the node, its messages decoded (a message
//! that does not decode is logged, never passed on), and what is sent
//! before the worker says `Ready` held and delivered in order (posting
//! earlier would lose it). The routers decide what the messages mean.

use std::collections::VecDeque;

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

pub struct NodeLink {
    worker: Worker,
    ready: bool,
    /// Messages held until the worker is ready.
    pending: VecDeque<ToWorker>,
    /// This worker's process (a relaunch at the same place is a new one,
    /// deaf to the old one's TCP connections).
    pub incarnation: u64,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
}

impl NodeLink {
    /// Starts `worker.js` as the node `name`; `first` is what it is sent
    /// once ready, before anything else; `on_message` hears every message
    /// it posts.
    pub fn spawn(
        name: &str,
        incarnation: u64,
        first: Vec<ToWorker>,
        mut on_message: impl FnMut(FromWorker) + 'static,
    ) -> Result<NodeLink, JsValue> {
        let opts = WorkerOptions::new();
        opts.set_type(WorkerType::Module);
        opts.set_name(name);
        let worker = Worker::new_with_options("./worker.js", &opts)?;
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            match serde_wasm_bindgen::from_value::<FromWorker>(ev.data()) {
                Ok(m) => on_message(m),
                Err(e) => {
                    web_sys::console::error_1(&format!("cachelab: bad worker message: {e}").into())
                }
            }
        });
        worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        Ok(NodeLink {
            worker,
            ready: false,
            pending: first.into(),
            incarnation,
            _onmessage: onmessage,
        })
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
