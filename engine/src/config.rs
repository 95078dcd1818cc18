//! CONFIG: every parameter of Redis 7.0 (names and defaults read off a real
//! redis-server, `engine/data/config-defaults.txt`), validated the way Redis
//! validates it. Parameters that mean something to cachelab (hz, maxmemory,
//! maxmemory-policy, lfu-*, proto-max-bulk-len, active-expire-effort, …) are
//! read by the engine through typed accessors; the rest are stored and
//! returned so tools that set them routinely keep working.

use std::collections::BTreeMap;

const DEFAULTS: &str = include_str!("../data/config-defaults.txt");

const TYPES: &str = include_str!("../data/config-types.txt");

/// A parameter's type, as Redis 7.0 validates it (read off a real server by
/// `xtask/gen_config_types.py` into `engine/data/config-types.txt`).
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
        memory: bool,
    },
    Enum(Vec<String>),
    Str,
    Immutable,
    Protected,
    /// Multi-word values Redis validates specially; accepted as given,
    /// except notify-keyspace-events which is checked and canonicalised.
    Special,
}

fn parse_kind(kind: &str, detail: &str) -> Kind {
    let range = |memory| {
        let mut it = detail.split(' ').filter_map(|x| x.parse::<i64>().ok());
        Kind::Int {
            min: it.next().unwrap_or(i64::MIN),
            max: it.next().unwrap_or(i64::MAX),
            memory,
        }
    };
    match kind {
        "bool" => Kind::Bool,
        "int" => range(false),
        "memory" => range(true),
        "enum" => Kind::Enum(detail.split(", ").map(str::to_string).collect()),
        "string" => Kind::Str,
        "immutable" => Kind::Immutable,
        "protected" => Kind::Protected,
        _ => Kind::Special,
    }
}

/// Parameters the probe leaves alone (changing them would disturb it).
fn unprobed_kind(name: &str) -> Kind {
    match name {
        "requirepass" | "masterauth" | "masteruser" => Kind::Str,
        "port" => Kind::Int {
            min: 0,
            max: 65535,
            memory: false,
        },
        "dir" | "dbfilename" => Kind::Protected,
        _ => Kind::Special,
    }
}

/// Redis's `memtoll`: "1gb", "100mb", "64k"… (units case-insensitive; k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let units: &[(&str, i64)] = &[
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ];
    for (suffix, mul) in units {
        if let Some(num) = lower.strip_suffix(suffix) {
            let n: i64 = crate::protocol::request::parse_i64_strict(num.as_bytes())?;
            return n.checked_mul(*mul);
        }
    }
    crate::protocol::request::parse_i64_strict(lower.as_bytes())
}

#[derive(Clone, Debug)]
pub struct Config {
    values: BTreeMap<String, String>,
    kinds: BTreeMap<String, Kind>,
    hot: Hot,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// A CONFIG SET failure: the argument and Redis's reason.
#[derive(Debug, PartialEq)]
pub enum ConfigError {
    Unknown(String),
    Invalid { name: String, reason: String },
}

impl ConfigError {
    pub fn message(&self) -> String {
        match self {
            ConfigError::Unknown(n) => {
                format!("ERR Unknown option or number of arguments for CONFIG SET - '{n}'")
            }
            ConfigError::Invalid { name, reason } => {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
            }
        }
    }
}

impl Config {
    /// Redis's defaults. Parsed once from the compiled-in tables, then cloned
    /// for each node (the simulator makes many).
    pub fn new() -> Config {
        static PARSED: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
        PARSED.get_or_init(Config::parse_defaults).clone()
    }

