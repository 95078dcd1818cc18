//! Cluster nodes meeting over the bus on virtual time: a tiny network that
//! carries each node's dialled links to the others' bus ports (as the
//! native server's bus listener does) — MEET, handshakes, gossip that
//! introduces nodes nobody met directly, slots claimed by PONGs, and a
//! handshake with an address where nobody answers given up.

use cachelab_engine::protocol::{split_args, Reply};
use cachelab_engine::sim::cluster::ClusterSim;

/// The engine's cluster network on virtual time, with commands written as
/// lines.
struct Net(ClusterSim);

impl Net {
    fn new(ports: &[u16]) -> Net {
        Net(ClusterSim::new(ports))
    }

    fn cmd(&mut self, port: u16, line: &str) -> Reply {
        let argv = split_args(line.as_bytes()).expect("balanced");
        self.0.command(port, &argv)
    }

    fn text(&mut self, port: u16, line: &str) -> String {
        match self.cmd(port, line) {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{line}: {other:?}"),
        }
    }
}

impl std::ops::Deref for Net {
    type Target = ClusterSim;
    fn deref(&self) -> &ClusterSim {
        &self.0
    }
}

impl std::ops::DerefMut for Net {
    fn deref_mut(&mut self) -> &mut ClusterSim {
        &mut self.0
    }
}

#[test]
fn nodes_meet_gossip_and_agree_on_slots() {
    let mut net = Net::new(&[7000, 7001, 7002]);
    assert_eq!(
        net.cmd(7000, "CLUSTER ADDSLOTSRANGE 0 8191"),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        net.cmd(7001, "CLUSTER ADDSLOTSRANGE 8192 16383"),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        net.cmd(7000, "CLUSTER SET-CONFIG-EPOCH 1"),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        net.cmd(7001, "CLUSTER SET-CONFIG-EPOCH 2"),
        Reply::Simple("OK".into())
    );
    // 7000 meets 7001 and 7002; 7001 and 7002 learn of each other only
    // from gossip.
    assert_eq!(
        net.cmd(7000, "CLUSTER MEET 127.0.0.1 7001"),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        net.cmd(7000, "CLUSTER MEET 127.0.0.1 7002"),
        Reply::Simple("OK".into())
    );
    assert!(net.text(7000, "CLUSTER NODES").contains("handshake"));
    net.advance(3000);
    let ids: Vec<String> = [7000, 7001, 7002]
        .iter()
        .map(|&p| match net.cmd(p, "CLUSTER MYID") {
            Reply::Bulk(b) => String::from_utf8(b).expect("hex"),
            r => panic!("{r:?}"),
        })
        .collect();
    for p in [7000, 7001, 7002] {
        let nodes = net.text(p, "CLUSTER NODES");
        assert_eq!(nodes.lines().count(), 3, "{p}:\n{nodes}");
        assert!(!nodes.contains("handshake"), "{p}:\n{nodes}");
        for id in &ids {
            assert!(
                nodes.contains(id.as_str()),
                "{p} does not know {id}:\n{nodes}"
            );
        }
        // The slots each primary claims, seen by every node.
        assert!(
            nodes
                .lines()
                .any(|l| l.starts_with(&ids[0]) && l.ends_with(" 1 connected 0-8191")),
            "{nodes}"
        );
        assert!(
            nodes
                .lines()
                .any(|l| l.starts_with(&ids[1]) && l.ends_with(" 2 connected 8192-16383")),
            "{nodes}"
        );
        // Every node learned its own address from the others.
        assert!(
            nodes.contains(&format!("127.0.0.1:{p}@{}", p + 10000)),
            "{nodes}"
        );
        let info = net.text(p, "CLUSTER INFO");
        assert!(info.contains("cluster_state:ok"), "{p}: {info}");
        assert!(
            info.contains("cluster_known_nodes:3\r\ncluster_size:2"),
            "{info}"
        );
        assert!(info.contains("cluster_current_epoch:2"), "{info}");
    }
    // The node serving no slot redirects: "foo" is slot 12182.
    assert_eq!(
        net.cmd(7002, "GET foo"),
        Reply::Error("MOVED 12182 127.0.0.1:7001".into())
    );
    assert_eq!(net.cmd(7001, "SET foo bar"), Reply::Simple("OK".into()));
    // A claim with a newer config epoch wins: 7000 (epoch 1 → 3) takes
    // slot 8192 from 7001 (epoch 2), and every node follows.
    assert_eq!(
        net.cmd(7001, "CLUSTER BUMPEPOCH"),
        Reply::Simple("STILL 2".into())
    );
    assert_eq!(
        net.cmd(7000, "CLUSTER BUMPEPOCH"),
        Reply::Simple("BUMPED 3".into())
    );
    assert_eq!(
        net.cmd(7000, "CLUSTER DELSLOTS 8192"),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        net.cmd(7000, "CLUSTER ADDSLOTS 8192"),
        Reply::Simple("OK".into())
    );
    net.advance(2000);
    for p in [7000, 7001, 7002] {
        let nodes = net.text(p, "CLUSTER NODES");
        assert!(
            nodes
                .lines()
                .any(|l| l.starts_with(&ids[0]) && l.ends_with(" 3 connected 0-8192")),
            "{p}:\n{nodes}"
        );
        assert!(
            nodes
                .lines()
                .any(|l| l.starts_with(&ids[1]) && l.ends_with(" 2 connected 8193-16383")),
            "{p}:\n{nodes}"
        );
    }
    // Forgotten, a node stays out of gossip for a minute.
    let forget = format!("CLUSTER FORGET {}", ids[2]);
    assert_eq!(net.cmd(7000, &forget), Reply::Simple("OK".into()));
    net.advance(2000);
    assert_eq!(net.text(7000, "CLUSTER NODES").lines().count(), 2);
}

