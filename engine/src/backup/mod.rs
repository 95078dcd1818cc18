//! ElastiCache's backups of a replication group, on virtual time: automatic
//! daily backups in the backup window, deleted past their retention (0–35
//! days; 0 turns them off), manual backups kept until deleted (at most 20
//! per node in 24 hours), each taken from a read replica when one is
//! available (the primary otherwise, and always for the final backup of a
//! deleted group), copies, exports to a bucket, and restores — which always
//! seed a NEW group. Sans-IO: the file itself comes from the chosen node; the
//! runtime carries out [`BackupAction::Snapshot`] and reports it with
//! [`Backups::snapshot_done`]. Memcached clusters have none of this
//! ([`memcached_refusal`]).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::control::ApiError;
use crate::time::Millis;

pub const DAY_MS: u64 = 86_400_000;
const MINUTE_MS: u64 = 60_000;
/// Manual backups allowed per node in a rolling 24 hours.
pub const MANUAL_PER_NODE_PER_DAY: usize = 20;

fn err(code: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        code: code.into(),
        message: message.into(),
    }
}

/// What every backup API answers for a Memcached cluster.
pub fn memcached_refusal() -> ApiError {
    err(
        "InvalidParameterCombination",
        "Backup and restore are not supported for the Memcached engine.",
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Automatic,
    Manual,
    /// Taken when the group was deleted; kept like a manual one.
    Final,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Creating,
    Available,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub name: String,
    pub group: String,
    pub kind: Kind,
    pub status: Status,
    /// The node it was taken from.
    pub node: String,
    /// The node's role when the backup started: "replica" or "primary".
    pub source_role: String,
    pub created: Millis,
    /// The RDB file: the node's data at the moment of the fork (empty
    /// until the node has produced it).
    pub rdb: Vec<u8>,
    /// When the file finishes its copy to the bucket (S3) and the backup
    /// becomes available; `None` until the node has produced the file.
    pub ready_at: Option<Millis>,
}

impl Snapshot {
    /// How far a backup being created has come, 0.0–1.0.
    pub fn progress(&self, now: Millis) -> f64 {
        match (self.status, self.ready_at) {
            (Status::Available, _) => 1.0,
            (Status::Creating, Some(end)) => {
                let total = end.0.saturating_sub(self.created.0).max(1);
                (now.0.saturating_sub(self.created.0) as f64 / total as f64).min(0.99)
            }
            _ => 0.0,
        }
    }
}

/// How long a finished file takes to reach the bucket: a fixed start (the
/// fork, the upload's setup) and 10 MB/s.
pub fn transfer_ms(bytes: usize) -> u64 {
    15_000 + bytes as u64 / 10_000
}

/// A node as the backup service sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub addr: String,
    pub primary: bool,
    /// Serving: running, and a replica in sync (where a backup is taken).
    pub available: bool,
    /// Its process runs (a replica that lost its primary still does, and
    /// a backup it forked carries on).
    pub running: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupAction {
    /// Take node `addr`'s RDB now for backup `name`.
    Snapshot { name: String, addr: String },
}

/// The backup window and retention (ModifyReplicationGroup
/// --snapshot-window, --snapshot-retention-limit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Minutes after midnight UTC the window starts.
    pub window_start: u32,
    /// The window's length in minutes (at least 60).
    pub window_len: u32,
    pub retention_days: u32,
}

impl Default for Policy {
    /// A window ElastiCache assigns when none is given (here 05:00–06:00
    /// UTC) and one day of retention.
    fn default() -> Policy {
        Policy {
            window_start: 5 * 60,
            window_len: 60,
            retention_days: 1,
        }
    }
}

impl Policy {
    /// `hh24:mi-hh24:mi` (at least 60 minutes) and 0–35 days, refused in
    /// AWS's words otherwise.
    pub fn parse(window: &str, retention_days: u32) -> Result<Policy, ApiError> {
        if retention_days > 35 {
            return Err(err(
                "InvalidParameterValue",
                "The snapshot retention limit must be between 0 and 35 days.",
            ));
        }
        let bad = || {
            err(
                "InvalidParameterValue",
                format!(
                    "Invalid snapshot window {window:?}: use hh24:mi-hh24:mi, at least 60 minutes."
                ),
            )
        };
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        let (a, b) = window.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        let len = (end + 24 * 60 - start) % (24 * 60);
        if len < 60 {
            return Err(bad());
        }
        Ok(Policy {
            window_start: start,
            window_len: len,
            retention_days,
        })
    }

