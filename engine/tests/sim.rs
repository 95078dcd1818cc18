//! The control plane and the simulator: failover paths in AWS's order and
//! words, refusals with AWS's reasons, and determinism. The 500-seed fault
//! soak runs in release from `cargo xtask sim` (part of `cargo xtask test`).

use cachelab_engine::control::{Api, NodeStatus, Role, Settings};
use cachelab_engine::sim::{scenario, Sim};
use cachelab_engine::Millis;

const AZS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

fn messages(sim: &Sim) -> Vec<String> {
    sim.control
        .events
        .iter()
        .map(|e| e.message.clone())
        .collect()
}

fn position(msgs: &[String], needle: &str) -> usize {
    msgs.iter()
        .position(|m| m.contains(needle))
        .unwrap_or_else(|| panic!("no event containing {needle:?} in {msgs:#?}"))
}

fn short(addr: &str) -> &str {
    addr.split('.').next().unwrap()
}

#[test]
fn multi_az_failover_in_five_steps() {
    let mut sim = Sim::new(11, &AZS, true, Settings::default());
    let ep = sim.control.dns.primary_endpoint.clone();
    sim.add_writer(&ep, false);
    sim.run_until(Millis(10_000));
    assert_eq!(short(sim.control.dns.primary.as_ref().unwrap()), "demo-001");
    assert!(sim.control.healthy());
    let before = sim.writes.len();
    assert!(before > 100, "the writer wrote: {before}");
    sim.kill(&sim.control.dns.primary.clone().unwrap());
    // Detection (5 s of missed checks) + offsets (≤ 1 s) + promotion.
    sim.run_until(Millis(17_000));
    let new = sim.control.dns.primary.clone().unwrap();
    assert_ne!(short(&new), "demo-001", "the primary endpoint moved");
    assert!(sim.hosts[&new].node.is_primary());
    let msgs = messages(&sim);
    let failover = position(&msgs, "Failover from primary node demo-001 to replica node");
    let recovering = position(&msgs, "Recovering cache nodes 0001");
    assert!(failover < recovering, "{msgs:#?}");
    // The replacement is launched in the failed node's AZ and syncs.
    sim.run_until(Millis(45_000));
    let msgs = messages(&sim);
    assert!(position(&msgs, "Finished recovery for cache nodes 0001") > recovering);
    let n1 = &sim.control.nodes[0];
    assert_eq!(
        (n1.role, n1.status, n1.az.as_str()),
        (Role::Replica, NodeStatus::Available, "us-east-1a")
    );
    assert!(sim.control.healthy());
    // The writer kept writing through the same endpoint after the failover.
    assert!(sim.writes.iter().any(|w| w.node == new));
    sim.stop_clients();
    sim.run_until(Millis(50_000));
    sim.check_final(true);
    assert!(sim.violations.is_empty(), "{:#?}", sim.violations);
    let (lost, lost_after_wait) = sim.lost_writes();
    assert_eq!(lost_after_wait, 0);
    // Every lost write is explained by asynchronous replication.
    for w in sim.writes.iter().filter(|w| w.lost.is_some()) {
        assert!(w.lost.as_ref().unwrap().contains("asynchronous"), "{w:?}");
    }
    println!("lost {lost} of {} acknowledged writes", sim.writes.len());
}

#[test]
fn test_failover_events_and_limits() {
    let settings = Settings {
        test_failover_limit: 2,
        ..Settings::default()
    };
    let mut sim = Sim::new(5, &AZS, true, settings);
    sim.run_until(Millis(5_000));
    sim.api(Api::TestFailover).unwrap();
    sim.run_until(Millis(40_000));
    let msgs = messages(&sim);
    let called = position(&msgs, "Test Failover API called for node group 0001");
    let done = position(&msgs, "Failover from primary node demo-001 to replica node");
    let rec = position(&msgs, "Recovering cache nodes 0001");
    let fin = position(&msgs, "Finished recovery for cache nodes 0001");
    assert!(called < done && done < rec && rec < fin, "{msgs:#?}");
    sim.api(Api::TestFailover).unwrap();
    sim.run_until(Millis(80_000));
    let e = sim.api(Api::TestFailover).unwrap_err();
    assert_eq!(e.code, "TestFailoverNotAvailableFault");
    // A day later the window has rolled.
    sim.run_until(Millis(24 * 3600 * 1000 + 10_000));
    sim.api(Api::TestFailover).unwrap();
}

