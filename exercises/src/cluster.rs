//! "A live cluster I can query and control": the one trait the checker
//! grades through, implemented by the simulator (tests, `cargo xtask
//! exercises`), the page's router (learners) and a real server over RESP
//! (`--target redis://HOST:PORT`).
//!
//! Queries are asked and their answers polled, so a runtime whose nodes
//! answer later (the page's Web Workers) implements it as naturally as one
//! that answers at once.

use cachelab_engine::protocol::Reply;
use serde::{Deserialize, Serialize};

use crate::steps::Action;

/// A question put to the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// A Redis command through `via`: `primary`, `reader`, or a node name.
    Redis { via: String, argv: Vec<Vec<u8>> },
    /// A memcached text command to a node (`0002`) or through the
    /// application's client (`client`). Storage commands give the value in
    /// place of the byte count: `set k 0 300 hello`.
    Memcached { node: String, line: String },
}

/// One node as the control plane sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    pub name: String,
    /// primary, replica (replication groups); node (Memcached).
    pub role: String,
    /// available, creating, failed, rebooting cache cluster nodes, deleted.
    pub status: String,
    pub az: String,
}

/// One backup as DescribeSnapshots shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackupState {
    pub name: String,
    /// automatic, manual, final.
    pub kind: String,
    /// creating, available, failed.
    pub status: String,
    /// The node it was taken from, and its role then (replica, primary).
    pub node: String,
    pub source_role: String,
    /// The .rdb file's size in bytes.
    pub size: usize,
}

/// One shard (node group) of a cluster-mode group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardState {
    /// "0001".
    pub id: String,
    /// Its primary's node name, as the cluster last said.
    pub primary: Option<String>,
    pub nodes: Vec<String>,
    /// Hash slots it serves, as the control plane placed them.
    pub slots: usize,
}

/// What the control plane shows: nodes, endpoints, events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// "replication" or "memcached".
    pub kind: String,
    pub nodes: Vec<NodeState>,
    /// The node the primary endpoint resolves to.
    pub primary: Option<String>,
    /// The nodes the reader endpoint spreads over.
    pub readers: Vec<String>,
    pub multi_az: bool,
    /// The event log, oldest first, as DescribeEvents words it.
    pub events: Vec<String>,
    /// A Memcached cluster's configuration version.
    pub config_version: u64,
    pub backups: Vec<BackupState>,
    /// The backup window (`hh24:mi-hh24:mi`, UTC) and retention in days.
    pub backup_window: String,
    pub backup_retention: u32,
    /// The objects in the bucket exports go to.
    pub bucket: Vec<String>,
    /// Groups restored from backups, by name.
    pub groups: Vec<String>,
    /// A cluster-mode group's shards, its status (available, modifying)
    /// and configuration endpoint.
    pub shards: Vec<ShardState>,
    pub status: String,
    pub configuration_endpoint: String,
}