    /// `hh24:mi-hh24:mi`, as DescribeReplicationGroups shows the window.
    pub fn window(&self) -> String {
        let end = (self.window_start + self.window_len) % (24 * 60);
        format!(
            "{:02}:{:02}-{:02}:{:02}",
            self.window_start / 60,
            self.window_start % 60,
            end / 60,
            end % 60
        )
    }

    fn in_window(&self, now: Millis) -> bool {
        let minute = ((now.0 % DAY_MS) / MINUTE_MS) as u32;
        (minute + 24 * 60 - self.window_start) % (24 * 60) < self.window_len
    }
}

/// Year, month, day of a count of days since 1970-01-01 (Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-12-06`: the UTC date of a moment.
pub fn date(t: Millis) -> String {
    let (y, m, d) = civil((t.0 / DAY_MS) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-12-06-05-00`, as ElastiCache names automatic backups and files.
pub fn stamp(t: Millis) -> String {
    let (y, m, d) = civil((t.0 / DAY_MS) as i64);
    let minute = (t.0 % DAY_MS) / MINUTE_MS;
    format!("{y:04}-{m:02}-{d:02}-{:02}-{:02}", minute / 60, minute % 60)
}

/// A backup name as CreateSnapshot accepts it: a letter first, then
/// letters, digits and single hyphens, not ending in a hyphen, 1–255.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
        && !name.contains("--")
        && !name.ends_with('-')
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backups {
    pub group: String,
    pub policy: Policy,
    pub snapshots: Vec<Snapshot>,
    /// Objects exported to the bucket, by object name.
    pub bucket: BTreeMap<String, Vec<u8>>,
    pub events: Vec<(Millis, String)>,
    /// Manual backups taken, per node, for the 24-hour limit.
    manual_log: Vec<(String, Millis)>,
    /// The day (since the epoch) of the last automatic backup.
    last_auto_day: Option<u64>,
    actions: VecDeque<BackupAction>,
}

impl Backups {
    pub fn new(group: &str, policy: Policy) -> Backups {
        Backups {
            group: group.into(),
            policy,
            snapshots: Vec::new(),
            bucket: BTreeMap::new(),
            events: Vec::new(),
            manual_log: Vec::new(),
            last_auto_day: None,
            actions: VecDeque::new(),
        }
    }

    pub fn poll_action(&mut self) -> Option<BackupAction> {
        self.actions.pop_front()
    }

    pub fn get(&self, name: &str) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.name == name)
    }

    fn event(&mut self, now: Millis, message: String) {
        self.events.push((now, message));
    }

    /// A read replica when one is available (the recommended source), the
    /// primary otherwise.
    fn source(nodes: &[NodeInfo], primary_only: bool) -> Option<&NodeInfo> {
        let primary = nodes.iter().find(|n| n.primary && n.available);
        if primary_only {
            return primary;
        }
        nodes.iter().find(|n| !n.primary && n.available).or(primary)
    }

    fn start(&mut self, now: Millis, name: String, kind: Kind, node: &NodeInfo) {
        self.actions.push_back(BackupAction::Snapshot {
            name: name.clone(),
            addr: node.addr.clone(),
        });
        self.event(
            now,
            format!(
                "Backup {name} of replication group {} started from node {}",
                self.group, node.name
            ),
        );
        self.snapshots.push(Snapshot {
            name,
            group: self.group.clone(),
            kind,
            status: Status::Creating,
            node: node.name.clone(),
            source_role: if node.primary { "primary" } else { "replica" }.into(),
            created: now,
            rdb: Vec::new(),
            ready_at: None,
        });
    }

    /// A name a new backup may take: valid, and not taken.
    fn fresh_name(&self, name: &str) -> Result<(), ApiError> {
        if !valid_name(name) {
            return Err(err(
                "InvalidParameterValue",
                format!("Invalid snapshot name {name:?}: it must begin with a letter, contain only letters, digits and hyphens, and not end with a hyphen or contain two consecutive hyphens."),
            ));
        }
        if self.get(name).is_some() {
            return Err(err(
                "SnapshotAlreadyExistsFault",
                format!("Snapshot {name} already exists."),
            ));
        }
        Ok(())
    }

    /// CreateSnapshot.
    pub fn create_manual(
        &mut self,
        now: Millis,
        name: &str,
        nodes: &[NodeInfo],
    ) -> Result<(), ApiError> {
        self.fresh_name(name)?;
        let node = Self::source(nodes, false)
            .ok_or_else(|| {
                err(
                    "InvalidReplicationGroupState",
                    format!(
                        "Replication group {} has no available node to back up.",
                        self.group
                    ),
                )
            })?
            .clone();
        self.manual_log
            .retain(|(_, t)| now.0.saturating_sub(t.0) < DAY_MS);
        let taken = self
            .manual_log
            .iter()
            .filter(|(n, _)| *n == node.name)
            .count();
        if taken >= MANUAL_PER_NODE_PER_DAY {
            return Err(err(
                "SnapshotQuotaExceededFault",
                format!("Node {} already has {MANUAL_PER_NODE_PER_DAY} manual snapshots in the last 24 hours.", node.name),
            ));
        }
        self.manual_log.push((node.name.clone(), now));
        self.start(now, name.to_string(), Kind::Manual, &node);
        Ok(())
    }

    /// The runtime took (or failed to take) the file of backup `name`: the
    /// node's data at this moment. The backup becomes available once the
    /// file has reached the bucket ([`transfer_ms`]), if its node lasts.
    pub fn snapshot_done(&mut self, now: Millis, name: &str, rdb: Result<Vec<u8>, String>) {
        let Some(s) = self.snapshots.iter_mut().find(|s| s.name == name) else {
            return;
        };
        match rdb {
            Ok(bytes) => {
                s.ready_at = Some(now.plus(transfer_ms(bytes.len())));
                s.rdb = bytes;
            }
            Err(why) => {
                s.status = Status::Failed;
                let msg = format!(
                    "Backup of replication group {} failed for snapshot {name}: {why}",
                    s.group
                );
                self.event(now, msg);
            }
        }
    }

    /// Backups whose file has reached the bucket become available; those
    /// whose node was lost before that fail (a snapshot is never half
    /// there).
    fn settle(&mut self, now: Millis, nodes: &[NodeInfo]) {
        let mut done = Vec::new();
        for s in &mut self.snapshots {
            if s.status != Status::Creating {
                continue;
            }
            // A backup of a deleted group (its final one, kept by the
            // account) no longer depends on that group's nodes.
            let alive =
                s.group != self.group || nodes.iter().any(|n| n.name == s.node && n.running);
            if !alive {
                s.status = Status::Failed;
                s.rdb.clear();
                done.push(format!(
                    "Backup of replication group {} failed for snapshot {}: node {} was lost while the backup was being taken",
                    s.group, s.name, s.node
                ));
            } else if s.ready_at.is_some_and(|t| now >= t) {
                s.status = Status::Available;
                done.push(format!(
                    "Backup of replication group {} succeeded for snapshot {}",
                    s.group, s.name
                ));
            }
        }
        for msg in done {
            self.event(now, msg);
        }
    }

    /// The next moment [`Backups::tick`] has something to do: a transfer
    /// ending, an automatic backup expiring, the next window opening.
    pub fn next_due(&self, now: Millis) -> Millis {
        let keep = self.policy.retention_days as u64 * DAY_MS;
        let window = {
            let minute = (now.0 % DAY_MS) / MINUTE_MS;
            let ahead = (self.policy.window_start as u64 + 24 * 60 - minute) % (24 * 60);
            let ahead = if ahead == 0 { 24 * 60 } else { ahead };
            Millis((now.0 / MINUTE_MS + ahead) * MINUTE_MS)
        };
        self.snapshots
            .iter()
            .filter_map(|s| match (s.status, s.kind) {
                (Status::Creating, _) => s.ready_at,
                (_, Kind::Automatic) => Some(s.created.plus(keep)),
                _ => None,
            })
            .chain([window])
            .min()
            .unwrap_or(window)
            .max(now)
    }

    /// The daily automatic backup in the window, and automatic backups
    /// past their retention deleted.
    pub fn tick(&mut self, now: Millis, nodes: &[NodeInfo]) {
        self.settle(now, nodes);
        let keep = self.policy.retention_days as u64 * DAY_MS;
        let expired: Vec<String> = self
            .snapshots
            .iter()
            .filter(|s| s.kind == Kind::Automatic && now.0.saturating_sub(s.created.0) >= keep)
            .map(|s| s.name.clone())
            .collect();
        for name in expired {
            self.snapshots.retain(|s| s.name != name);
            self.event(
                now,
                format!(
                    "Automatic backup {name} deleted: past its retention of {} days",
                    self.policy.retention_days
                ),
            );
        }
        if self.policy.retention_days == 0 || !self.policy.in_window(now) {
            return;
        }
        let day = self.window_day(now);
        if self.last_auto_day == Some(day) {
            return;
        }
        let Some(node) = Self::source(nodes, false).cloned() else {
            return;
        };
        self.last_auto_day = Some(day);
        let name = format!("automatic.{}-{}", self.group, stamp(now));
        self.start(now, name, Kind::Automatic, &node);
    }

    /// The day of the window open at `t` (a window that crosses midnight
    /// belongs to the day it started).
    fn window_day(&self, t: Millis) -> u64 {
        (t.0 - ((t.0 % DAY_MS) / MINUTE_MS + 24 * 60 - self.policy.window_start as u64) % (24 * 60)
            * MINUTE_MS)
            / DAY_MS
    }

    /// A backup kept elsewhere comes (back) into this list — the stored
    /// account's after a reload, a deleted group's — unless one of its name
    /// is here. An automatic one counts as its window's backup: the window
    /// does not take a second one that day.
    pub fn keep(&mut self, s: Snapshot) {
        if self.get(&s.name).is_some() {
            return;
        }
        if s.kind == Kind::Automatic && s.group == self.group {
            let day = self.window_day(s.created);
            self.last_auto_day = Some(self.last_auto_day.map_or(day, |d| d.max(day)));
        }
        self.snapshots.push(s);
    }

    /// DeleteSnapshot.
    pub fn delete(&mut self, now: Millis, name: &str) -> Result<(), ApiError> {
        let Some(s) = self.get(name) else {
            return Err(err(
                "SnapshotNotFoundFault",
                format!("Snapshot {name} not found."),
            ));
        };
        if s.status == Status::Creating {
            return Err(err(
                "InvalidSnapshotState",
                format!("Snapshot {name} is being created."),
            ));
        }
        self.snapshots.retain(|s| s.name != name);
        self.event(now, format!("Snapshot {name} deleted"));
        Ok(())
    }

    /// DeleteReplicationGroup: automatic backups go with the group; a final
    /// backup (from the primary) is taken first when named.
    pub fn delete_group(
        &mut self,
        now: Millis,
        final_name: Option<&str>,
        nodes: &[NodeInfo],
    ) -> Result<(), ApiError> {
        if let Some(name) = final_name {
            if self.get(name).is_some() {
                return Err(err(
                    "SnapshotAlreadyExistsFault",
                    format!("Snapshot {name} already exists."),
                ));
            }
            let node = Self::source(nodes, true)
                .ok_or_else(|| {
                    err(
                        "InvalidReplicationGroupState",
                        "The primary is not available for a final backup.",
                    )
                })?
                .clone();
            self.start(now, name.to_string(), Kind::Final, &node);
        }
        self.snapshots.retain(|s| s.kind != Kind::Automatic);
        Ok(())
    }

    /// CopySnapshot: a manual copy (an automatic backup copied is kept).
    pub fn copy(&mut self, now: Millis, source: &str, target: &str) -> Result<(), ApiError> {
        let s = self
            .get(source)
            .filter(|s| s.status == Status::Available)
            .ok_or_else(|| {
                err(
                    "SnapshotNotFoundFault",
                    format!("Snapshot {source} not found."),
                )
            })?
            .clone();
        self.fresh_name(target)?;
        self.snapshots.push(Snapshot {
            name: target.to_string(),
            kind: Kind::Manual,
            created: now,
            ..s
        });
        self.event(now, format!("Snapshot {source} copied to {target}"));
        Ok(())
    }

    /// CopySnapshot to a bucket: the .rdb object `{name}-0001.rdb`.
    pub fn export(&mut self, now: Millis, name: &str) -> Result<String, ApiError> {
        let s = self
            .get(name)
            .filter(|s| s.status == Status::Available)
            .ok_or_else(|| {
                err(
                    "SnapshotNotFoundFault",
                    format!("Snapshot {name} not found."),
                )
            })?;
        let object = format!("{}-0001.rdb", name.trim_start_matches("automatic."));
        let rdb = s.rdb.clone();
        self.bucket.insert(object.clone(), rdb);
        self.event(
            now,
            format!("Snapshot {name} exported to the bucket as {object}"),
        );
        Ok(object)
    }

    /// CreateReplicationGroup --snapshot-name: the file a NEW group is
    /// seeded from (a restore never touches an existing group).
    pub fn restore(
        &mut self,
        now: Millis,
        name: &str,
        new_group: &str,
    ) -> Result<Vec<u8>, ApiError> {
        if new_group == self.group {
            return Err(err(
                "ReplicationGroupAlreadyExists",
                format!("Replication group {new_group} already exists."),
            ));
        }
        let s = self
            .get(name)
            .filter(|s| s.status == Status::Available)
            .ok_or_else(|| {
                err(
                    "SnapshotNotFoundFault",
                    format!("Snapshot {name} not found."),
                )
            })?;
        let rdb = s.rdb.clone();
        self.event(
            now,
            format!(
                "Restore from snapshot {name} into new replication group {new_group} completed"
            ),
        );
        Ok(rdb)
    }
}

#[cfg(test)]
mod tests;