#[test]
fn a_handshake_nobody_answers_is_given_up() {
    let mut net = Net::new(&[7000]);
    // Nothing listens at 7005's bus port.
    assert_eq!(
        net.cmd(7000, "CLUSTER MEET 127.0.0.1 7005"),
        Reply::Simple("OK".into())
    );
    assert!(net.text(7000, "CLUSTER NODES").contains("handshake"));
    net.advance(16_000);
    assert_eq!(net.text(7000, "CLUSTER NODES").lines().count(), 1);
    assert_eq!(
        net.cmd(7000, "CLUSTER MEET 127.0.0.1 x"),
        Reply::Error("ERR Invalid TCP base port specified: x".into())
    );
    assert_eq!(
        net.cmd(7000, "CLUSTER MEET nohost 7001"),
        Reply::Error("ERR Invalid node address specified: nohost:7001".into())
    );
    assert_eq!(
        net.cmd(7000, "CLUSTER MEET 127.0.0.1 60000"),
        Reply::Error("ERR Invalid node address specified: 127.0.0.1:60000".into())
    );
}

/// Three primaries (7000–7002, epochs 1–3, the slots split as redis-cli
/// splits them) and empty nodes on `others`, all met.
fn three_primaries(others: &[u16]) -> Net {
    let mut ports = vec![7000, 7001, 7002];
    ports.extend_from_slice(others);
    let mut net = Net::new(&ports);
    for (p, range, epoch) in [
        (7000, "0 5460", 1),
        (7001, "5461 10922", 2),
        (7002, "10923 16383", 3),
    ] {
        assert_eq!(
            net.cmd(p, &format!("CLUSTER ADDSLOTSRANGE {range}")),
            Reply::Simple("OK".into())
        );
        assert_eq!(
            net.cmd(p, &format!("CLUSTER SET-CONFIG-EPOCH {epoch}")),
            Reply::Simple("OK".into())
        );
    }
    for &p in &ports[1..] {
        assert_eq!(
            net.cmd(7000, &format!("CLUSTER MEET 127.0.0.1 {p}")),
            Reply::Simple("OK".into())
        );
    }
    net.advance(3000);
    net
}

