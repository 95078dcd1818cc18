//! A differential pair: one command stream sent to a real redis-server and
//! to an in-process node, with the comparisons the collection families need.
//! Replies whose order Redis leaves to its hash tables' seeds (HGETALL,
//! SMEMBERS… on a `hashtable` encoding) are compared as multisets; random
//! commands (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER) by their contract.

use cachelab_engine::protocol::{parse_reply, Reply};
use cachelab_engine::rng::Rng;

use crate::{env_number, show, wall_now, EngineClient, RedisServer, RespConn};

pub struct Pair {
    server: RedisServer,
    pub redis: RespConn,
    pub engine: EngineClient,
    /// Extra clients: a Redis connection and the engine's connection id.
    pub others: Vec<(RespConn, cachelab_engine::ConnId)>,
    pub seed: u64,
    /// The test's name, for reproduction hints.
    pub name: &'static str,
    pub env: &'static str,
    pub step: usize,
    pub last: Vec<String>,
    stash: std::collections::HashMap<cachelab_engine::ConnId, Vec<u8>>,
    redis_ids: std::collections::HashMap<usize, i64>,
    engine_ids: std::collections::HashMap<usize, i64>,
    sent: usize,
}

/// How two replies are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    Exact,
    /// The top-level array's elements in any order.
    Unordered,
    /// The top-level array as (a, b) pairs, in any order; RESP3 maps too.
    UnorderedPairs,
}

pub fn parse(b: &[u8]) -> Reply {
    match parse_reply(b) {
        Ok(Some((r, _))) => r,
        _ => panic!("unparseable reply {}", show(b)),
    }
}

fn sort_key(r: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(3, &mut out);
    out
}

/// The reply with its top-level elements (or pairs) sorted.
pub fn canonical(r: &Reply, cmp: Cmp) -> Reply {
    match (r, cmp) {
        (_, Cmp::Exact) => r.clone(),
        (Reply::Array(v) | Reply::Set(v), Cmp::Unordered) => {
            let mut v = v.clone();
            v.sort_by_key(sort_key);
            Reply::Array(v)
        }
        (Reply::Array(v), Cmp::UnorderedPairs) => {
            let mut pairs: Vec<Vec<Reply>> = v.chunks(2).map(|c| c.to_vec()).collect();
            pairs.sort_by_key(|p| p.iter().flat_map(sort_key).collect::<Vec<u8>>());
            Reply::Array(pairs.into_iter().flatten().collect())
        }
        (Reply::Map(m), Cmp::UnorderedPairs) => {
            let mut m = m.clone();
            m.sort_by_key(|(k, v)| [sort_key(k), sort_key(v)].concat());
            Reply::Map(m)
        }
        _ => r.clone(),
    }
}

impl Pair {
    /// Starts redis-server; `env` prefixes the SEED/COMMANDS/TRACE knobs.
    pub fn start(name: &'static str, env: &'static str, default_seed: u64) -> Pair {
        let Some(server) = RedisServer::start() else {
            panic!("redis-server is not installed: run `cargo xtask test`, which installs it (apt-get install redis-server)");
        };
        let seed = env_number(&format!("{env}_SEED"), default_seed);
        let redis = RespConn::connect(server.port);
        Pair {
            server,
            others: Vec::new(),
            redis,
            engine: EngineClient::new(seed, wall_now()),
            seed,
            name,
            env,
            step: 0,
            last: Vec::new(),
            stash: std::collections::HashMap::new(),
            redis_ids: std::collections::HashMap::new(),
            engine_ids: std::collections::HashMap::new(),
            sent: 0,
        }
    }

    pub fn total(&self, default: usize) -> usize {
        env_number(&format!("{}_COMMANDS", self.env), default)
    }

    pub fn rng(&self) -> Rng {
        Rng::new(self.seed)
    }

    /// Raw replies of both sides.
    pub fn both_raw(&mut self, argv: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let want = self.redis.call(argv);
        let got = self.engine.call(wall_now(), argv);
        if std::env::var(format!("{}_TRACE", self.env)).is_ok() {
            eprintln!(
                "#{} {} -> {}",
                self.step,
                line(argv),
                show(&want[..want.len().min(120)])
            );
        }
        self.last.push(line(argv));
        if self.last.len() > 40 {
            self.last.remove(0);
        }
        self.sent += 1;
        (want, got)
    }

    pub fn both(&mut self, argv: &[Vec<u8>]) -> (Reply, Reply) {
        let (a, b) = self.both_raw(argv);
        (parse(&a), parse(&b))
    }

