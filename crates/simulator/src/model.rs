//! The attempt model of the pacing benchmark: what one dial at time `t` turns into.
//!
//! | outcome | probability | timing |
//! |---|---|---|
//! | fast failure | 0.10 | ends after U(1, 4) s |
//! | answering machine | 0.30 | picks up at clip(N(17, 3), 8, 21.5) s, AMD decides U(2, 4) s later; 10 % passed to an agent (talk U(5, 15) s + 5 s wrap, no contact) |
//! | live person | p_live(t) | rings lognormal median 9 s, sigma 0.5, redrawn into (1.5, 22) s; human verdict U(1, 2.5) s later; a share (1 %, S8 2 %) hung up on as machines; otherwise waits <= 2 s for an agent |
//! | no answer | the rest | rings to the 22 s timeout |
//!
//! A connected person is a right-party contact with probability 0.5 (S8 0.3): talk lognormal
//! mean 240 s CV 0.8, wrap lognormal mean 40 s CV 0.5; otherwise talk lognormal mean 45 s
//! CV 0.7 and a fixed 10 s wrap.
//!
//! Every attempt draws the same fixed sequence of numbers from its own stream whatever its
//! outcome, so two policies dialing attempt `i` at different times only differ where the
//! answer probability differs.

use crate::rng::{SplitMix64, lognormal_mean_cv};
use crate::scenario::Scenario;

pub const P_FAIL: f64 = 0.10;
pub const P_MACHINE: f64 = 0.30;
pub const RING_TIMEOUT_S: f64 = 22.0;
pub const CONNECT_DEADLINE_S: f64 = 2.0;
pub const AMD_FALSE_NEGATIVE: f64 = 0.10;
pub const LINES_PER_AGENT: f64 = 4.0;
pub const MIN_RING_S: f64 = 15.0;

/// What a dial will turn into (drawn at dial time, revealed as simulated time passes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Draw {
    Fail {
        end: f64,
    },
    Machine {
        pickup: f64,
        amd: f64,
        /// `Some(talk)` when the AMD passes it to an agent by mistake.
        passed_talk: Option<f64>,
    },
    Live {
        ring: f64,
        verdict_delay: f64,
        /// Hung up on as a machine (AMD false positive).
        amd_fp: bool,
        rpc: bool,
        talk: f64,
        wrap: f64,
    },
    NoAnswer,
}

/// Draws attempt `index` of day `day` dialed `t_s` seconds into the shift.
pub fn draw(sc: &Scenario, seed: u64, day: u64, index: u64, t_s: f64) -> Draw {
    let mut r = SplitMix64::stream(seed, day, index);
    let u = r.uniform();
    let fail_end = r.range(1.0, 4.0);
    let m_pickup = (17.0 + 3.0 * r.normal()).clamp(8.0, 21.5);
    let m_amd = r.range(2.0, 4.0);
    let m_passed = r.uniform() < AMD_FALSE_NEGATIVE;
    let m_talk = r.range(5.0, 15.0);
    let verdict_delay = r.range(1.0, 2.5);
    let amd_fp = r.uniform() < sc.amd_false_positive;
    let rpc = r.uniform() < sc.rpc_share;
    let z_talk = r.normal();
    let z_wrap = r.normal();
    let p_live = sc.p_live(t_s);
    if u < P_FAIL {
        Draw::Fail { end: fail_end }
    } else if u < P_FAIL + P_MACHINE {
        Draw::Machine {
            pickup: m_pickup,
            amd: m_amd,
            passed_talk: m_passed.then_some(m_talk),
        }
    } else if u < P_FAIL + P_MACHINE + p_live {
        let ring = loop {
            let x = 9.0 * (0.5 * r.normal()).exp();
            if x > 1.5 && x < RING_TIMEOUT_S {
                break x;
            }
        };
        let (talk, wrap) = if rpc {
            (
                lognormal_mean_cv(240.0, 0.8, z_talk),
                lognormal_mean_cv(40.0, 0.5, z_wrap),
            )
        } else {
            (lognormal_mean_cv(45.0, 0.7, z_talk), 10.0)
        };
        Draw::Live {
            ring,
            verdict_delay,
            amd_fp,
            rpc,
            talk,
            wrap,
        }
    } else {
        Draw::NoAnswer
    }
}