/// Three primaries and 7003 replicating 7000, which holds `{bar}1`; the
/// ids of 7000 and 7003.
fn three_shards_and_a_replica() -> (Net, String, String) {
    let mut net = three_primaries(&[7003]);
    let primary = my_id(&mut net, 7000);
    assert_eq!(
        net.cmd(7003, &format!("CLUSTER REPLICATE {primary}")),
        Reply::Simple("OK".into())
    );
    assert_eq!(net.cmd(7000, "SET {bar}1 one"), Reply::Simple("OK".into()));
    net.advance(3000);
    let nodes = net.text(7001, "CLUSTER NODES");
    let replica = my_id(&mut net, 7003);
    assert!(nodes.contains(&format!("slave {primary}")), "{nodes}");
    assert_eq!(net.cmd(7003, "READONLY"), Reply::Simple("OK".into()));
    assert_eq!(net.cmd(7003, "GET {bar}1"), Reply::Bulk(b"one".to_vec()));
    (net, primary, replica)
}

fn my_id(net: &mut Net, p: u16) -> String {
    match net.cmd(p, "CLUSTER MYID") {
        Reply::Bulk(b) => String::from_utf8(b).expect("hex"),
        r => panic!("{r:?}"),
    }
}

/// Every node's view of `node`'s line in CLUSTER NODES.
fn line_of(net: &mut Net, at: u16, node: &str) -> String {
    net.text(at, "CLUSTER NODES")
        .lines()
        .find(|l| l.starts_with(node))
        .expect("listed")
        .to_string()
}

/// CLUSTER FAILOVER on a replica whose primary is up: the primary pauses
/// its writes and reports its final offset, the replica catches up, wins
/// a forced election and takes the slots; the old primary follows it and
/// no write is lost. FORCE skips the handshake with the primary.
#[test]
fn a_manual_failover_swaps_primary_and_replica() {
    let (mut net, primary, replica) = three_shards_and_a_replica();
    assert_eq!(
        net.cmd(7000, "CLUSTER FAILOVER"),
        Reply::Error("ERR You should send CLUSTER FAILOVER to a replica".into())
    );
    assert_eq!(
        net.cmd(7003, "CLUSTER FAILOVER SOON"),
        Reply::Error("ERR syntax error".into())
    );
    // Written just before: the replica must have it when it takes over.
    assert_eq!(net.cmd(7000, "SET {bar}2 two"), Reply::Simple("OK".into()));
    assert_eq!(
        net.cmd(7003, "CLUSTER FAILOVER"),
        Reply::Simple("OK".into())
    );
    // The new primary's PONG to all tells everyone at once; that the old
    // one follows it, the others hear from the old one's own PINGs: every
    // node pings every other at least every half node timeout (7.5 s).
    net.advance(8000);
    for p in [7000, 7001, 7002, 7003] {
        let me = line_of(&mut net, p, &replica);
        assert!(
            me.contains("master") && me.ends_with(" 0-5460"),
            "{p}: {me}"
        );
        let old = line_of(&mut net, p, &primary);
        assert!(old.contains(&format!("slave {replica}")), "{p}: {old}");
        let info = net.text(p, "CLUSTER INFO");
        assert!(info.contains("cluster_current_epoch:4"), "{p}: {info}");
    }
    assert_eq!(net.cmd(7003, "GET {bar}2"), Reply::Bulk(b"two".to_vec()));
    // It went by the handshake: MFSTART, then a forced election.
    let info = net.text(7003, "CLUSTER INFO");
    assert!(
        info.contains("cluster_stats_messages_mfstart_sent:1"),
        "{info}"
    );
    assert!(
        info.contains("cluster_stats_messages_auth-req_sent:"),
        "{info}"
    );
    let info = net.text(7000, "CLUSTER INFO");
    assert!(
        info.contains("cluster_stats_messages_mfstart_received:1"),
        "{info}"
    );
    // The old primary's writes were paused only for the failover.
    assert_eq!(
        net.cmd(7000, "SET {bar}3 three"),
        Reply::Error("MOVED 5061 127.0.0.1:7003".into())
    );
    assert_eq!(
        net.cmd(7003, "SET {bar}3 three"),
        Reply::Simple("OK".into())
    );
    net.advance(1000);
    assert_eq!(net.cmd(7000, "READONLY"), Reply::Simple("OK".into()));
    assert_eq!(net.cmd(7000, "GET {bar}3"), Reply::Bulk(b"three".to_vec()));
    // FORCE: 7000 takes its slots back without asking 7003 to pause.
    assert_eq!(
        net.cmd(7000, "CLUSTER FAILOVER FORCE"),
        Reply::Simple("OK".into())
    );
    net.advance(3000);
    for p in [7000, 7001, 7002, 7003] {
        let me = line_of(&mut net, p, &primary);
        assert!(
            me.contains("master") && me.ends_with(" 0-5460"),
            "{p}: {me}"
        );
        let info = net.text(p, "CLUSTER INFO");
        assert!(info.contains("cluster_current_epoch:5"), "{p}: {info}");
    }
    assert_eq!(net.cmd(7000, "READWRITE"), Reply::Simple("OK".into()));
    assert_eq!(net.cmd(7000, "GET {bar}3"), Reply::Bulk(b"three".to_vec()));
}

