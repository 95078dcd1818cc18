//! The page's replication groups: the one it starts with (`demo`) and the
//! groups restored from its backups (CreateReplicationGroup
//! --snapshot-name) or seeded from an uploaded `.rdb` — each a [`Router`]
//! with its own workers, all on the same virtual clock. One is shown at a
//! time (`ROUTER` in `main.rs`); the others keep running, and only the
//! learning mode's own queries hear from them.

use std::cell::RefCell;
use std::rc::Rc;

use cachelab_engine::control::ApiError;
use cachelab_engine::wire::FromWorker;

use crate::router::{Inbox, Router, SharedRouter};

thread_local! {
    /// Every group by name (a group's name never changes, and reading it
    /// here needs no borrow of a router that may be busy).
    static GROUPS: RefCell<Vec<(String, SharedRouter)>> = const { RefCell::new(Vec::new()) };
    /// The name of the group the page shows.
    static CURRENT: RefCell<String> = const { RefCell::new(String::new()) };
    /// The page's inbox: what the shown group's workers report.
    static INBOX: RefCell<Option<Inbox>> = const { RefCell::new(None) };
    /// Called after the shown group changed (the page's clients start afresh).
    static ON_SWITCH: RefCell<Option<Rc<dyn Fn()>>> = const { RefCell::new(None) };
    /// Groups being deleted, waiting for their final backup's file.
    static DELETING: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// What a group's workers report reaches the page only while that group is
/// shown; the learning mode's queries are answered whichever it is.
pub fn gated(group: &str) -> Inbox {
    let group = group.to_string();
    Rc::new(move |slot: usize, msg: FromWorker| {
        if CURRENT.with(|c| *c.borrow() == group) {
            if let Some(inbox) = INBOX.with(|i| i.borrow().clone()) {
                inbox(slot, msg);
            }
            return;
        }
        match msg {
            FromWorker::Reply { conn, bytes } => crate::learn::labs::on_reply(conn, &bytes),
            FromWorker::Closed { conn } => crate::learn::labs::on_closed(conn),
            _ => {}
        }
    })
}

/// Called once by the page: its inbox, what to do when the shown group
/// changes, and the first group's name.
pub fn init(inbox: Inbox, on_switch: Rc<dyn Fn()>, first: &str) {
    INBOX.with(|i| *i.borrow_mut() = Some(inbox));
    ON_SWITCH.with(|o| *o.borrow_mut() = Some(on_switch));
    CURRENT.with(|c| *c.borrow_mut() = first.to_string());
}

pub fn add(r: SharedRouter) {
    let name = r.borrow().control.group.clone();
    GROUPS.with(|g| g.borrow_mut().push((name, r)));
}

/// The first group's name (the one labs run on).
pub fn first() -> String {
    names().into_iter().next().unwrap_or_default()
}

pub fn current() -> String {
    CURRENT.with(|c| c.borrow().clone())
}

/// Every group's name, the first one first.
pub fn names() -> Vec<String> {
    GROUPS.with(|g| g.borrow().iter().map(|(n, _)| n.clone()).collect())
}

fn find(name: &str) -> Option<SharedRouter> {
    GROUPS.with(|g| {
        g.borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
    })
}

/// Runs `f` on group `name` (the shown one for an empty name).
pub fn with_group<R>(name: &str, f: impl FnOnce(&mut Router) -> R) -> Option<R> {
    if name.is_empty() {
        return crate::with_router(f);
    }
    find(name).map(|r| f(&mut r.borrow_mut()))
}

/// The group a node name belongs to (`demo-restored-002` → `demo-restored`).
pub fn group_of_node(node: &str) -> Option<String> {
    GROUPS.with(|g| {
        g.borrow()
            .iter()
            .find(|(_, r)| {
                r.try_borrow()
                    .is_ok_and(|r| r.control.nodes.iter().any(|n| n.name == node))
            })
            .map(|(n, _)| n.clone())
    })
}

/// Shows group `name`; false if there is none.
pub fn switch(name: &str) -> bool {
    let Some(r) = find(name) else {
        return false;
    };
    if current() == name {
        return true;
    }
    CURRENT.with(|c| *c.borrow_mut() = name.to_string());
    crate::set_router(r);
    if let Some(f) = ON_SWITCH.with(|o| o.borrow().clone()) {
        f();
    }
    true
}

/// Advances every group's virtual clock.
pub fn advance_all(ms: u64) {
    let all: Vec<SharedRouter> =
        GROUPS.with(|g| g.borrow().iter().map(|(_, r)| r.clone()).collect());
    for r in all {
        r.borrow_mut().advance(ms);
    }
    let deleting = DELETING.with(|d| d.borrow().clone());
    for name in deleting {
        if with_group(&name, |r| r.control.final_backup_taken()) != Some(false) {
            finish_delete(&name);
        }
    }
}

/// DeleteReplicationGroup on a group the page added (the first one stays:
/// labs and the stored backups live there), with a final backup when
/// named. Its manual and final backups stay with the account (the first
/// group's list); its nodes end once the final backup's file is taken.
pub fn delete(name: &str, final_name: Option<&str>) -> Result<(), ApiError> {
    if name == first() {
        return Err(ApiError {
            code: "InvalidParameterValue".into(),
            message: format!(
                "The playground keeps its first group, {name}: delete the groups restored from backups."
            ),
        });
    }
    if let Some(f) = final_name {
        let taken = with_group(&first(), |r| r.control.backups.get(f).is_some()).unwrap_or(false);
        if taken {
            return Err(ApiError {
                code: "SnapshotAlreadyExistsFault".into(),
                message: format!("Snapshot {f} already exists."),
            });
        }
    }
    with_group(name, |r| {
        let now = r.now;
        let res = r.control.delete_group(now, final_name);
        r.run_pending();
        res
    })
    .ok_or_else(|| ApiError {
        code: "ReplicationGroupNotFoundFault".into(),
        message: format!("Replication group {name} not found."),
    })??;
    DELETING.with(|d| d.borrow_mut().push(name.to_string()));
    Ok(())
}

/// Group `name` is being deleted (its final backup not yet taken).
pub fn is_deleting(name: &str) -> bool {
    DELETING.with(|d| d.borrow().iter().any(|n| n == name))
}

fn finish_delete(name: &str) {
    DELETING.with(|d| d.borrow_mut().retain(|n| n != name));
    let Some(gone) = find(name) else {
        return;
    };
    if current() == name {
        switch(&first());
    }
    let kept: Vec<cachelab_engine::backup::Snapshot> = {
        let mut g = gone.borrow_mut();
        g.shutdown();
        g.control.backups.snapshots.clone()
    };
    GROUPS.with(|g| g.borrow_mut().retain(|(n, _)| n != name));
    with_group(&first(), |r| r.control.adopt_backups(name, kept));
}

/// Ends every group but the first (their workers stop), and shows the
/// first: a lab starts from one group.
pub fn drop_others() {
    let Some(name) = names().into_iter().next() else {
        return;
    };
    switch(&name);
    let others: Vec<(String, SharedRouter)> = GROUPS.with(|g| g.borrow_mut().drain(1..).collect());
    for (_, r) in others {
        r.borrow_mut().shutdown();
    }
}

fn refuse_existing(name: &str) -> Result<(), ApiError> {
    if find(name).is_some() {
        return Err(ApiError {
            code: "ReplicationGroupAlreadyExists".into(),
            message: format!("Replication group {name} already exists."),
        });
    }
    if !valid_group_name(name) {
        return Err(ApiError {
            code: "InvalidParameterValue".into(),
            message: format!("Invalid replication group id {name:?}: 1-40 letters, digits or hyphens, starting with a letter, no two consecutive hyphens, not ending with a hyphen."),
        });
    }
    Ok(())
}

/// ElastiCache's replication group id: 1–40 characters, a letter first,
/// letters, digits and single hyphens, not ending in a hyphen.
fn valid_group_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !name.contains("--")
        && !name.ends_with('-')
}

