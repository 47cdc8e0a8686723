//! The text form of an [`Impairment`]: comma-separated `key=value` items, e.g.
//! `loss=0.1,delay=10ms,jitter=200ms,reorder=0.05/30ms,duplicate=0.05`.

use impair::{Bandwidth, GilbertElliott, Impairment, Loss, Reorder};
use std::time::Duration;

/// What `--help` says about the text form.
pub const SPEC_HELP: &str =
    "SPEC is comma-separated key=value items (empty or \"none\": a perfect path):
  loss=P              each datagram lost with probability P (0..1)
  loss=P/N            bursty loss (Gilbert-Elliott): P of all datagrams, N in a row on average
  delay=D             fixed one-way delay (D: e.g. 10ms, 1.5s)
  jitter=D            plus a uniform draw in 0..=D
  reorder=P/D         that share of datagrams held back D more
  duplicate=P         that share delivered twice
  bandwidth=BPS/BYTES a bottleneck of BPS bits per second with a queue of BYTES (tail drop)
";

/// Parses `text`; the error names the item at fault.
pub fn parse(text: &str) -> Result<Impairment, String> {
    let mut out = Impairment::default();
    let text = text.trim();
    if text.is_empty() || text == "none" {
        return Ok(out);
    }
    for item in text.split(',') {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not key=value"))?;
        let value = value.trim();
        match key.trim() {
            "loss" => {
                out.loss = match value.split_once('/') {
                    None => Loss::Random(probability(value)?),
                    Some((rate, burst)) => {
                        let burst: f64 = number(burst)?;
                        if burst < 1.0 {
                            return Err(format!("mean burst {burst} is under 1 datagram"));
                        }
                        Loss::Bursty(GilbertElliott::bursts(probability(rate)?, burst))
                    }
                }
            }
            "delay" => out.delay = duration(value)?,
            "jitter" => out.jitter = duration(value)?,
            "reorder" => {
                let (p, extra) = value
                    .split_once('/')
                    .ok_or_else(|| format!("reorder={value:?} needs P/DURATION"))?;
                out.reorder = Some(Reorder {
                    probability: probability(p)?,
                    extra: duration(extra)?,
                });
            }
            "duplicate" => out.duplicate = probability(value)?,
            "bandwidth" => {
                let (bps, queue) = value
                    .split_once('/')
                    .ok_or_else(|| format!("bandwidth={value:?} needs BPS/BYTES"))?;
                out.bandwidth = Some(Bandwidth {
                    bits_per_second: number(bps)?,
                    queue_bytes: number(queue)?,
                });
            }
            other => return Err(format!("unknown impairment {other:?}")),
        }
    }
    out.validate().map_err(|e| e.to_string())?;
    Ok(out)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

fn probability(text: &str) -> Result<f64, String> {
    let p: f64 = number(text)?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{text:?} is not a probability (0..1)"))
    }
}

/// `10ms`, `1.5s`; at most an hour.
fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number_part, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        return Err(format!("{text:?} needs a unit (ms or s)"));
    };
    let value: f64 = number(number_part)?;
    let seconds = value * scale;
    if !(0.0..=3600.0).contains(&seconds) {
        return Err(format!("{text:?} is not between 0 and 1 hour"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item() {
        let got = parse(
            "loss=0.1,delay=10ms,jitter=0.2s,reorder=0.05/30ms,duplicate=0.05,bandwidth=2000000/65536",
        )
        .unwrap();
        assert_eq!(
            got,
            Impairment {
                loss: Loss::Random(0.1),
                delay: Duration::from_millis(10),
                jitter: Duration::from_millis(200),
                reorder: Some(Reorder {
                    probability: 0.05,
                    extra: Duration::from_millis(30)
                }),
                duplicate: 0.05,
                bandwidth: Some(Bandwidth {
                    bits_per_second: 2_000_000,
                    queue_bytes: 65_536
                }),
                outages: Vec::new(),
            }
        );
    }

    #[test]
    fn perfect_and_bursty() {
        assert_eq!(parse("").unwrap(), Impairment::default());
        assert_eq!(parse("none").unwrap(), Impairment::default());
        let Loss::Bursty(ge) = parse("loss=0.1/4").unwrap().loss else {
            panic!("bursty");
        };
        assert!((ge.mean_loss() - 0.1).abs() < 1e-9);
    }

    #[test]
    fn errors_name_the_item() {
        assert!(parse("loss=2").unwrap_err().contains("probability"));
        assert!(parse("delay=10").unwrap_err().contains("unit"));
        assert!(parse("delay=-5ms").unwrap_err().contains("between"));
        assert!(parse("speed=3").unwrap_err().contains("speed"));
        assert!(parse("loss").unwrap_err().contains("key=value"));
        assert!(parse("reorder=0.1").unwrap_err().contains("P/DURATION"));
        assert!(parse("loss=0.1/0.5").unwrap_err().contains("burst"));
        assert!(parse("bandwidth=0/100").is_err());
    }
}
