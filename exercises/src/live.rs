//! Live questions: the answer is computed from the cluster when the
//! question is asked ("the primary endpoint resolves to which node now?"),
//! so it changes as the cluster does. Each kind names what it computes;
//! the options are the cluster's own nodes, or numbers around the true one.

use serde::Serialize;

use crate::cluster::{info_field, Cluster, ClusterView, Query};
use crate::content::LiveQuestion;
use crate::grade::Pending;

/// What a live question can ask.
pub const KINDS: &[&str] = &[
    "primary-node",
    "promote-candidate",
    "reader-count",
    "replica-count",
    "role-of",
    "dbsize",
    "ttl",
    "keys-lost-if-primary-fails",
    "hit-rate",
    "evicted-keys",
    "maxmemory-policy",
    "mc-node-count",
    "mc-config-version",
    "mc-items-on-node",
    "mc-holder",
];

/// A live question, answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveAnswer {
    pub options: Vec<String>,
    pub correct: usize,
    /// How the answer was found (the commands and views used).
    pub how: String,
}

/// Numbers around `n` (the true one among them), ascending.
fn numeric(n: i64, how: String) -> LiveAnswer {
    let mut opts = vec![n, n + 1, (n - 1).max(0), n * 2 + 2, n / 2];
    opts.sort_unstable();
    opts.dedup();
    let mut extra = n + 3;
    while opts.len() < 4 {
        if !opts.contains(&extra) {
            opts.push(extra);
        }
        extra += 1;
    }
    opts.sort_unstable();
    let correct = opts.iter().position(|&o| o == n).expect("n is an option");
    LiveAnswer {
        options: opts.iter().map(i64::to_string).collect(),
        correct,
        how,
    }
}

fn choice(options: Vec<String>, right: &str, how: String) -> Result<LiveAnswer, String> {
    let correct = options
        .iter()
        .position(|o| o == right)
        .ok_or_else(|| format!("{right} is not among the options"))?;
    Ok(LiveAnswer {
        options,
        correct,
        how,
    })
}

fn redis(via: &str, cmd: &[&str]) -> Option<Query> {
    Some(Query::Redis {
        via: via.to_string(),
        argv: cmd.iter().map(|a| a.as_bytes().to_vec()).collect(),
    })
}

/// A live question being answered: queries put from the view, then the
/// answer computed when they have come back.
pub struct LiveAsk {
    q: LiveQuestion,
    view: ClusterView,
    /// The nodes the queries were put to, in order.
    targets: Vec<String>,
    pending: Pending,
}

