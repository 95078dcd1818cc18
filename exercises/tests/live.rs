//! Live questions: the answer is computed from the cluster when asked, and
//! it changes when the cluster does — after a failover the primary
//! endpoint resolves to another node; after a node is added the Memcached
//! configuration version and node count grow.

use cachelab_exercises::content::{Difficulty, LiveQuestion, Scenario};
use cachelab_exercises::grade::run_step;
use cachelab_exercises::live::answer_now;
use cachelab_exercises::sim::SimCluster;

fn question(ask: &str, kind: &str) -> LiveQuestion {
    LiveQuestion {
        id: format!("t-{ask}"),
        topic: "replication".into(),
        difficulty: Difficulty::Easy,
        stem: "?".into(),
        ask: ask.into(),
        key: None,
        explain: "because".into(),
        teaches: vec![],
        see: "playground:replication".into(),
        scenario: Scenario {
            kind: kind.into(),
            shards: 3,
            replicas: 2,
            multi_az: true,
            nodes: 3,
            setup: vec![],
        },
        file: String::new(),
        line: 0,
    }
}

#[test]
fn answers_follow_the_cluster() {
    let q = question("primary-node", "replication");
    let mut c = SimCluster::start(&q.scenario, 3).unwrap();
    let a = answer_now(&q, &mut c).unwrap();
    assert_eq!(a.options[a.correct], "demo-001");
    run_step(&mut c, "!failover").unwrap();
    run_step(&mut c, "!wait 60s").unwrap();
    let b = answer_now(&q, &mut c).unwrap();
    assert_ne!(b.options[b.correct], "demo-001", "{}", b.how);

    let q = question("dbsize", "replication");
    let before = answer_now(&q, &mut c).unwrap();
    run_step(&mut c, "SET a 1").unwrap();
    run_step(&mut c, "SET b 2").unwrap();
    let after = answer_now(&q, &mut c).unwrap();
    assert_eq!(before.options[before.correct], "0");
    assert_eq!(after.options[after.correct], "2");

    let q = question("mc-config-version", "memcached");
    let mut m = SimCluster::start(&q.scenario, 3).unwrap();
    let v1 = answer_now(&q, &mut m).unwrap();
    run_step(&mut m, "!mc-add").unwrap();
    let v2 = answer_now(&q, &mut m).unwrap();
    assert_eq!(
        v2.options[v2.correct].parse::<u64>().unwrap(),
        v1.options[v1.correct].parse::<u64>().unwrap() + 1
    );
}

#[test]
fn every_live_question_is_answered_on_its_scenario() {
    let b = cachelab_exercises::bundle().unwrap();
    for q in &b.live {
        let mut c = SimCluster::start(&q.scenario, 7).unwrap_or_else(|e| panic!("{}: {e}", q.id));
        let a = answer_now(q, &mut c).unwrap_or_else(|e| panic!("{}: {e}", q.id));
        assert!(
            a.options.len() >= 2 && a.correct < a.options.len(),
            "{}",
            q.id
        );
    }
}
