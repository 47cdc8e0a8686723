//! One direction of the path as a pure model: given when a datagram arrives and its size, when
//! (and how many times) it comes out, or why it does not. No clock, no socket: its user (the
//! relay's threads, the engine's simulator) tells it the time, as a [`Duration`] since an epoch
//! of its choosing, and the unit tests run it on made-up times.

use crate::bottleneck::Bottleneck;
use crate::loss::LossState;
use crate::rng::Rng;
use crate::settings::{Impairment, Outage};
use std::time::Duration;

/// Why the path did not deliver a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// The path was cut when it arrived, or when it was due.
    Outage,
    /// The loss model lost it.
    Loss,
    /// The bandwidth queue was full.
    QueueFull,
    /// The [`crate::Lane`] already held its most bytes in flight.
    Overflow,
}

/// What becomes of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Deliver {
        /// When it comes out (since the epoch).
        at: Duration,
        /// When its duplicate comes out, if it is duplicated.
        copy: Option<Duration>,
        /// Whether it was held back to be overtaken.
        held_back: bool,
    },
    Dropped(Drop),
}

/// One direction's settings, random generator and state.
#[derive(Debug, Clone)]
pub struct Path {
    settings: Impairment,
    rng: Rng,
    loss: LossState,
    link: Option<Bottleneck>,
}