    /// Fails the test with everything needed to reproduce.
    pub fn fail(&self, what: &str, want: &str, got: &str) -> ! {
        panic!(
            "{}: seed {}, command #{}: {what}\n  redis:    {}\n  cachelab: {}\n  recent commands:\n    {}\n(reproduce: {}_SEED={} cargo test -p cachelab-tests --test {})",
            self.name,
            self.seed,
            self.step,
            want,
            got,
            self.last.join("\n    "),
            self.env,
            self.seed,
            self.name
        )
    }

    /// Sends to both and compares.
    pub fn check(&mut self, argv: &[Vec<u8>], cmp: Cmp) {
        let (a, b) = self.both_raw(argv);
        if a == b {
            return;
        }
        if cmp != Cmp::Exact {
            let (ra, rb) = (canonical(&parse(&a), cmp), canonical(&parse(&b), cmp));
            if ra == rb {
                return;
            }
        }
        self.fail(
            &format!("{} differs", line(argv)),
            &show(&a[..a.len().min(600)]),
            &show(&b[..b.len().min(600)]),
        );
    }

    /// The same command on one side only (the engine's contract checks).
    pub fn engine_call(&mut self, argv: &[Vec<u8>]) -> Reply {
        parse(&self.engine.call(wall_now(), argv))
    }
    pub fn redis_call(&mut self, argv: &[Vec<u8>]) -> Reply {
        parse(&self.redis.call(argv))
    }

    /// Iterates a SCAN-family command to cursor 0 on both sides and compares
    /// the elements (pairs for HSCAN/ZSCAN) as multisets; a small encoding
    /// answers everything at cursor 0 in order, which is compared exactly.
    pub fn check_scan(&mut self, cmd: &str, key: &[u8], opts: &[Vec<u8>], pairs: bool) {
        let collect = |call: &mut dyn FnMut(&[Vec<u8>]) -> Reply| -> Result<Vec<Reply>, Reply> {
            let mut cursor = b"0".to_vec();
            let mut all = Vec::new();
            for _ in 0..100_000 {
                let mut argv = vec![cmd.as_bytes().to_vec(), key.to_vec(), cursor.clone()];
                argv.extend(opts.iter().cloned());
                let r = call(&argv);
                let Reply::Array(v) = &r else {
                    return Err(r);
                };
                let (Some(Reply::Bulk(c)), Some(Reply::Array(items))) = (v.first(), v.get(1))
                else {
                    return Err(r);
                };
                all.extend(items.iter().cloned());
                if c.as_slice() == b"0" {
                    return Ok(all);
                }
                cursor = c.clone();
            }
            Err(Reply::err("scan did not finish"))
        };
        let a = collect(&mut |argv| self.redis_call(argv));
        let b = collect(&mut |argv| self.engine_call(argv));
        self.last.push(format!(
            "{cmd} {} … (full iteration)",
            String::from_utf8_lossy(key)
        ));
        let cmp = if pairs {
            Cmp::UnorderedPairs
        } else {
            Cmp::Unordered
        };
        let norm = |r: Result<Vec<Reply>, Reply>| match r {
            Ok(v) => {
                let mut v = canonical(&Reply::Array(v), cmp);
                // Pairs may repeat across pages on a table that changed; none here.
                if let Reply::Array(x) = &mut v {
                    x.dedup();
                }
                v
            }
            Err(e) => e,
        };
        let (na, nb) = (norm(a), norm(b));
        if na != nb {
            self.fail(
                &format!("{cmd} full iteration differs"),
                &format!("{na:?}"),
                &format!("{nb:?}"),
            );
        }
    }

    /// Sends different commands to each side (ids that differ, like CLIENT
    /// UNBLOCK's) and compares the replies.
    pub fn check_split(&mut self, to_redis: &[Vec<u8>], to_engine: &[Vec<u8>]) {
        let a = self.redis.call(to_redis);
        let b = self.engine.call(wall_now(), to_engine);
        self.last.push(line(to_engine));
        if a != b {
            self.fail(
                &format!("{} differs", line(to_engine)),
                &show(&a),
                &show(&b),
            );
        }
    }

    /// CLIENT ID of extra client `i` on the Redis side (cached).
    fn other_redis_id(&mut self, i: usize) -> i64 {
        if let Some(id) = self.redis_ids.get(&i) {
            return *id;
        }
        let argv = vec![b"CLIENT".to_vec(), b"ID".to_vec()];
        let id = match parse(&self.others[i].0.call(&argv)) {
            Reply::Int(x) => x,
            other => panic!("CLIENT ID: {other:?}"),
        };
        self.redis_ids.insert(i, id);
        id
    }

    /// CLIENT IDs of extra client `i` fetched earlier by [`Pair::other_ids`].
    pub fn other_ids_cached(&mut self, i: usize) -> (i64, i64) {
        let r = self.other_redis_id(i);
        (r, self.engine_ids[&i])
    }

