//! CONFIG: every parameter of Redis 7.0 (names and defaults read off a real
//! redis-server, `engine/data/config-defaults.txt`), validated the way Redis
//! validates it. Parameters that mean something to cachelab (hz, maxmemory,
//! maxmemory-policy, lfu-*, proto-max-bulk-len, active-expire-effort, …) are
//! read by the engine through typed accessors; the rest are stored and
//! returned so tools that set them routinely keep working.

use std::collections::BTreeMap;

const DEFAULTS: &str = include_str!("../data/config-defaults.txt");

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Bool,
    Int { min: i64, max: i64, memory: bool },
    Enum(&'static [&'static str]),
    Str,
    /// Multi-word values Redis validates specially; accepted as given.
    Special,
}

const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction",
];

/// Parameters Redis refuses to change at run time.
const IMMUTABLE: &[&str] = &[
    "daemonize", "databases", "io-threads", "io-threads-do-reads", "always-show-logo", "syslog-enabled", "syslog-ident",
    "syslog-facility", "cluster-enabled", "cluster-config-file", "cluster-port", "supervised", "pidfile", "logfile",
    "aclfile", "unixsocket", "unixsocketperm", "set-proc-title", "disable-thp", "enable-protected-configs",
    "enable-debug-command", "enable-module-command", "tcp-backlog", "appenddirname", "tls-port", "tls-cluster",
    "tls-replication", "tls-session-caching", "tls-session-cache-size", "tls-session-cache-timeout", "jemalloc-bg-thread",
    "crash-log-enabled", "crash-memcheck-enabled", "oom-score-adj-values-immutable",
];

/// Parameters that only `enable-protected-configs` unlocks.
const PROTECTED: &[&str] = &["dir", "dbfilename"];

fn kind_of(name: &str, default: &str) -> Kind {
    let int = |min, max| Kind::Int { min, max, memory: false };
    let memv = |min, max| Kind::Int { min, max, memory: true };
    match name {
        "maxmemory-policy" => Kind::Enum(MAXMEMORY_POLICIES),
        "loglevel" => Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "appendfsync" => Kind::Enum(&["always", "everysec", "no"]),
        "supervised" => Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "repl-diskless-load" => Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "sanitize-dump-payload" => Kind::Enum(&["no", "yes", "clients"]),
        "propagation-error-behavior" => Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "cluster-preferred-endpoint-type" => Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "oom-score-adj" => Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "acl-pubsub-default" => Kind::Enum(&["allchannels", "resetchannels"]),
        "enable-protected-configs" | "enable-debug-command" | "enable-module-command" => Kind::Enum(&["no", "yes", "local"]),
        "shutdown-on-sigint" | "shutdown-on-sigterm" => Kind::Special,
        "syslog-facility" => Kind::Enum(&["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]),
        "save" | "client-output-buffer-limit" | "oom-score-adj-values" | "notify-keyspace-events" | "bind"
        | "latency-tracking-info-percentiles" | "replicaof" | "slaveof" => Kind::Special,
        "maxmemory" | "maxmemory-clients" | "repl-backlog-size" | "client-query-buffer-limit" | "proto-max-bulk-len"
        | "auto-aof-rewrite-min-size" | "active-defrag-ignore-bytes" | "hll-sparse-max-bytes" | "stream-node-max-bytes"
        | "cluster-link-sendbuf-limit" | "hash-max-listpack-value" | "hash-max-ziplist-value" | "zset-max-listpack-value"
        | "zset-max-ziplist-value" => memv(0, i64::MAX),
        "port" | "tls-port" | "cluster-port" | "cluster-announce-port" | "cluster-announce-bus-port"
        | "cluster-announce-tls-port" | "replica-announce-port" | "slave-announce-port" => int(0, 65535),
        "hz" => int(0, i32::MAX as i64),
        "databases" => int(1, i32::MAX as i64),
        "maxclients" => int(1, u32::MAX as i64),
        "maxmemory-samples" => int(1, i32::MAX as i64),
        "maxmemory-eviction-tenacity" => int(0, 100),
        "active-expire-effort" => int(1, 10),
        "lfu-log-factor" | "lfu-decay-time" => int(0, i32::MAX as i64),
        "list-max-listpack-size" | "list-max-ziplist-size" => int(i32::MIN as i64, i32::MAX as i64),
        "slowlog-log-slower-than" => int(-1, i64::MAX),
        _ => {
            if default == "yes" || default == "no" {
                Kind::Bool
            } else if default.parse::<i64>().is_ok() {
                int(0, i64::MAX)
            } else {
                Kind::Str
            }
        }
    }
}

/// Redis's `memtoll`: "1gb", "100mb", "64k"… (units case-insensitive; k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let units: &[(&str, i64)] = &[
        ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("g", 1_000_000_000), ("m", 1_000_000), ("k", 1000), ("b", 1),
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
            ConfigError::Unknown(n) => format!("ERR Unknown option or number of arguments for CONFIG SET - '{n}'"),
            ConfigError::Invalid { name, reason } => {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
            }
        }
    }
}