    fn parse_defaults() -> Config {
        let mut values = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        for line in DEFAULTS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (k, v) = line.split_once('\t').unwrap_or((line, ""));
            kinds.insert(k.to_string(), unprobed_kind(k));
            values.insert(k.to_string(), v.to_string());
        }
        for line in TYPES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut f = line.splitn(3, '\t');
            let (name, kind, detail) = (
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            );
            kinds.insert(name.to_string(), parse_kind(kind, detail));
        }
        // HIDDEN_CONFIG parameters: CONFIG GET answers them by name only,
        // never for a pattern (`names` leaves them out).
        for (name, value, kind) in HIDDEN {
            values.insert(name.to_string(), value.to_string());
            kinds.insert(name.to_string(), kind.clone());
        }
        let mut c = Config {
            values,
            kinds,
            hot: Hot::default(),
        };
        c.refresh();
        c
    }

    /// Every parameter a pattern can match (hidden ones excepted).
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.values
            .keys()
            .filter(|k| !HIDDEN.iter().any(|(h, ..)| h == k))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Sets a value without validation (runtime start-up flags such as `port`).
    pub fn set_internal(&mut self, name: &str, value: &str) {
        if let Some(other) = alias_of(name) {
            self.values.insert(other.to_string(), value.to_string());
        }
        self.values.insert(name.to_string(), value.to_string());
        self.refresh();
    }

    /// Validates one CONFIG SET pair; returns the canonical name and the
    /// value as it will be stored and returned by CONFIG GET.
    pub fn validate(&self, name: &str, value: &str) -> Result<(String, String), ConfigError> {
        let lname = name.to_ascii_lowercase();
        let Some(kind) = self.kinds.get(&lname).cloned() else {
            return Err(ConfigError::Unknown(name.to_string()));
        };
        let invalid = |reason: &str| ConfigError::Invalid {
            name: lname.clone(),
            reason: reason.to_string(),
        };
        let stored = match kind {
            Kind::Immutable => return Err(invalid("can't set immutable config")),
            Kind::Protected => return Err(invalid("can't set protected config")),
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                "yes" => "yes".to_string(),
                "no" => "no".to_string(),
                _ => return Err(invalid("argument must be 'yes' or 'no'")),
            },
            Kind::Int { min, max, memory } => {
                let n = if memory {
                    parse_memory(value)
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| invalid("argument must be a memory value"))?
                } else {
                    value
                        .parse::<i64>()
                        .map_err(|_| invalid("argument couldn't be parsed into an integer"))?
                };
                if n < min || n > max {
                    return Err(invalid(&format!(
                        "argument must be between {min} and {max} inclusive"
                    )));
                }
                // Redis clamps hz into CONFIG_MIN_HZ..=CONFIG_MAX_HZ when applying it.
                let n = if lname == "hz" { n.clamp(1, 500) } else { n };
                n.to_string()
            }
            Kind::Enum(options) => {
                let v = value.to_ascii_lowercase();
                if !options.contains(&v) {
                    return Err(invalid(&format!(
                        "argument(s) must be one of the following: {}",
                        options.join(", ")
                    )));
                }
                v
            }
            Kind::Str => value.to_string(),
            Kind::Special => {
                if lname == "notify-keyspace-events" {
                    validate_notify_flags(value).ok_or_else(|| {
                        invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
                    })?
                } else if lname == "client-output-buffer-limit" {
                    // Groups merged over the current limits, all or nothing.
                    self.hot.obuf.parse(value).map_err(invalid)?.format()
                } else if lname == "maxmemory-clients" {
                    // A memory value, or a percentage of maxmemory up to 100.
                    if let Some(pct) = value.strip_suffix('%') {
                        match pct.parse::<i64>() {
                            Ok(p) if (0..=100).contains(&p) => format!("{p}%"),
                            Ok(p) if p > 100 => {
                                return Err(invalid(
                                    "percentage argument must be less or equal to 100",
                                ))
                            }
                            _ => return Err(invalid("argument must be a memory or percent value")),
                        }
                    } else {
                        parse_memory(value)
                            .filter(|n| *n >= 0)
                            .ok_or_else(|| invalid("argument must be a memory or percent value"))?
                            .to_string()
                    }
                } else {
                    value.to_string()
                }
            }
        };
        Ok((lname, stored))
    }

    /// Validates a start-up directive (`redis-server --name value`, a
    /// config file line): as CONFIG SET, except that protected and
    /// immutable parameters (`dir`, `dbfilename`, …) may be set.
    pub fn validate_startup(
        &self,
        name: &str,
        value: &str,
    ) -> Result<(String, String), ConfigError> {
        let lname = name.to_ascii_lowercase();
        match self.kinds.get(&lname) {
            Some(Kind::Protected | Kind::Immutable) => Ok((lname, value.to_string())),
            _ => self.validate(name, value),
        }
    }

    pub fn apply(&mut self, name: String, value: String) {
        if let Some(other) = alias_of(&name) {
            self.values.insert(other.to_string(), value.clone());
        }
        self.values.insert(name, value);
        self.refresh();
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.values
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
    /// Re-reads the parameters the engine consults on every command, so the
    /// hot path reads fields instead of parsing strings.
    fn refresh(&mut self) {
        let policy = self
            .get("maxmemory-policy")
            .unwrap_or("noeviction")
            .to_string();
        let maxmemory = self.int("maxmemory", 0).max(0) as u64;
        self.hot = Hot {
            hz: self.int("hz", 10).clamp(1, 500) as u64,
            maxmemory,
            share_integers: maxmemory == 0 || !(policy.ends_with("lru") || policy.ends_with("lfu")),
            lfu_policy: policy.ends_with("lfu"),
            lfu_log_factor: self.int("lfu-log-factor", 10).max(0) as u64,
            proto_max_bulk_len: self
                .int(
                    "proto-max-bulk-len",
                    crate::limits::PROTO_MAX_BULK_LEN as i64,
                )
                .max(1) as u64,
            client_query_buffer_limit: self
                .int(
                    "client-query-buffer-limit",
                    crate::limits::CLIENT_QUERY_BUFFER_LIMIT as i64,
                )
                .max(1) as u64,
            active_expire_effort: self.int("active-expire-effort", 1).clamp(1, 10) as usize,
            maxclients: self.int("maxclients", 10000).max(1) as u64,
            obuf: crate::obuf::Limits::default()
                .parse(self.get("client-output-buffer-limit").unwrap_or(""))
                .unwrap_or_default(),
            timeout: self.int("timeout", 0).max(0) as u64,
            requirepass: self
                .get("requirepass")
                .filter(|p| !p.is_empty())
                .map(str::to_string),
            maxmemory_policy: policy,
            notify: crate::commands::notify::parse_flags(
                self.get("notify-keyspace-events").unwrap_or(""),
            ),
            slowlog_slower_than: self.int("slowlog-log-slower-than", 10_000),
            slowlog_max_len: self.int("slowlog-max-len", 128).max(0) as usize,
            latency_threshold_ms: self.int("latency-monitor-threshold", 0).max(0) as u64,
            latency_tracking: self.get("latency-tracking") == Some("yes"),
            encoding: crate::store::EncodingLimits {
                hash_entries: self.int("hash-max-listpack-entries", 128).max(0) as usize,
                hash_value: self.int("hash-max-listpack-value", 64).max(0) as usize,
                set_intset_entries: self.int("set-max-intset-entries", 512).max(0) as usize,
                zset_entries: self.int("zset-max-listpack-entries", 128).max(0) as usize,
                zset_value: self.int("zset-max-listpack-value", 64).max(0) as usize,
                stream_node_bytes: self.int("stream-node-max-bytes", 4096).max(0) as usize,
                stream_node_entries: self.int("stream-node-max-entries", 100).max(0) as usize,
            },
            repl: ReplConfig {
                read_only: self.get("replica-read-only") != Some("no"),
                serve_stale_data: self.get("replica-serve-stale-data") != Some("no"),
                min_replicas_to_write: self.int("min-replicas-to-write", 0).max(0) as u64,
                min_replicas_max_lag: self.int("min-replicas-max-lag", 10).max(0) as u64,
                backlog_size: self.int("repl-backlog-size", 1 << 20).max(16 * 1024) as usize,
                timeout: self.int("repl-timeout", 60).max(1) as u64,
                ping_period: self.int("repl-ping-replica-period", 10).max(1) as u64,
            },
        };
    }
    pub fn repl(&self) -> &ReplConfig {
        &self.hot.repl
    }
    /// The default user's password, when `requirepass` is set.
    pub fn requirepass(&self) -> Option<&str> {
        self.hot.requirepass.as_deref()
    }
    pub fn hz(&self) -> u64 {
        self.hot.hz
    }
    /// `notify-keyspace-events` as flags (0: notifications off).
    pub fn notify_flags(&self) -> u32 {
        self.hot.notify
    }
    /// The thresholds that pick collection encodings.
    pub fn encoding_limits(&self) -> crate::store::EncodingLimits {
        self.hot.encoding
    }
    pub fn maxmemory(&self) -> u64 {
        self.hot.maxmemory
    }
    pub fn maxmemory_policy(&self) -> &str {
        &self.hot.maxmemory_policy
    }
    pub fn lfu_log_factor(&self) -> u64 {
        self.hot.lfu_log_factor
    }
    /// `slowlog-log-slower-than` (µs; negative disables) and `slowlog-max-len`.
    pub fn slowlog(&self) -> (i64, usize) {
        (self.hot.slowlog_slower_than, self.hot.slowlog_max_len)
    }
    /// `latency-tracking`: per-command latency histograms (LATENCY HISTOGRAM).
    pub fn latency_tracking(&self) -> bool {
        self.hot.latency_tracking
    }
    /// `latency-monitor-threshold` in milliseconds; 0 disables the monitor.
    pub fn latency_threshold_ms(&self) -> u64 {
        self.hot.latency_threshold_ms
    }
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.hot.proto_max_bulk_len
    }
    pub fn client_query_buffer_limit(&self) -> u64 {
        self.hot.client_query_buffer_limit
    }
    pub fn active_expire_effort(&self) -> usize {
        self.hot.active_expire_effort
    }
    /// `client-output-buffer-limit`, by class.
    pub fn obuf_limits(&self) -> &crate::obuf::Limits {
        &self.hot.obuf
    }
    pub fn maxclients(&self) -> u64 {
        self.hot.maxclients
    }
    /// `cluster-node-timeout` in milliseconds.
    pub fn cluster_node_timeout(&self) -> u64 {
        self.get("cluster-node-timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(15000)
    }
    /// `cluster-require-full-coverage`: the cluster is down while any slot
    /// is unserved.
    pub fn cluster_require_full_coverage(&self) -> bool {
        self.get("cluster-require-full-coverage") != Some("no")
    }
    /// `timeout`: seconds a client may stay idle (0: forever).
    pub fn timeout(&self) -> u64 {
        self.hot.timeout
    }
    /// Whether integers 0..9999 are shared objects (not under LRU/LFU maxmemory policies).
    pub fn share_integers(&self) -> bool {
        self.hot.share_integers
    }
    pub fn lfu_policy(&self) -> bool {
        self.hot.lfu_policy
    }
}

