//! Grading a lab: its predicates turned into queries, the answers judged
//! (each predicate ✓/✗ with what was seen), and the runner of setups and
//! reference solutions.

use serde::Serialize;

use crate::cluster::{ask_now, info_field, Cluster, ClusterView, Query, Ticket};
use crate::content::{Expect, Predicate, Test};
use crate::steps::Step;

/// One predicate's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub what: String,
    pub ok: bool,
    /// What was seen (shown with ✗, so the learner knows what is missing).
    pub seen: String,
}

/// Queries put, answers collected as they come.
pub struct Pending {
    tickets: Vec<Option<Ticket>>,
    answers: Vec<Option<Result<String, String>>>,
}

impl Pending {
    pub fn ask(c: &mut dyn Cluster, queries: &[Option<Query>]) -> Pending {
        let tickets: Vec<Option<Ticket>> = queries
            .iter()
            .map(|q| q.as_ref().map(|q| c.ask(q)))
            .collect();
        let answers = tickets
            .iter()
            .map(|t| t.is_none().then(|| Ok(String::new())))
            .collect();
        Pending { tickets, answers }
    }

    /// Every answer, once all have come.
    pub fn poll(&mut self, c: &mut dyn Cluster) -> Option<Vec<Result<String, String>>> {
        for (t, a) in self.tickets.iter().zip(&mut self.answers) {
            if a.is_none() {
                *a = t.and_then(|t| c.answer(t));
            }
        }
        if self.answers.iter().all(Option::is_some) {
            Some(
                self.answers
                    .iter()
                    .map(|a| a.clone().expect("all in"))
                    .collect(),
            )
        } else {
            None
        }
    }
}

fn query_of(t: &Result<Test, String>) -> Option<Query> {
    let t = t.as_ref().ok()?;
    let argv =
        |cmd: &str| cachelab_engine::protocol::split_args(cmd.as_bytes()).unwrap_or_default();
    match t {
        Test::Reply { via, cmd, .. } => Some(Query::Redis {
            via: via.clone(),
            argv: argv(cmd),
        }),
        Test::Info { via, section, .. } => Some(Query::Redis {
            via: via.clone(),
            argv: vec![b"INFO".to_vec(), section.as_bytes().to_vec()],
        }),
        Test::McCommand { node, cmd, .. } => Some(Query::Memcached {
            node: node.clone(),
            line: cmd.clone(),
        }),
        _ => None,
    }
}

/// Judges a value as `expect` says; the reason when it fails.
pub fn judge(expect: &Expect, v: &str) -> bool {
    let v = v.trim();
    let num = v.parse::<f64>().ok();
    expect.equals.as_ref().is_none_or(|e| v == e.trim())
        && expect.not_equals.as_ref().is_none_or(|e| v != e.trim())
        && expect
            .contains
            .as_ref()
            .is_none_or(|e| v.contains(e.as_str()))
        && expect.at_least.is_none_or(|m| num.is_some_and(|n| n >= m))
        && expect.at_most.is_none_or(|m| num.is_some_and(|n| n <= m))
}

