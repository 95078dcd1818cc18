//! LATENCY: Redis 7.0's latency monitor (`latency.c`, `sparkline.c`) and
//! the per-command latency histograms behind LATENCY HISTOGRAM and INFO
//! latencystats (`server.c`, `deps/hdr_histogram`).
//!
//! Events: a time series per event name of at most 160 samples (one per
//! second: a second sample within the same second keeps the larger
//! latency), the all-time maximum, created on the first sample
//! (`latencyAddSample`). Times are Unix seconds from `ctx.now`; a sample at
//! time 0 counts as an empty slot, as in Redis.
//!
//! Histograms: one hdr histogram per command full name, in nanoseconds,
//! 1 ns .. 1 s, 2 significant digits (`updateCommandLatencyHistogram`). The
//! parts of hdr_histogram that decide bucket boundaries, the logarithmic
//! iterator (`hdr_iter_log_init(.., 1024, 2)`) and `hdr_value_at_percentile`
//! are ported exactly; counts are kept sparse.
//!
//! Order: Redis lists events and commands in the order of its dicts, which
//! hash with a per-process random seed; here events come in the order they
//! were first seen and commands sorted by name (each parent followed by its
//! subcommands).

use std::collections::BTreeMap;

use super::{Ctx, Handler};
use crate::protocol::Reply;

/// `LATENCY_TS_LEN`.
const TS_LEN: usize = 160;
/// `LATENCY_GRAPH_COLS`.
const GRAPH_COLS: usize = 80;

/// `struct latencySample`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sample {
    time: i64,
    latency: u32,
}

/// `struct latencyTimeSeries`.
#[derive(Clone, Debug)]
struct TimeSeries {
    idx: usize,
    max: u32,
    samples: Vec<Sample>,
}

impl TimeSeries {
    fn new() -> TimeSeries {
        TimeSeries {
            idx: 0,
            max: 0,
            samples: vec![Sample::default(); TS_LEN],
        }
    }

    /// The samples oldest first, skipping empty slots.
    fn ordered(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..TS_LEN)
            .map(move |j| self.samples[(self.idx + j) % TS_LEN])
            .filter(|s| s.time != 0)
    }
}

/// The latency monitor's state (events and per-command histograms).
#[derive(Clone, Debug, Default)]
pub struct Latency {
    /// Events in the order they were first seen.
    events: Vec<(String, TimeSeries)>,
    /// Per-command histograms by [`Command::id`](super::Command::id).
    histograms: Vec<Option<Box<Hist>>>,
}

impl Latency {
    /// latencyAddSampleIfNeeded: `threshold_ms` is latency-monitor-threshold (0 = disabled);
    /// `now_secs` is Unix time in seconds; `ms` the event's latency in milliseconds.
    pub fn add_sample_if_needed(&mut self, event: &str, threshold_ms: u64, now_secs: u64, ms: u64) {
        if threshold_ms != 0 && ms >= threshold_ms {
            self.add_sample(event, now_secs as i64, ms);
        }
    }

    /// `latencyAddSample`.
    pub fn add_sample(&mut self, event: &str, now: i64, ms: u64) {
        let pos = match self.events.iter().position(|(e, _)| e == event) {
            Some(p) => p,
            None => {
                self.events.push((event.to_string(), TimeSeries::new()));
                self.events.len() - 1
            }
        };
        let ts = &mut self.events[pos].1;
        let latency = ms.min(u32::MAX as u64) as u32;
        if latency > ts.max {
            ts.max = latency;
        }
        let prev = (ts.idx + TS_LEN - 1) % TS_LEN;
        if ts.samples[prev].time == now {
            if latency > ts.samples[prev].latency {
                ts.samples[prev].latency = latency;
            }
            return;
        }
        ts.samples[ts.idx] = Sample { time: now, latency };
        ts.idx = (ts.idx + 1) % TS_LEN;
    }

    /// Whether any event has been recorded (and not reset).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// `latencyResetEvent`: all events (None) or those named so, ignoring
    /// case; returns how many were removed.
    pub fn reset_event(&mut self, event: Option<&[u8]>) -> usize {
        let before = self.events.len();
        self.events
            .retain(|(e, _)| !event.is_none_or(|name| e.as_bytes().eq_ignore_ascii_case(name)));
        before - self.events.len()
    }

    /// Records one command's duration for LATENCY HISTOGRAM / INFO latencystats
    /// (Redis keeps an hdr histogram per command, 1 µs .. 1 s range, 2 significant digits).
    pub fn record_command(&mut self, id: usize, usec: u64) {
        // updateCommandLatencyHistogram: nanoseconds, clamped to the range.
        let ns = usec.saturating_mul(1000).clamp(HIST_MIN, HIST_MAX) as i64;
        if self.histograms.len() <= id {
            self.histograms.resize_with(id + 1, || None);
        }
        self.histograms[id].get_or_insert_default().record(ns);
    }

    /// Command `id`'s histogram, once it has one.
    fn histogram(&self, id: usize) -> Option<&Hist> {
        self.histograms.get(id)?.as_deref()
    }

