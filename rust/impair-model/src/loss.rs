//! The loss stage: decides, datagram by datagram, which ones the path loses.

use crate::rng::Rng;
use crate::settings::Loss;

/// The loss model and, for the Gilbert-Elliott model, the state it is in.
#[derive(Debug, Clone)]
pub struct LossState {
    model: Loss,
    bad: bool,
}

impl LossState {
    /// Starts in the good state.
    pub fn new(model: Loss) -> Self {
        Self { model, bad: false }
    }

    /// Whether the next datagram is lost.
    pub fn lose(&mut self, rng: &mut Rng) -> bool {
        match self.model {
            Loss::None => false,
            Loss::Random(p) => rng.chance(p),
            Loss::Bursty(ge) => {
                let change = if self.bad { ge.leave_bad } else { ge.enter_bad };
                if rng.chance(change) {
                    self.bad = !self.bad;
                }
                rng.chance(if self.bad { ge.loss_bad } else { ge.loss_good })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::GilbertElliott;

    const N: usize = 200_000;

    fn run(model: Loss, seed: u64) -> Vec<bool> {
        let mut rng = Rng::new(seed);
        let mut state = LossState::new(model);
        (0..N).map(|_| state.lose(&mut rng)).collect()
    }

    fn rate(lost: &[bool]) -> f64 {
        lost.iter().filter(|&&l| l).count() as f64 / lost.len() as f64
    }

    /// Mean length of the runs of consecutive losses.
    fn mean_burst(lost: &[bool]) -> f64 {
        let bursts = lost.windows(2).filter(|w| w[1] && !w[0]).count().max(1);
        lost.iter().filter(|&&l| l).count() as f64 / bursts as f64
    }

    #[test]
    fn random_loss_is_deterministic_and_near_its_rate() {
        for p in [0.02, 0.1, 0.2] {
            let lost = run(Loss::Random(p), 42);
            assert_eq!(lost, run(Loss::Random(p), 42));
            let r = rate(&lost);
            assert!((r - p).abs() < 0.1 * p, "asked {p}, got {r}");
            // Independent losses: runs are short (mean 1 / (1 - p)).
            assert!((mean_burst(&lost) - 1.0 / (1.0 - p)).abs() < 0.05);
        }
        assert_eq!(rate(&run(Loss::None, 1)), 0.0);
        assert_eq!(rate(&run(Loss::Random(1.0), 1)), 1.0);
    }

    #[test]
    fn bursty_loss_has_its_rate_and_its_burst_length() {
        let ge = GilbertElliott::bursts(0.1, 5.0);
        let lost = run(Loss::Bursty(ge), 3);
        assert_eq!(lost, run(Loss::Bursty(ge), 3));
        let r = rate(&lost);
        assert!((r - 0.1).abs() < 0.01, "rate {r}");
        let burst = mean_burst(&lost);
        assert!((burst - 5.0).abs() < 0.5, "mean burst {burst}");
    }

    #[test]
    fn partial_loss_in_both_states_matches_the_stationary_mean() {
        let ge = GilbertElliott {
            enter_bad: 0.05,
            leave_bad: 0.25,
            loss_good: 0.01,
            loss_bad: 0.5,
        };
        let r = rate(&run(Loss::Bursty(ge), 9));
        let expected = ge.mean_loss();
        assert!((r - expected).abs() < 0.1 * expected, "{r} vs {expected}");
    }
}