#[test]
fn refusals_in_aws_words() {
    let mut single = Sim::new(1, &AZS[..1], false, Settings::default());
    let e = single.api(Api::SetMultiAz(true)).unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    let e = single.api(Api::TestFailover).unwrap_err();
    assert_eq!(e.code, "InvalidReplicationGroupState");
    let mut sim = Sim::new(2, &AZS[..2], true, Settings::default());
    sim.run_until(Millis(3_000));
    let e = sim
        .api(Api::RemoveReplica { id: "0002".into() })
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterCombination");
    let e = sim
        .api(Api::RemoveReplica { id: "0001".into() })
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    for i in 0..4 {
        sim.api(Api::AddReplica {
            az: AZS[i % 3].into(),
        })
        .unwrap();
    }
    let e = sim
        .api(Api::AddReplica {
            az: "us-east-1a".into(),
        })
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    assert!(e.message.contains("5 replicas"));
    sim.run_until(Millis(40_000));
    assert!(sim.control.healthy());
    assert_eq!(sim.control.dns.readers.len(), 5);
}

#[test]
fn without_multi_az_writes_fail_until_a_replacement_primary_is_built() {
    let mut sim = Sim::new(3, &AZS, false, Settings::default());
    let ep = sim.control.dns.primary_endpoint.clone();
    sim.add_writer(&ep, false);
    sim.run_until(Millis(8_000));
    sim.kill(&sim.control.dns.primary.clone().unwrap());
    let acked = sim.writes.len();
    sim.run_until(Millis(25_000));
    assert_eq!(
        sim.writes.len(),
        acked,
        "no write succeeds while there is no primary"
    );
    assert!(!messages(&sim).iter().any(|m| m.contains("Failover from")));
    sim.run_until(Millis(45_000));
    // The replacement took the failed node's place and endpoint, with a replica's data.
    assert_eq!(short(sim.control.dns.primary.as_ref().unwrap()), "demo-001");
    assert!(sim.control.healthy());
    assert!(
        sim.writes.len() > acked,
        "writes resumed through the same endpoint"
    );
    let (lost, _) = sim.lost_writes();
    assert!(
        lost < acked / 2,
        "a replica held the data: {lost} of {acked} lost"
    );
    sim.stop_clients();
    sim.run_until(Millis(50_000));
    sim.check_final(false);
    assert!(sim.violations.is_empty(), "{:#?}", sim.violations);
}

#[test]
fn all_nodes_failing_loses_all_data() {
    let mut sim = Sim::new(4, &AZS[..2], true, Settings::default());
    let ep = sim.control.dns.primary_endpoint.clone();
    sim.add_writer(&ep, false);
    sim.run_until(Millis(5_000));
    for n in sim.control.nodes.clone() {
        sim.kill(&n.addr);
    }
    let acked = sim.writes.len();
    sim.stop_clients();
    sim.run_until(Millis(60_000));
    assert!(sim.control.healthy());
    assert_eq!(
        sim.lost_writes().0,
        acked,
        "every acknowledged write is gone"
    );
    sim.check_final(false);
    assert!(sim.violations.is_empty(), "{:#?}", sim.violations);
}

#[test]
fn a_customer_reboot_does_not_fail_over() {
    let mut sim = Sim::new(6, &AZS, true, Settings::default());
    sim.run_until(Millis(3_000));
    sim.api(Api::Reboot { id: "0001".into() }).unwrap();
    sim.run_until(Millis(30_000));
    let msgs = messages(&sim);
    assert!(!msgs.iter().any(|m| m.contains("Failover")), "{msgs:#?}");
    position(&msgs, "Cache node 0001 restarted");
    assert_eq!(short(sim.control.dns.primary.as_ref().unwrap()), "demo-001");
    assert!(sim.control.healthy());
}

#[test]
fn an_az_outage_fails_over_and_replaces_when_the_az_returns() {
    let mut sim = Sim::new(8, &AZS, true, Settings::default());
    sim.run_until(Millis(3_000));
    sim.az("us-east-1a", false);
    sim.run_until(Millis(60_000));
    assert_ne!(short(sim.control.dns.primary.as_ref().unwrap()), "demo-001");
    assert_eq!(
        sim.control.nodes[0].status,
        NodeStatus::Failed,
        "no launch in a down AZ"
    );
    sim.az("us-east-1a", true);
    sim.run_until(Millis(100_000));
    assert!(sim.control.healthy());
    assert_eq!(sim.control.nodes[0].az, "us-east-1a");
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let a = scenario::run(42, false);
    let b = scenario::run(42, false);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.acked, b.acked);
    assert_ne!(scenario::run(43, false).trace_hash, a.trace_hash);
}

