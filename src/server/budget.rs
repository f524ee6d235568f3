//! The process-wide memory budget of a server: what the live sessions reserve
//! (each its interpreter's memory cap and its journal's, see
//! [`crate::SessionBuilder::memory_reservation`]) may not exceed it, so a server
//! refuses a session rather than grow past what the machine holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const MIB: u64 = 1 << 20;

/// Used when the machine's memory cannot be read.
const FALLBACK_BYTES: u64 = 4096 * MIB;

/// A new session would take the reserved memory past the budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server is at capacity: its memory budget is {} MiB, live sessions reserve {} MiB and a new one needs {} MiB; \
     close a session or retry later",
    total / MIB, reserved / MIB, needed / MIB
)]
pub struct OverBudget {
    /// The budget, in bytes.
    pub total: u64,
    /// What live sessions hold, in bytes.
    pub reserved: u64,
    /// What the refused session asked for, in bytes.
    pub needed: u64,
}

/// Memory shared out to sessions: each reserves its sandbox memory cap and its
/// journal's while it lives, and gives it back when its [`Reservation`] is dropped.
#[derive(Debug)]
pub struct MemoryBudget {
    total: u64,
    reserved: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> Arc<Self> {
        Arc::new(Self { total, reserved: AtomicU64::new(0) })
    }

    /// The default budget: half the machine's RAM (`MemTotal` in `/proc/meminfo`),
    /// so that every session filling its cap still leaves the other half to the
    /// host; 4096 MiB where the RAM cannot be read.
    pub fn default_bytes() -> u64 {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| mem_total(&text))
            .map_or(FALLBACK_BYTES, |m| m / 2)
    }

    /// The budget, in bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// What live sessions hold now, in bytes.
    pub fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Acquire)
    }

    /// Reserves `bytes` for a session, or says why not. Reserve before building the
    /// session, so a refused one costs nothing.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, OverBudget> {
        self.reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|&after| after <= self.total)
            })
            .map(|_| Reservation { budget: self.clone(), bytes })
            .map_err(|reserved| OverBudget { total: self.total, reserved, needed: bytes })
    }
}

/// One session's share of a [`MemoryBudget`], given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|line| line.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_refused_past_the_budget_and_given_back() {
        let budget = MemoryBudget::new(200 * MIB);
        let held: Vec<Reservation> = (0..3).map(|_| budget.reserve(64 * MIB).unwrap()).collect();
        let refused = budget.reserve(64 * MIB).unwrap_err();
        assert_eq!(refused, OverBudget { total: 200 * MIB, reserved: 192 * MIB, needed: 64 * MIB });
        assert!(refused.to_string().contains("budget is 200 MiB, live sessions reserve 192 MiB"), "{refused}");
        drop(held);
        assert_eq!(budget.reserved(), 0);
        assert!(budget.reserve(200 * MIB).is_ok());
        assert!(budget.reserve(u64::MAX).is_err(), "no overflow");
    }

    #[test]
    fn mem_total_is_read_from_meminfo() {
        assert_eq!(mem_total("MemTotal:       24683584 kB\nMemFree: 1 kB\n"), Some(24_683_584 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
        assert!(MemoryBudget::default_bytes() >= 64 * MIB);
    }
}
