//! The keyspace: 16 databases of keys → values, expiry (lazy and the active
//! sampling cycle), and memory accounting modelled on Redis's allocator use.
//! Owns data only: it knows nothing of connections, protocols or commands.

pub mod db;
pub mod fasthash;
pub mod hash;
pub mod keytable;
pub mod list;
pub mod listpack;
pub mod mem;
pub mod number;
pub mod packed;
pub mod set;
pub mod skiplist;
pub mod slots;
pub mod smallbytes;
pub mod stream;
pub mod value;
pub mod zset;

pub use db::{Db, Entry, Keyspace};
pub use hash::{EncodingLimits, Hash};
pub use list::List;
pub use set::Set;
pub use stream::Stream;
pub use value::{StrValue, Value};
pub use zset::ZSet;

/// A fixed-key hasher for the maps inside values: deterministic (the
/// engine's behaviour must not depend on process randomness); iteration
/// order comes from insertion order, not from hashes.
pub type FixedState = fasthash::FastState;
