//! Misbehaviour on demand, so tests and demos can show how Sightline copes with the
//! cameras a real estate has: ones that drop off the network and come back, ones
//! configured with a password nobody has, ones that stop sending but keep the connection,
//! and ones too slow to keep up with real time.

use std::time::Duration;

/// What a faulty camera does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Reachable for `up`, then for `down` drops its connections and answers every request
    /// with 503, over and over (phases counted from the simulator's start).
    Flapping { up: Duration, down: Duration },
    /// Refuses every request with 401, whatever credentials are sent.
    WrongCredentials,
    /// Stops sending media `after` playback starts, but keeps the connection open and
    /// answers requests: only a stall timeout notices.
    Stall { after: Duration },
    /// Sends frames `factor` times slower than real time (timestamps keep their spacing).
    Slow { factor: u32 },
}

impl Fault {
    /// Whether a flapping camera is in a down phase `elapsed` after the simulator started.
    pub fn down_at(self, elapsed: Duration) -> bool {
        match self {
            Fault::Flapping { up, down } => {
                let period = (up + down).as_micros().max(1);
                elapsed.as_micros() % period >= up.as_micros()
            }
            _ => false,
        }
    }
}

/// Why a fault specification was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("fault {spec:?}: {reason} (one of flapping:UP:DOWN, wrong-credentials, stall:AFTER, slow:FACTOR; times in seconds)")]
pub struct FaultError {
    pub spec: String,
    pub reason: &'static str,
}

impl std::str::FromStr for Fault {
    type Err = FaultError;
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |reason| FaultError {
            spec: spec.to_owned(),
            reason,
        };
        let seconds = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| bad("times must be seconds, above 0 and at most a day"))
        };
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            ["flapping", up, down] => Ok(Fault::Flapping {
                up: seconds(up)?,
                down: seconds(down)?,
            }),
            ["wrong-credentials"] => Ok(Fault::WrongCredentials),
            ["stall", after] => Ok(Fault::Stall {
                after: seconds(after)?,
            }),
            ["slow", factor] => factor
                .parse::<u32>()
                .ok()
                .filter(|f| (2..=100).contains(f))
                .map(|factor| Fault::Slow { factor })
                .ok_or_else(|| bad("the slow-down factor must be a whole number from 2 to 100")),
            _ => Err(bad("unknown fault")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        assert_eq!(
            "flapping:2:1.5".parse(),
            Ok(Fault::Flapping {
                up: Duration::from_secs(2),
                down: Duration::from_millis(1500)
            })
        );
        assert_eq!("wrong-credentials".parse(), Ok(Fault::WrongCredentials));
        assert_eq!(
            "stall:3".parse(),
            Ok(Fault::Stall {
                after: Duration::from_secs(3)
            })
        );
        assert_eq!("slow:2".parse(), Ok(Fault::Slow { factor: 2 }));
        let e = "slow:1".parse::<Fault>().unwrap_err().to_string();
        assert!(e.contains("slow:1") && e.contains("2 to 100"), "{e}");
        assert!("melt"
            .parse::<Fault>()
            .unwrap_err()
            .to_string()
            .contains("unknown"));
        assert!("stall:-1".parse::<Fault>().is_err());
    }

    #[test]
    fn flapping_alternates_up_and_down() {
        let f = Fault::Flapping {
            up: Duration::from_secs(2),
            down: Duration::from_secs(1),
        };
        let at = |s: f64| f.down_at(Duration::from_secs_f64(s));
        assert!(!at(0.0) && !at(1.9) && at(2.1) && at(2.9) && !at(3.1) && at(5.5));
        assert!(!Fault::WrongCredentials.down_at(Duration::from_secs(10)));
    }
}
