//! The keyspace: 16 databases of keys → values, expiry (lazy and the active
//! sampling cycle), and memory accounting modelled on Redis's allocator use.
//! Owns data only: it knows nothing of connections, protocols or commands.

pub mod db;
pub mod mem;
pub mod number;
pub mod value;

pub use db::{Db, Entry, Keyspace};
pub use value::{StrValue, Value};
