//! Eviction under `maxmemory`, as Redis 7.0's evict.c approximates it:
//! for the LRU, LFU and TTL policies each round samples
//! `maxmemory-samples` keys per database (from every key, or from the keys
//! with a TTL for `volatile-*`) into a 16-entry pool kept sorted by "idle"
//! score, and evicts the best candidate still present; the random policies
//! evict a random key. LFU counters decay by one per `lfu-decay-time`
//! minutes since the last access. Evictions are counted in INFO stats.

use crate::node::Server;
use crate::store::db::{lfu_log_incr, Entry};
use crate::time::Millis;

/// `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;

/// One candidate: higher `idle` is evicted first.
#[derive(Clone, Debug)]
pub struct Candidate {
    idle: u64,
    db: usize,
    key: Vec<u8>,
}

/// The eviction pool, kept between rounds as Redis's static pool is.
#[derive(Clone, Debug, Default)]
pub struct Pool(Vec<Candidate>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn parse(s: &str) -> Policy {
        match s {
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }
    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

/// `LFUDecrAndReturn`: the counter less one per `decay_min` minutes since
/// the last access.
pub fn lfu_decayed(e: &Entry, now: Millis, decay_min: u64) -> u8 {
    if decay_min == 0 {
        return e.lfu;
    }
    let elapsed = e.atime.minutes_idle(now);
    let periods = elapsed / decay_min;
    e.lfu.saturating_sub(periods.min(255) as u8)
}

/// `updateLFU` on an access: decay, then the logarithmic increment.
pub fn lfu_touch(
    e: &mut Entry,
    now: Millis,
    factor: u64,
    decay_min: u64,
    rng: &mut crate::rng::Rng,
) {
    let c = lfu_decayed(e, now, decay_min);
    e.lfu = lfu_log_incr(c, factor, rng);
}

fn idle_score(policy: Policy, e: &Entry, ttl: Option<Millis>, now: Millis, decay: u64) -> u64 {
    match policy {
        Policy::AllKeysLru | Policy::VolatileLru => e.atime.idle_ms(now),
        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - lfu_decayed(e, now, decay) as u64,
        Policy::VolatileTtl => u64::MAX - ttl.map_or(u64::MAX, |t| t.0),
        _ => 0,
    }
}

impl Pool {
    /// `evictionPoolPopulate` for one database.
    fn populate(&mut self, srv_samples: &[(usize, Vec<u8>, u64)]) {
        for (db, key, idle) in srv_samples {
            let k = self.0.iter().take_while(|c| c.idle < *idle).count();
            if k == 0 && self.0.len() == POOL_SIZE {
                continue; // worse than everything in a full pool
            }
            let cand = Candidate {
                idle: *idle,
                db: *db,
                key: key.clone(),
            };
            if self.0.len() < POOL_SIZE {
                self.0.insert(k, cand);
            } else {
                // Full: drop the worst (first) and insert before position k.
                self.0.remove(0);
                self.0.insert(k - 1, cand);
            }
        }
    }
}

/// Frees memory until `used_memory` is within `maxmemory` by the configured
/// policy. False when that is impossible (noeviction, or nothing
/// evictable): write commands then answer OOM.
pub fn perform(srv: &mut Server, now: Millis) -> bool {
    let limit = srv.config.maxmemory() as usize;
    if limit == 0 {
        return true;
    }
    // No key is evicted while clients are paused (performEvictions).
    if srv.pause.is_some_and(|p| now <= p.end) {
        return true;
    }
    let policy = Policy::parse(srv.config.maxmemory_policy());
    let samples = srv
        .config
        .get("maxmemory-samples")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let decay = srv
        .config
        .get("lfu-decay-time")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1u64);
    let mut guard = 0;
    while crate::commands::server::used_memory(srv) > limit {
        guard += 1;
        if policy == Policy::NoEviction || guard > 1_000_000 {
            return false;
        }
        let victim = match policy {
            Policy::AllKeysRandom | Policy::VolatileRandom => {
                // Round-robin over databases from the one after the last victim.
                let n = srv.ks.dbs.len();
                let mut found = None;
                for step in 0..n {
                    let i = (srv.evict_next_db + step) % n;
                    if let Some(k) = srv.ks.dbs[i].sample_key(policy.volatile(), &mut srv.rng) {
                        srv.evict_next_db = i + 1;
                        found = Some((i, k));
                        break;
                    }
                }
                found
            }
            _ => pool_victim(srv, policy, samples, decay, now),
        };
        let Some((db, key)) = victim else {
            return false;
        };
        srv.ks.dbs[db].remove(&key);
        srv.ks.dbs[db].note_evicted(&key);
        srv.stats.evicted_keys += 1;
        // Client-side caching: tracking clients are told (before the event).
        crate::commands::tracking::key_deleted(srv, &key);
        crate::commands::notify::evicted(srv, db, &key);
    }
    true
}

/// The best candidate of the pool after sampling every database; `None`
/// when no database has a candidate key.
fn pool_victim(
    srv: &mut Server,
    policy: Policy,
    samples: usize,
    decay: u64,
    now: Millis,
) -> Option<(usize, Vec<u8>)> {
    let volatile = policy.volatile();
    loop {
        let mut total = 0;
        let mut picked = Vec::new();
        for (i, db) in srv.ks.dbs.iter().enumerate() {
            let size = if volatile { db.expires_len() } else { db.len() };
            if size == 0 {
                continue;
            }
            total += size;
            // Distinct keys, as dictGetSomeKeys gives them.
            for k in db.sample_keys(volatile, samples, &mut srv.rng) {
                let Some(e) = db.peek(&k) else {
                    continue;
                };
                let idle = idle_score(policy, e, db.expire_at(&k), now, decay);
                picked.push((i, k, idle));
            }
        }
        if total == 0 {
            return None;
        }
        let mut pool = std::mem::take(&mut srv.evict_pool);
        pool.populate(&picked);
        // From the best (last) down: the first still present wins; ghosts go.
        let mut victim = None;
        while let Some(c) = pool.0.pop() {
            let db = &srv.ks.dbs[c.db];
            let present = if volatile {
                db.expire_at(&c.key).is_some()
            } else {
                db.peek(&c.key).is_some()
            };
            if present {
                victim = Some((c.db, c.key));
                break;
            }
        }
        srv.evict_pool = pool;
        if victim.is_some() {
            return victim;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(idle: u64) -> (usize, Vec<u8>, u64) {
        (0, idle.to_string().into_bytes(), idle)
    }

    #[test]
    fn pool_keeps_the_sixteen_best_in_order() {
        let mut p = Pool::default();
        let all: Vec<_> = (0..40u64).map(|i| cand((i * 7919) % 97)).collect();
        p.populate(&all);
        assert_eq!(p.0.len(), POOL_SIZE);
        let idles: Vec<u64> = p.0.iter().map(|c| c.idle).collect();
        let mut want: Vec<u64> = all.iter().map(|c| c.2).collect();
        want.sort_unstable();
        assert_eq!(idles, want[want.len() - POOL_SIZE..].to_vec());
    }
}
