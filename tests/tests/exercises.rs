//! The learning mode's labs against real servers: every lab that needs no
//! control plane (plain commands through one endpoint, reply/info checks)
//! must fail untouched and pass after its reference solution on a real
//! redis-server — what `cargo xtask exercises --target redis://…` does for
//! a learner's own cluster — and on cachelab-server.

use cachelab_exercises::grade::run_step;
use cachelab_exercises::resp::RespCluster;
use cachelab_exercises::verify_on;
use cachelab_tests::{args, CachelabServer, RedisServer, RespConn};

fn run_all(port: u16, server: &str) -> usize {
    let bundle = cachelab_exercises::bundle().expect("content");
    let mut ran = 0;
    let mut failures = Vec::new();
    for lab in bundle.labs.iter().filter(|l| !l.needs_control()) {
        let mut admin = RespConn::connect(port);
        admin.call(&args(&["FLUSHALL"]));
        admin.call(&args(&["CONFIG", "SET", "maxmemory", "0"]));
        admin.call(&args(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]));
        admin.call(&args(&["CONFIG", "RESETSTAT"]));
        let mut c = RespCluster::connect(&format!("redis://127.0.0.1:{port}")).expect("connect");
        for step in &lab.scenario.setup {
            run_step(&mut c, step).expect("setup");
        }
        let run = verify_on(lab, &mut c);
        ran += 1;
        if !run.valid() {
            failures.push(format!(
                "{} on {server}: {:?}\n  before {:?}\n  after {:?}",
                lab.id, run.error, run.before, run.after
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    ran
}

#[test]
fn labs_without_control_pass_on_redis_server_and_cachelab_server() {
    let ours = CachelabServer::start();
    let n = run_all(ours.port, "cachelab-server");
    if let Some(redis) = RedisServer::start() {
        assert_eq!(run_all(redis.port, "redis-server"), n);
    }
    assert!(n >= 15, "only {n} labs run against a real server");
}
