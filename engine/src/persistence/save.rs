//! SAVE and BGSAVE bookkeeping, as rdb.c and serverCron keep it: the dirty
//! counter's baseline, LASTSAVE, the background save in progress (one at a
//! time), a scheduled one, the `save` points, and the status INFO
//! persistence and MISCONF read. The node builds the file (a point-in-time
//! RDB); the runtime writes it (`Output::Save`) and reports back.

use serde::{Deserialize, Serialize};

use crate::node::ConnId;
use crate::time::Millis;

/// A file the runtime must write: `rdb` to `dir`/`dbfilename`, atomically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaveRequest {
    pub id: u64,
    /// BGSAVE (written off the event loop) or SAVE (the node waits).
    pub background: bool,
    pub dir: String,
    pub dbfilename: String,
    pub rdb: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct BgSave {
    pub id: u64,
    pub started: Millis,
    /// The dirty counter when the snapshot was taken: what a successful
    /// save subtracts.
    pub dirty_at_start: u64,
    pub keys: usize,
    /// The copy of the data this save holds until the file is written.
    pub bytes: u64,
}

/// What a background save (BGSAVE, a backup's snapshot) costs the node.
/// cachelab does not fork: it serializes the point-in-time file on the
/// event loop (the pause Redis's fork() is, measured) and holds that copy
/// until the runtime has written it (the memory copy-on-write costs Redis;
/// here a full copy, the worst case). INFO reports both as Redis names
/// them: `latest_fork_usec`, `rdb_last_cow_size`, `current_cow_size`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ForkCost {
    /// How long the node stopped serving to take the snapshot (µs).
    pub usec: u64,
    /// The snapshot's copy of the data (bytes).
    pub bytes: u64,
}

#[derive(Clone, Debug)]
pub struct SaveState {
    /// Unix seconds of the last successful save (start-up time at first).
    pub lastsave: u64,
    /// Modifications counted when the last successful save was taken.
    pub dirty_base: u64,
    pub last_bg_failed: bool,
    pub saves: u64,
    pub bg: Option<BgSave>,
    /// SAVE in progress: (request, caller, dirty at its snapshot).
    pub foreground: Option<(u64, ConnId, u64)>,
    /// A save no client waits for (FLUSHALL's): (request, dirty at it).
    pub internal: Option<(u64, u64)>,
    /// BGSAVE SCHEDULE (or BGSAVE inside EXEC): start when possible.
    pub scheduled: bool,
    pub last_bg_secs: i64,
    /// Unix seconds of the last BGSAVE attempt (a failed one is retried
    /// after 5 s: CONFIG_BGSAVE_RETRY_DELAY).
    pub last_try: u64,
    pub next_id: u64,
    /// Files for the runtime, produced by the command just run or the cron.
    pub out: Vec<SaveRequest>,
    /// The last background save's cost, and how many there were.
    pub last_fork: ForkCost,
    pub total_forks: u64,
    /// The last finished background save's copy (INFO rdb_last_cow_size).
    pub last_cow_size: u64,
}

impl Default for SaveState {
    fn default() -> Self {
        SaveState {
            lastsave: 0,
            dirty_base: 0,
            last_bg_failed: false,
            saves: 0,
            bg: None,
            foreground: None,
            internal: None,
            scheduled: false,
            last_bg_secs: -1,
            last_try: 0,
            next_id: 1,
            out: Vec::new(),
            last_fork: ForkCost::default(),
            total_forks: 0,
            last_cow_size: 0,
        }
    }
}

/// The `save` parameter's (seconds, changes) points.
pub fn save_points(value: &str) -> Vec<(u64, u64)> {
    let nums: Vec<u64> = value
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    nums.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0], c[1]))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn save_points_parse() {
        assert_eq!(
            super::save_points("3600 1 300 100 60 10000"),
            vec![(3600, 1), (300, 100), (60, 10000)]
        );
        assert!(super::save_points("").is_empty());
    }
}