/// CreateReplicationGroup --snapshot-name: a NEW group `new_group`, the
/// shown group's size and Multi-AZ, seeded from backup `backup` of the
/// shown group (which is untouched). The new group is not shown yet.
pub fn restore(backup: &str, new_group: &str) -> Result<(), ApiError> {
    refuse_existing(new_group)?;
    let (rdb, azs, multi_az, now) = crate::with_router(|r| {
        let now = r.now;
        let rdb = r.control.restore(now, backup, new_group);
        r.run_pending();
        let azs: Vec<String> = r
            .control
            .nodes
            .iter()
            .filter(|n| n.status != cachelab_engine::control::NodeStatus::Deleted)
            .map(|n| n.az.clone())
            .take(3)
            .collect();
        (rdb, azs, r.control.multi_az, now)
    })
    .ok_or_else(|| ApiError {
        code: "ReplicationGroupNotFoundFault".into(),
        message: "No replication group.".into(),
    })?;
    let rdb = rdb?;
    let azs: Vec<&str> = azs.iter().map(String::as_str).collect();
    let r = Router::spawn_group(new_group, &azs, multi_az, now, gated(new_group), Some(rdb));
    r.borrow_mut().control.note(format!(
        "Replication group {new_group} restored from snapshot {backup}"
    ));
    add(r);
    Ok(())
}

/// A new single-AZ-per-node group seeded from an uploaded `.rdb` file
/// (a dump made by redis-server, or a downloaded backup).
pub fn seed(new_group: &str, rdb: Vec<u8>, replicas: usize) -> Result<(), ApiError> {
    refuse_existing(new_group)?;
    let now = crate::with_router(|r| r.now).unwrap_or(crate::EPOCH);
    let azs: Vec<&str> = (0..=replicas.min(2)).map(|i| crate::AZS[i % 3]).collect();
    add(Router::spawn_group(
        new_group,
        &azs,
        replicas > 0,
        now,
        gated(new_group),
        Some(rdb),
    ));
    Ok(())
}
