//! Time as the engine sees it: milliseconds handed in by the runtime.
//!
//! The engine never reads a clock. Natively the runtime passes Unix time in
//! milliseconds; in the browser it passes virtual time that can be paused,
//! stepped or sped up. Everything time-dependent (TTLs, idle times, the
//! active expiry cycle) is computed from these values only.

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch (possibly virtual).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Millis(pub u64);

impl Millis {
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }
    pub fn saturating_sub(self, other: Millis) -> u64 {
        self.0.saturating_sub(other.0)
    }
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}