fn verdict(p: &Predicate, answer: &Result<String, String>, view: &ClusterView) -> Outcome {
    let expect = &p.expect();
    let test = match p.test() {
        Ok(t) => t,
        Err(e) => {
            return Outcome {
                what: p.what.clone(),
                ok: false,
                seen: e,
            }
        }
    };
    let (ok, seen) = match (&test, answer) {
        (Test::Reply { .. } | Test::Info { .. } | Test::McCommand { .. }, Err(e)) => {
            (false, e.clone())
        }
        (Test::Reply { .. } | Test::McCommand { .. }, Ok(v)) => (judge(expect, v), v.clone()),
        (Test::Info { field, .. }, Ok(v)) => match info_field(v, field) {
            Some(f) => (judge(expect, &f), format!("{field}:{f}")),
            None => (false, format!("no field {field} in the reply")),
        },
        (Test::Role { node, is }, _) => {
            let role = match view.nodes.iter().find(|n| &n.name == node) {
                None => "missing".to_string(),
                Some(n) if n.status != "available" => "failed".to_string(),
                Some(n) => n.role.clone(),
            };
            (&role == is, format!("{node} is {role}"))
        }
        (Test::PrimaryEndpoint, _) => {
            let p = view.primary.clone().unwrap_or_else(|| "(nothing)".into());
            (
                judge(expect, &p),
                format!("the primary endpoint resolves to {p}"),
            )
        }
        (Test::Replicas, _) => {
            let n = view
                .nodes
                .iter()
                .filter(|n| n.role == "replica" && n.status == "available")
                .count();
            (
                judge(expect, &n.to_string()),
                format!("{n} available replicas"),
            )
        }
        (Test::Readers, _) => {
            let n = view.readers.len();
            (
                judge(expect, &n.to_string()),
                format!(
                    "the reader endpoint spreads over {n} nodes: {}",
                    view.readers.join(", ")
                ),
            )
        }
        (Test::NodeAz { node }, _) => match view.nodes.iter().find(|n| &n.name == node) {
            Some(n) => (judge(expect, &n.az), format!("{node} is in {}", n.az)),
            None => (false, format!("no node {node}")),
        },
        (Test::MultiAz { enabled }, _) => (
            view.multi_az == *enabled,
            format!("Multi-AZ is {}", if view.multi_az { "on" } else { "off" }),
        ),
        (Test::Event { contains }, _) => {
            let found = view.events.iter().any(|e| e.contains(contains.as_str()));
            let last = view
                .events
                .last()
                .cloned()
                .unwrap_or_else(|| "no events".into());
            (
                found,
                if found {
                    format!("seen: {contains}")
                } else {
                    format!("latest event: {last}")
                },
            )
        }
        (Test::McNodes, _) => {
            let n = view.nodes.iter().filter(|n| n.status != "deleted").count();
            (judge(expect, &n.to_string()), format!("{n} nodes listed"))
        }
        (Test::McConfigVersion, _) => (
            judge(expect, &view.config_version.to_string()),
            format!("configuration version {}", view.config_version),
        ),
        (Test::Backup { name, field }, _) => {
            let v = match view.backups.iter().find(|b| &b.name == name) {
                None => "missing".to_string(),
                Some(b) => match field.as_str() {
                    "status" => b.status.clone(),
                    "kind" => b.kind.clone(),
                    "node" => b.node.clone(),
                    "source_role" => b.source_role.clone(),
                    "size" => b.size.to_string(),
                    f => format!("no field {f}"),
                },
            };
            (judge(expect, &v), format!("backup {name}: {field} {v}"))
        }
        (Test::Backups { kind }, _) => {
            let names: Vec<&str> = view
                .backups
                .iter()
                .filter(|b| b.status == "available")
                .filter(|b| kind.as_ref().is_none_or(|k| &b.kind == k))
                .map(|b| b.name.as_str())
                .collect();
            (
                judge(expect, &names.len().to_string()),
                format!(
                    "{} available {}backups{}",
                    names.len(),
                    kind.as_ref().map(|k| format!("{k} ")).unwrap_or_default(),
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", names.join(", "))
                    }
                ),
            )
        }
        (Test::BackupPolicy { field }, _) => {
            let v = match field.as_str() {
                "window" => view.backup_window.clone(),
                "retention" => view.backup_retention.to_string(),
                f => format!("no field {f}"),
            };
            (judge(expect, &v), format!("backup {field}: {v}"))
        }
        (Test::Bucket, _) => {
            let v = view.bucket.join("\n");
            (
                judge(expect, &v),
                if v.is_empty() {
                    "the bucket is empty".into()
                } else {
                    format!("the bucket holds {}", view.bucket.join(", "))
                },
            )
        }
        (Test::Groups, _) => {
            let v = view.groups.join("\n");
            (
                judge(expect, &v),
                if v.is_empty() {
                    "no group but the lab's".into()
                } else {
                    format!("groups beside the lab's: {}", view.groups.join(", "))
                },
            )
        }
        (Test::Shards, _) => {
            let n = view.shards.len().to_string();
            (judge(expect, &n), format!("{n} shards"))
        }
        (Test::ShardSlots { shard }, _) => match view.shards.iter().find(|s| &s.id == shard) {
            Some(s) => {
                let n = s.slots.to_string();
                (judge(expect, &n), format!("shard {shard} serves {n} slots"))
            }
            None => (false, format!("there is no shard {shard}")),
        },
        (Test::GroupStatus, _) => (
            judge(expect, &view.status),
            format!("the group is {}", view.status),
        ),
    };
    Outcome {
        what: p.what.clone(),
        ok,
        seen,
    }
}

/// A check in progress: started with [`Grader::start`], finished when
/// [`Grader::poll`] returns the outcomes.
pub struct Grader {
    checks: Vec<Predicate>,
    pending: Pending,
}

impl Grader {
    pub fn start(checks: &[Predicate], c: &mut dyn Cluster) -> Grader {
        let queries: Vec<Option<Query>> = checks.iter().map(|p| query_of(&p.test())).collect();
        Grader {
            checks: checks.to_vec(),
            pending: Pending::ask(c, &queries),
        }
    }

    pub fn poll(&mut self, c: &mut dyn Cluster) -> Option<Vec<Outcome>> {
        let answers = self.pending.poll(c)?;
        let view = c.view();
        Some(
            self.checks
                .iter()
                .zip(&answers)
                .map(|(p, a)| verdict(p, a, &view))
                .collect(),
        )
    }
}

/// Grades at once (runtimes that answer at once).
pub fn grade_now(checks: &[Predicate], c: &mut dyn Cluster) -> Vec<Outcome> {
    let mut g = Grader::start(checks, c);
    g.poll(c).unwrap_or_else(|| {
        checks
            .iter()
            .map(|p| Outcome {
                what: p.what.clone(),
                ok: false,
                seen: "no answer".into(),
            })
            .collect()
    })
}

/// Runs one setup or solution step; a command's reply as text.
pub fn run_step(c: &mut dyn Cluster, step: &str) -> Result<String, String> {
    match Step::parse(step)? {
        Step::Command { via, argv } => ask_now(c, &Query::Redis { via, argv }),
        Step::Memcached { node, line } => ask_now(c, &Query::Memcached { node, line }),
        Step::Session { name, via, argv } => c.session(&name, &via, &argv),
        Step::Act(a) => c.act(&a).map(|_| String::new()),
    }
}

/// Whether every predicate holds.
pub fn passed(outcomes: &[Outcome]) -> bool {
    outcomes.iter().all(|o| o.ok)
}
