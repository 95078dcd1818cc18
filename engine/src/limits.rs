//! Every protocol and size limit the engine enforces, in one place, each with
//! the reference value it copies (../shared/reference/protocol-limits.md).

/// Redis `proto-max-bulk-len` default: 512 MiB. Configurable at run time.
pub const PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Redis rejects a multibulk count above `INT_MAX` ("invalid multibulk length").
pub const PROTO_MAX_MULTIBULK_LEN: i64 = i32::MAX as i64;
/// A `*N` / `$N` line or an inline command with no newline after this many
/// bytes is a protocol error (Redis `PROTO_INLINE_MAX_SIZE`).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Never preallocate more than this many argv slots from a declared count
/// (Valkey preallocates at most 1024).
pub const ARGV_PREALLOC_MAX: usize = 1024;
/// Arguments an unauthenticated client may send in one command.
pub const UNAUTHENTICATED_MAX_ARGS: i64 = 10;
/// Bytes per argument an unauthenticated client may send (16 KB).
pub const UNAUTHENTICATED_MAX_BULK: i64 = 16384;
/// `client-query-buffer-limit` default: 1 GiB.
pub const CLIENT_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024 * 1024;
/// Nesting depth accepted when *parsing replies* (client side); hiredis caps at 1024.
pub const REPLY_MAX_DEPTH: usize = 1024;
/// Number of logical databases (`databases` default).
pub const DATABASES: usize = 16;
/// Largest string value SETRANGE/APPEND may build: `proto-max-bulk-len`.
pub const STRING_MAX_LEN: u64 = PROTO_MAX_BULK_LEN;
/// Keys sampled per database per active expiry loop (`ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
pub const ACTIVE_EXPIRE_KEYS_PER_LOOP: usize = 20;
/// Percentage of expired keys in a sample above which the cycle repeats
/// (`ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE`).
pub const ACTIVE_EXPIRE_ACCEPTABLE_STALE: usize = 10;
/// Upper bound on sampling loops per database per cycle (stands in for
/// Redis's 25 % CPU time limit, which a sans-IO engine cannot measure).
pub const ACTIVE_EXPIRE_MAX_LOOPS: usize = 16;
/// Integers 0..10000 are shared objects in Redis (`OBJ_SHARED_INTEGERS`).
pub const OBJ_SHARED_INTEGERS: i64 = 10000;
/// Strings up to this length are embedded (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_SIZE_LIMIT: usize = 44;

/// The most elements SRANDMEMBER / ZRANDMEMBER / HRANDFIELD with a negative
/// count (members repeated) may return: not a Redis limit (Redis builds the
/// reply until memory runs out), cachelab's guard against one client taking
/// a node down. Ten million elements is far beyond any real use.
pub const MAX_RANDOM_REPLY: u64 = 10_000_000;
