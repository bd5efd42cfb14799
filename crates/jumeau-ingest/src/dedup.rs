//! The window of recent frames that drops the copies of an uplink.
//!
//! A frame is a copy when a frame with the same (tenant, DevEUI, FCnt) was received within
//! the window around it. Comparing reception times, not arrival order, keeps two things
//! right: a frame counter that restarts at 0 after a reset brings the same key back much
//! later, and that is a new reading; and a copy that arrives late (a second network server,
//! a replay after restart) is still a copy.
//!
//! Pure: the caller gives the times.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::uplink::DedupKey;

/// Recent frames, per tenant.
#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    seen: HashMap<(String, DedupKey), DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    since_prune: usize,
}

impl Dedup {
    /// A window of `window` either side of each frame's reception time.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            seen: HashMap::new(),
            newest: None,
            since_prune: 0,
        }
    }

    /// Whether the frame is a copy of one already seen; if not, it is remembered.
    pub fn is_copy(&mut self, tenant: &str, key: DedupKey, received_at: DateTime<Utc>) -> bool {
        let k = (tenant.to_string(), key);
        if let Some(prev) = self.seen.get(&k) {
            if (*prev - received_at).abs() <= self.window {
                return true;
            }
        }
        self.seen.insert(k, received_at);
        if self.newest.is_none_or(|n| received_at > n) {
            self.newest = Some(received_at);
        }
        self.since_prune += 1;
        if self.since_prune > 10_000 && self.since_prune > self.seen.len() / 2 {
            self.prune();
        }
        false
    }

    /// Forgets the frames too old to have copies still coming.
    fn prune(&mut self) {
        self.since_prune = 0;
        let Some(newest) = self.newest else {
            return;
        };
        let horizon = newest - self.window - self.window;
        self.seen.retain(|_, t| *t >= horizon);
    }

    /// How many frames are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no frame is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn copies_within_the_window_are_dropped_and_counter_resets_are_not() {
        let mut d = Dedup::new(Duration::seconds(60));
        let k = DedupKey {
            dev_eui: 1,
            f_cnt: 0,
        };
        assert!(!d.is_copy("a", k, at(0)));
        assert!(d.is_copy("a", k, at(2)));
        assert!(!d.is_copy("b", k, at(2)), "tenants are apart");
        assert!(
            !d.is_copy("a", k, at(3600)),
            "a reset brings the key back later"
        );
        assert!(d.is_copy("a", k, at(3600)));
    }

    #[test]
    fn old_frames_are_forgotten() {
        let mut d = Dedup::new(Duration::seconds(1));
        for i in 0..30_000u32 {
            let k = DedupKey {
                dev_eui: 1,
                f_cnt: i,
            };
            d.is_copy("a", k, at(i64::from(i)));
        }
        assert!(d.len() < 30_000);
    }
}
