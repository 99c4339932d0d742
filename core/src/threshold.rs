//! Threshold state: per alert and group key, the event times that matched but have not fired yet.
//!
//! An alert with `threshold: {count: N, window_seconds: W}` fires on the N-th matching event
//! whose `eventTime` lies within W seconds of the current event (either side, so out-of-order
//! archives give the same answer as ordered ones); after firing, the group starts again from zero.
//! Times are kept for twice the window behind the newest event of the group, so late events
//! still find their neighbours.
//!
//! Memory is bounded: at most `max_groups` groups are tracked. When full, groups whose newest
//! event is older than twice their window behind the newest event seen are dropped first, then
//! the least recently active tenth; each dropped group counts in [`ThresholdTracker::evictions`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Default bound on tracked threshold groups.
pub const DEFAULT_MAX_GROUPS: usize = 200_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Group {
    times: Vec<i64>,
    latest: i64,
    window_ms: i64,
}

/// One group's saved state, for persistence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdEntry {
    /// The alert.
    pub alert_id: String,
    /// The group key (values of `group_by`, joined by `\u{1f}`; empty without `group_by`).
    pub group: String,
    /// Event times (ms since the epoch) counted so far, ascending.
    pub times: Vec<i64>,
    /// The alert's window in milliseconds.
    pub window_ms: i64,
}

/// What a threshold reported when it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    /// How many events were counted.
    pub count: u32,
    /// Time of the earliest counted event.
    pub first_ms: i64,
    /// Time of the latest counted event.
    pub last_ms: i64,
}

/// Tracks threshold counts. See the module documentation for semantics.
#[derive(Debug, Clone)]
pub struct ThresholdTracker {
    // Keyed by "alert id NUL group" (alert ids never contain NUL), so a lookup of an existing
    // group reuses `scratch` instead of allocating a key per observation.
    groups: HashMap<Key, Group, foldhash::fast::RandomState>,
    scratch: String,
    max_groups: usize,
    newest: i64,
    evictions: u64,
}

impl Default for ThresholdTracker {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_GROUPS)
    }
}

impl ThresholdTracker {
    /// A tracker holding at most `max_groups` groups (at least 1).
    pub fn new(max_groups: usize) -> Self {
        Self {
            groups: HashMap::default(),
            scratch: String::new(),
            max_groups: max_groups.max(1),
            newest: i64::MIN,
            evictions: 0,
        }
    }

    /// Groups dropped to keep memory bounded.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Groups currently tracked.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Counts one matching event at `t_ms`; returns `Some` when the threshold fires.
    ///
    /// ```
    /// let mut t = trailalerts::ThresholdTracker::default();
    /// assert!(t.observe("a", "", 0, 3, 60_000).is_none());
    /// assert!(t.observe("a", "", 30_000, 3, 60_000).is_none());
    /// assert_eq!(t.observe("a", "", 60_000, 3, 60_000).map(|f| f.count), Some(3));
    /// assert!(t.observe("a", "", 61_000, 3, 60_000).is_none()); // starts again
    /// ```
    pub fn observe(
        &mut self,
        alert_id: &str,
        group: &str,
        t_ms: i64,
        count: u32,
        window_ms: i64,
    ) -> Option<Fired> {
        self.newest = self.newest.max(t_ms);
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        key.push_str(alert_id);
        key.push('\0');
        key.push_str(group);
        // One lookup for a group already tracked (most observations), two for a new one.
        if let Some(g) = self.groups.get_mut(key.as_bytes()) {
            let fired = count_in(g, t_ms, count, window_ms);
            self.scratch = key;
            return fired;
        }
        if self.groups.len() >= self.max_groups {
            self.make_room();
        }
        let fired = count_in(
            self.groups.entry(Key::new(key.as_bytes())).or_default(),
            t_ms,
            count,
            window_ms,
        );
        self.scratch = key;
        fired
    }