    /// The lines of INFO latencystats: ("latency_percentiles_usec_<cmd>", "p50=...,p99=...,p99.9=...")
    /// for the given percentiles (config latency-tracking-info-percentiles, default "50 99 99.9"), as
    /// fillPercentileDistributionLatencies formats them.
    pub fn info_lines(&self, percentiles: &[f64]) -> Vec<(String, String)> {
        self.commands_with_data()
            .into_iter()
            .map(|(name, h)| {
                let value = percentiles
                    .iter()
                    .map(|&p| {
                        format!(
                            "p{}={:.3}",
                            trim_double(&format!("{p:.6}")),
                            h.value_at_percentile(p) as f64 / 1000.0
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                (
                    format!("latency_percentiles_usec_{}", safe_info_string(name)),
                    value,
                )
            })
            .collect()
    }

    /// Forget per-command histograms (CONFIG RESETSTAT).
    pub fn reset_histograms(&mut self) {
        self.histograms.clear();
    }

    /// The histograms in listing order: each parent command, then its
    /// subcommands.
    fn commands_with_data(&self) -> Vec<(&str, &Hist)> {
        let names = &super::CommandTable::shared().names;
        let mut v: Vec<(&str, &Hist)> = self
            .histograms
            .iter()
            .enumerate()
            .filter_map(|(id, h)| Some((names.get(id)?.as_str(), h.as_deref()?)))
            .collect();
        v.sort_by(|a, b| split_name(a.0).cmp(&split_name(b.0)));
        v
    }

    /// `latencyCommandGenSparkeline` for the event named exactly `event`.
    pub fn graph(&self, event: &str, now: i64) -> Option<String> {
        let (name, ts) = self.events.iter().find(|(e, _)| e == event)?;
        let mut seq = Sequence::default();
        let (mut min, mut max) = (0u32, 0u32);
        for s in ts.ordered() {
            if seq.samples.is_empty() {
                min = s.latency;
                max = s.latency;
            } else {
                max = max.max(s.latency);
                min = min.min(s.latency);
            }
            let elapsed = now - s.time;
            let label = if elapsed < 60 {
                format!("{elapsed}s")
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 3600 * 24 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / (3600 * 24))
            };
            seq.add(s.latency as f64, label);
        }
        let mut out = format!(
            "{name} - high {max} ms, low {min} ms (all time high {} ms)\n",
            ts.max
        );
        out.push_str(&"-".repeat(GRAPH_COLS));
        out.push('\n');
        seq.render(&mut out, GRAPH_COLS, 4);
        Some(out)
    }

    /// `analyzeLatencyForEvent`.
    fn analyze(ts: &TimeSeries, now: i64) -> Stats {
        let mut ls = Stats::default();
        let mut sum: u64 = 0;
        let mut oldest: i64 = 0;
        for s in ts.ordered() {
            ls.samples += 1;
            if ls.samples == 1 {
                ls.min = s.latency;
                ls.max = s.latency;
            } else {
                ls.min = ls.min.min(s.latency);
                ls.max = ls.max.max(s.latency);
            }
            sum += s.latency as u64;
            if oldest == 0 || s.time < oldest {
                oldest = s.time;
            }
        }
        if ls.samples > 0 {
            ls.avg = (sum / ls.samples as u64) as u32;
            ls.period = now - oldest;
            if ls.period == 0 {
                ls.period = 1;
            }
            let mad: u64 = ts
                .ordered()
                .map(|s| (ls.avg as i64 - s.latency as i64).unsigned_abs())
                .sum();
            ls.mad = (mad / ls.samples as u64) as u32;
        }
        ls
    }

    /// `createLatencyReport`, for a server with the given
    /// `latency-monitor-threshold`, `slowlog-log-slower-than` and `hz`
    /// (no fork, no AOF, no transparent huge pages here).
    pub fn report(&self, now: i64, threshold_ms: u64, slowlog_slower_than: i64, hz: u64) -> String {
        if self.events.is_empty() && threshold_ms == 0 {
            return DISABLED.to_string();
        }
        let mut a = Advice::default();
        let mut advices = 0;
        let mut report = String::new();
        for (eventnum, (event, ts)) in self.events.iter().enumerate() {
            let eventnum = eventnum + 1;
            if eventnum == 1 {
                report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
            }
            let ls = Self::analyze(ts, now);
            report.push_str(&format!(
                "{eventnum}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
                ls.samples,
                ls.avg,
                ls.mad,
                ls.period as f64 / ls.samples as f64,
                ts.max
            ));
            let is = |name: &str| event.eq_ignore_ascii_case(name);
            if is("fork") {
                // No fork ever happens here: stat_fork_rate stays 0.
                a.better_vm = true;
                advices += 1;
                report.push_str(&format!(
                    " Fork rate is {:.2} GB/sec ({}).",
                    0.0, "terrible"
                ));
            }
            if is("command") {
                if slowlog_slower_than < 0 {
                    a.slowlog_enabled = true;
                    advices += 1;
                } else if (slowlog_slower_than / 1000) as u64 > threshold_ms {
                    a.slowlog_tuning = true;
                    advices += 1;
                }
                a.slowlog_inspect = true;
                a.large_objects = true;
                advices += 2;
            }
            if is("fast-command") {
                a.scheduler = true;
                advices += 1;
            }
            if is("aof-write-pending-fsync") {
                a.local_disk = true;
                a.disk_contention = true;
                a.ssd = true;
                a.data_writeback = true;
                advices += 4;
            }
            if is("aof-write-active-child") {
                a.no_appendfsync = true;
                a.data_writeback = true;
                a.ssd = true;
                advices += 3;
            }
            if is("aof-write-alone") {
                a.local_disk = true;
                a.data_writeback = true;
                a.ssd = true;
                advices += 3;
            }
            if is("aof-fsync-always") {
                // Counted, but only printed with appendfsync always (no AOF here).
                advices += 1;
            }
            if is("aof-fstat") || is("rdb-unlink-temp-file") {
                a.disk_contention = true;
                a.local_disk = true;
                advices += 2;
            }
            if is("aof-rewrite-diff-write") || is("aof-rename") {
                a.write_load_info = true;
                a.data_writeback = true;
                a.ssd = true;
                a.local_disk = true;
                advices += 4;
            }
            if is("expire-cycle") {
                a.hz = true;
                a.large_objects = true;
                advices += 2;
            }
            if is("eviction-del") {
                a.large_objects = true;
                advices += 1;
            }
            if is("eviction-cycle") {
                a.mass_eviction = true;
                advices += 1;
            }
            report.push('\n');
        }
        let eventnum = self.events.len();
        if eventnum == 0 && advices == 0 {
            report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        } else if eventnum > 0 && advices == 0 {
            report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        } else {
            report.push_str("\nI have a few advices for you:\n\n");
            if a.better_vm {
                report.push_str("- If you are using a virtual machine, consider upgrading it with a faster one using a hypervisior that provides less latency during fork() calls. Xen is known to have poor fork() performance. Even in the context of the same VM provider, certain kinds of instances can execute fork faster than others.\n");
            }
            if a.slowlog_enabled {
                report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold_ms.wrapping_mul(1000)));
            }
            if a.slowlog_tuning {
                report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold_ms.wrapping_mul(1000)));
            }
            if a.slowlog_inspect {
                report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
            }
            if a.scheduler {
                report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
            }
            if a.local_disk {
                report.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
            }
            if a.ssd {
                report.push_str("- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
            }
            if a.data_writeback {
                report.push_str("- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n");
            }
            if a.disk_contention {
                report.push_str("- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
            }
            if a.no_appendfsync {
                report.push_str("- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n");
            }
            if a.write_load_info {
                report.push_str("- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n");
            }
            if a.hz && hz < 100 {
                report.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
            }
            if a.large_objects {
                report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
            }
            if a.mass_eviction {
                report.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
            }
        }
        report
    }
}