impl Config {
    pub fn new() -> Config {
        let mut values = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        for line in DEFAULTS.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (k, v) = line.split_once('\t').unwrap_or((line, ""));
            kinds.insert(k.to_string(), kind_of(k, v));
            values.insert(k.to_string(), v.to_string());
        }
        Config { values, kinds }
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.values.keys()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// Sets a value without validation (runtime start-up flags such as `port`).
    pub fn set_internal(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_string(), value.to_string());
    }

    /// Validates one CONFIG SET pair; returns the canonical name and the
    /// value as it will be stored and returned by CONFIG GET.
    pub fn validate(&self, name: &str, value: &str) -> Result<(String, String), ConfigError> {
        let lname = name.to_ascii_lowercase();
        let Some(kind) = self.kinds.get(&lname).copied() else {
            return Err(ConfigError::Unknown(name.to_string()));
        };
        let invalid = |reason: &str| ConfigError::Invalid { name: lname.clone(), reason: reason.to_string() };
        if IMMUTABLE.contains(&lname.as_str()) {
            return Err(invalid("can't set immutable config"));
        }
        if PROTECTED.contains(&lname.as_str()) {
            return Err(invalid("can't set protected config"));
        }
        let stored = match kind {
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                "yes" => "yes".to_string(),
                "no" => "no".to_string(),
                _ => return Err(invalid("argument must be 'yes' or 'no'")),
            },
            Kind::Int { min, max, memory } => {
                let n = if memory {
                    parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"))?
                } else {
                    value.parse::<i64>().map_err(|_| invalid("argument couldn't be parsed into an integer"))?
                };
                if n < min || n > max {
                    return Err(invalid(&format!("argument must be between {min} and {max} inclusive")));
                }
                n.to_string()
            }
            Kind::Enum(options) => {
                let v = value.to_ascii_lowercase();
                if !options.contains(&v.as_str()) {
                    return Err(invalid(&format!("argument(s) must be one of the following: {}", options.join(", "))));
                }
                v
            }
            Kind::Str => value.to_string(),
            Kind::Special => {
                if lname == "notify-keyspace-events" {
                    validate_notify_flags(value).ok_or_else(|| invalid("Invalid event class character. Use 'Ag$lshzxeKEtmd'."))?
                } else {
                    value.to_string()
                }
            }
        };
        Ok((lname, stored))
    }

    pub fn apply(&mut self, name: String, value: String) {
        self.values.insert(name, value);
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.values.get(name).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
    pub fn hz(&self) -> u64 {
        self.int("hz", 10).clamp(1, 500) as u64
    }
    pub fn maxmemory(&self) -> u64 {
        self.int("maxmemory", 0).max(0) as u64
    }
    pub fn maxmemory_policy(&self) -> &str {
        self.get("maxmemory-policy").unwrap_or("noeviction")
    }
    pub fn lfu_log_factor(&self) -> u64 {
        self.int("lfu-log-factor", 10).max(0) as u64
    }
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.int("proto-max-bulk-len", crate::limits::PROTO_MAX_BULK_LEN as i64).max(1) as u64
    }
    pub fn client_query_buffer_limit(&self) -> u64 {
        self.int("client-query-buffer-limit", crate::limits::CLIENT_QUERY_BUFFER_LIMIT as i64).max(1) as u64
    }
    pub fn active_expire_effort(&self) -> usize {
        self.int("active-expire-effort", 1).clamp(1, 10) as usize
    }
    pub fn maxclients(&self) -> u64 {
        self.int("maxclients", 10000).max(1) as u64
    }
    /// Whether integers 0..9999 are shared objects (not under LRU/LFU maxmemory policies).
    pub fn share_integers(&self) -> bool {
        let p = self.maxmemory_policy();
        self.maxmemory() == 0 || !(p.ends_with("lru") || p.ends_with("lfu"))
    }
    pub fn lfu_policy(&self) -> bool {
        self.maxmemory_policy().ends_with("lfu")
    }
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

