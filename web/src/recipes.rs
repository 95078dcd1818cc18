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
        concept: "A second client SUBSCRIBEs and enters subscriber mode (it may only (un)subscribe, PING or QUIT); PUBLISH fans each message out to every subscriber. Nothing is stored — a subscriber that is away misses it (use a stream for history).",
        commands: || {
            lines(&[
                "@sub SUBSCRIBE chat:lobby",
                "PUBSUB NUMSUB chat:lobby",
                "PUBLISH chat:lobby \"hello from the console\"",
                "PUBLISH chat:lobby \"anyone for lunch?\"",
                "@sub GET product:42",
                "@sub PING",
            ])
        },
    },
    Recipe {
        id: "geo",
        title: "Restaurants near me (geo)",
        concept: "GEOADD stores each place as a sorted-set member scored by its 52-bit geohash; GEOSEARCH … BYRADIUS finds those within a distance, nearest first (ride hailing, store finders).",
        commands: || {
            let mut v = vec!["DEL restaurants".to_string()];
            let places: Vec<String> = RESTAURANTS
                .iter()
                .map(|(name, lon, lat)| format!("{lon} {lat} {name}"))
                .collect();
            v.push(format!("GEOADD restaurants {}", places.join(" ")));
            v.push(format!("GEOSEARCH restaurants FROMLONLAT {HERE_LON} {HERE_LAT} BYRADIUS 4 km WITHCOORD ASC"));
            v.push(format!(
                "GEOSEARCH restaurants FROMLONLAT {HERE_LON} {HERE_LAT} BYRADIUS 1 km WITHDIST WITHCOORD ASC"
            ));
            v.push("GEODIST restaurants pike-chowder noodle-bar km".into());
            v
        },
    },
    Recipe {
        id: "stream",
        title: "Order stream with a consumer group",
        concept: "XADD appends to a stream that keeps its history; a consumer group (XGROUP CREATE) shares the entries among workers with XREADGROUP, and each stays pending until XACKed — a crashed worker's entries can be claimed (XAUTOCLAIM).",
        commands: || {
            lines(&[
                "DEL orders",
                "XADD orders * item lamp qty 1",
                "XADD orders * item desk qty 2",
                "XADD orders * item chair qty 4",
                "XGROUP CREATE orders shipping 0",
                "XREADGROUP GROUP shipping worker-1 COUNT 2 STREAMS orders >",
                "XREADGROUP GROUP shipping worker-2 COUNT 1 STREAMS orders >",
                "XRANGE orders - +",
                "XINFO GROUPS orders",
                "XPENDING orders shipping - + 10",
            ])
        },
    },
    Recipe {
        id: "ratelimit",
        title: "Rate limiter (Lua script)",
        concept: "EVAL runs a Lua script atomically on the node: INCR a per-client counter, EXPIRE it on the first hit, refuse past the limit — no other command can run in between, so two app servers cannot both let the 4th request through.",
        commands: || {
            let script = "\"local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end if n > tonumber(ARGV[2]) then return 0 end return 1\"";
            let mut v = vec!["DEL rate:203.0.113.7".to_string()];
            for _ in 0..5 {
                v.push(format!("EVAL {script} 1 rate:203.0.113.7 60 3"));
            }
            v.push("TTL rate:203.0.113.7".into());
            v
        },
    },
    Recipe {
        id: "cas",
        title: "Atomic check-and-set (Lua)",
        concept: "Compare-and-swap in one round trip: the script SETs the new value only if the key still holds the value the client read, else answers 0 — the client retries instead of overwriting someone else's update (an alternative to WATCH/MULTI/EXEC).",
        commands: || {
            let script = "\"if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0\"";
            lines(&[
                "SET stock:lamp 5",
                &format!("EVAL {script} 1 stock:lamp 5 4"),
                &format!("EVAL {script} 1 stock:lamp 5 4"),
                "GET stock:lamp",
            ])
        },
    },
];

/// Where the geo recipe stands (the Space Needle, Seattle).
pub const HERE_LON: f64 = -122.3493;
pub const HERE_LAT: f64 = 47.6205;