/// Redis 7's old names for replication parameters: both names read and
/// write one value.
const ALIASES: &[(&str, &str)] = &[
    ("replicaof", "slaveof"),
    ("replica-read-only", "slave-read-only"),
    ("replica-serve-stale-data", "slave-serve-stale-data"),
    ("replica-priority", "slave-priority"),
    ("replica-announce-ip", "slave-announce-ip"),
    ("replica-announce-port", "slave-announce-port"),
    ("replica-ignore-maxmemory", "slave-ignore-maxmemory"),
    ("replica-lazy-flush", "slave-lazy-flush"),
    ("repl-ping-replica-period", "repl-ping-slave-period"),
    ("min-replicas-to-write", "min-slaves-to-write"),
    ("min-replicas-max-lag", "min-slaves-max-lag"),
    ("cluster-replica-no-failover", "cluster-slave-no-failover"),
    (
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
    ),
    ("hash-max-listpack-entries", "hash-max-ziplist-entries"),
    ("hash-max-listpack-value", "hash-max-ziplist-value"),
    ("zset-max-listpack-entries", "zset-max-ziplist-entries"),
    ("zset-max-listpack-value", "zset-max-ziplist-value"),
    ("list-max-listpack-size", "list-max-ziplist-size"),
    ("busy-reply-threshold", "lua-time-limit"),
];