/// A primary dies: the others mark it PFAIL after the node timeout, then
/// FAIL on a majority of primaries' reports; its replica wins an election
/// (the two other primaries' votes) and serves its slots.
#[test]
fn a_dead_primary_is_failed_and_its_replica_elected() {
    let (mut net, primary, replica) = three_shards_and_a_replica();
    net.kill(7000);
    // Under the node timeout (15 s): only suspected.
    net.advance(10_000);
    assert!(
        !net.text(7001, "CLUSTER NODES").contains("fail"),
        "too early"
    );
    net.advance(10_000);
    for p in [7001, 7002, 7003] {
        let nodes = net.text(p, "CLUSTER NODES");
        let line = nodes
            .lines()
            .find(|l| l.starts_with(&primary))
            .expect("listed")
            .to_string();
        assert!(
            line.contains("fail") && !line.contains("fail?"),
            "{p}: {line}"
        );
        let me = nodes
            .lines()
            .find(|l| l.starts_with(&replica))
            .expect("listed")
            .to_string();
        assert!(
            me.contains("master") && me.ends_with(" 0-5460"),
            "{p}: {me}"
        );
        let info = net.text(p, "CLUSTER INFO");
        assert!(info.contains("cluster_state:ok"), "{p}: {info}");
        assert!(info.contains("cluster_current_epoch:4"), "{p}: {info}");
    }
    // The promoted replica serves the slot, with the data it replicated.
    assert_eq!(net.cmd(7003, "READWRITE"), Reply::Simple("OK".into()));
    assert_eq!(net.cmd(7003, "GET {bar}1"), Reply::Bulk(b"one".to_vec()));
    assert_eq!(net.cmd(7003, "SET {bar}2 two"), Reply::Simple("OK".into()));
    assert_eq!(
        net.cmd(7001, "GET {bar}1"),
        Reply::Error("MOVED 5061 127.0.0.1:7003".to_string())
    );
}

/// A primary cut off from the rest: it accepts writes until the node
/// timeout, then sees itself in a minority and refuses them; the majority
/// fails it and elects its replica. When the cut heals it stays down for
/// the rejoin delay, learns the newer claim and follows the new primary,
/// losing what it took alone (the documented window), nothing else.
#[test]
fn a_partitioned_primary_steps_down_and_rejoins_as_a_replica() {
    let (mut net, primary, replica) = three_shards_and_a_replica();
    net.isolate(7000);
    assert_eq!(
        net.cmd(7000, "SET {bar}alone lost"),
        Reply::Simple("OK".into())
    );
    net.advance(25_000);
    assert_eq!(
        net.cmd(7000, "SET {bar}late refused"),
        Reply::Error("CLUSTERDOWN The cluster is down".into())
    );
    for p in [7001, 7002, 7003] {
        let me = line_of(&mut net, p, &replica);
        assert!(
            me.contains("master") && me.ends_with(" 0-5460"),
            "{p}: {me}"
        );
        let old = line_of(&mut net, p, &primary);
        assert!(old.contains("fail") && !old.contains("fail?"), "{p}: {old}");
    }
    assert_eq!(net.cmd(7003, "READWRITE"), Reply::Simple("OK".into()));
    assert_eq!(
        net.cmd(7003, "SET {bar}after new"),
        Reply::Simple("OK".into())
    );
    net.heal();
    net.advance(10_000);
    for p in [7000, 7001, 7002, 7003] {
        let old = line_of(&mut net, p, &primary);
        assert!(old.contains(&format!("slave {replica}")), "{p}: {old}");
        assert!(!old.contains("fail"), "{p}: {old}");
        let info = net.text(p, "CLUSTER INFO");
        assert!(info.contains("cluster_state:ok"), "{p}: {info}");
    }
    assert_eq!(net.cmd(7000, "READONLY"), Reply::Simple("OK".into()));
    assert_eq!(net.cmd(7000, "GET {bar}1"), Reply::Bulk(b"one".to_vec()));
    assert_eq!(
        net.cmd(7000, "GET {bar}after"),
        Reply::Bulk(b"new".to_vec())
    );
    assert_eq!(net.cmd(7000, "GET {bar}alone"), Reply::Nil);
}

