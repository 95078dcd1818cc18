//! The content as data: topics, the seed's facts, questions, labs and live
//! questions, read from the TOML files of this folder. A bad file is
//! refused with the file, the line and the field named ([`Problem`]); the
//! rules every file must keep (ids unique, exactly `choose` correct
//! options, an explanation per option, links that resolve, every seed fact
//! taught) are checked by [`Bundle::problems`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// Something wrong in a content file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    /// The field (or the id of the entry) at fault.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.message
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    pub title: String,
    /// False for what the engine does not run yet (questions only).
    pub running: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    pub id: String,
    pub text: String,
    /// What current AWS documentation says where the seed is out of date.
    #[serde(default)]
    pub current: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub text: String,
    pub correct: bool,
    /// Why this option is right or wrong.
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    #[serde(default)]
    pub topic: String,
    pub difficulty: Difficulty,
    pub choose: usize,
    pub stem: String,
    pub teaches: Vec<String>,
    pub see: String,
    pub options: Vec<Choice>,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: usize,
}

impl Question {
    /// The indices of the correct options.
    pub fn answer(&self) -> Vec<usize> {
        (0..self.options.len())
            .filter(|&i| self.options[i].correct)
            .collect()
    }
}

/// The cluster a lab starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// "replication" (cluster mode disabled), "cluster" (cluster mode
    /// enabled: `shards` × (1 + `replicas`)) or "memcached".
    pub kind: String,
    /// Shards of a cluster-mode group (1–10 here).
    #[serde(default = "three")]
    pub shards: usize,
    /// Replicas of a replication group (0–5).
    #[serde(default = "two")]
    pub replicas: usize,
    /// Multi-AZ with automatic failover (replication groups).
    #[serde(default = "yes")]
    pub multi_az: bool,
    /// Nodes of a Memcached cluster.
    #[serde(default = "three")]
    pub nodes: usize,
    /// Steps run to set the scene before the learner starts (same
    /// language as a solution: commands and `!actions`).
    #[serde(default)]
    pub setup: Vec<String>,
}

fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn yes() -> bool {
    true
}

/// How a reply (or a field, or a count) is judged. Text comparisons are on
/// the reply as the console prints it without quotes: a bulk string's
/// text, an integer's digits, `(nil)`, an error's words.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
}

/// One predicate of a lab's check, evaluated on the live cluster (built
/// from a [`Predicate`]'s fields by [`Predicate::test`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// A command sent through `via` (`primary`, `reader`, or a node name
    /// such as `demo-002`); its reply judged.
    Reply { via: String, cmd: String },
    /// One field of `INFO <section>` on `via`.
    Info {
        via: String,
        section: String,
        field: String,
    },
    /// A node's role in the control plane's view: primary, replica,
    /// failed (not available), missing.
    Role { node: String, is: String },
    /// The node the primary endpoint resolves to.
    PrimaryEndpoint,
    /// How many replicas are available.
    Replicas,
    /// How many nodes the reader endpoint spreads over.
    Readers,
    /// The Availability Zone a node is in (`node`).
    NodeAz { node: String },
    /// Multi-AZ automatic failover is on/off.
    MultiAz { enabled: bool },
    /// An event in the group's event log (DescribeEvents).
    Event { contains: String },
    /// A Memcached cluster's listed nodes.
    McNodes,
    /// A memcached text command sent to a node (`node = "0001"`) or
    /// through the application's client (`node = "client"`).
    McCommand { node: String, cmd: String },
    /// The configuration endpoint's version (`config get cluster`).
    McConfigVersion,
    /// One field of backup `name` (DescribeSnapshots): status, kind, node,
    /// source_role, size; `missing` when there is no such backup.
    Backup { name: String, field: String },
    /// How many available backups there are (of kind `is`, if given:
    /// automatic, manual, final).
    Backups { kind: Option<String> },
    /// The backup window or the retention (`field`: window, retention).
    BackupPolicy { field: String },
    /// The bucket's objects, one per line.
    Bucket,
    /// The replication groups restored beside the lab's, one name per line
    /// (DescribeReplicationGroups).
    Groups,
    /// A cluster-mode group's shards (node groups), counted.
    Shards,
    /// How many hash slots shard `node` (`0001`) serves, as the control
    /// plane placed them.
    ShardSlots { shard: String },
    /// The group's status: available, modifying, creating.
    GroupStatus,
}