/// Redis 7.0's HIDDEN_CONFIG parameters (test and debugging knobs): name,
/// default, type.
const HIDDEN: &[(&str, &str, Kind)] = &[
    ("use-exit-on-panic", "no", Kind::Bool),
    (
        "rdb-key-save-delay",
        "0",
        Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
            memory: false,
        },
    ),
    (
        "key-load-delay",
        "0",
        Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
            memory: false,
        },
    ),
    (
        "watchdog-period",
        "0",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
            memory: false,
        },
    ),
    (
        "loading-process-events-interval-bytes",
        "2097152",
        Kind::Int {
            min: 1024,
            max: i32::MAX as i64,
            memory: false,
        },
    ),
];

fn alias_of(name: &str) -> Option<&'static str> {
    ALIASES.iter().find_map(|&(a, b)| {
        if a == name {
            Some(b)
        } else if b == name {
            Some(a)
        } else {
            None
        }
    })
}

/// Parsed copies of the parameters read on every command.
#[derive(Clone, Debug, Default)]
struct Hot {
    hz: u64,
    maxmemory: u64,
    maxmemory_policy: String,
    share_integers: bool,
    lfu_policy: bool,
    lfu_log_factor: u64,
    proto_max_bulk_len: u64,
    client_query_buffer_limit: u64,
    active_expire_effort: usize,
    maxclients: u64,
    obuf: crate::obuf::Limits,
    timeout: u64,
    requirepass: Option<String>,
    repl: ReplConfig,
    encoding: crate::store::EncodingLimits,
    notify: u32,
    slowlog_slower_than: i64,
    slowlog_max_len: usize,
    latency_threshold_ms: u64,
    latency_tracking: bool,
}

