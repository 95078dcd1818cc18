//! Client output buffer limits (`client-output-buffer-limit`): how much a
//! client may have waiting to be written before the node drops it, by
//! class (normal, replica, pub/sub), with a hard limit and a soft limit
//! held for some seconds, as Redis's `checkClientOutputBufferLimits`.
//!
//! The node cannot see a socket: what is unwritten is the runtime's to
//! report (`Input::Unwritten`, each time it crosses a multiple of
//! [`REPLY_CHUNK`]); the node adds the reply it is building for the client
//! whose command runs ([`Reporter`] says when). The native server reports
//! what its sockets have not taken; the simulator what a session (a demo's
//! subscriber) has not read; the page's workers never report (their links
//! hold bytes without a send buffer), so none of their clients is dropped
//! for its output.

/// Redis's `PROTO_REPLY_CHUNK_BYTES`: a client's static reply buffer, which
/// the limits do not count, and the size of the reply list's blocks.
pub const REPLY_CHUNK: usize = 16 * 1024;

/// When a runtime tells the node how much of a connection's output is
/// still unwritten: each time the count crosses a multiple of
/// [`REPLY_CHUNK`] since the node last heard, or falls to 0 after it heard
/// of more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reporter {
    /// The last count the node heard (`None`: never, or 0).
    reported: Option<usize>,
}

impl Reporter {
    /// The count to report now that `pending` bytes are unwritten, if due.
    pub fn due(&mut self, pending: usize) -> Option<usize> {
        let step = |n: usize| n / REPLY_CHUNK;
        let due = match self.reported {
            None => step(pending) > 0,
            Some(r) => pending == 0 || step(pending) != step(r),
        };
        if !due {
            return None;
        }
        self.reported = (pending > 0).then_some(pending);
        Some(pending)
    }

    /// The count the node last heard (0 when none).
    pub fn heard(&self) -> usize {
        self.reported.unwrap_or(0)
    }
}

/// One class's limits; 0 turns a limit off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

impl Limit {
    pub fn is_off(&self) -> bool {
        self.hard == 0 && self.soft == 0
    }
}

/// The classes a client's output is limited by (Redis's `getClientType`;
/// its primary's link counts as normal, a MONITOR as normal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Normal,
    Replica,
    Pubsub,
}

/// The three classes' limits, as `client-output-buffer-limit` holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub normal: Limit,
    pub replica: Limit,
    pub pubsub: Limit,
}

impl Default for Limits {
    /// Redis's: `normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60`.
    fn default() -> Limits {
        Limits {
            normal: Limit::default(),
            replica: Limit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            pubsub: Limit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
        }
    }
}

impl Limits {
    pub fn of(&self, class: Class) -> Limit {
        match class {
            Class::Normal => self.normal,
            Class::Replica => self.replica,
            Class::Pubsub => self.pubsub,
        }
    }

