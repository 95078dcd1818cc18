//! Data-driven command tests, one table per family: each case is one line,
//! a command (split as redis-cli splits it) and the exact RESP it must
//! produce. `@advance MS` moves the node's virtual clock; `@tick` runs the
//! server cron. Expected replies were checked against redis-server 7.0.

use cachelab_engine::protocol::{encode_request, split_args};
use cachelab_engine::{ConnId, Input, Millis, Node, Output};

struct Harness {
    node: Node,
    now: Millis,
}

impl Harness {
    fn new() -> Harness {
        let now = Millis(1_700_000_000_000);
        let mut node = Node::new(42);
        node.start(now, 6379);
        let mut h = Harness { node, now };
        h.open(ConnId(1));
        h
    }

    /// A client connects on `conn`.
    fn open(&mut self, conn: ConnId) {
        let peer = format!("127.0.0.1:{}", conn.0);
        self.node.handle(
            self.now,
            Input::ConnOpened {
                conn,
                peer,
                local: "127.0.0.1:6379".into(),
            },
        );
    }

    fn run(&mut self, line: &str) -> String {
        if let Some(ms) = line.strip_prefix("@advance ") {
            self.now = self.now.plus(ms.parse().expect("@advance MS"));
            return String::new();
        }
        if line == "@tick" {
            self.node.handle(self.now, Input::Tick);
            while self.node.poll_output().is_some() {}
            return String::new();
        }
        self.run_on(ConnId(1), line)
    }

