//! The one polling loop every helper of this crate runs.

use std::time::{Duration, Instant};

/// Pause between two tries: short, so that a test goes on soon after its condition holds.
pub const INTERVAL: Duration = Duration::from_millis(2);

/// Runs `step` until it returns true (then returns true) or `deadline` has passed (then returns
/// false), pausing [`INTERVAL`] between tries. `step` runs at least once.
pub fn retry_until(deadline: Instant, mut step: impl FnMut() -> bool) -> bool {
    loop {
        if step() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_as_soon_as_the_step_succeeds() {
        let mut tries = 0;
        let done = retry_until(Instant::now() + Duration::from_secs(5), || {
            tries += 1;
            tries == 3
        });
        assert!(done);
        assert_eq!(tries, 3);
    }

    #[test]
    fn gives_up_at_the_deadline_after_one_try_at_least() {
        let mut tries = 0;
        let start = Instant::now();
        let done = retry_until(start, || {
            tries += 1;
            false
        });
        assert!(!done);
        assert_eq!(tries, 1);
    }
}