    /// `<class> <hard> <soft> <soft seconds>` groups over `self` (classes
    /// not named keep their limits); all or nothing, in Redis's words.
    pub fn parse(&self, value: &str) -> Result<Limits, &'static str> {
        let args: Vec<&str> = value.split_whitespace().collect();
        if !args.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.");
        }
        let mut out = *self;
        for g in args.chunks(4) {
            let slot = match g[0].to_ascii_lowercase().as_str() {
                "normal" => &mut out.normal,
                "slave" | "replica" => &mut out.replica,
                "pubsub" => &mut out.pubsub,
                _ => return Err("Invalid client class specified in buffer limit configuration."),
            };
            let memory = |s: &str| crate::config::parse_memory(s).filter(|n| *n >= 0);
            let seconds = if g[3].is_empty() {
                Some(0)
            } else {
                crate::protocol::request::parse_i64_strict(g[3].as_bytes()).filter(|n| *n >= 0)
            };
            match (memory(g[1]), memory(g[2]), seconds) {
                (Some(hard), Some(soft), Some(secs)) => {
                    *slot = Limit {
                        hard: hard as u64,
                        soft: soft as u64,
                        soft_seconds: secs as u64,
                    }
                }
                _ => return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                ),
            }
        }
        Ok(out)
    }

    /// As CONFIG GET shows it.
    pub fn format(&self) -> String {
        [
            ("normal", self.normal),
            ("slave", self.replica),
            ("pubsub", self.pubsub),
        ]
        .iter()
        .map(|(n, l)| format!("{n} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// The bytes a class's limits are held against when `unwritten` bytes
/// wait: a replica's whole share of the replication buffer; another
/// client's reply list, past its static buffer.
pub fn used(class: Class, unwritten: usize) -> usize {
    match class {
        Class::Replica => unwritten,
        Class::Normal | Class::Pubsub => unwritten.saturating_sub(REPLY_CHUNK),
    }
}

/// Redis's `checkClientOutputBufferLimits`: whether `used` bytes break
/// `limit` — at or over the hard limit, or at or over the soft limit
/// continuously for more than its seconds (`soft_since` keeps when that
/// began, in whole seconds, and is cleared below it).
pub fn reached(limit: Limit, used: u64, soft_since: &mut Option<u64>, now_secs: u64) -> bool {
    let hard = limit.hard != 0 && used >= limit.hard;
    let mut soft = limit.soft != 0 && used >= limit.soft;
    if soft {
        match *soft_since {
            None => {
                *soft_since = Some(now_secs);
                soft = false;
            }
            Some(since) => soft = now_secs.saturating_sub(since) > limit.soft_seconds,
        }
    } else {
        *soft_since = None;
    }
    hard || soft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_merges_and_formats_as_redis() {
        let d = Limits::default();
        assert_eq!(
            d.format(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        let l = d
            .parse("normal 1mb 2mb 60 replica 3mb 4mb 70 pubsub 5mb 6mb 80")
            .unwrap();
        assert_eq!(
            l.format(),
            "normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 5242880 6291456 80"
        );
        // Classes not named keep theirs; names are case-insensitive.
        let l = d.parse("PUBSUB 100000 0 0").unwrap();
        assert_eq!(l.normal, d.normal);
        assert_eq!(l.replica, d.replica);
        assert_eq!(
            l.pubsub,
            Limit {
                hard: 100000,
                soft: 0,
                soft_seconds: 0
            }
        );
        assert_eq!(d.parse("").unwrap(), d);
    }

    #[test]
    fn refuses_in_redis_words() {
        let d = Limits::default();
        let wrong = "Wrong number of arguments in buffer limit configuration.";
        let class = "Invalid client class specified in buffer limit configuration.";
        let value = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        assert_eq!(d.parse("wrong number"), Err(wrong));
        assert_eq!(d.parse("invalid_class 10mb 10mb 60"), Err(class));
        assert_eq!(d.parse("master 10mb 10mb 60"), Err(class));
        assert_eq!(d.parse("normal 10mbs 10mb 60"), Err(value));
        assert_eq!(d.parse("replica 10mb 10mbs 60"), Err(value));
        assert_eq!(d.parse("pubsub 10mb 10mb 60s"), Err(value));
        assert_eq!(d.parse("pubsub 10mb 10mb -1"), Err(value));
        assert_eq!(d.parse("pubsub -1 10mb 1"), Err(value));
        // All or nothing: a bad second group leaves the first unapplied.
        assert_eq!(d.parse("normal 1 1 1 pubsub x 1 1"), Err(value));
    }

    #[test]
    fn the_soft_limit_must_hold_for_more_than_its_seconds() {
        let l = Limit {
            hard: 0,
            soft: 100,
            soft_seconds: 3,
        };
        let mut since = None;
        assert!(!reached(l, 100, &mut since, 10));
        assert_eq!(since, Some(10));
        assert!(!reached(l, 500, &mut since, 13));
        assert!(reached(l, 500, &mut since, 14));
        // Dropping below restarts the clock.
        assert!(!reached(l, 99, &mut since, 15));
        assert_eq!(since, None);
        assert!(!reached(l, 100, &mut since, 16));
        // The hard limit at once; off at 0.
        let h = Limit {
            hard: 1000,
            soft: 0,
            soft_seconds: 0,
        };
        assert!(reached(h, 1000, &mut None, 0));
        assert!(!reached(h, 999, &mut None, 0));
        assert!(!reached(Limit::default(), u64::MAX, &mut None, 0));
        assert_eq!(used(Class::Pubsub, 10_000), 0);
        assert_eq!(used(Class::Normal, REPLY_CHUNK + 5), 5);
        assert_eq!(used(Class::Replica, 10_000), 10_000);
    }
}
