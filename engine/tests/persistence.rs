//! Save points on virtual time: `save 10 2` starts a BGSAVE once 2 changes
//! are older than 10 s since the last save, not before; the runtime's
//! answer moves the dirty counter and LASTSAVE; a failure is retried after
//! 5 s and stops writes (MISCONF) until a save succeeds.

mod common;

use cachelab_engine::Output;
use common::Harness;

fn saves(h: &mut Harness) -> Vec<u64> {
    std::mem::take(&mut h.other)
        .into_iter()
        .filter_map(|o| match o {
            Output::Save(r) => Some(r.id),
            _ => None,
        })
        .collect()
}

fn field(h: &mut Harness, name: &str) -> String {
    let info = h.info("persistence");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn save_points_start_background_saves() {
    let mut h = Harness::new(5);
    assert_eq!(h.on(1, "CONFIG SET save \"10 2\""), "+OK\r\n");
    h.on(1, "SET a 1");
    h.advance(11_000);
    assert!(saves(&mut h).is_empty(), "one change is not enough");
    h.on(1, "SET b 1");
    assert_eq!(field(&mut h, "rdb_changes_since_last_save"), "2");
    h.advance(1_000);
    let ids = saves(&mut h);
    assert_eq!(ids.len(), 1);
    assert_eq!(field(&mut h, "rdb_bgsave_in_progress"), "1");
    assert_eq!(
        h.on(1, "BGSAVE"),
        "-ERR Background save already in progress\r\n"
    );
    // A write during the save counts towards the next one.
    h.on(1, "SET c 1");
    let now = h.now;
    h.node.save_done(now, ids[0], true);
    assert_eq!(field(&mut h, "rdb_bgsave_in_progress"), "0");
    assert_eq!(field(&mut h, "rdb_changes_since_last_save"), "1");
    assert_eq!(
        field(&mut h, "rdb_last_save_time"),
        (now.0 / 1000).to_string()
    );
    // A failed save: MISCONF for writes, retried after 5 s.
    h.on(1, "SET d 1");
    h.advance(11_000);
    let ids = saves(&mut h);
    assert_eq!(ids.len(), 1);
    let now = h.now;
    h.node.save_done(now, ids[0], false);
    assert!(h.on(1, "SET e 1").starts_with("-MISCONF"));
    assert_eq!(h.on(1, "GET a"), "$1\r\n1\r\n");
    h.advance(3_000);
    assert!(saves(&mut h).is_empty(), "not retried before 5 s");
    h.advance(3_000);
    let ids = saves(&mut h);
    assert_eq!(ids.len(), 1);
    let now = h.now;
    h.node.save_done(now, ids[0], true);
    assert_eq!(h.on(1, "SET e 1"), "+OK\r\n");
}
