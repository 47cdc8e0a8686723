//! What one direction of the path does to the datagrams that take it.

use std::fmt;
use std::time::Duration;

/// The impairment of one direction. `Impairment::default()` is a perfect path; set the fields
/// that matter (struct update syntax: `Impairment { loss: Loss::Random(0.1), ..Default::default() }`).
///
/// The stages, in the order a datagram meets them: [`Impairment::outages`] (dropped while the
/// path is cut), [`Impairment::loss`], [`Impairment::bandwidth`] (the bottleneck and its queue),
/// then [`Impairment::delay`] plus a uniform draw in `0..=`[`Impairment::jitter`], plus
/// [`Reorder::extra`] for the datagrams [`Impairment::reorder`] picks. A datagram
/// [`Impairment::duplicate`] picks is delivered twice, the copy with its own jitter draw. A
/// datagram due while the path is cut is dropped then too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Impairment {
    pub loss: Loss,
    /// Fixed one-way delay added to every datagram.
    pub delay: Duration,
    /// Each datagram gets a further delay drawn uniformly in `0..=jitter`; jitter larger than
    /// the gap between datagrams reorders them.
    pub jitter: Duration,
    pub reorder: Option<Reorder>,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    pub bandwidth: Option<Bandwidth>,
    /// Cuts of the path, counted from the epoch (for the relay: its start; its `cut` adds more
    /// while it runs).
    pub outages: Vec<Outage>,
}

/// How datagrams are lost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Loss {
    #[default]
    None,
    /// Each datagram independently, with this probability.
    Random(f64),
    /// In bursts, by a two-state Gilbert-Elliott model.
    Bursty(GilbertElliott),
}

/// The two-state Gilbert-Elliott model: the path is either good or bad, may change state before
/// each datagram, and loses the datagram with the probability of the state it is in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability of going from good to bad (before a datagram).
    pub enter_bad: f64,
    /// Probability of going from bad to good (before a datagram); the mean stay in the bad
    /// state is `1 / leave_bad` datagrams.
    pub leave_bad: f64,
    /// Loss probability in the good state (often 0).
    pub loss_good: f64,
    /// Loss probability in the bad state (often 1).
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// Loses everything in the bad state and nothing in the good one, with `rate` the long-run
    /// share of datagrams lost and `mean_burst` the mean number of datagrams lost in a row.
    pub fn bursts(rate: f64, mean_burst: f64) -> Self {
        let leave_bad = 1.0 / mean_burst.max(1.0);
        let rate = rate.clamp(0.0, 0.99);
        Self {
            enter_bad: rate * leave_bad / (1.0 - rate),
            leave_bad,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }

    /// The long-run share of datagrams lost.
    pub fn mean_loss(&self) -> f64 {
        let total = self.enter_bad + self.leave_bad;
        if total == 0.0 {
            return self.loss_good;
        }
        let bad = self.enter_bad / total;
        bad * self.loss_bad + (1.0 - bad) * self.loss_good
    }
}

/// Holds some datagrams back so that later ones overtake them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reorder {
    /// Probability that a datagram is held back.
    pub probability: f64,
    /// How long it is held back, on top of the delay and jitter.
    pub extra: Duration,
}

/// A bottleneck link: datagrams leave it one after another at `bits_per_second`; those that
/// find more than `queue_bytes` (their own size included) waiting are dropped (tail drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    pub bits_per_second: u64,
    pub queue_bytes: usize,
}

/// The path is cut during `duration` from `start` (counted from the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    pub start: Duration,
    pub duration: Duration,
}

impl Outage {
    pub fn contains(&self, at: Duration) -> bool {
        at >= self.start && at - self.start < self.duration
    }
}

/// A setting outside its range, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting(pub String);

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid impairment setting: {}", self.0)
    }
}

impl std::error::Error for InvalidSetting {}

impl Impairment {
    /// Checks every probability is in `0..=1` and a bandwidth limit is above zero.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let mut probabilities = vec![("duplicate", self.duplicate)];
        match self.loss {
            Loss::None => {}
            Loss::Random(p) => probabilities.push(("loss", p)),
            Loss::Bursty(ge) => probabilities.extend([
                ("enter_bad", ge.enter_bad),
                ("leave_bad", ge.leave_bad),
                ("loss_good", ge.loss_good),
                ("loss_bad", ge.loss_bad),
            ]),
        }
        if let Some(r) = self.reorder {
            probabilities.push(("reorder", r.probability));
        }
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(InvalidSetting(format!("{name} = {p} is not a probability")));
            }
        }
        if let Some(b) = self.bandwidth {
            if b.bits_per_second == 0 || b.queue_bytes == 0 {
                return Err(InvalidSetting(format!("bandwidth {b:?} carries nothing")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_gives_the_asked_rate_and_burst_length() {
        let ge = GilbertElliott::bursts(0.1, 4.0);
        assert!((ge.mean_loss() - 0.1).abs() < 1e-12);
        assert!((1.0 / ge.leave_bad - 4.0).abs() < 1e-12);
    }

    #[test]
    fn out_of_range_settings_are_named() {
        let bad = Impairment {
            loss: Loss::Random(1.5),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().0.contains("loss = 1.5"));
        let no_rate = Impairment {
            bandwidth: Some(Bandwidth {
                bits_per_second: 0,
                queue_bytes: 10,
            }),
            ..Default::default()
        };
        assert!(no_rate.validate().is_err());
        assert!(Impairment::default().validate().is_ok());
    }

    #[test]
    fn an_outage_covers_its_start_but_not_its_end() {
        let o = Outage {
            start: Duration::from_secs(1),
            duration: Duration::from_secs(3),
        };
        assert!(!o.contains(Duration::from_millis(999)));
        assert!(o.contains(Duration::from_secs(1)));
        assert!(o.contains(Duration::from_millis(3999)));
        assert!(!o.contains(Duration::from_secs(4)));
    }
}