impl LiveAsk {
    pub fn start(q: &LiveQuestion, c: &mut dyn Cluster) -> LiveAsk {
        let view = c.view();
        let key = q.key.clone().unwrap_or_default();
        let replicas: Vec<String> = view
            .nodes
            .iter()
            .filter(|n| n.role == "replica" && n.status == "available")
            .map(|n| n.name.clone())
            .collect();
        let mc_nodes: Vec<String> = view
            .nodes
            .iter()
            .filter(|n| n.status == "available")
            .map(|n| n.name.clone())
            .collect();
        let (targets, queries): (Vec<String>, Vec<Option<Query>>) = match q.ask.as_str() {
            "promote-candidate" => replicas
                .iter()
                .map(|r| (r.clone(), redis(r, &["INFO", "replication"])))
                .unzip(),
            "keys-lost-if-primary-fails" => {
                let mut t = vec!["primary".to_string()];
                let mut qs = vec![redis("primary", &["DBSIZE"])];
                for r in &replicas {
                    t.push(r.clone());
                    qs.push(redis(r, &["INFO", "replication"]));
                    t.push(r.clone());
                    qs.push(redis(r, &["DBSIZE"]));
                }
                (t, qs)
            }
            "dbsize" => (vec!["primary".into()], vec![redis("primary", &["DBSIZE"])]),
            "ttl" => (
                vec!["primary".into()],
                vec![redis("primary", &["TTL", &key])],
            ),
            "hit-rate" | "evicted-keys" => (
                vec!["primary".into()],
                vec![redis("primary", &["INFO", "stats"])],
            ),
            "maxmemory-policy" => (
                vec!["primary".into()],
                vec![redis("primary", &["CONFIG", "GET", "maxmemory-policy"])],
            ),
            "mc-items-on-node" => (
                vec![key.clone()],
                vec![Some(Query::Memcached {
                    node: key.clone(),
                    line: "stats".into(),
                })],
            ),
            "mc-holder" => mc_nodes
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        Some(Query::Memcached {
                            node: n.clone(),
                            line: format!("get {key}"),
                        }),
                    )
                })
                .unzip(),
            _ => (Vec::new(), Vec::new()),
        };
        let pending = Pending::ask(c, &queries);
        LiveAsk {
            q: q.clone(),
            view,
            targets,
            pending,
        }
    }

    pub fn poll(&mut self, c: &mut dyn Cluster) -> Option<Result<LiveAnswer, String>> {
        let answers = self.pending.poll(c)?;
        Some(self.compute(&answers))
    }

    fn compute(&self, answers: &[Result<String, String>]) -> Result<LiveAnswer, String> {
        let v = &self.view;
        let key = self.q.key.clone().unwrap_or_default();
        let names: Vec<String> = v.nodes.iter().map(|n| n.name.clone()).collect();
        let ok = |i: usize| -> Result<String, String> {
            answers.get(i).cloned().unwrap_or(Err("no answer".into()))
        };
        let int = |s: &str| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("{s:?} is not a number"))
        };
        match self.q.ask.as_str() {
            "primary-node" => {
                let p = v
                    .primary
                    .clone()
                    .ok_or("the primary endpoint resolves to no node")?;
                choice(
                    names,
                    &p,
                    format!("the primary endpoint's DNS record points at {p}"),
                )
            }
            "promote-candidate" => {
                // The replica with the least lag: the highest offset (the
                // first such, as the control plane picks).
                let mut best: Option<(i64, &str)> = None;
                for (i, r) in self.targets.iter().enumerate() {
                    let info = ok(i)?;
                    let off = info_field(&info, "master_repl_offset")
                        .and_then(|o| o.parse::<i64>().ok())
                        .unwrap_or(0);
                    if best.is_none_or(|(b, _)| off > b) {
                        best = Some((off, r));
                    }
                }
                let (off, r) = best.ok_or("no replica is available to promote")?;
                let opts: Vec<String> = v
                    .nodes
                    .iter()
                    .filter(|n| n.role == "replica")
                    .map(|n| n.name.clone())
                    .collect();
                choice(
                    opts,
                    r,
                    format!("{r} has the highest replication offset ({off}): the least lag"),
                )
            }
            "reader-count" => Ok(numeric(
                v.readers.len() as i64,
                format!("the reader endpoint spreads over {:?}", v.readers),
            )),
            "replica-count" => {
                let n = v
                    .nodes
                    .iter()
                    .filter(|n| n.role == "replica" && n.status == "available")
                    .count();
                Ok(numeric(n as i64, format!("{n} replicas are available")))
            }
            "role-of" => {
                let n = v
                    .nodes
                    .iter()
                    .find(|n| n.name == key)
                    .ok_or_else(|| format!("no node {key}"))?;
                let role = if n.status == "available" {
                    n.role.clone()
                } else {
                    "failed".to_string()
                };
                choice(
                    vec!["primary".into(), "replica".into(), "failed".into()],
                    &role,
                    format!("{key} is {role} in the control plane's view"),
                )
            }
            "dbsize" => {
                let n = int(&ok(0)?)?;
                Ok(numeric(n, format!("DBSIZE on the primary answers {n}")))
            }
            "ttl" => {
                let n = int(&ok(0)?)?;
                Ok(numeric(n, format!("TTL {key} answers {n}")))
            }
            "keys-lost-if-primary-fails" => {
                let total = int(&ok(0)?)?;
                let mut best: Option<(i64, i64, String)> = None;
                for i in (1..self.targets.len()).step_by(2) {
                    let off = info_field(&ok(i)?, "master_repl_offset")
                        .and_then(|o| o.parse::<i64>().ok())
                        .unwrap_or(0);
                    let keys = int(&ok(i + 1)?)?;
                    if best.as_ref().is_none_or(|(b, _, _)| off > *b) {
                        best = Some((off, keys, self.targets[i].clone()));
                    }
                }
                let (lost, how) = match best {
                    Some((_, keys, r)) => ((total - keys).max(0), format!("the primary holds {total} keys, {r} (the replica that would be promoted) {keys}")),
                    None => (total, format!("no replica: all {total} keys are lost")),
                };
                Ok(numeric(lost, how))
            }
            "hit-rate" => {
                let info = ok(0)?;
                let hits = info_field(&info, "keyspace_hits")
                    .and_then(|h| h.parse::<i64>().ok())
                    .unwrap_or(0);
                let misses = info_field(&info, "keyspace_misses")
                    .and_then(|h| h.parse::<i64>().ok())
                    .unwrap_or(0);
                let pct = if hits + misses == 0 {
                    0
                } else {
                    (hits * 100 + (hits + misses) / 2) / (hits + misses)
                };
                Ok(numeric(
                    pct,
                    format!("keyspace_hits {hits}, keyspace_misses {misses}: CacheHitRate {pct} %"),
                ))
            }
            "evicted-keys" => {
                let n = info_field(&ok(0)?, "evicted_keys")
                    .and_then(|h| h.parse::<i64>().ok())
                    .unwrap_or(0);
                Ok(numeric(n, format!("INFO stats: evicted_keys:{n}")))
            }
            "maxmemory-policy" => {
                let reply = ok(0)?;
                let policy = reply.lines().nth(1).unwrap_or("").to_string();
                let opts = [
                    "noeviction",
                    "allkeys-lru",
                    "volatile-lru",
                    "allkeys-lfu",
                    "volatile-ttl",
                ];
                choice(
                    opts.iter().map(|s| s.to_string()).collect(),
                    &policy,
                    format!("CONFIG GET maxmemory-policy answers {policy}"),
                )
            }
            "mc-node-count" => {
                let n = v.nodes.len();
                Ok(numeric(
                    n as i64,
                    format!("the configuration lists {n} nodes"),
                ))
            }
            "mc-config-version" => Ok(numeric(
                v.config_version as i64,
                format!("config get cluster answers version {}", v.config_version),
            )),
            "mc-items-on-node" => {
                let stats = ok(0)?;
                let n = stats
                    .lines()
                    .find_map(|l| l.strip_prefix("STAT curr_items "))
                    .and_then(|n| n.trim().parse::<i64>().ok())
                    .ok_or("no curr_items in stats")?;
                Ok(numeric(n, format!("stats on node {key}: curr_items {n} — all lost if it fails (no replication)")))
            }
            "mc-holder" => {
                let holder = self
                    .targets
                    .iter()
                    .zip(answers)
                    .find(|(_, a)| a.as_ref().is_ok_and(|r| r.starts_with("VALUE")))
                    .map(|(n, _)| n.clone())
                    .ok_or_else(|| format!("no node holds {key}"))?;
                choice(
                    names,
                    &holder,
                    format!(
                        "get {key} finds it only on {holder}: the client's hashing put it there"
                    ),
                )
            }
            other => Err(format!("unknown kind {other}")),
        }
    }
}

/// Answers at once (runtimes that answer at once).
pub fn answer_now(q: &LiveQuestion, c: &mut dyn Cluster) -> Result<LiveAnswer, String> {
    let mut a = LiveAsk::start(q, c);
    a.poll(c).unwrap_or_else(|| Err("no answer".into()))
}
