//! The playground's "use cases": one recipe per use case the exam names,
//! each a short script of real commands sent through the console's
//! session to the primary endpoint (the lines appear in the console), and
//! a drawing of the result made from the replies: a leaderboard table, a
//! work queue, unique visitors estimated by HyperLogLog next to the exact
//! count. Nothing is computed in the page: every figure is a reply.

use cachelab_engine::protocol::Reply;

pub struct Recipe {
    pub id: &'static str,
    pub title: &'static str,
    /// The ElastiCache / exam concept, shown under the button.
    pub concept: &'static str,
    pub commands: fn() -> Vec<String>,
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub const RECIPES: &[Recipe] = &[
    Recipe {
        id: "cache",
        title: "Cache-aside with a TTL",
        concept: "Lazy loading: read the cache, on a miss read the database and SET the value with a TTL so stale data ages out.",
        commands: || {
            lines(&[
                "GET product:42",
                "SET product:42 '{\"name\":\"lamp\",\"price\":25}' EX 300",
                "GET product:42",
                "TTL product:42",
            ])
        },
    },
    Recipe {
        id: "session",
        title: "Session store",
        concept: "A hash per session (HSET), with an expiry so idle sessions disappear; any app server can read it.",
        commands: || {
            lines(&[
                "HSET session:abc user alice cart 3 theme dark",
                "EXPIRE session:abc 1800",
                "HINCRBY session:abc cart 1",
                "HGETALL session:abc",
                "OBJECT ENCODING session:abc",
                "MEMORY USAGE session:abc",
            ])
        },
    },
    Recipe {
        id: "leaderboard",
        title: "Gaming leaderboard",
        concept: "A sorted set keeps players ordered by score: ZINCRBY on every point, ZREVRANGE for the top N, ZREVRANK for a player's place — each O(log n).",
        commands: || {
            lines(&[
                "ZADD leaderboard 3120 alice 2890 bob 4010 carol 1500 dave",
                "ZINCRBY leaderboard 500 bob",
                "ZREVRANK leaderboard bob",
                "ZREVRANGE leaderboard 0 9 WITHSCORES",
            ])
        },
    },
    Recipe {
        id: "queue",
        title: "Work queue",
        concept: "A list as a queue: producers LPUSH, workers BRPOP (blocking until a job arrives), so no polling is needed.",
        commands: || {
            lines(&[
                "DEL jobs",
                "LPUSH jobs resize:1 resize:2 email:7",
                "BRPOP jobs 1",
                "LRANGE jobs 0 -1",
            ])
        },
    },
    Recipe {
        id: "visitors",
        title: "Unique visitors (HyperLogLog)",
        concept: "PFADD/PFCOUNT count distinct visitors in at most 12 KB with about 0.81% error; the exact set grows with every visitor.",
        commands: || {
            let mut v = vec!["DEL visitors:hll visitors:exact".to_string()];
            for batch in 0..5 {
                let ids: Vec<String> = (0..400).map(|i| format!("u{}", batch * 400 + i)).collect();
                v.push(format!("PFADD visitors:hll {}", ids.join(" ")));
                v.push(format!("SADD visitors:exact {}", ids.join(" ")));
            }
            v.push("PFCOUNT visitors:hll".into());
            v.push("SCARD visitors:exact".into());
            v.push("MEMORY USAGE visitors:hll".into());
            v.push("MEMORY USAGE visitors:exact".into());
            v
        },
    },
    Recipe {
        id: "chat",
        title: "Chat (pub/sub)",
        concept: "PUBLISH fans a message out to every subscriber of the channel; nothing is stored — a subscriber that is away misses it (use a stream for history).",
        commands: || {
            lines(&[
                "PUBSUB NUMSUB chat:lobby",
                "PUBLISH chat:lobby hello",
            ])
        },
    },
];

/// What the recipes draw, updated from replies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drawn {
    pub board: Vec<(String, String)>,
    pub queue: Option<Vec<String>>,
    pub hll: Option<i64>,
    pub exact: Option<i64>,
    pub hll_bytes: Option<i64>,
    pub exact_bytes: Option<i64>,
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Double(d) => cachelab_engine::protocol::reply::format_double(*d),
        Reply::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// Folds one reply into the drawing if it answers a recipe's query.
pub fn observe(d: &mut Drawn, cmd: &[Vec<u8>], reply: &Reply) {
    let name = cmd
        .first()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_default();
    let key = cmd
        .get(1)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default();
    match (name.as_slice(), key.as_str(), reply) {
        (b"ZREVRANGE", "leaderboard", Reply::Array(v)) => {
            d.board = v
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| (text(&c[0]), text(&c[1])))
                .collect();
        }
        (b"LRANGE", "jobs", Reply::Array(v)) => d.queue = Some(v.iter().map(text).collect()),
        (b"PFCOUNT", "visitors:hll", Reply::Int(n)) => d.hll = Some(*n),
        (b"SCARD", "visitors:exact", Reply::Int(n)) => d.exact = Some(*n),
        (b"MEMORY", _, Reply::Int(n)) => match cmd.get(2).map(|k| k.as_slice()) {
            Some(b"visitors:hll") => d.hll_bytes = Some(*n),
            Some(b"visitors:exact") => d.exact_bytes = Some(*n),
            _ => {}
        },
        _ => {}
    }
}
