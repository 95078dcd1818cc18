//! Databases: keys → entries, the TTL table, lazy and active expiry, and
//! the running memory total.
//!
//! Keys live in a `KeyTable` (insertion-ordered, as an `IndexMap`) so that
//! sampling (active expiry, RANDOMKEY) is O(1) and iteration order is
//! deterministic. Deletion is `swap_remove`,
//! which only ever moves the *last* entry down into the hole; SCAN therefore
//! walks indices from high to low, and a full iteration returns every key
//! that was present throughout (a moved key can be returned twice, never
//! missed), which is the guarantee Redis's SCAN gives.

use std::cell::Cell;
use std::hash::BuildHasher;

use crate::limits::{
    ACTIVE_EXPIRE_ACCEPTABLE_STALE, ACTIVE_EXPIRE_KEYS_PER_LOOP, ACTIVE_EXPIRE_MAX_LOOPS,
};
use crate::rng::Rng;
use crate::store::keytable::KeyTable;
use crate::store::mem;
use crate::store::slots::{key_slot, SlotIndex};
use crate::store::smallbytes::SmallBytes;
use crate::store::value::Value;
use crate::time::Millis;

/// SipHash keyed by the node's seed: deterministic for a given seed, and not
/// guessable by clients that would like to flood one bucket.
#[derive(Clone, Debug)]
pub struct SeededState(pub u64);

