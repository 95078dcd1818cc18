//! Wire formats: RESP2/RESP3 requests and replies, and redis-cli style
//! argument splitting. Owns bytes ⇄ frames only; knows nothing of commands,
//! the keyspace or connections.

pub mod args;
pub mod cli;
pub mod reply;
pub mod request;

pub use args::split_args;
pub use reply::{parse_reply, Reply, ReplyError};
pub use request::{
    encode_request, parse_request, parse_request_into, ProtocolError, RequestLimits,
};