/// Redis's `stringmatchlen`: glob with `*`, `?`, `[...]` (with `^` and
/// ranges) and `\` escapes; `nocase` folds ASCII case.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    glob_at(pattern, s, nocase, 0)
}

fn glob_at(p: &[u8], s: &[u8], nocase: bool, depth: usize) -> bool {
    if depth > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| if nocase { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut pi, mut si) = (0, 0);
    while pi < p.len() {
        match p[pi] {
            b'*' => {
                while pi + 1 < p.len() && p[pi + 1] == b'*' {
                    pi += 1;
                }
                if pi + 1 == p.len() {
                    return true;
                }
                for start in si..=s.len() {
                    if glob_at(&p[pi + 1..], &s[start..], nocase, depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if si >= s.len() {
                    return false;
                }
                si += 1;
            }
            b'[' => {
                if si >= s.len() {
                    return false;
                }
                pi += 1;
                let not = pi < p.len() && p[pi] == b'^';
                if not {
                    pi += 1;
                }
                let mut matched = false;
                loop {
                    if pi >= p.len() {
                        pi -= 1; // Redis: unterminated class, treat as end
                        break;
                    }
                    if p[pi] == b'\\' && pi + 2 < p.len() {
                        pi += 1;
                        if p[pi] == s[si] {
                            matched = true;
                        }
                    } else if p[pi] == b']' {
                        break;
                    } else if pi + 2 < p.len() && p[pi + 1] == b'-' {
                        let (mut a, mut b) = (p[pi], p[pi + 2]);
                        let mut c = s[si];
                        if a > b {
                            std::mem::swap(&mut a, &mut b);
                        }
                        if nocase {
                            a = a.to_ascii_lowercase();
                            b = b.to_ascii_lowercase();
                            c = c.to_ascii_lowercase();
                        }
                        pi += 2;
                        if c >= a && c <= b {
                            matched = true;
                        }
                    } else if eq(p[pi], s[si]) {
                        matched = true;
                    }
                    pi += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
            }
            b'\\' if pi + 1 < p.len() => {
                pi += 1;
                if si >= s.len() || !eq(p[pi], s[si]) {
                    return false;
                }
                si += 1;
            }
            c => {
                if si >= s.len() || !eq(c, s[si]) {
                    return false;
                }
                si += 1;
            }
        }
        pi += 1;
        if si >= s.len() {
            while pi < p.len() && p[pi] == b'*' {
                pi += 1;
            }
            break;
        }
    }
    pi == p.len() && si == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, s, want) in [
            ("*", "", true), ("h?llo", "hello", true), ("h*llo", "heeeello", true), ("h[ae]llo", "hallo", true),
            ("h[^e]llo", "hello", false), ("h[a-b]llo", "hbllo", true), ("k\\*", "k*", true), ("k\\*", "kx", false),
            ("a*b*c", "aXbYc", true), ("a*b*c", "aXbY", false), ("", "", true), ("x", "", false),
        ] {
            assert_eq!(glob_match(p.as_bytes(), s.as_bytes(), false), want, "{p} {s}");
        }
    }

    #[test]
    fn config_set_validates_like_redis() {
        let c = Config::new();
        assert!(c.names().count() >= 190);
        assert_eq!(c.validate("maxmemory", "1gb"), Ok(("maxmemory".into(), "1073741824".into())));
        assert_eq!(
            c.validate("maxmemory", "lots").unwrap_err().message(),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        assert_eq!(c.validate("nosuch", "1").unwrap_err().message(), "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'");
        assert_eq!(
            c.validate("databases", "4").unwrap_err().message(),
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
        );
        assert_eq!(c.validate("notify-keyspace-events", "KEA"), Ok(("notify-keyspace-events".into(), "AKE".into())));
    }
}
