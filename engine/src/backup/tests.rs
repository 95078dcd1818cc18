//! Backups on virtual days: the window, retention, the 20-per-node limit,
//! replica first, final backups, restore into a new group — and, on the
//! simulator, a restored group holding exactly the data of the moment.

use super::*;
use crate::control::Settings;
use crate::sim::Sim;

fn nodes() -> Vec<NodeInfo> {
    vec![
        NodeInfo {
            name: "demo-001".into(),
            addr: "a:6379".into(),
            primary: true,
            available: true,
        },
        NodeInfo {
            name: "demo-002".into(),
            addr: "b:6379".into(),
            primary: false,
            available: true,
        },
    ]
}

/// Runs the actions with a fake file (the node's name).
fn finish(b: &mut Backups, now: Millis) {
    while let Some(BackupAction::Snapshot { name, addr }) = b.poll_action() {
        b.snapshot_done(now, &name, Ok(addr.into_bytes()));
    }
}

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;

#[test]
fn automatic_backups_come_in_the_window_and_go_after_retention() {
    let policy = Policy::parse("03:00-04:00", 2).unwrap();
    let mut b = Backups::new("demo", policy);
    let n = nodes();
    // Every 10 virtual minutes for five days.
    let mut t = 0;
    while t < 5 * DAY_MS {
        b.tick(Millis(t), &n);
        finish(&mut b, Millis(t));
        let autos: Vec<&Snapshot> = b
            .snapshots
            .iter()
            .filter(|s| s.kind == Kind::Automatic)
            .collect();
        // Taken once a day, at the window's start, from the replica.
        for s in &autos {
            assert_eq!(s.created.0 % DAY_MS, 3 * HOUR, "{}", s.name);
            assert_eq!(s.node, "demo-002");
        }
        // Never more than the retention's days of them.
        assert!(autos.len() <= 2, "{} at {t}", autos.len());
        t += 10 * MIN;
    }
    let names: Vec<&str> = b.snapshots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "automatic.demo-1970-01-04-03-00",
            "automatic.demo-1970-01-05-03-00"
        ]
    );
    assert!(b
        .events
        .iter()
        .any(|(_, e)| e.contains("past its retention of 2 days")));
    // Retention 0 turns them off.
    b.policy = Policy::parse("03:00-04:00", 0).unwrap();
    b.tick(Millis(5 * DAY_MS + 3 * HOUR), &n);
    assert!(b.poll_action().is_none());
    assert!(b.snapshots.is_empty(), "retention 0 keeps none");
    // A window across midnight.
    let p = Policy::parse("23:30-00:30", 1).unwrap();
    assert!(p.in_window(Millis(DAY_MS - 10 * MIN)) && p.in_window(Millis(DAY_MS + 10 * MIN)));
    assert!(!p.in_window(Millis(DAY_MS + 40 * MIN)));
}

#[test]
fn manual_backups_limits_and_errors_in_aws_words() {
    let mut b = Backups::new("demo", Policy::default());
    let n = nodes();
    for i in 0..20 {
        b.create_manual(Millis(i * MIN), &format!("nightly-{i}"), &n)
            .unwrap();
    }
    let e = b
        .create_manual(Millis(21 * MIN), "one-more", &n)
        .unwrap_err();
    assert_eq!(e.code, "SnapshotQuotaExceededFault");
    // 24 hours after the first, a slot is free again.
    b.create_manual(Millis(DAY_MS + MIN), "one-more", &n)
        .unwrap();
    finish(&mut b, Millis(DAY_MS + MIN));
    assert_eq!(
        b.create_manual(Millis(DAY_MS + 2 * MIN), "one-more", &n)
            .unwrap_err()
            .code,
        "SnapshotAlreadyExistsFault"
    );
    assert_eq!(
        b.create_manual(Millis(0), "1bad", &n).unwrap_err().code,
        "InvalidParameterValue"
    );
    assert_eq!(
        b.create_manual(Millis(0), "bad--name", &n)
            .unwrap_err()
            .code,
        "InvalidParameterValue"
    );
    assert_eq!(
        b.delete(Millis(0), "nope").unwrap_err().code,
        "SnapshotNotFoundFault"
    );
    assert_eq!(
        Policy::parse("03:00-03:30", 1).unwrap_err().code,
        "InvalidParameterValue"
    );
    assert_eq!(
        Policy::parse("03:00-04:00", 36).unwrap_err().code,
        "InvalidParameterValue"
    );
    assert_eq!(memcached_refusal().code, "InvalidParameterCombination");
    // Manual backups are kept until deleted, whatever the retention.
    let mut t = DAY_MS;
    while t < 40 * DAY_MS {
        b.tick(Millis(t), &n);
        finish(&mut b, Millis(t));
        t += HOUR;
    }
    assert!(b.get("nightly-0").is_some());
    b.delete(Millis(t), "nightly-0").unwrap();
    assert!(b.get("nightly-0").is_none());
    // Without a replica, the primary is backed up.
    let only_primary = &n[..1];
    b.create_manual(Millis(t), "from-primary", only_primary)
        .unwrap();
    assert_eq!(b.get("from-primary").unwrap().node, "demo-001");
}