const DISABLED: &str = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n";

/// `struct latencyStats`.
#[derive(Default)]
struct Stats {
    avg: u32,
    min: u32,
    max: u32,
    mad: u32,
    samples: u32,
    period: i64,
}

/// The advice flags of `createLatencyReport` reachable here.
#[derive(Default)]
struct Advice {
    better_vm: bool,
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    disk_contention: bool,
    scheduler: bool,
    data_writeback: bool,
    no_appendfsync: bool,
    local_disk: bool,
    ssd: bool,
    write_load_info: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
}

/// A full name as (command, subcommand) for listing order.
fn split_name(name: &str) -> (&str, &str) {
    match name.split_once('|') {
        Some((a, b)) => (a, b),
        None => (name, ""),
    }
}

/// `trimDoubleString`: drop trailing zeros (and a bare point) after a point.
fn trim_double(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `getSafeInfoString`: '#', ':', CR and LF become '_'.
fn safe_info_string(s: &str) -> String {
    s.replace(['#', ':', '\n', '\r'], "_")
}

// ---------------------------------------------------------------------------
// sparkline.c

/// `charset_fill` (the graph is always drawn with SPARKLINE_FILL).
const CHARSET_FILL: &[u8] = b"_o#";
const LABEL_MARGIN_TOP: usize = 1;

/// `struct sequence`.
#[derive(Default)]
struct Sequence {
    samples: Vec<(f64, String)>,
    min: f64,
    max: f64,
    labels: usize,
}

impl Sequence {
    /// `sparklineSequenceAddSample`.
    fn add(&mut self, value: f64, label: String) {
        if self.samples.is_empty() {
            self.min = value;
            self.max = value;
        } else if value < self.min {
            self.min = value;
        } else if value > self.max {
            self.max = value;
        }
        if !label.is_empty() {
            self.labels += 1;
        }
        self.samples.push((value, label));
    }

    /// `sparklineRender`.
    fn render(&self, out: &mut String, columns: usize, rows: usize) {
        let mut j = 0;
        while j < self.samples.len() {
            let sublen = (self.samples.len() - j).min(columns);
            if j != 0 {
                out.push('\n');
            }
            self.render_range(out, rows, j, sublen);
            j += columns;
        }
    }

    /// `sparklineRenderRange` with SPARKLINE_FILL.
    fn render_range(&self, out: &mut String, rows: usize, offset: usize, len: usize) {
        let charset_len = CHARSET_FILL.len() as i64;
        let mut relmax = self.max - self.min;
        if relmax == 0.0 {
            relmax = 1.0;
        }
        let steps = charset_len * rows as i64;
        let mut row = 0usize;
        let mut chars = vec![b' '; len];
        let mut more = true;
        while more {
            more = false;
            chars.iter_mut().for_each(|c| *c = b' ');
            for (j, c) in chars.iter_mut().enumerate() {
                let (value, label) = &self.samples[j + offset];
                let relval = value - self.min;
                // C: `step = (int) (relval*steps)/relmax;`
                let mut step = (((relval * steps as f64) as i32) as f64 / relmax) as i64;
                if step < 0 {
                    step = 0;
                }
                if step >= steps {
                    step = steps - 1;
                }
                if row < rows {
                    let charidx = step - (rows - row - 1) as i64 * charset_len;
                    more = true;
                    if (0..charset_len).contains(&charidx) {
                        *c = CHARSET_FILL[charidx as usize];
                    } else if charidx >= charset_len {
                        *c = b'|';
                    }
                } else {
                    if self.labels > 0 && row - rows < LABEL_MARGIN_TOP {
                        more = true;
                        break;
                    }
                    let label_char = row - rows - LABEL_MARGIN_TOP;
                    if label.len() > label_char {
                        more = true;
                        *c = label.as_bytes()[label_char];
                    }
                }
            }
            if more {
                row += 1;
                out.push_str(&String::from_utf8_lossy(&chars));
                out.push('\n');
            }
        }
    }
}

// ---------------------------------------------------------------------------
// hdr_histogram, as Redis configures it: hdr_init(1, 1000000000, 2).

/// `LATENCY_HISTOGRAM_MIN_VALUE` and `LATENCY_HISTOGRAM_MAX_VALUE` (ns).
const HIST_MIN: u64 = 1;
const HIST_MAX: u64 = 1_000_000_000;
/// What `hdr_calculate_bucket_config(1, 1e9, 2)` derives.
const UNIT_MAGNITUDE: i32 = 0;
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: i32 = 7;
const SUB_BUCKET_HALF_COUNT: i32 = 128;
const SUB_BUCKET_COUNT: i32 = 256;
const SUB_BUCKET_MASK: i64 = (SUB_BUCKET_COUNT as i64 - 1) << UNIT_MAGNITUDE;
const BUCKET_COUNT: i32 = 23;
const COUNTS_LEN: i32 = (BUCKET_COUNT + 1) * (SUB_BUCKET_COUNT / 2);

/// One command's histogram: counts by index (sparse) and the total.
#[derive(Clone, Debug, Default)]
struct Hist {
    counts: BTreeMap<i32, i64>,
    total_count: i64,
}

fn get_bucket_index(value: i64) -> i32 {
    let pow2ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros() as i32;
    pow2ceiling - UNIT_MAGNITUDE - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
}

fn get_sub_bucket_index(value: i64, bucket_index: i32) -> i32 {
    (value >> (bucket_index + UNIT_MAGNITUDE)) as i32
}

fn counts_index(bucket_index: i32, sub_bucket_index: i32) -> i32 {
    ((bucket_index + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub_bucket_index
        - SUB_BUCKET_HALF_COUNT
}

fn value_from_index(bucket_index: i32, sub_bucket_index: i32) -> i64 {
    (sub_bucket_index as i64) << (bucket_index + UNIT_MAGNITUDE)
}

/// `hdr_value_at_index`.
fn value_at_index(index: i32) -> i64 {
    let mut bucket_index = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1;
    let mut sub_bucket_index = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if bucket_index < 0 {
        sub_bucket_index -= SUB_BUCKET_HALF_COUNT;
        bucket_index = 0;
    }
    value_from_index(bucket_index, sub_bucket_index)
}

fn size_of_range(bucket_index: i32, sub_bucket_index: i32) -> i64 {
    let adjusted = if sub_bucket_index >= SUB_BUCKET_COUNT {
        bucket_index + 1
    } else {
        bucket_index
    };
    1i64 << (UNIT_MAGNITUDE + adjusted)
}

fn lowest_equivalent_value(value: i64) -> i64 {
    let b = get_bucket_index(value);
    value_from_index(b, get_sub_bucket_index(value, b))
}

fn highest_equivalent_value(value: i64) -> i64 {
    let b = get_bucket_index(value);
    let sb = get_sub_bucket_index(value, b);
    value_from_index(b, sb) + size_of_range(b, sb) - 1
}

impl Hist {
    /// `hdr_record_value`.
    fn record(&mut self, value: i64) {
        let b = get_bucket_index(value);
        let idx = counts_index(b, get_sub_bucket_index(value, b));
        if value < 0 || !(0..COUNTS_LEN).contains(&idx) {
            return;
        }
        *self.counts.entry(idx).or_insert(0) += 1;
        self.total_count += 1;
    }

    fn count_at(&self, idx: i32) -> i64 {
        self.counts.get(&idx).copied().unwrap_or(0)
    }

    /// `hdr_value_at_percentile`.
    fn value_at_percentile(&self, percentile: f64) -> i64 {
        let requested = if percentile < 100.0 {
            percentile
        } else {
            100.0
        };
        let count_at = ((requested / 100.0) * self.total_count as f64 + 0.5) as i64;
        let count_at = count_at.max(1);
        let mut total = 0;
        let mut value = 0;
        for (&idx, &c) in &self.counts {
            total += c;
            if total >= count_at {
                value = value_at_index(idx);
                break;
            }
        }
        if percentile == 0.0 {
            lowest_equivalent_value(value)
        } else {
            highest_equivalent_value(value)
        }
    }

    /// `fillCommandCDF`'s buckets: walk `hdr_iter_log_init(h, 1024, 2)` and
    /// report (highest equivalent value in µs, cumulative count) whenever the
    /// cumulative count grew.
    fn cdf(&self) -> Vec<(i64, i64)> {
        let mut it = LogIter::new(self);
        let mut out = Vec::new();
        let mut previous = 0;
        while it.next() {
            if it.cumulative_count > previous {
                out.push((it.highest_equivalent_value / 1000, it.cumulative_count));
            }
            previous = it.cumulative_count;
        }
        out
    }

    fn reply(&self) -> Reply {
        Reply::Map(vec![
            (Reply::bulk("calls"), Reply::Int(self.total_count)),
            (
                Reply::bulk("histogram_usec"),
                Reply::Map(
                    self.cdf()
                        .into_iter()
                        .map(|(k, v)| (Reply::Int(k), Reply::Int(v)))
                        .collect(),
                ),
            ),
        ])
    }
}

/// `struct hdr_iter` with `log_iter_next`.
struct LogIter<'a> {
    h: &'a Hist,
    counts_index: i32,
    cumulative_count: i64,
    value: i64,
    highest_equivalent_value: i64,
    next_value_reporting_level: i64,
    next_value_reporting_level_lowest_equivalent: i64,
}

impl<'a> LogIter<'a> {
    fn new(h: &'a Hist) -> LogIter<'a> {
        LogIter {
            h,
            counts_index: -1,
            cumulative_count: 0,
            value: 0,
            highest_equivalent_value: 0,
            next_value_reporting_level: 1024,
            next_value_reporting_level_lowest_equivalent: lowest_equivalent_value(1024),
        }
    }

    fn move_next(&mut self) -> bool {
        self.counts_index += 1;
        if self.counts_index >= COUNTS_LEN {
            return false;
        }
        self.cumulative_count += self.h.count_at(self.counts_index);
        let value = value_at_index(self.counts_index);
        let b = get_bucket_index(value);
        let sb = get_sub_bucket_index(value, b);
        let leq = value_from_index(b, sb);
        self.value = value;
        self.highest_equivalent_value = leq + size_of_range(b, sb) - 1;
        true
    }

    fn next(&mut self) -> bool {
        let has_next = self.cumulative_count < self.h.total_count;
        let peek_beyond = self.counts_index < COUNTS_LEN
            && value_at_index(self.counts_index + 1)
                > self.next_value_reporting_level_lowest_equivalent;
        if !(has_next || peek_beyond) {
            return false;
        }
        loop {
            if self.value >= self.next_value_reporting_level_lowest_equivalent {
                self.next_value_reporting_level *= 2;
                self.next_value_reporting_level_lowest_equivalent =
                    lowest_equivalent_value(self.next_value_reporting_level);
                return true;
            }
            if !self.move_next() {
                return true;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The command.

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "latency|latest" => latest,
        "latency|history" => history,
        "latency|reset" => reset,
        "latency|graph" => graph,
        "latency|doctor" => doctor,
        "latency|histogram" => histogram,
        "latency|help" => |c, _| c.table.help["latency"].clone(),
        _ => return None,
    })
}

fn now_secs(ctx: &Ctx) -> i64 {
    ctx.now.as_secs() as i64
}

/// LATENCY LATEST: [event, time of the latest sample, its latency, all-time max].
fn latest(ctx: &mut Ctx, _argv: &[Vec<u8>]) -> Reply {
    Reply::Array(
        ctx.srv
            .latency
            .events
            .iter()
            .map(|(event, ts)| {
                let last = ts.samples[(ts.idx + TS_LEN - 1) % TS_LEN];
                Reply::Array(vec![
                    Reply::bulk(event),
                    Reply::Int(last.time),
                    Reply::Int(last.latency as i64),
                    Reply::Int(ts.max as i64),
                ])
            })
            .collect(),
    )
}

/// LATENCY HISTORY event: [time, latency] oldest first; the event name is
/// matched exactly.
fn history(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let found = ctx
        .srv
        .latency
        .events
        .iter()
        .find(|(e, _)| e.as_bytes() == c_bytes(&argv[2]));
    match found {
        None => Reply::Array(Vec::new()),
        Some((_, ts)) => Reply::Array(
            ts.ordered()
                .map(|s| Reply::Array(vec![Reply::Int(s.time), Reply::Int(s.latency as i64)]))
                .collect(),
        ),
    }
}

/// LATENCY RESET [event ...]: how many events were removed.
fn reset(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let lat = &mut ctx.srv.latency;
    let n = if argv.len() == 2 {
        lat.reset_event(None)
    } else {
        argv[2..]
            .iter()
            .map(|e| lat.reset_event(Some(c_bytes(e))))
            .sum::<usize>()
    };
    Reply::Int(n as i64)
}

fn graph(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = now_secs(ctx);
    let text = std::str::from_utf8(c_bytes(&argv[2]))
        .ok()
        .and_then(|event| ctx.srv.latency.graph(event, now));
    match text {
        Some(g) => Reply::Verbatim("txt", g.into_bytes()),
        None => Reply::err(format!(
            "ERR No samples available for event '{}'",
            c_string(&argv[2])
        )),
    }
}

fn doctor(ctx: &mut Ctx, _argv: &[Vec<u8>]) -> Reply {
    let now = now_secs(ctx);
    let cfg = &ctx.srv.config;
    let report = ctx
        .srv
        .latency
        .report(now, cfg.latency_threshold_ms(), cfg.slowlog().0, cfg.hz());
    Reply::Verbatim("txt", report.into_bytes())
}

/// LATENCY HISTOGRAM [command ...]: {fullname: {calls, histogram_usec}}.
fn histogram(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let lat = &ctx.srv.latency;
    let entry = |name: &str, h: &Hist| (Reply::bulk(name), h.reply());
    if argv.len() == 2 {
        return Reply::Map(
            lat.commands_with_data()
                .into_iter()
                .map(|(n, h)| entry(n, h))
                .collect(),
        );
    }
    let mut out = Vec::new();
    for arg in &argv[2..] {
        // lookupCommandBySds: "cmd" or "cmd|sub", exactly one level.
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        let parts: Vec<&str> = name.split('|').collect();
        if name.is_empty() || parts.len() > 2 {
            continue;
        }
        let Some(base) = ctx.table.commands.get(parts[0]) else {
            continue;
        };
        let cmd = if parts.len() == 1 {
            base
        } else if base.subcommands.is_empty() {
            continue;
        } else {
            match base.subcommands.get(parts[1]) {
                Some(s) => s,
                None => continue,
            }
        };
        if let Some(h) = lat.histogram(cmd.id) {
            out.push(entry(&cmd.fullname, h));
        }
        let mut subs: Vec<&super::Command> = cmd.subcommands.values().collect();
        subs.sort_unstable_by(|a, b| a.fullname.cmp(&b.fullname));
        for sub in subs {
            if let Some(h) = lat.histogram(sub.id) {
                out.push(entry(&sub.fullname, h));
            }
        }
    }
    Reply::Map(out)
}

/// An argument as C sees it (`%s`, strcmp): up to the first NUL.
fn c_bytes(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

fn c_string(b: &[u8]) -> String {
    String::from_utf8_lossy(c_bytes(b)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from redis-server 7.0.15: 95 "command" samples (DEBUG SLEEP
    // once a second, latency-monitor-threshold 1), LATENCY GRAPH and DOCTOR
    // at Unix time 1796522269; and a DOCTOR with six events at 1796522338.
    const S95: &[(i64, u64)] = &[
        (1796522143, 16),
        (1796522144, 7),
        (1796522145, 21),
        (1796522146, 12),
        (1796522147, 3),
        (1796522148, 17),
        (1796522149, 8),
        (1796522150, 22),
        (1796522151, 13),
        (1796522152, 4),
        (1796522153, 18),
        (1796522154, 9),
        (1796522155, 23),
        (1796522156, 14),
        (1796522157, 5),
        (1796522158, 19),
        (1796522159, 10),
        (1796522160, 24),
        (1796522161, 15),
        (1796522162, 6),
        (1796522163, 20),
        (1796522164, 11),
        (1796522165, 2),
        (1796522166, 16),
        (1796522167, 7),
        (1796522168, 21),
        (1796522169, 12),
        (1796522170, 3),
        (1796522171, 17),
        (1796522172, 8),
        (1796522173, 22),
        (1796522174, 13),
        (1796522175, 4),
        (1796522176, 18),
        (1796522177, 9),
        (1796522179, 23),
        (1796522180, 14),
        (1796522181, 5),
        (1796522182, 19),
        (1796522183, 10),
        (1796522184, 24),
        (1796522185, 15),
        (1796522186, 6),
        (1796522187, 20),
        (1796522188, 11),
        (1796522189, 2),
        (1796522190, 16),
        (1796522191, 7),
        (1796522192, 21),
        (1796522193, 12),
        (1796522194, 3),
        (1796522195, 17),
        (1796522196, 8),
        (1796522197, 22),
        (1796522198, 13),
        (1796522199, 4),
        (1796522200, 18),
        (1796522201, 9),
        (1796522202, 23),
        (1796522203, 14),
        (1796522204, 5),
        (1796522205, 19),
        (1796522206, 10),
        (1796522207, 24),
        (1796522208, 15),
        (1796522209, 6),
        (1796522210, 20),
        (1796522211, 11),
        (1796522212, 2),
        (1796522213, 16),
        (1796522214, 7),
        (1796522215, 21),
        (1796522216, 12),
        (1796522217, 3),
        (1796522218, 17),
        (1796522219, 8),
        (1796522220, 22),
        (1796522221, 13),
        (1796522222, 4),
        (1796522223, 18),
        (1796522224, 9),
        (1796522226, 23),
        (1796522227, 14),
        (1796522228, 5),
        (1796522229, 19),
        (1796522230, 10),
        (1796522231, 24),
        (1796522232, 15),
        (1796522233, 6),
        (1796522234, 20),
        (1796522235, 11),
        (1796522236, 2),
        (1796522237, 16),
        (1796522238, 7),
        (1796522239, 21),
    ];
    const GRAPH95: &str = "command - high 24 ms, low 2 ms (all time high 24 ms)\n--------------------------------------------------------------------------------\n  o    o    #  _ #  _    o    o    #  _ #  _    o    o    #  _ #  _    o    o   \no |  # |_ # |_ | |o |  o |  # |_ # |_ | |o |  o |  # |_ # |_ | |o |  o |  # |_ #\n| |# |_|| |_|| |o|| |o | |# |_|| |_|| |o|| |o | |# |_|| |_|| |o|| |o | |# |_|| |\n|#||_||||o||||o||||#||_|#||_||||o||||o||||#||_|#||_||||o||||o||||#||_|#||_||||o|\n                                                                                \n22222221111111111111111111111111111111111111111111111111111111111155555555554444\nmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm98765432109876\n                                                                  ssssssssssssss\n\n #  _ #  _    o\n |_ | |o |  o |\n_|| |o|| |o | |\n|||o||||#||_|#|\n               \n444443333333333\n532109876543210\nsssssssssssssss\n";
    const DOCTOR95: &str = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. command: 95 latency spikes (average 13ms, mean deviation 5ms, period 1.33 sec). Worst all time event 24ms.\n\nI have a few advices for you:\n\n- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than 1000'.\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n";
    const DOCTOR6: &str = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. expire-del: 3 latency spikes (average 13ms, mean deviation 7ms, period 5.33 sec). Worst all time event 24ms.\n2. eviction-cycle: 2 latency spikes (average 12ms, mean deviation 5ms, period 2.00 sec). Worst all time event 18ms.\n3. fast-command: 4 latency spikes (average 127ms, mean deviation 61ms, period 4.25 sec). Worst all time event 188ms.\n4. command: 3 latency spikes (average 288ms, mean deviation 197ms, period 5.67 sec). Worst all time event 584ms.\n5. expire-cycle: 3 latency spikes (average 27ms, mean deviation 11ms, period 5.33 sec). Worst all time event 41ms.\n6. eviction-del: 2 latency spikes (average 9ms, mean deviation 8ms, period 2.00 sec). Worst all time event 18ms.\n\nI have a few advices for you:\n\n- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than 1000'.\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n";

    fn latency_with(events: &[(&str, &[(i64, u64)])]) -> Latency {
        let mut l = Latency::default();
        for (name, samples) in events {
            for &(t, ms) in samples.iter() {
                l.add_sample(name, t, ms);
            }
        }
        l
    }

    const SMALL: &[(i64, u64)] = &[
        (1796522119, 50),
        (1796522120, 200),
        (1796522121, 12),
        (1796522123, 300),
        (1796522124, 100),
        (1796522125, 100),
        (1796522126, 30),
        (1796522127, 250),
        (1796522128, 20),
        (1796522128, 40),
    ];

    #[test]
    fn graph_matches_redis() {
        let l = latency_with(&[("command", SMALL)]);
        let want = format!(
            "command - high 300 ms, low 12 ms (all time high 300 ms)\n{}\n   #   _ \n o |   | \n | |__ | \no|_|||_|o\n         \n111111987\n654210sss\nssssss   \n",
            "-".repeat(80)
        );
        assert_eq!(l.graph("command", 1796522135).unwrap(), want);
        assert_eq!(l.graph("Command", 1796522135), None);
        // More than 80 samples: two ranges; minutes in the labels.
        let l = latency_with(&[("command", S95)]);
        assert_eq!(l.graph("command", 1796522269).unwrap(), GRAPH95);
        // One sample: a flat line.
        let l = latency_with(&[("command", &[(1796522440, 50)])]);
        assert_eq!(
            l.graph("command", 1796522441).unwrap(),
            format!(
                "command - high 50 ms, low 50 ms (all time high 50 ms)\n{}\n \n \n \n_\n \n1\ns\n",
                "-".repeat(80)
            )
        );
        assert!(l.report(1796522442, 10, 10_000, 10).contains(
            "1. command: 1 latency spikes (average 50ms, mean deviation 0ms, period 2.00 sec). Worst all time event 50ms.\n"
        ));
    }

    #[test]
    fn doctor_matches_redis() {
        let l = latency_with(&[("command", SMALL)]);
        let want = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. command: 9 latency spikes (average 120ms, mean deviation 86ms, period 1.89 sec). Worst all time event 300ms.\n\nI have a few advices for you:\n\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n";
        assert_eq!(l.report(1796522136, 10, 10_000, 10), want);
        let l = latency_with(&[("command", S95)]);
        assert_eq!(l.report(1796522269, 1, 10_000, 10), DOCTOR95);
        let l = latency_with(&[
            (
                "expire-del",
                &[(1796522322, 24), (1796522323, 12), (1796522324, 3)],
            ),
            ("eviction-cycle", &[(1796522334, 7), (1796522335, 18)]),
            (
                "fast-command",
                &[
                    (1796522321, 4),
                    (1796522322, 188),
                    (1796522326, 162),
                    (1796522328, 154),
                ],
            ),
            (
                "command",
                &[(1796522321, 125), (1796522322, 584), (1796522333, 156)],
            ),
            (
                "expire-cycle",
                &[(1796522322, 41), (1796522323, 31), (1796522324, 10)],
            ),
            ("eviction-del", &[(1796522334, 1), (1796522335, 18)]),
        ]);
        assert_eq!(l.report(1796522338, 1, 10_000, 10), DOCTOR6);
        // Disabled and never enabled; enabled without events.
        let l = Latency::default();
        assert_eq!(l.report(1, 0, 10_000, 10), DISABLED);
        assert_eq!(
            l.report(1, 100, 10_000, 10),
            "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
        );
    }

    #[test]
    fn samples_per_second_and_ring() {
        let mut l = Latency::default();
        l.add_sample_if_needed("command", 0, 100, 500);
        l.add_sample_if_needed("command", 10, 100, 9);
        assert!(!l.has_events());
        l.add_sample_if_needed("command", 10, 100, 10);
        l.add_sample_if_needed("command", 10, 100, 30);
        l.add_sample_if_needed("command", 10, 100, 20);
        let ts = &l.events[0].1;
        assert_eq!(
            ts.ordered().collect::<Vec<_>>(),
            vec![Sample {
                time: 100,
                latency: 30
            }]
        );
        for t in 101..=300 {
            l.add_sample_if_needed("command", 10, t, t);
        }
        let ts = &l.events[0].1;
        let v: Vec<Sample> = ts.ordered().collect();
        assert_eq!(v.len(), 160);
        assert_eq!(v[0].time, 141);
        assert_eq!(v[159].time, 300);
        assert_eq!(ts.max, 300);
        l.add_sample("fork", 5, 1);
        assert_eq!(l.reset_event(Some(b"COMMAND")), 1);
        assert_eq!(l.reset_event(Some(b"command")), 0);
        assert_eq!(l.reset_event(None), 1);
    }

    /// The generator the C check used (deps/hdr_histogram compiled with a
    /// harness replaying fillCommandCDF and hdr_value_at_percentile).
    fn lcg_usecs(seed: u64, n: usize, maxshift: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let shift = (x >> 58) % maxshift;
                (x >> 24) & ((1u64 << shift) - 1)
            })
            .collect()
    }

    fn id(fullname: &str) -> usize {
        crate::commands::CommandTable::shared()
            .by_fullname(fullname)
            .expect("a command")
            .id
    }

    fn hist_of(usecs: &[u64]) -> Latency {
        let mut l = Latency::default();
        for &u in usecs {
            l.record_command(id("get"), u);
        }
        l
    }

    #[test]
    fn histogram_matches_hdr_histogram() {
        let l = hist_of(&lcg_usecs(1, 1000, 21));
        let h = &l.histogram(id("get")).expect("recorded");
        assert_eq!(h.total_count, 1000);
        assert_eq!(
            h.cdf(),
            vec![
                (1, 157),
                (2, 183),
                (4, 218),
                (8, 255),
                (16, 304),
                (33, 347),
                (66, 384),
                (132, 427),
                (264, 460),
                (528, 498),
                (1056, 554),
                (2113, 597),
                (4227, 653),
                (8454, 712),
                (16908, 761),
                (33816, 814),
                (67633, 865),
                (135266, 901),
                (270532, 946),
                (541065, 972),
                (1073741, 1000)
            ]
        );
        let pcts = [0.0, 50.0, 99.0, 99.9, 100.0, 0.0001, 33.3];
        assert_eq!(
            l.info_lines(&pcts),
            vec![(
                "latency_percentiles_usec_get".to_string(),
                "p0=0.001,p50=540.671,p99=729808.895,p99.9=1002438.655,p100=1002438.655,p0.0001=0.001,p33.3=24.063".to_string()
            )]
        );
        let l = hist_of(&lcg_usecs(7, 50, 12));
        assert_eq!(
            l.histogram(id("get")).expect("recorded").cdf(),
            vec![
                (1, 21),
                (2, 23),
                (4, 26),
                (8, 28),
                (16, 33),
                (33, 34),
                (66, 37),
                (132, 38),
                (264, 40),
                (528, 44),
                (1056, 49),
                (2113, 50)
            ]
        );
        assert_eq!(
            l.info_lines(&pcts)[0].1,
            "p0=0.001,p50=3.007,p99=1581.055,p99.9=1581.055,p100=1581.055,p0.0001=0.001,p33.3=0.001"
        );
        let l = hist_of(&lcg_usecs(3, 5, 4));
        assert_eq!(
            l.histogram(id("get")).expect("recorded").cdf(),
            vec![(1, 1), (2, 2), (4, 3), (8, 5)]
        );
        assert_eq!(
            l.info_lines(&[50.0, 99.0, 99.9, 12.3456789])[0].1,
            "p50=4.015,p99=5.023,p99.9=5.023,p12.345679=0.001"
        );
    }

    #[test]
    fn listing_order_groups_subcommands() {
        let mut l = Latency::default();
        for name in ["getdel", "config|set", "get", "config|get", "client|list"] {
            l.record_command(id(name), 1);
        }
        let names: Vec<String> = l.info_lines(&[50.0]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "latency_percentiles_usec_client|list",
                "latency_percentiles_usec_config|get",
                "latency_percentiles_usec_config|set",
                "latency_percentiles_usec_get",
                "latency_percentiles_usec_getdel"
            ]
        );
        // A parent's subcommands list before a longer name it prefixes.
        assert!(split_name("config|set") < split_name("configx"));
        l.reset_histograms();
        assert!(l.info_lines(&[50.0]).is_empty());
    }

    /// Replies through a node, compared with redis-server's bytes.
    #[test]
    fn replies_as_redis() {
        use crate::protocol::encode_request;
        use crate::{ConnId, Input, Millis, Node, Output};
        let now = Millis(1_796_522_135_500);
        let mut node = Node::new(1);
        node.start(now, 6379);
        node.handle(
            now,
            Input::ConnOpened {
                conn: ConnId(1),
                peer: "127.0.0.1:1".into(),
                local: "127.0.0.1:6379".into(),
            },
        );
        let run = |node: &mut Node, line: &str| -> Vec<u8> {
            let argv: Vec<Vec<u8>> = line.split(' ').map(|a| a.as_bytes().to_vec()).collect();
            node.handle(
                now,
                Input::ClientBytes {
                    conn: ConnId(1),
                    bytes: &encode_request(&argv),
                },
            );
            let mut out = Vec::new();
            while let Some(o) = node.poll_output() {
                if let Output::ToClient { bytes, .. } = o {
                    out.extend(bytes);
                }
            }
            out
        };
        let disabled = format!("${}\r\n{}\r\n", DISABLED.len(), DISABLED);
        assert_eq!(run(&mut node, "LATENCY DOCTOR"), disabled.as_bytes());
        assert_eq!(run(&mut node, "LATENCY LATEST"), b"*0\r\n");
        assert_eq!(
            run(&mut node, "LATENCY GRAPH command"),
            b"-ERR No samples available for event 'command'\r\n"
        );
        for &(t, ms) in SMALL {
            node.srv.latency.add_sample("command", t, ms);
        }
        assert_eq!(
            run(&mut node, "LATENCY LATEST"),
            b"*1\r\n*4\r\n$7\r\ncommand\r\n:1796522128\r\n:40\r\n:300\r\n"
        );
        assert_eq!(
            run(&mut node, "LATENCY HISTORY command"),
            b"*9\r\n*2\r\n:1796522119\r\n:50\r\n*2\r\n:1796522120\r\n:200\r\n*2\r\n:1796522121\r\n:12\r\n*2\r\n:1796522123\r\n:300\r\n*2\r\n:1796522124\r\n:100\r\n*2\r\n:1796522125\r\n:100\r\n*2\r\n:1796522126\r\n:30\r\n*2\r\n:1796522127\r\n:250\r\n*2\r\n:1796522128\r\n:40\r\n"
        );
        assert_eq!(run(&mut node, "LATENCY HISTORY Command"), b"*0\r\n");
        run(&mut node, "HELLO 3");
        let graph = run(&mut node, "LATENCY GRAPH command");
        let want = format!(
            "=221\r\ntxt:{}\r\n",
            node.srv.latency.graph("command", 1796522135).unwrap()
        );
        assert_eq!(graph, want.as_bytes());
        assert_eq!(
            run(&mut node, "LATENCY GRAPH Command"),
            b"-ERR No samples available for event 'Command'\r\n"
        );
        assert_eq!(
            run(&mut node, "LATENCY FOO"),
            b"-ERR unknown subcommand 'FOO'. Try LATENCY HELP.\r\n"
        );
        assert_eq!(run(&mut node, "LATENCY RESET command Command"), b":1\r\n");
        assert_eq!(run(&mut node, "LATENCY RESET"), b":0\r\n");
        assert_eq!(run(&mut node, "LATENCY HISTORY command"), b"*0\r\n");
        // Histograms: a 4 µs PING, CONFIG SET at 7, 7 and 30 µs.
        node.srv.latency.record_command(id("ping"), 4);
        for u in [7, 7, 30] {
            node.srv.latency.record_command(id("config|set"), u);
        }
        assert_eq!(
            run(&mut node, "LATENCY HISTOGRAM config"),
            b"%1\r\n$10\r\nconfig|set\r\n%2\r\n$5\r\ncalls\r\n:3\r\n$14\r\nhistogram_usec\r\n%2\r\n:8\r\n:2\r\n:33\r\n:3\r\n"
        );
        assert_eq!(
            run(&mut node, "LATENCY HISTOGRAM ping PING nosuch config|get config|set|x ping|x"),
            b"%2\r\n$4\r\nping\r\n%2\r\n$5\r\ncalls\r\n:1\r\n$14\r\nhistogram_usec\r\n%1\r\n:4\r\n:1\r\n$4\r\nping\r\n%2\r\n$5\r\ncalls\r\n:1\r\n$14\r\nhistogram_usec\r\n%1\r\n:4\r\n:1\r\n"
        );
        run(&mut node, "HELLO 2");
        assert_eq!(
            run(&mut node, "LATENCY HISTOGRAM ping"),
            b"*2\r\n$4\r\nping\r\n*4\r\n$5\r\ncalls\r\n:1\r\n$14\r\nhistogram_usec\r\n*2\r\n:4\r\n:1\r\n"
        );
    }
}