impl Path {
    pub fn new(settings: Impairment, seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            loss: LossState::new(settings.loss),
            link: settings.bandwidth.map(Bottleneck::new),
            settings,
        }
    }

    /// Cuts the path once more.
    pub fn add_outage(&mut self, outage: Outage) {
        self.settings.outages.push(outage);
    }

    /// Applies `settings` from now on. The outages already scheduled stay (those of `settings`
    /// are added, counted from the epoch too), the random stream goes on, the loss
    /// model restarts in its good state and a new bandwidth limit starts with an empty queue.
    pub fn set(&mut self, settings: Impairment) {
        let mut outages = std::mem::take(&mut self.settings.outages);
        outages.extend(settings.outages.iter().copied());
        self.loss = LossState::new(settings.loss);
        self.link = settings.bandwidth.map(Bottleneck::new);
        self.settings = Impairment {
            outages,
            ..settings
        };
    }

    /// Whether the path is cut at `at`.
    pub fn is_cut(&self, at: Duration) -> bool {
        self.settings.outages.iter().any(|o| o.contains(at))
    }

    /// The fate of a datagram of `len` bytes arriving at `at`.
    pub fn admit(&mut self, at: Duration, len: usize) -> Fate {
        if self.is_cut(at) {
            return Fate::Dropped(Drop::Outage);
        }
        if self.loss.lose(&mut self.rng) {
            return Fate::Dropped(Drop::Loss);
        }
        let sent = match self.link.as_mut() {
            Some(link) => match link.enqueue(at, len) {
                Some(t) => t,
                None => return Fate::Dropped(Drop::QueueFull),
            },
            None => at,
        };
        let mut out = sent + self.settings.delay + self.rng.up_to(self.settings.jitter);
        let held_back = match self.settings.reorder {
            Some(r) if self.rng.chance(r.probability) => {
                out += r.extra;
                true
            }
            _ => false,
        };
        let copy = self
            .rng
            .chance(self.settings.duplicate)
            .then(|| sent + self.settings.delay + self.rng.up_to(self.settings.jitter));
        Fate::Deliver {
            at: out,
            copy,
            held_back,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Bandwidth, Loss, Reorder};

    const MS: Duration = Duration::from_millis(1);

    /// The fates of `n` datagrams of 1,000 bytes, one every millisecond.
    fn fates(settings: &Impairment, seed: u64, n: u32) -> Vec<Fate> {
        let mut p = Path::new(settings.clone(), seed);
        (0..n).map(|i| p.admit(MS * i, 1_000)).collect()
    }

    fn delivered(f: &[Fate]) -> Vec<(Duration, Option<Duration>, bool)> {
        f.iter()
            .filter_map(|f| match *f {
                Fate::Deliver {
                    at,
                    copy,
                    held_back,
                } => Some((at, copy, held_back)),
                Fate::Dropped(_) => None,
            })
            .collect()
    }

    fn everything() -> Impairment {
        Impairment {
            loss: Loss::Random(0.1),
            delay: MS * 20,
            jitter: MS * 30,
            reorder: Some(Reorder {
                probability: 0.05,
                extra: MS * 50,
            }),
            duplicate: 0.02,
            bandwidth: None,
            outages: vec![Outage {
                start: MS * 500,
                duration: MS * 100,
            }],
        }
    }

    #[test]
    fn a_perfect_path_delivers_everything_at_once() {
        let f = fates(&Impairment::default(), 1, 100);
        for (i, f) in f.iter().enumerate() {
            let at = MS * i as u32;
            assert_eq!(
                *f,
                Fate::Deliver {
                    at,
                    copy: None,
                    held_back: false
                }
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fates() {
        let s = everything();
        assert_eq!(fates(&s, 5, 5_000), fates(&s, 5, 5_000));
        assert_ne!(fates(&s, 5, 5_000), fates(&s, 6, 5_000));
    }

    #[test]
    fn delay_and_jitter_bound_each_datagram_and_jitter_reorders() {
        let s = Impairment {
            delay: MS * 20,
            jitter: MS * 30,
            ..Default::default()
        };
        let out = delivered(&fates(&s, 2, 10_000));
        assert_eq!(out.len(), 10_000);
        for (i, (at, _, _)) in out.iter().enumerate() {
            let sent = MS * i as u32;
            assert!(
                *at >= sent + MS * 20 && *at <= sent + MS * 50,
                "{i}: {at:?}"
            );
        }
        let overtaken = out.windows(2).filter(|w| w[1].0 < w[0].0).count();
        assert!(
            overtaken > 1_000,
            "30 ms of jitter at 1 ms spacing reorders: {overtaken}"
        );
    }

    #[test]
    fn reordering_and_duplication_happen_at_their_rates() {
        let s = Impairment {
            reorder: Some(Reorder {
                probability: 0.1,
                extra: MS * 5,
            }),
            duplicate: 0.05,
            ..Default::default()
        };
        let out = delivered(&fates(&s, 3, 100_000));
        let held = out.iter().filter(|d| d.2).count() as f64 / 1e5;
        let copies = out.iter().filter(|d| d.1.is_some()).count() as f64 / 1e5;
        assert!((held - 0.1).abs() < 0.01, "held back {held}");
        assert!((copies - 0.05).abs() < 0.005, "duplicated {copies}");
        for (i, (at, copy, held)) in out.iter().enumerate() {
            let sent = MS * i as u32;
            assert_eq!(*at, if *held { sent + MS * 5 } else { sent });
            if let Some(c) = copy {
                assert_eq!(*c, sent, "the copy has no extra hold");
            }
        }
    }

    #[test]
    fn an_outage_drops_all_it_covers_and_nothing_else() {
        let s = Impairment {
            outages: vec![Outage {
                start: MS * 100,
                duration: MS * 50,
            }],
            ..Default::default()
        };
        let f = fates(&s, 4, 300);
        for (i, f) in f.iter().enumerate() {
            let cut = (100..150).contains(&i);
            assert_eq!(
                *f == Fate::Dropped(Drop::Outage),
                cut,
                "datagram {i}: {f:?}"
            );
        }
        let mut p = Path::new(Impairment::default(), 1);
        p.add_outage(Outage {
            start: MS * 10,
            duration: MS,
        });
        assert!(p.is_cut(MS * 10) && !p.is_cut(MS * 11));
    }

    #[test]
    fn new_settings_apply_from_then_on_and_keep_the_outages() {
        let mut p = Path::new(everything(), 1);
        p.set(Impairment::default());
        assert!(p.is_cut(MS * 550), "the scheduled outage stays");
        for i in 0..1_000 {
            let f = p.admit(MS * (1_000 + i), 100);
            assert!(matches!(
                f,
                Fate::Deliver {
                    copy: None,
                    held_back: false,
                    ..
                }
            ));
        }
        p.set(Impairment {
            loss: Loss::Random(1.0),
            ..Default::default()
        });
        assert_eq!(p.admit(MS * 3_000, 100), Fate::Dropped(Drop::Loss));
    }

    #[test]
    fn loss_counts_only_what_the_outage_let_through() {
        let f = fates(&everything(), 11, 10_000);
        let count = |d| f.iter().filter(|f| **f == Fate::Dropped(d)).count();
        assert_eq!(count(Drop::Outage), 100);
        let lost = count(Drop::Loss) as f64 / 9_900.0;
        assert!((lost - 0.1).abs() < 0.015, "loss {lost}");
        assert_eq!(count(Drop::QueueFull), 0);
    }

    #[test]
    fn the_bandwidth_queue_bounds_what_waits_and_spaces_deliveries() {
        // 8 Mbit/s: 1,000 bytes per ms, as fast as they arrive; a burst of 50 at once.
        let s = Impairment {
            bandwidth: Some(Bandwidth {
                bits_per_second: 8_000_000,
                queue_bytes: 20_000,
            }),
            delay: MS * 10,
            ..Default::default()
        };
        let mut p = Path::new(s, 1);
        let burst: Vec<_> = (0..50).map(|_| p.admit(Duration::ZERO, 1_000)).collect();
        let out = delivered(&burst);
        assert_eq!(out.len(), 20);
        for (i, (at, _, _)) in out.iter().enumerate() {
            assert_eq!(*at, MS * (i as u32 + 1) + MS * 10);
        }
        assert_eq!(
            burst
                .iter()
                .filter(|f| **f == Fate::Dropped(Drop::QueueFull))
                .count(),
            30
        );
    }
}