#[test]
fn deleting_the_group_keeps_manual_and_final_backups() {
    let mut b = Backups::new("demo", Policy::parse("00:00-01:00", 7).unwrap());
    let n = nodes();
    b.tick(Millis(10 * MIN), &n);
    b.create_manual(Millis(20 * MIN), "keep-me", &n).unwrap();
    finish(&mut b, Millis(20 * MIN));
    b.delete_group(Millis(HOUR), Some("demo-final"), &n)
        .unwrap();
    finish(&mut b, Millis(HOUR));
    let kinds: Vec<(&str, Kind)> = b
        .snapshots
        .iter()
        .map(|s| (s.name.as_str(), s.kind))
        .collect();
    assert_eq!(
        kinds,
        [("keep-me", Kind::Manual), ("demo-final", Kind::Final)]
    );
    // The final backup comes from the primary.
    assert_eq!(b.get("demo-final").unwrap().node, "demo-001");
    // Copies and exports.
    b.copy(Millis(HOUR), "keep-me", "keep-me-copy").unwrap();
    let object = b.export(Millis(HOUR), "keep-me-copy").unwrap();
    assert_eq!(object, "keep-me-copy-0001.rdb");
    assert_eq!(b.bucket[&object], b"b:6379");
    // A restore seeds a new group, never the same one.
    assert_eq!(
        b.restore(Millis(HOUR), "keep-me", "demo").unwrap_err().code,
        "ReplicationGroupAlreadyExists"
    );
    assert_eq!(
        b.restore(Millis(HOUR), "keep-me", "demo-restored").unwrap(),
        b"b:6379"
    );
}

#[test]
fn a_restored_group_holds_the_data_of_the_snapshot_moment() {
    let mut sim = Sim::new(3, &["us-east-1a", "us-east-1b"], true, Settings::default());
    sim.run_until(Millis(30_000));
    assert!(sim.control.healthy());
    let put = |sim: &mut Sim, k: &str, v: &str| {
        let argv = vec![
            b"SET".to_vec(),
            k.as_bytes().to_vec(),
            v.as_bytes().to_vec(),
        ];
        let ep = sim.control.dns.primary_endpoint.clone();
        sim.command(&ep, 0, &argv).expect("a reply");
    };
    for i in 0..50 {
        put(&mut sim, &format!("k{i}"), "before");
    }
    sim.run_until(Millis(31_000));
    let info: Vec<NodeInfo> = sim
        .control
        .nodes
        .iter()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            addr: n.addr.clone(),
            primary: n.role == crate::control::Role::Primary,
            available: n.status == crate::control::NodeStatus::Available,
        })
        .collect();
    let mut b = Backups::new("demo", Policy::default());
    b.create_manual(sim.now, "moment", &info).unwrap();
    let Some(BackupAction::Snapshot { name, addr }) = b.poll_action() else {
        panic!("a snapshot to take");
    };
    let source = &sim.hosts[&addr].node;
    let (digest, rdb) = (source.digest(), source.rdb(sim.now));
    b.snapshot_done(sim.now, &name, Ok(rdb));
    assert_eq!(
        b.get("moment").unwrap().node,
        "demo-002",
        "taken from the replica"
    );
    // The group changes afterwards; the restore has the moment's data.
    for i in 0..50 {
        put(&mut sim, &format!("k{i}"), "after");
    }
    let file = b.restore(sim.now, "moment", "demo-restored").unwrap();
    let mut restored = crate::Node::new(9);
    restored.load_rdb(&file, sim.now).unwrap();
    assert_eq!(restored.digest(), digest);
    assert_eq!(
        restored.get_string(0, b"k7").as_deref(),
        Some(&b"before"[..])
    );
}