    fn make_room(&mut self) {
        let newest = self.newest;
        let before = self.groups.len();
        self.groups.retain(|_, g| {
            !g.times.is_empty() && g.latest >= newest.saturating_sub(g.window_ms.saturating_mul(2))
        });
        if self.groups.len() >= self.max_groups {
            let mut ages: Vec<i64> = self.groups.values().map(|g| g.latest).collect();
            let cut_at = (ages.len() / 10).max(1);
            ages.select_nth_unstable(cut_at.saturating_sub(1));
            let cutoff = ages
                .get(cut_at.saturating_sub(1))
                .copied()
                .unwrap_or(i64::MIN);
            self.groups.retain(|_, g| g.latest > cutoff);
        }
        self.evictions += (before - self.groups.len()) as u64;
    }

    /// Forgets one alert's state (e.g. when its definition changes).
    pub fn reset_alert(&mut self, alert_id: &str) {
        self.groups
            .retain(|k, _| k.split().0 != alert_id.as_bytes());
    }

    /// The state to persist, sorted for stable output.
    pub fn snapshot(&self) -> Vec<ThresholdEntry> {
        let mut out: Vec<ThresholdEntry> = self
            .groups
            .iter()
            .filter(|(_, g)| !g.times.is_empty())
            .map(|(key, g)| {
                // Keys are made from `&str`s, so the lossy path never replaces anything.
                let (a, k) = key.split();
                ThresholdEntry {
                    alert_id: String::from_utf8_lossy(a).into_owned(),
                    group: String::from_utf8_lossy(k).into_owned(),
                    times: g.times.clone(),
                    window_ms: g.window_ms,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.alert_id, &a.group).cmp(&(&b.alert_id, &b.group)));
        out
    }

    /// Restores persisted state (replacing the current state).
    pub fn restore(&mut self, entries: Vec<ThresholdEntry>) {
        self.groups.clear();
        for e in entries {
            let mut times = e.times;
            times.sort_unstable();
            let latest = times.last().copied().unwrap_or(i64::MIN);
            self.newest = self.newest.max(latest);
            self.groups.insert(
                Key::new(format!("{}\0{}", e.alert_id, e.group).as_bytes()),
                Group {
                    times,
                    latest,
                    window_ms: e.window_ms,
                },
            );
        }
    }
}

/// Counts one event at `t_ms` in a group; `Some` when the threshold fires (the group then
/// starts again from zero).
fn count_in(g: &mut Group, t_ms: i64, count: u32, window_ms: i64) -> Option<Fired> {
    g.window_ms = window_ms;
    let at = g.times.partition_point(|&x| x <= t_ms);
    g.times.insert(at, t_ms);
    g.latest = g.latest.max(t_ms);
    let keep_from = g.latest.saturating_sub(window_ms.saturating_mul(2));
    let drop = g.times.partition_point(|&x| x < keep_from);
    g.times.drain(..drop);
    let lo = g
        .times
        .partition_point(|&x| x < t_ms.saturating_sub(window_ms));
    let hi = g
        .times
        .partition_point(|&x| x <= t_ms.saturating_add(window_ms));
    let n = hi.saturating_sub(lo);
    if n >= count as usize {
        let first_ms = g.times.get(lo).copied().unwrap_or(t_ms);
        let last_ms = g.times.get(hi.saturating_sub(1)).copied().unwrap_or(t_ms);
        g.times.clear();
        return Some(Fired {
            count: u32::try_from(n).unwrap_or(u32::MAX),
            first_ms,
            last_ms,
        });
    }
    None
}

/// Bytes of a key kept inside the table itself: most "alert id NUL group" keys fit.
const INLINE_KEY: usize = 62;

/// A group's map key, "alert id NUL group": inline when it fits, so that finding a group
/// compares bytes in the table rather than behind a pointer (with thousands of groups, that
/// pointer's target is rarely in cache: 2 % per event with 500 alerts).
#[derive(Debug, Clone)]
enum Key {
    Inline(u8, [u8; INLINE_KEY]),
    Heap(Box<[u8]>),
}

impl Key {
    fn new(b: &[u8]) -> Self {
        let mut a = [0; INLINE_KEY];
        match (a.get_mut(..b.len()), u8::try_from(b.len())) {
            (Some(head), Ok(len)) => {
                head.copy_from_slice(b);
                Self::Inline(len, a)
            }
            _ => Self::Heap(b.into()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Inline(len, a) => a.get(..usize::from(*len)).unwrap_or_default(),
            Self::Heap(b) => b,
        }
    }

    /// (alert id, group): the bytes before and after the first NUL.
    fn split(&self) -> (&[u8], &[u8]) {
        let b = self.bytes();
        match b.iter().position(|&c| c == 0) {
            Some(at) => (
                b.get(..at).unwrap_or_default(),
                b.get(at + 1..).unwrap_or_default(),
            ),
            None => (b, &[]),
        }
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

// As `[u8]` hashes: lookups by `&[u8]` must find keys stored as `Key`.
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.bytes().hash(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_short_keys_keep_their_groups_apart() {
        // Keys inline and on the heap (over 62 bytes), an alert id that prefixes another,
        // and a reset of one alert: each group counts alone and survives a snapshot.
        let mut t = ThresholdTracker::default();
        let long = "u".repeat(200);
        for (alert, group) in [("a", "x"), ("ab", "x"), ("a", long.as_str()), ("a", "")] {
            assert!(t.observe(alert, group, 0, 2, 60_000).is_none());
        }
        assert_eq!(t.len(), 4);
        let fired = t.observe("a", &long, 1_000, 2, 60_000);
        assert_eq!(fired.map(|f| f.count), Some(2));
        let snap = t.snapshot();
        let groups: Vec<(&str, &str)> = snap
            .iter()
            .map(|e| (e.alert_id.as_str(), e.group.as_str()))
            .collect();
        assert_eq!(groups, [("a", ""), ("a", "x"), ("ab", "x")]);
        let mut back = ThresholdTracker::default();
        back.restore(snap);
        assert_eq!(
            back.observe("ab", "x", 2_000, 2, 60_000).map(|f| f.count),
            Some(2)
        );
        back.reset_alert("a");
        assert_eq!(
            back.snapshot().len(),
            0,
            "only `ab`'s group was left, and it fired"
        );
        let mut t2 = ThresholdTracker::default();
        t2.observe("a", "x", 0, 3, 60_000);
        t2.observe("ab", "x", 0, 3, 60_000);
        t2.reset_alert("a");
        assert_eq!(
            t2.snapshot()
                .iter()
                .map(|e| e.alert_id.as_str())
                .collect::<Vec<_>>(),
            ["ab"]
        );
    }

    #[test]
    fn window_boundary_is_inclusive() {
        let mut t = ThresholdTracker::default();
        assert!(t.observe("a", "", 0, 2, 60_000).is_none());
        assert!(t.observe("a", "", 60_000, 2, 60_000).is_some());
        assert!(t.observe("a", "", 200_000, 2, 60_000).is_none());
        assert!(
            t.observe("a", "", 260_001, 2, 60_000).is_none(),
            "1 ms past the window"
        );
    }

    #[test]
    fn groups_are_separate_and_out_of_order_counts() {
        let mut t = ThresholdTracker::default();
        assert!(t.observe("a", "alice", 10_000, 2, 60_000).is_none());
        assert!(t.observe("a", "bob", 10_000, 2, 60_000).is_none());
        assert!(t.observe("b", "alice", 10_000, 2, 60_000).is_none());
        // Out of order: an earlier event arriving later still falls in the window.
        assert_eq!(
            t.observe("a", "alice", 5_000, 2, 60_000)
                .map(|f| (f.count, f.first_ms, f.last_ms)),
            Some((2, 5_000, 10_000))
        );
    }

    #[test]
    fn snapshot_roundtrip_and_bounded_groups() {
        let mut t = ThresholdTracker::new(100);
        for i in 0..1000 {
            t.observe("a", &format!("g{i}"), i * 1000, 5, 10_000);
        }
        assert!(t.len() <= 100);
        assert!(t.evictions() >= 900);
        let snap = t.snapshot();
        let mut u = ThresholdTracker::new(100);
        u.restore(snap.clone());
        assert_eq!(u.snapshot(), snap);
    }
}