#[test]
fn the_golden_seed_has_the_recorded_trace_hash() {
    let o = scenario::run(scenario::GOLDEN_SEED, false);
    assert!(o.violations.is_empty(), "{:#?}", o.violations);
    assert_eq!(
        o.trace_hash,
        scenario::GOLDEN_TRACE_HASH,
        "{:#x}",
        o.trace_hash
    );
}

#[test]
fn a_handful_of_seeds_pass_in_debug_builds() {
    for seed in 1000..1003 {
        let o = scenario::run(seed, false);
        assert!(
            o.violations.is_empty(),
            "seed {seed}: {}\n{:#?}\n{}",
            o.description,
            o.violations,
            o.trace.join("\n")
        );
    }
}

/// The simulator's replicas speak Redis's replication protocol over TCP
/// connections: a replica cut off from its primary past `repl-timeout`
/// reconnects with PSYNC, and the primary answers +CONTINUE when its
/// backlog still holds what the replica missed, +FULLRESYNC when not.
#[test]
fn a_replica_cut_off_past_repl_timeout_resyncs_partially_only_within_the_backlog() {
    fn stat(sim: &mut Sim, addr: &str, field: &str) -> String {
        let (_, r) = sim
            .command(addr, 0, &[b"INFO".to_vec(), b"stats".to_vec()])
            .expect("INFO answers");
        let cachelab_engine::protocol::Reply::Bulk(b) = r else {
            panic!("INFO: {r:?}")
        };
        String::from_utf8_lossy(&b)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
            .expect("the field")
    }
    for (backlog, partial) in [("1048576", true), ("16384", false)] {
        let mut sim = Sim::new(5, &AZS[..2], false, Settings::default());
        sim.run_until(Millis(5_000));
        let primary = sim.control.dns.primary.clone().unwrap();
        let replica = sim.control.nodes[1].addr.clone();
        let cmd = |sim: &mut Sim, words: &[&str]| {
            let argv: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            sim.command(&primary, 0, &argv)
                .expect("the primary answers")
                .1
        };
        cmd(&mut sim, &["CONFIG", "SET", "repl-backlog-size", backlog]);
        sim.run_until(sim.now.plus(2_000));
        sim.cut(&primary, &replica);
        sim.cut(&replica, &primary);
        let script = "for i=1,40 do redis.call('SET','bulk:'..i,string.rep('x',1000)) end";
        cmd(&mut sim, &["EVAL", script, "0"]);
        sim.run_until(sim.now.plus(70_000));
        sim.heal();
        sim.run_until(sim.now.plus(10_000));
        let (_, r) = sim
            .command(&replica, 0, &[b"STRLEN".to_vec(), b"bulk:40".to_vec()])
            .unwrap();
        assert_eq!(r, cachelab_engine::protocol::Reply::Int(1000), "{backlog}");
        let ok = stat(&mut sim, &primary, "sync_partial_ok");
        let full = stat(&mut sim, &primary, "sync_full");
        if partial {
            assert_eq!(
                (ok.as_str(), full.as_str()),
                ("1", "1"),
                "backlog {backlog}"
            );
        } else {
            assert_eq!(
                (ok.as_str(), full.as_str()),
                ("0", "2"),
                "backlog {backlog}"
            );
        }
        let trace: Vec<&String> = sim.trace_lines().collect();
        assert!(
            trace.iter().any(|l| l.contains("stall")),
            "the cut held TCP segments back"
        );
    }
}

