//! cachelab-engine: one cache node as a deterministic, sans-IO state machine.
//!
//! A [`Node`] is handed the current time and an [`Input`] (client bytes, a
//! connection opening or closing, a timer tick) and queues [`Output`]s (reply
//! bytes, connections to close, events for the UI). It never reads a clock,
//! spawns a thread, opens a socket or draws unseeded randomness: the runtime
//! (the native tokio server, a browser Web Worker, a test) owns all of that.
//!
//! Map: [`protocol`] parses and encodes RESP; [`store`] holds the keyspace,
//! values, expiry and memory accounting; [`commands`] is the command table and
//! one module per command family; [`node`] ties them to connections.

pub mod backup;
pub mod bench;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod control;
pub mod crc16;
pub mod digest;
pub mod evict;
pub mod glob;
pub mod limits;
pub mod memcached;
pub mod net;
pub mod node;
pub mod obuf;
pub mod persistence;
pub mod pqsort;
pub mod protocol;
pub mod replication;
pub mod rng;
pub mod scripting;
pub mod sha1;
pub mod sim;
pub mod store;
pub mod time;
pub mod wire;

pub use node::{ConnId, Input, KeyView, Machine, Node, NodeEvent, NodeView, Output, ReplView};
pub use replication::PeerMsg;
pub use time::Millis;