/// A replica and then a primary restarted from the nodes.conf they wrote:
/// same ids and slots, the replica follows its primary again and resyncs
/// what was written meanwhile.
#[test]
fn nodes_restart_from_their_nodes_conf() {
    let (mut net, primary, replica) = three_shards_and_a_replica();
    net.restart(7003);
    assert_eq!(my_id(&mut net, 7003), replica);
    assert_eq!(net.cmd(7000, "SET {bar}2 two"), Reply::Simple("OK".into()));
    net.advance(3000);
    let me = line_of(&mut net, 7003, &replica);
    assert!(me.contains(&format!("myself,slave {primary}")), "{me}");
    assert_eq!(net.cmd(7003, "READONLY"), Reply::Simple("OK".into()));
    assert_eq!(net.cmd(7003, "GET {bar}1"), Reply::Bulk(b"one".to_vec()));
    assert_eq!(net.cmd(7003, "GET {bar}2"), Reply::Bulk(b"two".to_vec()));
    let id = my_id(&mut net, 7001);
    let before = line_of(&mut net, 7001, &id);
    net.restart(7001);
    net.advance(5000);
    assert_eq!(my_id(&mut net, 7001), id);
    let after = line_of(&mut net, 7001, &id);
    assert!(after.ends_with(" 5461-10922"), "{after}");
    assert_eq!(
        before.split(' ').nth(6),
        after.split(' ').nth(6),
        "config epoch"
    );
    for p in [7000, 7001, 7002, 7003] {
        let info = net.text(p, "CLUSTER INFO");
        assert!(info.contains("cluster_state:ok"), "{p}: {info}");
        assert!(info.contains("cluster_known_nodes:4"), "{p}: {info}");
    }
}

/// Replica migration: 7000 has two replicas, 7001 one; 7001's replica
/// dies, and after the delay the replica of 7000 with the smaller id
/// moves to 7001 (7000 keeps one, the migration barrier).
#[test]
fn a_spare_replica_migrates_to_an_orphaned_primary() {
    let mut net = three_primaries(&[7003, 7004, 7005]);
    let (a, b) = (my_id(&mut net, 7000), my_id(&mut net, 7001));
    for (r, p) in [(7003, &a), (7004, &a), (7005, &b)] {
        assert_eq!(
            net.cmd(r, &format!("CLUSTER REPLICATE {p}")),
            Reply::Simple("OK".into())
        );
    }
    net.advance(3000);
    let (r3, r4) = (my_id(&mut net, 7003), my_id(&mut net, 7004));
    let spare = if r3 < r4 { 7003 } else { 7004 };
    let spare_id = my_id(&mut net, spare);
    net.kill(7005);
    // Failed after the node timeout; then the orphan waits five seconds.
    net.advance(20_000);
    assert!(
        line_of(&mut net, 7000, &spare_id).contains(&format!("slave {a}")),
        "too early"
    );
    net.advance(10_000);
    for p in [7000, 7001, 7002, 7003, 7004] {
        let line = line_of(&mut net, p, &spare_id);
        assert!(line.contains(&format!("slave {b}")), "{p}: {line}");
    }
    let other = if spare == 7003 { 7004 } else { 7003 };
    let other_id = my_id(&mut net, other);
    assert!(line_of(&mut net, 7002, &other_id).contains(&format!("slave {a}")));
    // "c" hashes to slot 7365, 7001's.
    assert_eq!(net.cmd(7001, "SET c two"), Reply::Simple("OK".into()));
    net.advance(2000);
    assert_eq!(net.cmd(spare, "READONLY"), Reply::Simple("OK".into()));
    assert_eq!(net.cmd(spare, "GET c"), Reply::Bulk(b"two".to_vec()));
}