/// A session is a connection that stays open: a subscriber hears what is
/// published on its node at once and, on a replica, what the primary
/// publishes once replication carries it; its node's crash closes it.
#[test]
fn a_session_stays_open_and_hears_what_is_published() {
    use cachelab_engine::protocol::Reply;
    let argv = |s: &str| -> Vec<Vec<u8>> { s.split(' ').map(|w| w.as_bytes().to_vec()).collect() };
    let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
    let mut sim = Sim::new(3, &AZS[..2], false, Settings::default());
    sim.run_until(Millis(30_000));
    assert!(sim.control.healthy());
    let primary = sim.control.dns.primary.clone().unwrap();
    let replica = sim
        .control
        .nodes
        .iter()
        .find(|n| n.role == Role::Replica)
        .map(|n| n.addr.clone())
        .unwrap();
    let on_primary = sim.open_session(&primary, 0).expect("the primary runs");
    let on_replica = sim.open_session(&replica, 0).expect("the replica runs");
    for s in [on_primary, on_replica] {
        assert!(sim.session_send(s, &argv("SUBSCRIBE news")));
        let (got, open) = sim.session_read(s);
        assert!(open);
        assert_eq!(
            got,
            vec![Reply::Array(vec![
                bulk("subscribe"),
                bulk("news"),
                Reply::Int(1)
            ])]
        );
    }
    // PUBLISH counts the subscribers of the node it ran on only.
    let (_, n) = sim
        .command(&primary, 0, &argv("PUBLISH news hello"))
        .unwrap();
    assert_eq!(n, Reply::Int(1));
    let message = vec![Reply::Array(vec![
        bulk("message"),
        bulk("news"),
        bulk("hello"),
    ])];
    assert_eq!(sim.session_read(on_primary), (message.clone(), true));
    // The replica hears it once the replication stream has carried it.
    let later = sim.now.plus(1000);
    sim.run_until(later);
    assert_eq!(sim.session_read(on_replica), (message, true));
    assert_eq!(sim.session_read(on_replica), (vec![], true), "read once");
    // The primary crashes: its subscriber's connection is gone.
    sim.kill(&primary);
    assert_eq!(sim.session_read(on_primary), (vec![], false));
    assert!(!sim.session_send(on_primary, &argv("PING")));
    // A session closed by its client is closed.
    sim.close_session(on_replica);
    assert_eq!(sim.session_read(on_replica), (vec![], false));
}

/// A session that stops reading meets `client-output-buffer-limit`: what it
/// has not read is what the node has not written, so past the pub/sub
/// class's hard limit the node drops it (and its unread output with it),
/// while one that reads between the same messages stays.
#[test]
fn a_session_that_stops_reading_is_dropped_at_its_output_buffer_limit() {
    use cachelab_engine::protocol::Reply;
    let argv = |s: &str| -> Vec<Vec<u8>> { s.split(' ').map(|w| w.as_bytes().to_vec()).collect() };
    let mut sim = Sim::new(1, &AZS[..1], false, Settings::default());
    sim.run_until(Millis(30_000));
    let primary = sim.control.dns.primary.clone().unwrap();
    let cmd = |sim: &mut Sim, line: &str| sim.command(&primary, 0, &argv(line)).unwrap().1;
    let limit = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 65536 0 0",
    ];
    let limit: Vec<Vec<u8>> = limit.iter().map(|w| w.as_bytes().to_vec()).collect();
    assert_eq!(
        sim.command(&primary, 0, &limit).unwrap().1,
        Reply::Simple("OK".into())
    );
    let slow = sim.open_session(&primary, 0).unwrap();
    let reader = sim.open_session(&primary, 0).unwrap();
    for s in [slow, reader] {
        assert!(sim.session_send(s, &argv("SUBSCRIBE chat")));
        assert_eq!(sim.session_read(s).0.len(), 1);
    }
    let message = format!("PUBLISH chat {}", "m".repeat(1000));
    // 40 KB unread: under the limit, both stay.
    for _ in 0..40 {
        assert_eq!(cmd(&mut sim, &message), Reply::Int(2));
    }
    assert_eq!(sim.session_read(reader).0.len(), 40);
    // 100 KB unread by one of them: it is dropped (64 KB past the 16 KB
    // static buffer Redis does not count), the reader is not.
    let mut delivered = Vec::new();
    for _ in 0..60 {
        let Reply::Int(n) = cmd(&mut sim, &message) else {
            panic!("PUBLISH answers an integer");
        };
        delivered.push(n);
        assert_eq!(sim.session_read(reader).0.len(), 1);
    }
    assert_eq!(delivered.first(), Some(&2));
    assert_eq!(delivered.last(), Some(&1), "{delivered:?}");
    let cut = delivered.iter().position(|&n| n == 1).unwrap();
    assert!(
        (38..=42).contains(&cut),
        "dropped after {cut} more: {delivered:?}"
    );
    assert!(delivered[cut..].iter().all(|&n| n == 1));
    assert_eq!(
        sim.session_read(slow),
        (vec![], false),
        "dropped with its buffer"
    );
    assert!(sim.session_read(reader).1);
    let Reply::Bulk(list) = cmd(&mut sim, "CLIENT LIST TYPE pubsub") else {
        panic!("CLIENT LIST answers a bulk string");
    };
    let list = String::from_utf8_lossy(&list);
    assert_eq!(list.lines().count(), 1, "{list}");
}
