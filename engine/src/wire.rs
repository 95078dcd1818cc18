//! Messages between a browser page and the Web Worker that hosts a node.
//! Plain serde data, so the same shapes cross `postMessage` (through
//! serde-wasm-bindgen) or any other transport. Owns no behaviour.

use serde::{Deserialize, Serialize};

use crate::commands::migrate::LinkOut;
use crate::memcached::{ClusterConfig, McView};
use crate::{ConnId, Millis, NodeEvent, NodeView, PeerMsg};

/// Page → worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum ToWorker {
    /// Create the node. Sent once, after the worker said `Ready`.
    Init {
        seed: u64,
        name: String,
        now: Millis,
    },
    Open {
        conn: ConnId,
        now: Millis,
    },
    Bytes {
        conn: ConnId,
        bytes: Vec<u8>,
        now: Millis,
    },
    Close {
        conn: ConnId,
        now: Millis,
    },
    /// Virtual time advanced: run due timers, then report a view.
    Tick {
        now: Millis,
    },
    /// A message from another node, relayed by the page's router.
    Peer {
        from: String,
        msg: PeerMsg,
        now: Millis,
    },
    /// REPLICAOF host port (`None`: NO ONE), from the control plane.
    ReplicaOf {
        primary: Option<(String, u16)>,
        now: Millis,
    },
    /// The control plane's backup `name`: the node's RDB file, now.
    Snapshot {
        name: String,
        now: Millis,
    },
    /// Seed the node's data from an RDB file (a group restored from a
    /// backup, or from an uploaded dump).
    Load {
        rdb: Vec<u8>,
        now: Millis,
    },
    /// Create a Redis node in cluster mode at `addr` ("ip:port"; its bus
    /// on port + 10000), for a cluster-mode group.
    InitCluster {
        seed: u64,
        name: String,
        now: Millis,
        addr: String,
    },
    /// Create a memcached node instead (`memory`: its `-m`, in bytes).
    InitMemcached {
        seed: u64,
        name: String,
        now: Millis,
        memory: usize,
        port: u16,
    },
    /// What the node answers to `config get cluster` from now on.
    Cluster {
        config: ClusterConfig,
    },
    /// Something happened on a TCP connection between nodes (`net`): one
    /// this node dialled, or one dialled to it.
    Tcp {
        arrival: crate::net::Arrival,
        now: Millis,
    },
}

impl ToWorker {
    /// The virtual time the message carries, if any.
    pub fn now(&self) -> Option<Millis> {
        match self {
            ToWorker::Init { now, .. }
            | ToWorker::Open { now, .. }
            | ToWorker::Bytes { now, .. }
            | ToWorker::Close { now, .. }
            | ToWorker::Tick { now }
            | ToWorker::Peer { now, .. }
            | ToWorker::ReplicaOf { now, .. }
            | ToWorker::Snapshot { now, .. }
            | ToWorker::Load { now, .. }
            | ToWorker::InitMemcached { now, .. }
            | ToWorker::InitCluster { now, .. }
            | ToWorker::Tcp { now, .. } => Some(*now),
            ToWorker::Cluster { .. } => None,
        }
    }
}

/// Worker → page.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum FromWorker {
    /// The wasm module is initialised; messages may now be sent.
    Ready,
    Reply {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    Event {
        event: NodeEvent,
    },
    View {
        view: Box<NodeView>,
    },
    /// A memcached node's view.
    McView {
        view: McView,
    },
    /// A message for another node: the router delivers it (or loses it).
    ToPeer {
        to: String,
        msg: PeerMsg,
    },
    /// The node dials another (its primary, MIGRATE's target), writes to
    /// or closes that link: the router carries it, TCP as `net` models it.
    Link {
        out: LinkOut,
    },
    /// SHUTDOWN ended the node's process: the router takes it down as a
    /// crash (there is no disk in the page, so a save would be moot).
    Shutdown,
    /// The file of backup `name` (or why the node could not take it).
    Snapshot {
        name: String,
        rdb: Result<Vec<u8>, String>,
    },
    /// A [`ToWorker::Load`] was refused (a bad file): Redis's words.
    LoadFailed {
        error: String,
    },
}