/// The replication parameters, parsed.
#[derive(Clone, Debug, Default)]
pub struct ReplConfig {
    pub read_only: bool,
    pub serve_stale_data: bool,
    pub min_replicas_to_write: u64,
    /// Seconds.
    pub min_replicas_max_lag: u64,
    pub backlog_size: usize,
    /// Seconds.
    pub timeout: u64,
    /// Seconds.
    pub ping_period: u64,
}

/// Validates `notify-keyspace-events` flags and returns them in Redis's
/// canonical order (as `CONFIG GET` shows them).
fn validate_notify_flags(v: &str) -> Option<String> {
    const ALL: &str = "g$lshzxetd"; // the classes 'A' expands to (7.0, without m)
    let mut set = std::collections::BTreeSet::new();
    for c in v.chars() {
        match c {
            'A' => set.extend(ALL.chars()),
            'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x' | 'e' | 'K' | 'E' | 't' | 'm' | 'd' | 'n' => {
                set.insert(c);
            }
            _ => return None,
        }
    }
    // Redis's keyspaceEventsFlagsToString: A if all of ALL, then the rest, then K, E.
    let mut out = String::new();
    if ALL.chars().all(|c| set.contains(&c)) {
        out.push('A');
    } else {
        for c in "g$lshzxetd".chars().filter(|c| set.contains(c)) {
            out.push(c);
        }
    }
    for c in ['m', 'n'] {
        if set.contains(&c) {
            out.push(c);
        }
    }
    for c in ['K', 'E'] {
        if set.contains(&c) {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_set_validates_like_redis() {
        let c = Config::new();
        assert!(c.names().count() >= 190);
        assert_eq!(
            c.validate("maxmemory", "1gb"),
            Ok(("maxmemory".into(), "1073741824".into()))
        );
        assert_eq!(
            c.validate("maxmemory", "lots").unwrap_err().message(),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        assert_eq!(
            c.validate("nosuch", "1").unwrap_err().message(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        assert_eq!(
            c.validate("databases", "4").unwrap_err().message(),
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
        );
        assert_eq!(
            c.validate("notify-keyspace-events", "KEA"),
            Ok(("notify-keyspace-events".into(), "AKE".into()))
        );
    }
}