impl BuildHasher for SeededState {
    type Hasher = crate::store::fasthash::FastHasher;
    fn build_hasher(&self) -> Self::Hasher {
        crate::store::fasthash::FastHasher::with_seed(self.0)
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Where this key's TTL sits in the database's TTL table
    /// ([`NO_TTL`] when it has none): the TTL costs 12 bytes there and
    /// nothing here (the field fills the entry's padding).
    ttl: u32,
    /// Last access, for OBJECT IDLETIME and LRU eviction.
    pub atime: Atime,
    /// Logarithmic access counter, for OBJECT FREQ and LFU eviction.
    pub lfu: u8,
}

/// [`Entry::ttl`] of a key without a TTL.
const NO_TTL: u32 = u32::MAX;

/// Redis's `LRU_CLOCK_MAX`: the LRU clock is 24 bits of seconds and wraps
/// (every 194 days), and idle times are read across the wrap as Redis
/// reads them.
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// A key's last access in whole seconds on Redis's 24-bit LRU clock
/// (`LRU_CLOCK_RESOLUTION` is 1000 ms): 3 bytes, so an entry (a 40-byte
/// value, its TTL slot, this, the LFU counter) is 48 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Atime([u8; 3]);

impl Atime {
    fn from_clock(c: u32) -> Atime {
        let [a, b, c, _] = (c & LRU_CLOCK_MAX).to_le_bytes();
        Atime([a, b, c])
    }
    fn clock(self) -> u32 {
        let [a, b, c] = self.0;
        u32::from_le_bytes([a, b, c, 0])
    }
    /// `getLRUClock`: seconds, modulo 2^24.
    pub fn at(now: Millis) -> Atime {
        Atime::from_clock(((now.0 / 1000) & LRU_CLOCK_MAX as u64) as u32)
    }
    /// `idle` seconds before `now` (RESTORE … IDLETIME), wrapping as
    /// `objectSetLRUOrLFU` does: an idle time past the clock's range reads
    /// back modulo it.
    pub fn idle_before(now: Millis, idle: u64) -> Atime {
        let clock = Atime::at(now).clock() as i64;
        let mut abs = clock.wrapping_sub(idle.min(i64::MAX as u64) as i64);
        if abs < 0 {
            abs += LRU_CLOCK_MAX as i64;
        }
        Atime::from_clock(abs as u32)
    }
    /// Milliseconds since, in whole seconds (`estimateObjectIdleTime`,
    /// its reading across the wrap included).
    pub fn idle_ms(self, now: Millis) -> u64 {
        let clock = Atime::at(now).clock();
        let lru = self.clock();
        let secs = if clock >= lru {
            clock - lru
        } else {
            clock + (LRU_CLOCK_MAX - lru)
        };
        secs as u64 * 1000
    }
    /// Whole minutes on the clock between this access and `now` (LFU's
    /// decay counts these).
    pub fn minutes_idle(self, now: Millis) -> u64 {
        let now_s = now.0 / 1000;
        let then_s = now_s.saturating_sub(self.idle_ms(now) / 1000);
        now_s / 60 - then_s / 60
    }
}

/// Redis's `LFU_INIT_VAL`.
pub const LFU_INIT_VAL: u8 = 5;

#[derive(Clone, Debug)]
pub struct Db {
    /// Keys sit inline up to 22 bytes (no allocation of their own: 24
    /// bytes in the table), boxed slices when longer.
    keys: KeyTable<Entry>,
    /// Keys by hash slot (cluster mode's database 0 only).
    slots: Option<Box<SlotIndex>>,
    /// The keys with a TTL, in the order Redis's expires dict would be
    /// sampled in (added at the end, removed by swap_remove): each one's
    /// position in `keys` and its deadline, 12 bytes a key. A key's
    /// [`Entry::ttl`] is its index here and `ttl_pos` points back at it.
    ttl_pos: Vec<u32>,
    ttl_at: Vec<Millis>,
    /// Bytes held by keys, values and TTL entries (not the bucket arrays).
    mem: usize,
    /// Keys removed because their TTL passed (lazily or actively).
    pub expired_keys: u64,
    pub avg_ttl: u64,
    /// A replica's databases never delete expired keys themselves: lookups
    /// treat them as missing and the primary's DEL removes them.
    replica: bool,
    /// Record changed keys (a primary with a replication backlog).
    track: bool,
    /// A replica applying its primary's stream: no key is expired for it
    /// (the primary's DEL says when), as Redis exempts its master client.
    pub from_master: bool,
    /// Record changed keys (some client WATCHes a key here).
    watching: bool,
    /// Keys changed since the last [`Db::take_dirty`], in order, possibly repeated.
    dirty: Vec<Vec<u8>>,
    /// Keys deleted because their TTL passed, while recording (notifications).
    expired_log: Vec<Vec<u8>>,
    /// Keys deleted by the server while recording for replication: past
    /// their TTL when a command looked them up (lazy expiry), or evicted —
    /// propagated as `DEL` around the command that met them.
    pub repl_expired: Vec<Vec<u8>>,
    pub repl_evicted: Vec<Vec<u8>>,
    /// Keys created (not overwritten) while recording: the `new`
    /// keyspace event, which Redis raises from dbAdd.
    created_log: Vec<Vec<u8>>,
    /// Key modifications ever made here (the dirty counter's source:
    /// `rdb_changes_since_last_save`): one per key a command changes (a
    /// SET with EX changes one key once); expiries do not count.
    pub modifications: u64,
    /// The command (its [`begin_command`] epoch) that last changed a key
    /// here, and that key, so a key is counted once per command; the key's
    /// buffer is reused.
    touch_epoch: u64,
    touch_key: Vec<u8>,
    /// Keys changed without a keyspace modification signal (a stream's
    /// consumer-group bookkeeping): replicated, but WATCH and
    /// notifications do not see them, as in Redis.
    quiet: Vec<Vec<u8>>,
}

/// What a SCAN step returns: the next cursor (0 when done) and the keys.
pub struct ScanPage {
    pub cursor: u64,
    pub keys: Vec<Vec<u8>>,
}

impl Db {
    pub fn new(seed: u64) -> Db {
        Db {
            keys: KeyTable::with_hasher(SeededState(seed)),
            slots: None,
            ttl_pos: Vec::new(),
            ttl_at: Vec::new(),
            mem: 0,
            expired_keys: 0,
            avg_ttl: 0,
            replica: false,
            track: false,
            watching: false,
            dirty: Vec::new(),
            expired_log: Vec::new(),
            created_log: Vec::new(),
            modifications: 0,
            touch_epoch: 0,
            touch_key: Vec::new(),
            quiet: Vec::new(),
            repl_expired: Vec::new(),
            repl_evicted: Vec::new(),
            from_master: false,
        }
    }

    /// Switches replica semantics (no expiry deletes) and change tracking.
    pub fn set_mode(&mut self, replica: bool, track: bool) {
        self.replica = replica;
        self.track = track;
        if !track && !self.watching {
            self.dirty.clear();
            self.created_log.clear();
        }
        if !track {
            self.repl_expired.clear();
            self.repl_evicted.clear();
            self.quiet.clear();
        }
    }

    /// Records changed keys while some client watches keys in this database
    /// or keyspace notifications are on.
    fn set_watching(&mut self, on: bool) {
        self.watching = on;
    }

    /// How many changes are recorded so far (a mark for [`Db::changes_since`]).
    pub fn changes_len(&self) -> (usize, usize) {
        (self.dirty.len(), self.expired_log.len())
    }

    /// Keys changed, and keys expired, since `mark`.
    pub fn changes_since(&self, mark: (usize, usize)) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        (
            self.dirty
                .get(mark.0..)
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
            self.expired_log
                .get(mark.1..)
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
        )
    }