    /// CLIENT ID of extra client `i` on each side.
    pub fn other_ids(&mut self, i: usize) -> (i64, i64) {
        let argv = vec![b"CLIENT".to_vec(), b"ID".to_vec()];
        let a = parse(&self.others[i].0.call(&argv));
        let conn = self.others[i].1;
        let b = parse(&self.engine.send_on(
            wall_now(),
            conn,
            &cachelab_engine::protocol::encode_request(&argv),
        ));
        match (a, b) {
            (Reply::Int(x), Reply::Int(y)) => {
                self.redis_ids.insert(i, x);
                self.engine_ids.insert(i, y);
                (x, y)
            }
            other => panic!("CLIENT ID: {other:?}"),
        }
    }

    /// Advances the engine's clock to now (blocked clients' deadlines).
    pub fn tick(&mut self) {
        self.engine.tick(wall_now());
    }

    /// Opens another client on both sides; returns its index.
    pub fn open_client(&mut self) -> usize {
        let r = RespConn::connect(self.server.port);
        let id = 100 + self.others.len() as u64;
        let c = self.engine.connect(wall_now(), id);
        self.others.push((r, c));
        self.others.len() - 1
    }

    /// Runs a command on extra client `i` of both sides and compares the replies.
    pub fn check_other(&mut self, i: usize, argv: &[Vec<u8>]) {
        self.send_other(i, argv);
        if !self.expect_other(i, &format!("{} (other client)", line(argv))) {
            self.fail(&format!("{} got no answer", line(argv)), "", "");
        }
    }

    /// Commands sent to both sides so far (the main and extra clients).
    pub fn commands_sent(&self) -> usize {
        self.sent
    }

    /// Sends a command on client `i` of both sides without waiting for an
    /// answer (it may block).
    pub fn send_other(&mut self, i: usize, argv: &[Vec<u8>]) {
        self.sent += 1;
        self.last.push(format!("[client {i}] {}", line(argv)));
        if self.last.len() > 40 {
            self.last.remove(0);
        }
        let bytes = cachelab_engine::protocol::encode_request(argv);
        self.others[i].0.send_raw(&bytes);
        let conn = self.others[i].1;
        let got = self.engine.send_on(wall_now(), conn, &bytes);
        // Keep what the engine answered for `expect_other`.
        self.engine_stash(conn, got);
    }

    /// Like [`Pair::send_other`] with raw bytes (pipelines); `shown` is logged.
    pub fn send_other_raw(&mut self, i: usize, bytes: &[u8], shown: &[Vec<u8>]) {
        self.last
            .push(format!("[client {i}] {} (+ pipelined?)", line(shown)));
        if self.last.len() > 40 {
            self.last.remove(0);
        }
        self.others[i].0.send_raw(bytes);
        let conn = self.others[i].1;
        let got = self.engine.send_on(wall_now(), conn, bytes);
        self.engine_stash(conn, got);
    }