    /// Sends one command line on `conn`; returns the bytes written back to it.
    fn run_on(&mut self, conn: ConnId, line: &str) -> String {
        let argv = split_args(line.as_bytes()).expect("balanced quotes");
        self.node.handle(
            self.now,
            Input::ClientBytes {
                conn,
                bytes: &encode_request(&argv),
            },
        );
        let mut out = Vec::new();
        while let Some(o) = self.node.poll_output() {
            if let Output::ToClient { conn: to, bytes } = o {
                if to == conn {
                    out.extend(bytes);
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn check(cases: &[(&str, &str)]) {
    let mut h = Harness::new();
    for (i, (cmd, want)) in cases.iter().enumerate() {
        let got = h.run(cmd);
        assert_eq!(got, *want, "case {i}: {cmd}");
    }
}

#[test]
fn strings() {
    check(&[
        ("SET foo bar", "+OK\r\n"),
        ("GET foo", "$3\r\nbar\r\n"),
        ("GET nosuch", "$-1\r\n"),
        ("SET foo baz NX", "$-1\r\n"),
        ("SET foo baz XX GET", "$3\r\nbar\r\n"),
        ("SET foo x NX XX", "-ERR syntax error\r\n"),
        ("SET foo x EX 0", "-ERR invalid expire time in 'set' command\r\n"),
        ("SET foo x EX abc", "-ERR value is not an integer or out of range\r\n"),
        ("SET foo x KEEPTTL EX 10", "-ERR syntax error\r\n"),
        ("SETNX foo y", ":0\r\n"),
        ("SETNX new y", ":1\r\n"),
        ("GETSET new z", "$1\r\ny\r\n"),
        ("GETDEL new", "$1\r\nz\r\n"),
        ("GETDEL new", "$-1\r\n"),
        ("MSET a 1 b 2", "+OK\r\n"),
        ("MSET a 1 b", "-ERR wrong number of arguments for 'mset' command\r\n"),
        ("MGET a b nosuch", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"),
        ("MSETNX a 9 c 3", ":0\r\n"),
        ("APPEND a 23", ":3\r\n"),
        ("STRLEN a", ":3\r\n"),
        ("GETRANGE a 0 -2", "$2\r\n12\r\n"),
        ("GETRANGE a -1 -5", "$0\r\n\r\n"),
        ("SETRANGE pad 3 x", ":4\r\n"),
        ("GET pad", "$4\r\n\0\0\0x\r\n"),
        ("SETRANGE pad -1 x", "-ERR offset is out of range\r\n"),
        ("SETRANGE pad 536870911 xx", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"),
        ("INCR n", ":1\r\n"),
        ("INCRBY n 41", ":42\r\n"),
        ("DECRBY n 2", ":40\r\n"),
        ("DECR n", ":39\r\n"),
        ("INCR foo", "-ERR value is not an integer or out of range\r\n"),
        ("SET big 9223372036854775807", "+OK\r\n"),
        ("INCR big", "-ERR increment or decrement would overflow\r\n"),
        ("DECRBY n -9223372036854775808", "-ERR decrement would overflow\r\n"),
        ("INCRBYFLOAT fl 0.1", "$3\r\n0.1\r\n"),
        ("INCRBYFLOAT fl 0.2", "$3\r\n0.3\r\n"),
        ("INCRBYFLOAT fl 1e400", "$401\r\n10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880\r\n"),
        ("INCRBYFLOAT fl abc", "-ERR value is not a valid float\r\n"),
        ("INCRBYFLOAT fl inf", "-ERR increment would produce NaN or Infinity\r\n"),
        ("OBJECT ENCODING n", "$3\r\nint\r\n"),
        ("OBJECT ENCODING foo", "$6\r\nembstr\r\n"),
        ("OBJECT ENCODING a", "$3\r\nraw\r\n"),
        ("OBJECT REFCOUNT n", ":2147483647\r\n"),
        ("MEMORY USAGE foo", ":64\r\n"),
    ]);
}

#[test]
fn keys_and_expiry() {
    check(&[
        ("SET k v", "+OK\r\n"),
        ("EXISTS k k nosuch", ":2\r\n"),
        ("TYPE k", "+string\r\n"),
        ("TYPE nosuch", "+none\r\n"),
        ("EXPIRE k 10", ":1\r\n"),
        ("TTL k", ":10\r\n"),
        ("PTTL k", ":10000\r\n"),
        ("EXPIRE k 20 NX", ":0\r\n"),
        ("EXPIRE k 5 GT", ":0\r\n"),
        ("EXPIRE k 5 LT", ":1\r\n"),
        (
            "EXPIRE k 5 NX XX",
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
        ),
        ("EXPIRE k 5 FOO", "-ERR Unsupported option FOO\r\n"),
        (
            "EXPIRE k 9223372036854775807",
            "-ERR invalid expire time in 'expire' command\r\n",
        ),
        ("@advance 4000", ""),
        ("TTL k", ":1\r\n"),
        ("PERSIST k", ":1\r\n"),
        ("TTL k", ":-1\r\n"),
        ("TTL nosuch", ":-2\r\n"),
        ("SET e v PX 1500", "+OK\r\n"),
        ("@advance 1499", ""),
        ("GET e", "$1\r\nv\r\n"),
        ("@advance 1", ""),
        ("GET e", "$-1\r\n"),
        ("SET a 1 EX 1", "+OK\r\n"),
        ("@advance 2000", ""),
        ("DBSIZE", ":2\r\n"),
        ("@tick", ""),
        ("DBSIZE", ":1\r\n"),
        ("RENAME k k2", "+OK\r\n"),
        ("RENAME nosuch x", "-ERR no such key\r\n"),
        ("SET other 1", "+OK\r\n"),
        ("RENAMENX k2 other", ":0\r\n"),
        ("COPY k2 k3", ":1\r\n"),
        ("COPY k2 k3", ":0\r\n"),
        (
            "COPY k2 k2",
            "-ERR source and destination objects are the same\r\n",
        ),
        ("COPY k2 k3 DB 16", "-ERR DB index is out of range\r\n"),
        ("MOVE k3 1", ":1\r\n"),
        (
            "MOVE k3 0",
            "-ERR source and destination objects are the same\r\n",
        ),
        ("SELECT 1", "+OK\r\n"),
        ("GET k3", "$1\r\nv\r\n"),
        ("SELECT 0", "+OK\r\n"),
        ("SWAPDB 0 1", "+OK\r\n"),
        ("KEYS *", "*1\r\n$2\r\nk3\r\n"),
        (
            "SCAN 0 MATCH k* COUNT 100",
            "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk3\r\n",
        ),
        ("SCAN x", "-ERR invalid cursor\r\n"),
        ("SCAN 0 COUNT 0", "-ERR syntax error\r\n"),
        ("DEL k3 nosuch", ":1\r\n"),
        ("RANDOMKEY", "$-1\r\n"),
        ("FLUSHALL", "+OK\r\n"),
        ("SELECT 1", "+OK\r\n"),
        ("DBSIZE", ":0\r\n"),
        ("OBJECT FREQ nosuch", "$-1\r\n"),
    ]);
}

#[test]
fn connection_server_and_config() {
    check(&[
        ("PING", "+PONG\r\n"),
        ("PING hi", "$2\r\nhi\r\n"),
        ("ECHO \"a b\"", "$3\r\na b\r\n"),
        ("SELECT 16", "-ERR DB index is out of range\r\n"),
        ("SELECT x", "-ERR value is not an integer or out of range\r\n"),
        ("CLIENT SETNAME me", "+OK\r\n"),
        ("CLIENT GETNAME", "$2\r\nme\r\n"),
        ("CLIENT SETNAME \"a b\"", "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
        ("CLIENT ID", ":1\r\n"),
        ("CLIENT KILL 1.2.3.4:5", "-ERR No such client\r\n"),
        ("CLIENT NOPE", "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"),
        ("CONFIG GET maxmemory-policy", "*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"),
        ("CONFIG SET maxmemory-policy allkeys-lru", "+OK\r\n"),
        ("CONFIG GET maxmemory-policy", "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n"),
        ("CONFIG SET maxmemory-policy nope", "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\r\n"),
        ("CONFIG SET nosuch 1", "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"),
        ("CONFIG SET hz 5 hz 6", "-ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter\r\n"),
        ("CONFIG SET activerehashing maybe", "-ERR CONFIG SET failed (possibly related to argument 'activerehashing') - argument must be 'yes' or 'no'\r\n"),
        ("CONFIG GET", "-ERR wrong number of arguments for 'config|get' command\r\n"),
        ("CONFIG REWRITE", "-ERR The server is running without a config file\r\n"),
        ("HELLO 4", "-NOPROTO unsupported protocol version\r\n"),
        ("HELLO 3 SETNAME x", "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"),
        ("GET nosuch", "_\r\n"),
        ("RESET", "+RESET\r\n"),
        ("GET nosuch", "$-1\r\n"),
        ("COMMAND GETKEYS SET a b", "*1\r\n$1\r\na\r\n"),
        ("COMMAND GETKEYS MSET a 1 b 2", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
        ("COMMAND GETKEYS PING", "-ERR wrong number of arguments for 'command|getkeys' command\r\n"),
        ("COMMAND GETKEYS PING x", "-ERR The command has no key arguments\r\n"),
        ("COMMAND INFO nosuch", "*1\r\n$-1\r\n"),
        ("NOSUCH a b", "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n"),
        ("GET", "-ERR wrong number of arguments for 'get' command\r\n"),
        ("CONFIG SET maxmemory 1", "+OK\r\n"),
        ("CONFIG SET maxmemory-policy noeviction", "+OK\r\n"),
        ("SET x y", "-OOM command not allowed when used memory > 'maxmemory'.\r\n"),
        ("GET x", "$-1\r\n"),
        ("QUIT", "+OK\r\n"),
    ]);
}

#[test]
fn protocol_edge_cases() {
    let mut h = Harness::new();
    let mut send = |bytes: &[u8]| {
        h.node.handle(
            h.now,
            Input::ClientBytes {
                conn: ConnId(1),
                bytes,
            },
        );
        let mut out = Vec::new();
        let mut closed = false;
        while let Some(o) = h.node.poll_output() {
            match o {
                Output::ToClient { bytes, .. } => out.extend(bytes),
                Output::CloseConn { .. } => closed = true,
                _ => {}
            }
        }
        (String::from_utf8_lossy(&out).into_owned(), closed)
    };
    // Incomplete frames wait; blank lines and *0 are skipped.
    assert_eq!(send(b"*2\r\n$4\r\nECHO\r\n$2\r\nh"), (String::new(), false));
    assert_eq!(
        send(b"i\r\n\r\n*0\r\nPING\r\n"),
        ("$2\r\nhi\r\n+PONG\r\n".into(), false)
    );
    // A protocol error answers what came before, then the error, then closes.
    assert_eq!(
        send(b"PING\r\n*1\r\n$-2\r\n"),
        (
            "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n".into(),
            true
        )
    );
}

#[test]
fn maxclients_and_idle_timeout_are_enforced() {
    let mut h = Harness::new();
    assert_eq!(h.run("CONFIG SET maxclients 1"), "+OK\r\n");
    h.open(ConnId(2));
    let outs: Vec<Output> = std::iter::from_fn(|| h.node.poll_output()).collect();
    assert_eq!(
        outs,
        vec![
            Output::ToClient {
                conn: ConnId(2),
                bytes: b"-ERR max number of clients reached\r\n".to_vec()
            },
            Output::CloseConn { conn: ConnId(2) }
        ]
    );
    assert_eq!(h.run("CONFIG SET timeout 10"), "+OK\r\n");
    h.run("@advance 11000");
    h.node.handle(h.now, Input::Tick);
    let outs: Vec<Output> = std::iter::from_fn(|| h.node.poll_output()).collect();
    assert!(
        outs.contains(&Output::CloseConn { conn: ConnId(1) }),
        "{outs:?}"
    );
}

#[test]
fn requirepass_and_auth() {
    // Replies read off redis-server 7.0 with `CONFIG SET requirepass secret`.
    let mut h = Harness::new();
    assert_eq!(h.run("AUTH x"), "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n");
    assert_eq!(h.run("AUTH default x"), "+OK\r\n");
    assert_eq!(h.run("CONFIG SET requirepass secret"), "+OK\r\n");
    // The open connection stays authenticated; a new one must AUTH.
    assert_eq!(h.run("PING"), "+PONG\r\n");
    h.open(ConnId(2));
    let mut on2 = |line: &str| h.run_on(ConnId(2), line);
    for (cmd, want) in [
        ("GET x", "-NOAUTH Authentication required.\r\n"),
        ("NOSUCH", "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"),
        ("GET", "-ERR wrong number of arguments for 'get' command\r\n"),
        ("AUTH wrong", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
        ("AUTH a b c", "-ERR syntax error\r\n"),
        ("HELLO 3", "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"),
        ("AUTH secret", "+OK\r\n"),
        ("GET x", "$-1\r\n"),
        ("RESET", "+RESET\r\n"),
        ("GET x", "-NOAUTH Authentication required.\r\n"),
        ("AUTH default secret", "+OK\r\n"),
    ] {
        assert_eq!(on2(cmd), want, "{cmd}");
    }
}

#[test]
fn unauthenticated_clients_get_redis_limits() {
    let mut h = Harness::new();
    assert_eq!(h.run("CONFIG SET requirepass secret"), "+OK\r\n");
    for (conn, input, want) in [
        (
            2u64,
            &b"*11\r\n"[..],
            "-ERR Protocol error: unauthenticated multibulk length\r\n",
        ),
        (
            3,
            &b"*1\r\n$16385\r\n"[..],
            "-ERR Protocol error: unauthenticated bulk length\r\n",
        ),
    ] {
        let conn = ConnId(conn);
        h.open(conn);
        h.node
            .handle(h.now, Input::ClientBytes { conn, bytes: input });
        let outs: Vec<Output> = std::iter::from_fn(|| h.node.poll_output()).collect();
        assert_eq!(
            outs,
            vec![
                Output::ToClient {
                    conn,
                    bytes: want.as_bytes().to_vec()
                },
                Output::CloseConn { conn }
            ]
        );
    }
}

#[test]
fn info_reports_instantaneous_ops_and_keyspace() {
    let mut h = Harness::new();
    h.run("@tick");
    for _ in 0..50 {
        h.run("PING");
    }
    h.run("@advance 100");
    h.run("@tick");
    h.run("SET k v EX 100");
    let info = h.run("INFO");
    for field in [
        "# Server\r\n",
        "redis_version:7.0.15\r\n",
        "# Clients\r\n",
        "connected_clients:1\r\n",
        "# Memory\r\n",
        "# Stats\r\n",
        "instantaneous_ops_per_sec:500\r\n",
        "total_commands_processed:52\r\n",
        "# Replication\r\n",
        "role:master\r\n",
        "# Keyspace\r\n",
        "db0:keys=1,expires=1,avg_ttl=0\r\n",
    ] {
        assert!(info.contains(field), "INFO lacks {field:?}:\n{info}");
    }
}

#[test]
fn a_client_over_the_query_buffer_limit_is_closed() {
    let mut h = Harness::new();
    assert_eq!(h.run("CONFIG SET client-query-buffer-limit 1mb"), "+OK\r\n");
    let mut big = b"*2\r\n$3\r\nSET\r\n$2000000\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 1_100_000));
    h.node.handle(
        h.now,
        Input::ClientBytes {
            conn: ConnId(1),
            bytes: &big,
        },
    );
    let outs: Vec<Output> = std::iter::from_fn(|| h.node.poll_output()).collect();
    // As Redis: no reply, the connection is closed, nothing is stored.
    assert_eq!(outs, vec![Output::CloseConn { conn: ConnId(1) }]);
    assert_eq!(h.node.view().keys, 0);
}