    /// How many key creations are recorded so far (a mark for
    /// [`Db::created_since`]).
    pub fn created_len(&self) -> usize {
        self.created_log.len()
    }

    /// Keys created since `mark`, in creation order.
    pub fn created_since(&self, mark: usize) -> &[Vec<u8>] {
        self.created_log.get(mark..).unwrap_or_default()
    }

    /// The keys changed since the last call, each once, in first-change order.
    pub fn take_dirty(&mut self) -> Vec<Vec<u8>> {
        self.expired_log.clear();
        self.created_log.clear();
        let mut keys = std::mem::take(&mut self.dirty);
        if keys.len() > 1 {
            let mut seen = std::collections::HashSet::with_capacity(keys.len());
            keys.retain(|k| seen.insert(k.clone()));
        }
        keys
    }

    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty() || !self.quiet.is_empty()
    }

    /// The keys changed quietly since the last call (see `quiet`).
    pub fn take_quiet(&mut self) -> Vec<Vec<u8>> {
        let mut keys = std::mem::take(&mut self.quiet);
        if keys.len() > 1 {
            let mut seen = std::collections::HashSet::with_capacity(keys.len());
            keys.retain(|k| seen.insert(k.clone()));
        }
        keys
    }

    /// Changes are recorded for replication (a primary with a backlog, not
    /// under a script's `redis.set_repl(REPL_NONE)`).
    pub fn tracking(&self) -> bool {
        self.track
    }

    /// Key `key` was evicted (`maxmemory`): replication sends its DEL.
    pub fn note_evicted(&mut self, key: &[u8]) {
        if self.track {
            self.repl_evicted.push(key.to_vec());
        }
    }

    /// One more modification for the dirty counter (a key once per command).
    fn count_modification(&mut self, key: &[u8]) {
        let epoch = COMMAND_EPOCH.with(Cell::get);
        if self.touch_epoch != epoch || self.touch_key != key {
            self.modifications += 1;
            self.touch_epoch = epoch;
            self.touch_key.clear();
            self.touch_key.extend_from_slice(key);
        }
    }

    fn touch_dirty(&mut self, key: &[u8]) {
        self.count_modification(key);
        if self.track || self.watching {
            self.dirty.push(key.to_vec());
        }
    }

    /// Every stored entry, expired or not, in storage order.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.keys.iter().map(|(k, e)| (&**k, e))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn expires_len(&self) -> usize {
        self.ttl_pos.len()
    }

    fn ttl_of(&self, e: &Entry) -> Option<Millis> {
        (e.ttl != NO_TTL).then(|| self.ttl_at[e.ttl as usize])
    }

    /// Takes TTL slot `slot` out of the table (swap_remove, as the expires
    /// dict's order needs) and re-points the key whose slot moved into it.
    fn drop_ttl_slot(&mut self, slot: u32) {
        let s = slot as usize;
        self.ttl_pos.swap_remove(s);
        self.ttl_at.swap_remove(s);
        if let Some(&p) = self.ttl_pos.get(s) {
            self.keys[p as usize].ttl = slot;
        }
    }

    fn entry_mem(key: &[u8], e: &Entry) -> usize {
        mem::key_size(key) + e.value.mem_size()
    }

    /// Bytes this database holds, including hash table bucket arrays. A
    /// dict entry is 24 bytes (what MEMORY USAGE counts, `sizeof`) but
    /// jemalloc hands out 32 for it, which `used_memory` sees: 8 more for
    /// each key and each expiry (1M 100-byte strings: 184 bytes a key in
    /// redis-server and here; 176 here before).
    pub fn used_memory(&self) -> usize {
        let buckets = |n: usize| {
            if n == 0 {
                0
            } else {
                8 * n.next_power_of_two().max(4)
            }
        };
        let slack = (mem::jemalloc_size(mem::DICT_ENTRY) - mem::DICT_ENTRY)
            * (self.keys.len() + self.ttl_pos.len());
        self.mem + slack + buckets(self.keys.len()) + buckets(self.ttl_pos.len())
    }

    /// The entry without expiry checks or access tracking (for views, OBJECT).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.keys.get(key)
    }

    pub fn expire_at(&self, key: &[u8]) -> Option<Millis> {
        self.ttl_of(self.keys.get(key)?)
    }

    /// True if `key`'s TTL has passed; a primary then deletes it (a
    /// replica keeps it until the primary's DEL arrives).
    pub fn expire_if_needed(&mut self, key: &[u8], now: Millis) -> bool {
        if self.ttl_pos.is_empty() {
            return false;
        }
        match self.expire_at(key) {
            Some(at) if at <= now && !self.from_master => {
                if !self.replica {
                    self.remove_expired(key);
                    self.expired_keys += 1;
                    if self.track {
                        self.repl_expired.push(key.to_vec());
                    }
                    if self.watching {
                        self.expired_log.push(key.to_vec());
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// Looks a key up as a command does: expired keys are deleted first.
    pub fn get(&mut self, key: &[u8], now: Millis) -> Option<&Entry> {
        if self.expire_if_needed(key, now) {
            return None;
        }
        self.keys.get(key)
    }

    /// Like [`Db::get`], and records the access (LRU time and LFU counter).
    pub fn get_touch(
        &mut self,
        key: &[u8],
        now: Millis,
        lfu: Option<(u64, u64)>,
        rng: &mut Rng,
    ) -> Option<&Entry> {
        if self.expire_if_needed(key, now) {
            return None;
        }
        let e = self.keys.get_mut(key)?;
        // `updateLFU`: decay since the last access, then increment.
        if let Some((factor, decay)) = lfu {
            crate::evict::lfu_touch(e, now, factor, decay, rng);
        }
        e.atime = Atime::at(now);
        Some(e)
    }

    /// The entry's access metadata (`atime`, `lfu`) to set, as RESTORE's
    /// IDLETIME and FREQ do; the value itself changes only through `modify`.
    pub fn access_mut(&mut self, key: &[u8]) -> Option<(&mut Atime, &mut u8)> {
        self.keys.get_mut(key).map(|e| (&mut e.atime, &mut e.lfu))
    }

    pub fn contains(&mut self, key: &[u8], now: Millis) -> bool {
        self.get(key, now).is_some()
    }

    /// Inserts or replaces a value. With `keep_ttl` false any TTL is removed.
    pub fn set(&mut self, key: &[u8], value: Value, now: Millis, keep_ttl: bool) {
        // setKey looks the key up for writing first: one past its TTL is
        // deleted (and counted) before the new value is added.
        self.expire_if_needed(key, now);
        if !keep_ttl && !self.ttl_pos.is_empty() {
            self.persist(key);
        }
        self.touch_dirty(key);
        let atime = Atime::at(now);
        if let Some(old) = self.keys.get_mut(key) {
            // dbOverwrite keeps the old object's LFU counter.
            let entry = Entry {
                value,
                ttl: old.ttl,
                atime,
                lfu: old.lfu,
            };
            let add = Self::entry_mem(key, &entry);
            let sub = Self::entry_mem(key, old);
            *old = entry;
            self.mem = self.mem + add - sub;
        } else {
            let entry = Entry {
                value,
                ttl: NO_TTL,
                atime,
                lfu: LFU_INIT_VAL,
            };
            let add = Self::entry_mem(key, &entry);
            if self.track || self.watching {
                self.created_log.push(key.to_vec());
            }
            self.keys.push_new(SmallBytes::new(key), entry);
            if let Some(ix) = self.slots.as_mut() {
                ix.added(key_slot(key), self.keys.len() - 1);
            }
            self.mem += add;
        }
    }

    /// Applies `f` to the value of a live key, keeping the memory total right.
    pub fn modify<R>(
        &mut self,
        key: &[u8],
        now: Millis,
        f: impl FnOnce(&mut Value) -> R,
    ) -> Option<R> {
        self.modify_if(key, now, |v| (f(v), true))
    }

    /// Like [`Db::modify`] where `f` also says whether it changed anything:
    /// a no-op is not recorded as a change (no WATCH invalidation, nothing
    /// to replicate), as Redis signals only real modifications.
    pub fn modify_if<R>(
        &mut self,
        key: &[u8],
        now: Millis,
        f: impl FnOnce(&mut Value) -> (R, bool),
    ) -> Option<R> {
        if self.expire_if_needed(key, now) {
            return None;
        }
        let e = self.keys.get_mut(key)?;
        let before = Self::entry_mem(key, e);
        let (r, changed) = f(&mut e.value);
        e.atime = Atime::at(now);
        let after = Self::entry_mem(key, e);
        self.mem = self.mem + after - before;
        if changed {
            self.touch_dirty(key);
        }
        Some(r)
    }

    /// [`Db::modify`] without a modification signal: the change is only
    /// replicated (consumer-group bookkeeping).
    pub fn modify_quiet<R>(
        &mut self,
        key: &[u8],
        now: Millis,
        f: impl FnOnce(&mut Value) -> R,
    ) -> Option<R> {
        if self.expire_if_needed(key, now) {
            return None;
        }
        let e = self.keys.get_mut(key)?;
        let before = Self::entry_mem(key, e);
        let r = f(&mut e.value);
        let after = Self::entry_mem(key, e);
        self.mem = self.mem + after - before;
        self.count_modification(key);
        if self.track {
            self.quiet.push(key.to_vec());
        }
        Some(r)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (pos, _, mut e) = self.keys.swap_remove_full(key)?;
        // The last entry moved down into `pos`: its TTL slot follows it.
        if let Some((_, moved)) = self.keys.get_index(pos) {
            if moved.ttl != NO_TTL {
                self.ttl_pos[moved.ttl as usize] = pos as u32;
            }
        }
        if let Some(ix) = self.slots.as_mut() {
            let moved = self.keys.get_index(pos).map(|(k, _)| key_slot(k));
            ix.removed(key_slot(key), pos, moved);
        }
        self.touch_dirty(key);
        self.mem -= Self::entry_mem(key, &e);
        if e.ttl != NO_TTL {
            self.drop_ttl_slot(std::mem::replace(&mut e.ttl, NO_TTL));
            self.touch_dirty(key);
            self.mem -= mem::DICT_ENTRY;
        }
        Some(e)
    }

    /// A key past its TTL goes: a change replication and WATCH see, but
    /// not one the dirty counter counts (Redis's expiry does not).
    fn remove_expired(&mut self, key: &[u8]) {
        let before = (self.modifications, self.touch_epoch);
        let touched = std::mem::take(&mut self.touch_key);
        self.remove(key);
        (self.modifications, self.touch_epoch) = before;
        self.touch_key = touched;
    }

    /// Gives an existing key a TTL (or a new deadline); nothing for a
    /// missing key.
    pub fn set_expire(&mut self, key: &[u8], at: Millis) {
        self.touch_dirty(key);
        let Some((pos, _, e)) = self.keys.get_full_mut(key) else {
            return;
        };
        if e.ttl == NO_TTL {
            // Positions and slots are u32: 4 billion keys in one database
            // would take some 400 GB before this could be reached.
            e.ttl = self.ttl_pos.len() as u32;
            self.ttl_pos.push(pos as u32);
            self.ttl_at.push(at);
            self.mem += mem::DICT_ENTRY;
        } else {
            self.ttl_at[e.ttl as usize] = at;
        }
    }

    /// Removes a TTL; true if there was one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let Some(e) = self.keys.get_mut(key) else {
            return false;
        };
        if e.ttl == NO_TTL {
            return false;
        }
        let slot = std::mem::replace(&mut e.ttl, NO_TTL);
        self.drop_ttl_slot(slot);
        self.touch_dirty(key);
        self.mem -= mem::DICT_ENTRY;
        true
    }

    /// Indexes keys by hash slot from now on (cluster mode), starting with
    /// those already here.
    pub fn index_slots(&mut self) {
        let mut ix = SlotIndex::new();
        for (pos, k) in self.keys.keys().enumerate() {
            ix.added(key_slot(k), pos);
        }
        self.slots = Some(Box::new(ix));
    }

    /// CLUSTER COUNTKEYSINSLOT (0 when keys are not indexed by slot).
    pub fn keys_in_slot(&self, slot: u16) -> usize {
        self.slots.as_ref().map_or(0, |ix| ix.count(slot))
    }

    /// CLUSTER GETKEYSINSLOT: up to `max` keys of `slot`, newest first.
    pub fn slot_keys(&self, slot: u16, max: usize) -> Vec<Vec<u8>> {
        let Some(ix) = self.slots.as_ref() else {
            return Vec::new();
        };
        ix.positions(slot, max)
            .into_iter()
            .filter_map(|p| self.keys.get_index(p).map(|(k, _)| k.to_vec()))
            .collect()
    }

    /// Empties the database. Not recorded as key changes: FLUSHDB and
    /// FLUSHALL are propagated as themselves.
    pub fn clear(&mut self) {
        // FLUSHDB counts every key it removes (Redis: dirty += removed).
        self.modifications += self.keys.len() as u64;
        self.keys.clear();
        if let Some(ix) = self.slots.as_mut() {
            ix.clear();
        }
        self.ttl_pos.clear();
        self.ttl_at.clear();
        self.mem = 0;
        self.dirty.clear();
        self.quiet.clear();
    }

    /// Every live key (expired ones are skipped, not deleted).
    pub fn live_keys(&self, now: Millis) -> impl Iterator<Item = &[u8]> {
        self.keys
            .iter()
            .filter(move |(_, e)| !matches!(self.ttl_of(e), Some(at) if at <= now))
            .map(|(k, _)| &**k)
    }

    /// A uniformly sampled key (from those with a TTL when `volatile`), for eviction.
    pub fn sample_key(&self, volatile: bool, rng: &mut Rng) -> Option<Vec<u8>> {
        if volatile {
            if self.ttl_pos.is_empty() {
                return None;
            }
            let p = self.ttl_pos[rng.below(self.ttl_pos.len())];
            self.keys.get_index(p as usize).map(|(k, _)| k.to_vec())
        } else {
            if self.keys.is_empty() {
                return None;
            }
            self.keys
                .get_index(rng.below(self.keys.len()))
                .map(|(k, _)| k.to_vec())
        }
    }

    /// Up to `n` distinct keys (of those with a TTL when `volatile`), as
    /// dictGetSomeKeys returns them: consecutive entries from a random
    /// start, every key when there are no more than `n`.
    pub fn sample_keys(&self, volatile: bool, n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
        let len = if volatile {
            self.ttl_pos.len()
        } else {
            self.keys.len()
        };
        if len == 0 {
            return Vec::new();
        }
        let start = rng.below(len);
        (0..n.min(len))
            .filter_map(|i| {
                let at = (start + i) % len;
                if volatile {
                    let p = self.ttl_pos[at] as usize;
                    self.keys.get_index(p).map(|(k, _)| k.to_vec())
                } else {
                    self.keys.get_index(at).map(|(k, _)| k.to_vec())
                }
            })
            .collect()
    }

    /// A random live key, deleting expired ones met on the way (RANDOMKEY).
    pub fn random_key(&mut self, now: Millis, rng: &mut Rng) -> Option<Vec<u8>> {
        let mut tries = 0;
        loop {
            if self.keys.is_empty() {
                return None;
            }
            let (k, _) = self.keys.get_index(rng.below(self.keys.len()))?;
            let k = k.to_vec();
            // When every key has a TTL and all are expired, Redis gives up
            // after 100 tries and returns one anyway; so do we.
            if self.ttl_pos.len() == self.keys.len() && tries >= 100 {
                return Some(k);
            }
            tries += 1;
            if !self.expire_if_needed(&k, now) {
                return Some(k);
            }
        }
    }

    /// One SCAN step. Cursor 0 starts; indices are walked from high to low.
    pub fn scan(
        &mut self,
        cursor: u64,
        count: usize,
        now: Millis,
        mut matches: impl FnMut(&[u8]) -> bool,
        mut keep: impl FnMut(&Entry) -> bool,
    ) -> ScanPage {
        let mut next = if cursor == 0 {
            self.keys.len() as u64
        } else {
            cursor.min(self.keys.len() as u64)
        };
        let mut visited = Vec::new();
        let mut steps = 0;
        while next > 0 && steps < count.max(1) {
            let (k, _) = self
                .keys
                .get_index((next - 1) as usize)
                .expect("index below len");
            visited.push(k.to_vec());
            next -= 1;
            steps += 1;
        }
        let mut keys = Vec::with_capacity(visited.len());
        for k in visited {
            // As Redis: the pattern filters first; only keys that match are
            // expired lazily (deleting one only moves the last entry down into
            // visited territory); then the type filter.
            if !matches(&k) || self.expire_if_needed(&k, now) {
                continue;
            }
            if let Some(e) = self.keys.get(k.as_slice()) {
                if keep(e) {
                    keys.push(k);
                }
            }
        }
        ScanPage { cursor: next, keys }
    }

    /// One database's share of Redis's `activeExpireCycle`: sample keys with
    /// a TTL, delete the expired ones, and repeat while more than 10 % of a
    /// sample was expired. Returns the keys deleted.
    pub fn active_expire(&mut self, now: Millis, rng: &mut Rng, effort: usize) -> Vec<Vec<u8>> {
        let per_loop = ACTIVE_EXPIRE_KEYS_PER_LOOP
            + ACTIVE_EXPIRE_KEYS_PER_LOOP / 4 * effort.saturating_sub(1);
        let stale = ACTIVE_EXPIRE_ACCEPTABLE_STALE.saturating_sub(effort.saturating_sub(1));
        let mut deleted = Vec::new();
        for _ in 0..ACTIVE_EXPIRE_MAX_LOOPS * effort.max(1) {
            if self.ttl_pos.is_empty() {
                break;
            }
            let sample = per_loop.min(self.ttl_pos.len());
            let mut expired = 0;
            let mut ttl_sum = 0u64;
            let mut ttl_n = 0u64;
            for _ in 0..sample {
                if self.ttl_pos.is_empty() {
                    break;
                }
                let i = rng.below(self.ttl_pos.len());
                let at = self.ttl_at[i];
                if at <= now {
                    let p = self.ttl_pos[i] as usize;
                    let k = self.keys.get_index(p).expect("a TTL's key").0.to_vec();
                    self.remove_expired(&k);
                    self.expired_keys += 1;
                    deleted.push(k);
                    expired += 1;
                } else {
                    ttl_sum += at.saturating_sub(now);
                    ttl_n += 1;
                }
            }
            if let Some(avg) = ttl_sum.checked_div(ttl_n) {
                // Redis keeps a running average weighted 2 % to the newest sample.
                self.avg_ttl = if self.avg_ttl == 0 {
                    avg
                } else {
                    (self.avg_ttl / 50) * 49 + avg / 50
                };
            }
            if expired * 100 <= sample * stale {
                break;
            }
        }
        if self.ttl_pos.is_empty() {
            self.avg_ttl = 0;
        }
        deleted
    }
}

/// Redis's `LFULogIncr`: the counter grows with probability 1/((c-5)·factor+1).
pub fn lfu_log_incr(counter: u8, factor: u64, rng: &mut Rng) -> u8 {
    if counter == 255 {
        return 255;
    }
    let r = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let base = (counter as f64 - LFU_INIT_VAL as f64).max(0.0);
    let p = 1.0 / (base * factor as f64 + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// All databases of a node.
#[derive(Clone, Debug)]
pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// Some database records its changes for a watcher (WATCH, tracking,
    /// notifications; never turned off): without it and without
    /// replication, no database has changes to hand over after a command.
    watching: bool,
}

thread_local! {
    /// The command running, counted up by [`begin_command`]: a key changed
    /// twice by one command counts once (the epoch is only compared, so one
    /// counter serves every node on the thread).
    static COMMAND_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// A new command starts: its changes count afresh in every database.
pub fn begin_command() {
    COMMAND_EPOCH.with(|e| e.set(e.get().wrapping_add(1)));
}

impl Keyspace {
    pub fn new(n: usize, seed: u64) -> Keyspace {
        Keyspace {
            dbs: (0..n)
                .map(|i| Db::new(seed.wrapping_add(i as u64)))
                .collect(),
            watching: false,
        }
    }

    /// Database `db` records its changes for a watcher from now on.
    pub fn watch(&mut self, db: usize) {
        if let Some(d) = self.dbs.get_mut(db) {
            d.set_watching(true);
            self.watching = true;
        }
    }

    /// Every database records its changes from now on.
    pub fn watch_all(&mut self) {
        for d in &mut self.dbs {
            d.set_watching(true);
        }
        self.watching = true;
    }

    /// Some database records changes for a watcher (see `watching`).
    pub fn watching(&self) -> bool {
        self.watching
    }
    pub fn used_memory(&self) -> usize {
        self.dbs.iter().map(Db::used_memory).sum()
    }
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }
    pub fn expired_keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.expired_keys).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::StrValue;

    /// What a key costs in the table besides its value's own blocks
    /// (`CACHELAB_BENCH=memory` measures the whole).
    #[test]
    fn an_entry_and_a_key_stay_small() {
        assert!(std::mem::size_of::<Entry>() <= 48);
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        let now = Millis(1_700_000_123_456);
        let a = Atime::at(now);
        assert_eq!(a.idle_ms(now), 0);
        assert_eq!(
            a.idle_ms(Millis(now.0 + 999)),
            1000,
            "the clock ticks in seconds"
        );
        assert_eq!(Atime::idle_before(now, 30).idle_ms(now), 30_000);
        assert_eq!(a.minutes_idle(Millis(now.0 + 120_000)), 2);
    }

    fn sv(s: &str) -> Value {
        Value::Str(StrValue::from_bytes(s.as_bytes(), true))
    }

    #[test]
    fn scan_returns_every_key_present_throughout_despite_deletes() {
        let now = Millis(0);
        for seed in 0..50u64 {
            let mut rng = Rng::new(seed);
            let mut db = Db::new(seed);
            for i in 0..200 {
                db.set(format!("k{i}").as_bytes(), sv("v"), now, false);
            }
            // Keys k0..k99 are never deleted; others churn during the scan.
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0;
            loop {
                let page = db.scan(cursor, 7, now, |_| true, |_| true);
                seen.extend(page.keys);
                for _ in 0..3 {
                    let i = 100 + rng.below(100);
                    db.remove(format!("k{i}").as_bytes());
                    db.set(
                        format!("n{}", rng.next_u64()).as_bytes(),
                        sv("v"),
                        now,
                        false,
                    );
                }
                cursor = page.cursor;
                if cursor == 0 {
                    break;
                }
            }
            for i in 0..100 {
                assert!(
                    seen.contains(format!("k{i}").as_bytes()),
                    "seed {seed} missed k{i}"
                );
            }
        }
    }

    #[test]
    fn active_expiry_removes_expired_keys_over_cycles() {
        let mut rng = Rng::new(1);
        let mut db = Db::new(1);
        for i in 0..1000 {
            let k = format!("k{i}");
            db.set(k.as_bytes(), sv("v"), Millis(0), false);
            db.set_expire(k.as_bytes(), Millis(if i < 900 { 100 } else { 1_000_000 }));
        }
        let mut cycles = 0;
        while db.len() > 100 && cycles < 1000 {
            db.active_expire(Millis(200), &mut rng, 1);
            cycles += 1;
        }
        assert_eq!(db.len(), 100, "after {cycles} cycles");
        assert_eq!(db.expired_keys, 900);
    }

    #[test]
    fn memory_returns_to_zero() {
        let mut db = Db::new(0);
        db.set(b"a", sv("hello"), Millis(0), false);
        db.set_expire(b"a", Millis(5));
        db.modify(b"a", Millis(0), |v| {
            let Value::Str(s) = v else { panic!("a string") };
            s.make_raw().extend_from_slice(b" world");
            s.note_growth();
        });
        assert!(db.used_memory() > 0);
        db.remove(b"a");
        assert_eq!(db.used_memory(), 0);
    }

    /// The LRU clock is Redis's: 24 bits of seconds, read across its wrap,
    /// and RESTORE's IDLETIME wraps as redis-server 7.0 answers it (the
    /// figures are redis-server's OBJECT IDLETIME replies).
    #[test]
    fn the_lru_clock_wraps_as_redis_s() {
        for clock in [1_000u64, 1_837_888] {
            let now = Millis(clock * 1000 + 250);
            let idle = |i: u64| Atime::idle_before(now, i).idle_ms(now) / 1000;
            assert_eq!(idle(30), 30);
            assert_eq!(idle(16_777_214), 16_777_214);
            assert_eq!(idle(16_777_215), 0);
            assert_eq!(idle(16_777_216), 1);
            assert_eq!(idle(20_000_000), 3_222_784);
            assert_eq!(idle(100_000_000), 16_113_920);
        }
        // An access just before the wrap, read just after it.
        let before = Atime::at(Millis((LRU_CLOCK_MAX as u64 - 5) * 1000));
        assert_eq!(
            before.idle_ms(Millis((LRU_CLOCK_MAX as u64 + 1 + 10) * 1000)),
            15_000
        );
    }

    /// Every TTL slot points at its key and back, through random sets,
    /// expiries, persists and deletes, and the TTLs read back as a plain
    /// map of them says.
    #[test]
    fn ttl_slots_follow_their_keys_through_swap_removes() {
        let mut db = Db::new(1);
        let mut rng = Rng::new(7);
        let mut model: std::collections::HashMap<Vec<u8>, Option<Millis>> = Default::default();
        for step in 0..20_000u64 {
            let k = format!("k{}", rng.below(300)).into_bytes();
            match rng.below(5) {
                0 => {
                    let keep = rng.below(2) == 0;
                    db.set(&k, sv("v"), Millis(0), keep);
                    let old = model.get(&k).copied().flatten();
                    model.insert(k, if keep { old } else { None });
                }
                1 if model.contains_key(&k) => {
                    db.set_expire(&k, Millis(1000 + step));
                    model.insert(k, Some(Millis(1000 + step)));
                }
                2 if model.contains_key(&k) => {
                    assert_eq!(db.persist(&k), model[&k].is_some());
                    model.insert(k, None);
                }
                3 => {
                    assert_eq!(db.remove(&k).is_some(), model.remove(&k).is_some());
                }
                _ => {}
            }
            for (i, &p) in db.ttl_pos.iter().enumerate() {
                assert_eq!(db.keys[p as usize].ttl as usize, i, "step {step}");
            }
        }
        assert_eq!(db.len(), model.len());
        let with_ttl = model.values().filter(|t| t.is_some()).count();
        assert_eq!(db.expires_len(), with_ttl);
        for (k, t) in &model {
            assert_eq!(db.expire_at(k), *t);
        }
        assert_eq!(
            db.used_memory() - db.mem,
            8 * (db.len() + with_ttl)
                + 8 * db.len().next_power_of_two().max(4)
                + if with_ttl == 0 {
                    0
                } else {
                    8 * with_ttl.next_power_of_two().max(4)
                }
        );
    }
}
