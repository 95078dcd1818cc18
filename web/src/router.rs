//! The main-thread router: spawns one module Web Worker per node, waits for
//! each worker's `Ready`, and carries every client→node message (and, in
//! later issues, node→node traffic) so it can be delayed, dropped or shown.
//! Owns the virtual clock that it passes in every message. Holds no copy of
//! node state: views come from the workers.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use cachelab_engine::wire::{FromWorker, ToWorker};
use cachelab_engine::{ConnId, Millis};
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

/// Something a worker said, tagged with which node said it.
pub type Inbox = Rc<dyn Fn(usize, FromWorker)>;

struct NodeLink {
    worker: Worker,
    ready: bool,
    /// Messages held until the worker is ready (posting earlier loses them).
    pending: VecDeque<ToWorker>,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
}

pub struct Router {
    nodes: Vec<NodeLink>,
    pub now: Millis,
}

pub type SharedRouter = Rc<RefCell<Router>>;

fn post(worker: &Worker, msg: &ToWorker) {
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

impl Router {
    /// Spawns `n` workers running `worker.js`; `inbox` receives what they say.
    pub fn spawn(n: usize, start: Millis, inbox: Inbox) -> Result<SharedRouter, JsValue> {
        let router = Rc::new(RefCell::new(Router {
            nodes: Vec::new(),
            now: start,
        }));
        for i in 0..n {
            let opts = WorkerOptions::new();
            opts.set_type(WorkerType::Module);
            opts.set_name(&format!("node-{}", i + 1));
            let worker = Worker::new_with_options("./worker.js", &opts)?;
            let weak = Rc::downgrade(&router);
            let inbox = inbox.clone();
            let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let msg: FromWorker = match serde_wasm_bindgen::from_value(ev.data()) {
                    Ok(m) => m,
                    Err(e) => {
                        web_sys::console::error_1(
                            &format!("cachelab: bad worker message: {e}").into(),
                        );
                        return;
                    }
                };
                if matches!(msg, FromWorker::Ready) {
                    if let Some(r) = weak.upgrade() {
                        r.borrow_mut().mark_ready(i);
                    }
                }
                inbox(i, msg);
            });
            worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
            let mut link = NodeLink {
                worker,
                ready: false,
                pending: VecDeque::new(),
                _onmessage: onmessage,
            };
            link.pending.push_back(ToWorker::Init {
                seed: 0xC0FFEE + i as u64,
                name: format!("node-{}", i + 1),
                now: start,
            });
            router.borrow_mut().nodes.push(link);
        }
        Ok(router)
    }

    fn mark_ready(&mut self, i: usize) {
        let link = &mut self.nodes[i];
        link.ready = true;
        while let Some(m) = link.pending.pop_front() {
            post(&link.worker, &m);
        }
    }

    pub fn send(&mut self, node: usize, msg: ToWorker) {
        let Some(link) = self.nodes.get_mut(node) else {
            return;
        };
        if link.ready {
            post(&link.worker, &msg);
        } else {
            link.pending.push_back(msg);
        }
    }

    pub fn open(&mut self, node: usize, conn: ConnId) {
        let now = self.now;
        self.send(node, ToWorker::Open { conn, now });
    }

    pub fn client_bytes(&mut self, node: usize, conn: ConnId, bytes: Vec<u8>) {
        let now = self.now;
        self.send(node, ToWorker::Bytes { conn, bytes, now });
    }

    /// Advances virtual time and ticks every node.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
        let now = self.now;
        for i in 0..self.nodes.len() {
            self.send(i, ToWorker::Tick { now });
        }
    }
}