const RESTAURANTS: &[(&str, f64, f64)] = &[
    ("space-cafe", -122.3490, 47.6210),
    ("noodle-bar", -122.3555, 47.6189),
    ("taco-stand", -122.3421, 47.6170),
    ("pike-chowder", -122.3404, 47.6097),
    ("pizza-slice", -122.3301, 47.6228),
    ("sushi-go", -122.3610, 47.6301),
    ("burger-joint", -122.3187, 47.6145),
    ("dim-sum", -122.3260, 47.5985),
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
    /// Every restaurant (name, longitude, latitude) from the wide GEOSEARCH.
    pub places: Option<Vec<(String, f64, f64)>>,
    /// The radius search: centre, radius in km, and its hits (name,
    /// distance, longitude, latitude), nearest first.
    pub nearby: Option<Nearby>,
    /// XRANGE orders: (id, "field value …").
    pub entries: Option<Vec<(String, String)>>,
    /// XINFO GROUPS orders: (name, last delivered ID, pending, lag).
    pub groups: Option<Vec<(String, String, String, String)>>,
    /// XPENDING orders shipping - + 10: (id, consumer, idle ms, deliveries).
    pub pending: Option<Vec<(String, String, i64, i64)>>,
    /// The rate limiter script's answers, one per request (1 allowed, 0 refused).
    pub rate: Vec<i64>,
    /// The check-and-set script's answers (1 swapped, 0 the value had changed).
    pub cas: Vec<i64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Nearby {
    pub lon: f64,
    pub lat: f64,
    pub km: f64,
    pub hits: Vec<(String, String, f64, f64)>,
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Double(d) => cachelab_engine::protocol::reply::format_double(*d),
        Reply::Int(i) => i.to_string(),
        Reply::DoubleText(t) => t.clone(),
        Reply::Nil | Reply::NilArray => "(nil)".into(),
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
    // A script's first key is after the script and numkeys.
    let script_key = cmd
        .get(3)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default();
    if name.as_slice() == b"EVAL" {
        if let Reply::Int(n) = reply {
            if script_key.starts_with("rate:") {
                d.rate.push(*n);
            } else if script_key == "stock:lamp" {
                d.cas.push(*n);
            }
        }
        return;
    }
    if name.as_slice() == b"DEL" && key.starts_with("rate:") {
        d.rate.clear();
    }
    if name.as_slice() == b"SET" && key == "stock:lamp" {
        d.cas.clear();
    }
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
        (b"GEOSEARCH", "restaurants", Reply::Array(v)) => {
            let arg = |name: &str| {
                cmd.iter()
                    .position(|a| a.eq_ignore_ascii_case(name.as_bytes()))
                    .map(|i| (i, cmd.len()))
            };
            let num = |i: usize| {
                cmd.get(i)
                    .and_then(|a| std::str::from_utf8(a).ok())
                    .and_then(|t| t.parse::<f64>().ok())
            };
            let with_dist = arg("WITHDIST").is_some();
            let item = |r: &Reply| -> Option<(String, String, f64, f64)> {
                let Reply::Array(parts) = r else { return None };
                let name = text(parts.first()?);
                let dist = if with_dist {
                    text(parts.get(1)?)
                } else {
                    String::new()
                };
                let Reply::Array(xy) = parts.last()? else {
                    return None;
                };
                let lon = text(xy.first()?).parse().ok()?;
                let lat = text(xy.get(1)?).parse().ok()?;
                Some((name, dist, lon, lat))
            };
            let items: Vec<(String, String, f64, f64)> = v.iter().filter_map(item).collect();
            if with_dist {
                let (lon, lat, km) = match (arg("FROMLONLAT"), arg("BYRADIUS")) {
                    (Some((f, _)), Some((b, _))) => (
                        num(f + 1).unwrap_or(HERE_LON),
                        num(f + 2).unwrap_or(HERE_LAT),
                        num(b + 1).unwrap_or(1.0),
                    ),
                    _ => (HERE_LON, HERE_LAT, 1.0),
                };
                d.nearby = Some(Nearby {
                    lon,
                    lat,
                    km,
                    hits: items,
                });
            } else {
                d.places = Some(items.into_iter().map(|(n, _, x, y)| (n, x, y)).collect());
            }
        }
        (b"XRANGE", "orders", Reply::Array(v)) => {
            d.entries = Some(
                v.iter()
                    .filter_map(|e| match e {
                        Reply::Array(p) if p.len() == 2 => {
                            let fields = match &p[1] {
                                Reply::Array(f) => f.iter().map(text).collect::<Vec<_>>().join(" "),
                                _ => String::new(),
                            };
                            Some((text(&p[0]), fields))
                        }
                        _ => None,
                    })
                    .collect(),
            );
        }
        (b"XINFO", _, Reply::Array(v)) if cmd.get(2).is_some_and(|k| k.as_slice() == b"orders") => {
            d.groups = Some(
                v.iter()
                    .filter_map(|g| {
                        let pairs: Vec<(String, String)> = match g {
                            Reply::Array(f) => f
                                .chunks(2)
                                .map(|c| (text(&c[0]), c.get(1).map(text).unwrap_or_default()))
                                .collect(),
                            Reply::Map(m) => m.iter().map(|(k, v)| (text(k), text(v))).collect(),
                            _ => return None,
                        };
                        let get = |k: &str| {
                            pairs
                                .iter()
                                .find(|(n, _)| n == k)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        };
                        Some((
                            get("name"),
                            get("last-delivered-id"),
                            get("pending"),
                            get("lag"),
                        ))
                    })
                    .collect(),
            );
        }
        (b"XPENDING", "orders", Reply::Array(v)) if cmd.len() > 3 => {
            d.pending = Some(
                v.iter()
                    .filter_map(|e| match e {
                        Reply::Array(p) if p.len() == 4 => {
                            let int = |r: &Reply| if let Reply::Int(i) = r { *i } else { 0 };
                            Some((text(&p[0]), text(&p[1]), int(&p[2]), int(&p[3])))
                        }
                        _ => None,
                    })
                    .collect(),
            );
        }
        (b"MEMORY", _, Reply::Int(n)) => match cmd.get(2).map(|k| k.as_slice()) {
            Some(b"visitors:hll") => d.hll_bytes = Some(*n),
            Some(b"visitors:exact") => d.exact_bytes = Some(*n),
            _ => {}
        },
        _ => {}
    }
}