impl Test {
    /// Needs the control plane's view or a Memcached cluster (not
    /// available against a real server).
    pub fn needs_control(&self) -> bool {
        !matches!(self, Test::Reply { .. } | Test::Info { .. })
    }
}

/// One line of a lab's check: what must hold, in words, and how it is
/// tested — `kind` with its fields:
///
/// | kind | fields |
/// |---|---|
/// | `reply` | `via`, `cmd`, and an expectation |
/// | `info` | `via`, `section`, `field`, and an expectation |
/// | `role` | `node`, `is` (primary, replica; node for Memcached; failed, missing) |
/// | `primary_endpoint` | an expectation on the node name |
/// | `replicas` | an expectation on the count of available replicas |
/// | `readers` | an expectation on the count of nodes behind the reader endpoint |
/// | `node_az` | `node`, and an expectation on its Availability Zone |
/// | `multi_az` | `enabled` |
/// | `event` | `contains` |
/// | `mc_nodes` | an expectation on the count of listed nodes |
/// | `mc_command` | `node`, `cmd`, and an expectation |
/// | `mc_config_version` | an expectation |
/// | `backup` | `name`, `field` (status, kind, node, source_role, size), and an expectation |
/// | `backups` | optional `is` (automatic, manual, final), and an expectation on the count of available backups |
/// | `backup_policy` | `field` (window, retention), and an expectation |
/// | `bucket` | an expectation on the objects' names, one per line |
/// | `groups` | an expectation on the restored groups' names, one per line |
/// | `shards` | an expectation on a cluster-mode group's count of shards |
/// | `shard_slots` | `node` (a shard: `0001`), and an expectation on its count of hash slots |
/// | `group_status` | an expectation on the group's status (available, modifying) |
///
/// Expectations: `equals`, `not_equals`, `contains`, `at_least`, `at_most`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// What the learner must achieve, in words (shown ✓/✗).
    pub what: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    /// A backup's name (`backup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Predicate {
    pub fn expect(&self) -> Expect {
        Expect {
            equals: self.equals.clone(),
            not_equals: self.not_equals.clone(),
            contains: self.contains.clone(),
            at_least: self.at_least,
            at_most: self.at_most,
        }
    }

    /// The test its fields describe; the missing field otherwise.
    pub fn test(&self) -> Result<Test, String> {
        let need = |f: &Option<String>, name: &str| {
            f.clone()
                .ok_or_else(|| format!("kind {:?} needs `{name}`", self.kind))
        };
        let has_expect = self.equals.is_some()
            || self.not_equals.is_some()
            || self.contains.is_some()
            || self.at_least.is_some()
            || self.at_most.is_some();
        let expecting = |t: Test| {
            if has_expect {
                Ok(t)
            } else {
                Err(format!(
                    "kind {:?} needs an expectation (equals, not_equals, contains, at_least, at_most)",
                    self.kind
                ))
            }
        };
        match self.kind.as_str() {
            "reply" => expecting(Test::Reply {
                via: need(&self.via, "via")?,
                cmd: need(&self.cmd, "cmd")?,
            }),
            "info" => expecting(Test::Info {
                via: need(&self.via, "via")?,
                section: need(&self.section, "section")?,
                field: need(&self.field, "field")?,
            }),
            "role" => Ok(Test::Role {
                node: need(&self.node, "node")?,
                is: need(&self.is, "is")?,
            }),
            "primary_endpoint" => expecting(Test::PrimaryEndpoint),
            "replicas" => expecting(Test::Replicas),
            "readers" => expecting(Test::Readers),
            "node_az" => expecting(Test::NodeAz {
                node: need(&self.node, "node")?,
            }),
            "multi_az" => Ok(Test::MultiAz {
                enabled: self.enabled.ok_or("kind \"multi_az\" needs `enabled`")?,
            }),
            "event" => Ok(Test::Event {
                contains: need(&self.contains, "contains")?,
            }),
            "mc_nodes" => expecting(Test::McNodes),
            "mc_command" => expecting(Test::McCommand {
                node: need(&self.node, "node")?,
                cmd: need(&self.cmd, "cmd")?,
            }),
            "mc_config_version" => expecting(Test::McConfigVersion),
            "backup" => expecting(Test::Backup {
                name: need(&self.name, "name")?,
                field: need(&self.field, "field")?,
            }),
            "backups" => expecting(Test::Backups {
                kind: self.is.clone(),
            }),
            "backup_policy" => expecting(Test::BackupPolicy {
                field: need(&self.field, "field")?,
            }),
            "bucket" => expecting(Test::Bucket),
            "groups" => expecting(Test::Groups),
            "shards" => expecting(Test::Shards),
            "shard_slots" => expecting(Test::ShardSlots {
                shard: need(&self.node, "node")?,
            }),
            "group_status" => expecting(Test::GroupStatus),
            k => Err(format!("unknown kind {k:?}")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    pub id: String,
    #[serde(default)]
    pub topic: String,
    pub title: String,
    pub difficulty: Difficulty,
    pub teaches: Vec<String>,
    pub scenario: Scenario,
    pub task: String,
    pub hints: Vec<String>,
    /// The reference solution: console commands (`SET k v`, `@reader GET k`
    /// to send through another endpoint or node) and control actions
    /// (`!failover`, `!kill primary`, `!wait 30s`…; see `steps`).
    pub solution: Vec<String>,
    pub debrief: String,
    pub check: Vec<Predicate>,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: usize,
}

impl Lab {
    /// Runs against a real server: no control actions, no control-plane
    /// predicates, a replication group.
    pub fn needs_control(&self) -> bool {
        self.scenario.kind != "replication"
            || self
                .check
                .iter()
                .any(|p| p.test().map_or(true, |t| t.needs_control()))
            || self
                .solution
                .iter()
                .chain(&self.scenario.setup)
                .any(|s| s.trim_start().starts_with('!') || s.trim_start().starts_with('@'))
    }
}

/// A question whose answer is computed from the live cluster when asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveQuestion {
    pub id: String,
    #[serde(default)]
    pub topic: String,
    pub difficulty: Difficulty,
    pub stem: String,
    /// What is computed (see `live::KINDS`).
    pub ask: String,
    /// A key, for the kinds that ask about one.
    #[serde(default)]
    pub key: Option<String>,
    /// Why the answer is what it is (shown after answering).
    pub explain: String,
    pub teaches: Vec<String>,
    pub see: String,
    /// The cluster the question is tested on (in the page: the live one).
    pub scenario: Scenario,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: usize,
}

/// Everything the learning mode teaches.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Bundle {
    pub topics: Vec<Topic>,
    pub facts: Vec<Fact>,
    pub questions: Vec<Question>,
    pub labs: Vec<Lab>,
    pub live: Vec<LiveQuestion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicsFile {
    topic: Vec<Topic>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactsFile {
    fact: Vec<Fact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionsFile {
    topic: String,
    question: Vec<Spanned<Question>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabsFile {
    topic: String,
    lab: Vec<Spanned<Lab>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveFile {
    topic: String,
    live: Vec<Spanned<LiveQuestion>>,
}

/// The sections of `../shared/reference/elasticache.md` a `ref:` names.
pub const REF_SECTIONS: &[&str] = &[
    "replication-groups",
    "multi-az",
    "backups",
    "security",
    "eviction",
    "memcached",
    "use-cases",
    "strategies",
    "scaling",
    "global-datastore",
    "serverless",
    "data-tiering",
    "auth-network",
    "monitoring",
    "limits",
    "endpoints",
];

/// The playground's use-case recipes a `recipe:` names (web/src/recipes.rs).
pub const RECIPES: &[&str] = &[
    "cache",
    "session",
    "leaderboard",
    "queue",
    "visitors",
    "chat",
    "geo",
    "stream",
    "ratelimit",
    "cas",
];

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// An entry that knows its topic and where it was written.
trait Placed {
    fn place(&mut self, topic: &str, file: &str, line: usize);
}

macro_rules! placed_impl {
    ($($t:ty),*) => {$(
        impl Placed for $t {
            fn place(&mut self, topic: &str, file: &str, line: usize) {
                self.topic = topic.to_string();
                self.file = file.to_string();
                self.line = line;
            }
        }
    )*};
}
placed_impl!(Question, Lab, LiveQuestion);

/// A file's entries with their topic, file and line filled in.
fn placed<T: Placed>(
    entries: Vec<Spanned<T>>,
    topic: &str,
    file: &str,
    text: &str,
) -> impl Iterator<Item = T> {
    let (topic, file) = (topic.to_string(), file.to_string());
    let lines: Vec<usize> = entries
        .iter()
        .map(|e| line_of(text, e.span().start))
        .collect();
    entries.into_iter().zip(lines).map(move |(e, line)| {
        let mut e = e.into_inner();
        e.place(&topic, &file, line);
        e
    })
}

fn toml_problem(file: &str, text: &str, e: toml::de::Error) -> Problem {
    let line = e.span().map_or(0, |s| line_of(text, s.start));
    let msg = e.message().to_string();
    // serde names the field in backticks: "missing field `why`".
    let field = msg.split('`').nth(1).unwrap_or("(syntax)").to_string();
    Problem {
        file: file.to_string(),
        line,
        field,
        message: msg,
    }
}

impl Bundle {
    /// Reads the content from `(path, text)` pairs, paths relative to the
    /// `exercises/` folder (`topics.toml`, `questions/memcached.toml`…).
    pub fn parse(files: &[(&str, &str)]) -> Result<Bundle, Vec<Problem>> {
        let mut b = Bundle::default();
        let mut problems = Vec::new();
        for (path, text) in files {
            let stem = path
                .rsplit('/')
                .next()
                .unwrap_or(path)
                .trim_end_matches(".toml");
            let r: Result<(), toml::de::Error> = (|| {
                match path.split('/').next().unwrap_or("") {
                    "topics.toml" => b.topics = toml::from_str::<TopicsFile>(text)?.topic,
                    "seed_facts.toml" => b.facts = toml::from_str::<FactsFile>(text)?.fact,
                    "questions" => {
                        let f: QuestionsFile = toml::from_str(text)?;
                        if f.topic != stem {
                            problems.push(Problem {
                                file: path.to_string(),
                                line: 1,
                                field: "topic".into(),
                                message: format!(
                                    "is {:?}; a file holds the topic it is named after ({stem:?})",
                                    f.topic
                                ),
                            });
                        }
                        b.questions.extend(placed(f.question, &f.topic, path, text));
                    }
                    "labs" => {
                        let f: LabsFile = toml::from_str(text)?;
                        b.labs.extend(placed(f.lab, &f.topic, path, text));
                    }
                    "live" => {
                        let f: LiveFile = toml::from_str(text)?;
                        b.live.extend(placed(f.live, &f.topic, path, text));
                    }
                    _ => {}
                }
                Ok(())
            })();
            if let Err(e) = r {
                problems.push(toml_problem(path, text, e));
            }
        }
        problems.extend(b.problems());
        if problems.is_empty() {
            Ok(b)
        } else {
            Err(problems)
        }
    }

    /// The content rules, each broken one as a problem.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let topics: BTreeSet<&str> = self.topics.iter().map(|t| t.id.as_str()).collect();
        let facts: BTreeSet<&str> = self.facts.iter().map(|f| f.id.as_str()).collect();
        let labs: BTreeSet<&str> = self.labs.iter().map(|l| l.id.as_str()).collect();
        // Every id (question, lab, live question) once in all the files.
        let mut ids: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
        for (id, f, l) in self
            .questions
            .iter()
            .map(|q| (&q.id, &q.file, q.line))
            .chain(self.labs.iter().map(|q| (&q.id, &q.file, q.line)))
            .chain(self.live.iter().map(|q| (&q.id, &q.file, q.line)))
        {
            ids.entry(id.as_str()).or_default().push((f.as_str(), l));
        }
        let mut push = |file: &str, line: usize, field: &str, message: String| {
            out.push(Problem {
                file: file.to_string(),
                line,
                field: field.to_string(),
                message,
            })
        };
        for (id, at) in &ids {
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                push(
                    at[0].0,
                    at[0].1,
                    "id",
                    format!("{id:?}: use lowercase a-z, 0-9 and '-'"),
                );
            }
            for (f, l) in at.iter().skip(1) {
                push(
                    f,
                    *l,
                    "id",
                    format!("{id:?} is also used at {}:{}", at[0].0, at[0].1),
                );
            }
        }
        let demos: BTreeSet<String> = crate::demos::demos()
            .map(|d| d.into_iter().map(|d| d.id).collect())
            .unwrap_or_default();
        let link_ok = |see: &str| -> bool {
            match see.split_once(':') {
                Some(("lab", id)) => labs.contains(id),
                Some(("demo", id)) => demos.contains(id),
                Some(("recipe", id)) => RECIPES.contains(&id),
                Some(("playground", p)) => matches!(p, "replication" | "memcached" | "cluster"),
                Some(("ref", s)) => REF_SECTIONS.contains(&s),
                _ => false,
            }
        };
        let teaches_ok = |t: &str| -> bool {
            match t.split_once(':') {
                Some(("seed", id)) => facts.contains(id),
                Some(("ref", s)) => REF_SECTIONS.contains(&s),
                _ => false,
            }
        };
        for q in &self.questions {
            let (f, l) = (q.file.as_str(), q.line);
            if !topics.contains(q.topic.as_str()) {
                push(
                    f,
                    l,
                    "topic",
                    format!("{:?} is not in topics.toml", q.topic),
                );
            }
            if !(4..=6).contains(&q.options.len()) {
                push(
                    f,
                    l,
                    "options",
                    format!(
                        "{}: {} options; a question has 4 to 6",
                        q.id,
                        q.options.len()
                    ),
                );
            }
            let correct = q.options.iter().filter(|o| o.correct).count();
            if q.choose == 0 || correct != q.choose {
                push(
                    f,
                    l,
                    "choose",
                    format!(
                        "{}: choose = {} but {correct} options are correct",
                        q.id, q.choose
                    ),
                );
            }
            for (i, o) in q.options.iter().enumerate() {
                if o.why.trim().len() < 10 {
                    push(
                        f,
                        l,
                        "why",
                        format!("{}: option {} needs an explanation", q.id, i + 1),
                    );
                }
                if o.text.trim().is_empty() {
                    push(f, l, "text", format!("{}: option {} is empty", q.id, i + 1));
                }
            }
            let mut texts: Vec<&str> = q.options.iter().map(|o| o.text.trim()).collect();
            texts.sort_unstable();
            if texts.windows(2).any(|w| w[0] == w[1]) {
                push(
                    f,
                    l,
                    "options",
                    format!("{}: two options say the same", q.id),
                );
            }
            if q.teaches.is_empty() {
                push(
                    f,
                    l,
                    "teaches",
                    format!("{}: name the seed fact or reference it teaches", q.id),
                );
            }
            for t in &q.teaches {
                if !teaches_ok(t) {
                    push(
                        f,
                        l,
                        "teaches",
                        format!("{}: {t:?} is not a seed fact or reference section", q.id),
                    );
                }
            }
            if !link_ok(&q.see) {
                push(
                    f,
                    l,
                    "see",
                    format!("{}: {:?} does not resolve", q.id, q.see),
                );
            }
        }
        for lab in &self.labs {
            let (f, l) = (lab.file.as_str(), lab.line);
            if !topics.contains(lab.topic.as_str()) {
                push(
                    f,
                    l,
                    "topic",
                    format!("{:?} is not in topics.toml", lab.topic),
                );
            }
            if !matches!(
                lab.scenario.kind.as_str(),
                "replication" | "memcached" | "cluster"
            ) {
                push(
                    f,
                    l,
                    "scenario.kind",
                    format!(
                        "{}: {:?}: replication, cluster or memcached",
                        lab.id, lab.scenario.kind
                    ),
                );
            }
            if !(1..=10).contains(&lab.scenario.shards) {
                push(
                    f,
                    l,
                    "scenario.shards",
                    format!("{}: 1 to 10 shards", lab.id),
                );
            }
            if lab.scenario.replicas > 5 {
                push(
                    f,
                    l,
                    "scenario.replicas",
                    format!("{}: a shard has at most 5 replicas", lab.id),
                );
            }
            if !(1..=20).contains(&lab.scenario.nodes) {
                push(f, l, "scenario.nodes", format!("{}: 1 to 20 nodes", lab.id));
            }
            for p in &lab.check {
                if let Err(e) = p.test() {
                    push(f, l, "check", format!("{}: {:?}: {e}", lab.id, p.what));
                }
            }
            if lab.check.is_empty() {
                push(
                    f,
                    l,
                    "check",
                    format!("{}: a lab needs at least one predicate", lab.id),
                );
            }
            if lab.hints.is_empty() {
                push(f, l, "hints", format!("{}: give at least one hint", lab.id));
            }
            if lab.solution.is_empty() {
                push(
                    f,
                    l,
                    "solution",
                    format!("{}: a reference solution is required", lab.id),
                );
            }
            for step in lab.solution.iter().chain(&lab.scenario.setup) {
                match crate::steps::Step::parse(step) {
                    Err(e) => push(f, l, "solution", format!("{}: {step:?}: {e}", lab.id)),
                    // The page's labs run on workers, which have none.
                    Ok(crate::steps::Step::Session { .. }) => push(
                        f,
                        l,
                        "solution",
                        format!("{}: {step:?}: a lab cannot keep a connection open (NAME> is for demos)", lab.id),
                    ),
                    Ok(_) => {}
                }
            }
            for t in &lab.teaches {
                if !teaches_ok(t) {
                    push(
                        f,
                        l,
                        "teaches",
                        format!("{}: {t:?} is not a seed fact or reference section", lab.id),
                    );
                }
            }
        }
        for q in &self.live {
            let (f, l) = (q.file.as_str(), q.line);
            if !crate::live::KINDS.contains(&q.ask.as_str()) {
                push(
                    f,
                    l,
                    "ask",
                    format!(
                        "{}: {:?} is not one of {:?}",
                        q.id,
                        q.ask,
                        crate::live::KINDS
                    ),
                );
            }
            if !link_ok(&q.see) {
                push(
                    f,
                    l,
                    "see",
                    format!("{}: {:?} does not resolve", q.id, q.see),
                );
            }
            for t in &q.teaches {
                if !teaches_ok(t) {
                    push(
                        f,
                        l,
                        "teaches",
                        format!("{}: {t:?} is not a seed fact or reference section", q.id),
                    );
                }
            }
        }
        // Every fact of the seed is taught by some question.
        let taught: BTreeSet<&str> = self
            .questions
            .iter()
            .flat_map(|q| q.teaches.iter())
            .filter_map(|t| t.strip_prefix("seed:"))
            .collect();
        for fct in &self.facts {
            if !taught.contains(fct.id.as_str()) {
                push(
                    "seed_facts.toml",
                    0,
                    &fct.id,
                    "no question teaches this fact".into(),
                );
            }
        }
        out
    }

    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    pub fn lab(&self, id: &str) -> Option<&Lab> {
        self.labs.iter().find(|l| l.id == id)
    }

    pub fn topic(&self, id: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.id == id)
    }
}
