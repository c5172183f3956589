//! The benchmark scenarios S1-S9 of the pacing benchmark (answer-rate profiles, agent churn,
//! AMD quality, right-party share, talk-time drift) and the reference frontier. Encoded
//! here so that builds and tests need nothing outside the repository.

use serde::{Deserialize, Serialize};

/// Scenario names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScenarioId {
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
    S7,
    S8,
    S9,
}

impl ScenarioId {
    pub const ALL: [ScenarioId; 9] = [
        ScenarioId::S1,
        ScenarioId::S2,
        ScenarioId::S3,
        ScenarioId::S4,
        ScenarioId::S5,
        ScenarioId::S6,
        ScenarioId::S7,
        ScenarioId::S8,
        ScenarioId::S9,
    ];

    pub fn parse(s: &str) -> Option<ScenarioId> {
        ScenarioId::ALL
            .into_iter()
            .find(|id| id.name().eq_ignore_ascii_case(s))
    }

    pub fn name(self) -> &'static str {
        match self {
            ScenarioId::S1 => "S1",
            ScenarioId::S2 => "S2",
            ScenarioId::S3 => "S3",
            ScenarioId::S4 => "S4",
            ScenarioId::S5 => "S5",
            ScenarioId::S6 => "S6",
            ScenarioId::S7 => "S7",
            ScenarioId::S8 => "S8",
            ScenarioId::S9 => "S9",
        }
    }
}

impl std::fmt::Display for ScenarioId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Live-answer probability over the shift.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    Flat(f64),
    /// Piecewise linear through (hour, p) points.
    Piecewise(Vec<(f64, f64)>),
    /// `before` until `at_h` hours, then `after`.
    Step {
        before: f64,
        after: f64,
        at_h: f64,
    },
}

impl Profile {
    pub fn at(&self, t_s: f64) -> f64 {
        let h = t_s / 3600.0;
        match self {
            Profile::Flat(p) => *p,
            Profile::Step {
                before,
                after,
                at_h,
            } => {
                if h < *at_h {
                    *before
                } else {
                    *after
                }
            }
            Profile::Piecewise(pts) => {
                let (first, last) = (pts[0], pts[pts.len() - 1]);
                if h <= first.0 {
                    return first.1;
                }
                for w in pts.windows(2) {
                    let ((h0, p0), (h1, p1)) = (w[0], w[1]);
                    if h <= h1 {
                        return p0 + (p1 - p0) * (h - h0) / (h1 - h0);
                    }
                }
                last.1
            }
        }
    }
}

/// One benchmark scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub id: ScenarioId,
    /// Seed of the scenario's common random numbers.
    pub seed: u64,
    pub profile: Profile,
    /// Agents log in over the first 10 minutes and take two 15-min breaks and a lunch.
    pub churn: bool,
    /// Share of live answers the AMD hangs up on as machines.
    pub amd_false_positive: f64,
    /// Share of connected persons who are the right party.
    pub rpc_share: f64,
    /// Talk times are multiplied by `.1` for calls connected from `.0` seconds on.
    pub talk_drift: Option<(f64, f64)>,
}

impl Scenario {
    pub fn get(id: ScenarioId) -> Scenario {
        let day = Profile::Piecewise(vec![
            (0.0, 0.20),
            (2.0, 0.15),
            (4.0, 0.18),
            (6.0, 0.35),
            (8.0, 0.30),
        ]);
        let base = Scenario {
            id,
            seed: 1000 + id as u64,
            profile: day,
            churn: false,
            amd_false_positive: 0.01,
            rpc_share: 0.5,
            talk_drift: None,
        };
        match id {
            ScenarioId::S1 => Scenario {
                profile: Profile::Flat(0.25),
                ..base
            },
            ScenarioId::S2 => base,
            ScenarioId::S3 => Scenario {
                profile: Profile::Step {
                    before: 0.30,
                    after: 0.15,
                    at_h: 4.0,
                },
                ..base
            },
            ScenarioId::S4 => Scenario {
                profile: Profile::Flat(0.15),
                ..base
            },
            ScenarioId::S5 => Scenario {
                profile: Profile::Flat(0.35),
                ..base
            },
            ScenarioId::S6 => Scenario {
                profile: Profile::Flat(0.08),
                ..base
            },
            ScenarioId::S7 => Scenario {
                churn: true,
                ..base
            },
            ScenarioId::S8 => Scenario {
                amd_false_positive: 0.02,
                rpc_share: 0.3,
                ..base
            },
            ScenarioId::S9 => Scenario {
                talk_drift: Some((7200.0, 1.5)),
                ..base
            },
        }
    }

    pub fn p_live(&self, t_s: f64) -> f64 {
        self.profile.at(t_s)
    }
}

/// Team sizes of the benchmark.
pub const TEAM_SIZES: [usize; 3] = [10, 50, 200];

/// Reference frontier of the pacing benchmark: best occupancy at <= 3 % strict abandonment
/// reached by a hindsight-tuned policy knowing the true parameters (one day, seed 1).
pub fn frontier(id: ScenarioId, agents: usize) -> Option<f64> {
    let row = match id {
        ScenarioId::S1 => [0.805, 0.925, 0.970],
        ScenarioId::S2 => [0.800, 0.919, 0.969],
        ScenarioId::S3 => [0.795, 0.921, 0.969],
        _ => return None,
    };
    TEAM_SIZES.iter().position(|&n| n == agents).map(|i| row[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_profile_interpolates() {
        let s = Scenario::get(ScenarioId::S2);
        assert!((s.p_live(0.0) - 0.20).abs() < 1e-12);
        assert!((s.p_live(3600.0) - 0.175).abs() < 1e-12);
        assert!((s.p_live(6.0 * 3600.0) - 0.35).abs() < 1e-12);
        assert!((s.p_live(9.0 * 3600.0) - 0.30).abs() < 1e-12);
        let s3 = Scenario::get(ScenarioId::S3);
        assert_eq!(s3.p_live(4.0 * 3600.0 - 1.0), 0.30);
        assert_eq!(s3.p_live(4.0 * 3600.0), 0.15);
    }

    #[test]
    fn names_round_trip() {
        for id in ScenarioId::ALL {
            assert_eq!(ScenarioId::parse(id.name()), Some(id));
        }
        assert_eq!(frontier(ScenarioId::S2, 50), Some(0.919));
        assert_eq!(frontier(ScenarioId::S4, 50), None);
    }
}