    fn engine_stash(&mut self, conn: cachelab_engine::ConnId, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.stash.entry(conn).or_default().extend(bytes);
        }
    }

    /// Compares what client `i` has been answered since the last look: the
    /// engine's bytes so far against Redis's (waiting for them when the
    /// engine has answered, checking briefly that none came otherwise).
    /// Everything client `i` has been sent since the last look, on each side
    /// (Redis's read up to as many replies as the engine sent, or briefly
    /// when the engine sent none), parsed: for comparisons a test makes
    /// itself.
    pub fn other_replies(&mut self, i: usize) -> (Vec<Reply>, Vec<Reply>) {
        let conn = self.others[i].1;
        let mut got = self.stash.remove(&conn).unwrap_or_default();
        got.extend(self.engine.take(conn));
        let n = count_replies(&got);
        let mut want = Vec::new();
        let wait = if n == 0 { 50 } else { 3000 };
        for _ in 0..n.max(1) {
            match self.others[i]
                .0
                .try_read_reply(std::time::Duration::from_millis(wait))
            {
                Some(b) => want.push(parse(&b)),
                None => break,
            }
        }
        let mut rest: &[u8] = &got;
        let mut mine = Vec::new();
        while let Ok(Some((r, used))) = parse_reply(rest) {
            mine.push(r);
            rest = &rest[used..];
        }
        (want, mine)
    }

    /// Like [`Pair::other_replies`] but exact and fast for a client that is
    /// not blocked: a PING is sent after what it may have received, and
    /// Redis's side is read up to that PING's answer.
    pub fn other_replies_synced(&mut self, i: usize) -> (Vec<Reply>, Vec<Reply>) {
        let ping = cachelab_engine::protocol::encode_request(&[b"PING".to_vec()]);
        let conn = self.others[i].1;
        self.others[i].0.send_raw(&ping);
        let got = self.engine.send_on(wall_now(), conn, &ping);
        self.engine_stash(conn, got);
        let mut got = self.stash.remove(&conn).unwrap_or_default();
        got.extend(self.engine.take(conn));
        let mut rest: &[u8] = &got;
        let mut mine = Vec::new();
        while let Ok(Some((r, used))) = parse_reply(rest) {
            mine.push(r);
            rest = &rest[used..];
        }
        let mut want = Vec::new();
        for _ in 0..mine.len() {
            match self.others[i]
                .0
                .try_read_reply(std::time::Duration::from_secs(3))
            {
                Some(b) => want.push(parse(&b)),
                None => break,
            }
        }
        (want, mine)
    }

    /// True if the client was answered.
    pub fn expect_other(&mut self, i: usize, what: &str) -> bool {
        let conn = self.others[i].1;
        let mut got = self.stash.remove(&conn).unwrap_or_default();
        got.extend(self.engine.take(conn));
        let mut want = Vec::new();
        if got.is_empty() {
            // Nothing from the engine: Redis must still hold the client
            // blocked (CLIENT LIST shows flag b), so no answer is on its way.
            let rid = self.other_redis_id(i);
            let info = self.redis.call(&[
                b"CLIENT".to_vec(),
                b"LIST".to_vec(),
                b"ID".to_vec(),
                rid.to_string().into_bytes(),
            ]);
            let text = String::from_utf8_lossy(&info).into_owned();
            let blocked = text
                .split_whitespace()
                .find_map(|f| f.strip_prefix("flags="))
                .is_some_and(|f| f.contains('b'));
            if !blocked {
                // Not blocked there: any answer was written before CLIENT
                // LIST's, so a short look finds it.
                if let Some(b) = self.others[i]
                    .0
                    .try_read_reply(std::time::Duration::from_millis(200))
                {
                    want = b;
                }
            }
        } else {
            // As many replies as the engine sent.
            let n = count_replies(&got);
            for _ in 0..n {
                match self.others[i]
                    .0
                    .try_read_reply(std::time::Duration::from_secs(3))
                {
                    Some(b) => want.extend(b),
                    None => break,
                }
            }
        }
        if want != got {
            self.fail(
                &format!("client {i}: {what}"),
                &show(&want[..want.len().min(600)]),
                &show(&got[..got.len().min(600)]),
            );
        }
        !got.is_empty()
    }

    /// OBJECT ENCODING of `k` on both sides (compared), returned.
    pub fn encoding(&mut self, k: &[u8]) -> String {
        let (a, b) = self.both(&[b"OBJECT".to_vec(), b"ENCODING".to_vec(), k.to_vec()]);
        if a != b {
            self.fail(
                "OBJECT ENCODING differs",
                &format!("{a:?}"),
                &format!("{b:?}"),
            );
        }
        match a {
            Reply::Bulk(e) => String::from_utf8_lossy(&e).into_owned(),
            _ => String::new(),
        }
    }

    /// Switches both connections' protocol (HELLO 2 / HELLO 3).
    pub fn hello(&mut self, v: u8) {
        let argv = vec![b"HELLO".to_vec(), v.to_string().into_bytes()];
        self.redis.call(&argv);
        self.engine.call(wall_now(), &argv);
    }
}

/// How many complete replies `b` holds.
pub fn count_replies(mut b: &[u8]) -> usize {
    let mut n = 0;
    while let Ok(Some((_, used))) = parse_reply(b) {
        b = &b[used..];
        n += 1;
    }
    n
}

pub fn line(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if s.len() > 40 {
                format!(
                    "{:?}…({} bytes)",
                    &s[..s.char_indices().nth(40).map_or(s.len(), |c| c.0)],
                    a.len()
                )
            } else {
                format!("{s:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bulk strings of a flat array reply (or a RESP3 map/set, flattened).
pub fn bulks(r: &Reply) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    fn walk(r: &Reply, out: &mut Vec<Vec<u8>>) {
        match r {
            Reply::Bulk(b) => out.push(b.clone()),
            Reply::Array(v) | Reply::Set(v) => v.iter().for_each(|x| walk(x, out)),
            Reply::Map(m) => m.iter().for_each(|(k, v)| {
                walk(k, out);
                walk(v, out)
            }),
            Reply::Double(d) => {
                out.push(cachelab_engine::protocol::reply::format_double(*d).into_bytes())
            }
            _ => {}
        }
    }
    walk(r, &mut out);
    out
}