impl ClusterView {
    /// What a replication group's control plane shows (the simulator's and
    /// the page's alike).
    pub fn of_group(c: &cachelab_engine::control::Control) -> ClusterView {
        use cachelab_engine::control::{NodeStatus, Role};
        let name_of = |addr: &String| {
            c.nodes
                .iter()
                .find(|n| &n.addr == addr)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| addr.clone())
        };
        ClusterView {
            kind: "replication".into(),
            nodes: c
                .nodes
                .iter()
                .filter(|n| n.status != NodeStatus::Deleted)
                .map(|n| NodeState {
                    name: n.name.clone(),
                    role: match n.role {
                        Role::Primary => "primary".into(),
                        Role::Replica => "replica".into(),
                    },
                    status: n.status.word().into(),
                    az: n.az.clone(),
                })
                .collect(),
            primary: c.dns.primary.as_ref().map(name_of),
            readers: c.dns.readers.iter().map(name_of).collect(),
            multi_az: c.multi_az,
            events: c.events.iter().map(|e| e.message.clone()).collect(),
            config_version: 0,
            backups: c
                .backups
                .snapshots
                .iter()
                .map(|s| {
                    use cachelab_engine::backup::{Kind, Status};
                    BackupState {
                        name: s.name.clone(),
                        kind: match s.kind {
                            Kind::Automatic => "automatic",
                            Kind::Manual => "manual",
                            Kind::Final => "final",
                        }
                        .into(),
                        status: match s.status {
                            Status::Creating => "creating",
                            Status::Available => "available",
                            Status::Failed => "failed",
                        }
                        .into(),
                        node: s.node.clone(),
                        source_role: s.source_role.clone(),
                        size: s.rdb.len(),
                    }
                })
                .collect(),
            backup_window: c.backups.policy.window(),
            backup_retention: c.backups.policy.retention_days,
            bucket: c.backups.bucket.keys().cloned().collect(),
            groups: Vec::new(),
            shards: Vec::new(),
            status: String::new(),
            configuration_endpoint: String::new(),
        }
    }

    /// What a Memcached cluster's control plane shows (the simulator's and
    /// the page's alike).
    pub fn of_memcached(c: &cachelab_engine::memcached::control::McControl) -> ClusterView {
        use cachelab_engine::memcached::control::McNodeState;
        ClusterView {
            kind: "memcached".into(),
            nodes: c
                .nodes
                .iter()
                .filter(|n| n.state != McNodeState::Removed)
                .map(|n| NodeState {
                    name: n.id.clone(),
                    role: "node".into(),
                    status: match n.state {
                        McNodeState::Available => "available".into(),
                        _ => "failed".into(),
                    },
                    az: n.az.clone(),
                })
                .collect(),
            primary: None,
            readers: Vec::new(),
            multi_az: false,
            events: c.events.iter().map(|(_, e)| e.clone()).collect(),
            config_version: c.config.version,
            ..ClusterView::default()
        }
    }

    /// What a cluster-mode group's control plane shows (the simulator's
    /// and, once it runs CME, the page's).
    pub fn of_cme(c: &cachelab_engine::control::cme::Cme) -> ClusterView {
        let shards = c
            .shards()
            .into_iter()
            .map(|s| ShardState {
                id: format!("{:04}", s + 1),
                primary: c.primary_of(s).map(|i| c.nodes[i].name.clone()),
                nodes: c
                    .nodes
                    .iter()
                    .filter(|n| n.shard == s)
                    .map(|n| n.name.clone())
                    .collect(),
                slots: c.slots_of(s).len(),
            })
            .collect();
        ClusterView {
            kind: "cluster".into(),
            nodes: c
                .nodes
                .iter()
                .map(|n| NodeState {
                    name: n.name.clone(),
                    role: if n.primary { "primary" } else { "replica" }.into(),
                    status: if n.failed { "failed" } else { "available" }.into(),
                    az: n.az.clone(),
                })
                .collect(),
            multi_az: true,
            events: c.events.iter().map(|(_, e)| e.clone()).collect(),
            shards,
            status: c.status.into(),
            configuration_endpoint: c.configuration_endpoint(),
            ..ClusterView::default()
        }
    }

    /// A node's name from a step's argument: `primary` is whichever node
    /// the primary endpoint resolves to now.
    pub fn node_name(&self, arg: &str) -> Option<String> {
        if arg == "primary" {
            return self.primary.clone();
        }
        self.nodes
            .iter()
            .find(|n| n.name == arg)
            .map(|n| n.name.clone())
    }
}

pub type Ticket = usize;

pub trait Cluster {
    /// Puts a query; its answer comes from [`Cluster::answer`].
    fn ask(&mut self, q: &Query) -> Ticket;
    /// The answer to a query, once it has come: the reply as the console
    /// prints it (see [`reply_text`]), or why there is none.
    fn answer(&mut self, t: Ticket) -> Option<Result<String, String>>;
    fn view(&mut self) -> ClusterView;
    /// Carries out an action (`Err` where the runtime cannot: a real
    /// server has no control plane).
    fn act(&mut self, a: &Action) -> Result<(), String>;
    /// Whether actions and the control plane's view exist here.
    fn has_control(&self) -> bool {
        true
    }
    /// A command on the client connection `name`, which stays open (a
    /// subscriber), opened through `via` on first use; what has arrived
    /// on it since the last look, as redis-cli prints it. With no `argv`,
    /// only that. Runtimes without such connections refuse.
    fn session(&mut self, name: &str, via: &str, argv: &[Vec<u8>]) -> Result<String, String> {
        let _ = (name, via, argv);
        Err(
            "a connection that stays open (NAME> …) exists in the demos on the simulator only"
                .into(),
        )
    }
}

/// A reply as the text a check compares: a string's bytes, an integer's
/// digits, `(nil)`, `(error) <words>`, an array's elements one per line.
pub fn reply_text(r: &Reply) -> String {
    match r {
        Reply::Simple(s) | Reply::BigNumber(s) | Reply::DoubleText(s) => s.clone(),
        Reply::Error(e) => format!("(error) {e}"),
        Reply::Int(n) => n.to_string(),
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Nil | Reply::NilArray => "(nil)".into(),
        Reply::Double(d) => d.to_string(),
        Reply::Bool(b) => (*b as i32).to_string(),
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Seq(v) => {
            v.iter().map(reply_text).collect::<Vec<_>>().join("\n")
        }
        Reply::Map(m) => m
            .iter()
            .map(|(k, v)| format!("{}\n{}", reply_text(k), reply_text(v)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// One field of an INFO reply's text.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// Asks and waits: for runtimes that answer at once (the simulator, a
/// real server); `None` if the answer does not come.
pub fn ask_now(c: &mut dyn Cluster, q: &Query) -> Result<String, String> {
    let t = c.ask(q);
    c.answer(t)
        .unwrap_or_else(|| Err("no answer (the node did not reply)".into()))
}
