//! A campaign's answering-machine detection thresholds: Asterisk app_amd's parameters under
//! their amd.conf meanings, so a campaign tuned on Asterisk carries over unchanged.
//!
//! [`AmdConfig::asterisk`] is app_amd's compiled-in defaults (apps/app_amd.c), the
//! baseline. [`AmdConfig::default`] differs in two places, both measured on the labelled
//! corpus in `docs/amd.md`: three words before MAXWORDS instead of two (with two, 5.5-7 % of
//! people who answered "Hi, this is Dana." were called machines; with three, 0.5 %), and
//! the beep cause, which app_amd does not have.

/// The thresholds of one campaign's AMD. Times are milliseconds of audio; the detector
/// works on 20 ms frames, so every time is effectively rounded up to a multiple of 20.
#[derive(Debug, Clone, PartialEq)]
pub struct AmdConfig {
    /// Silence from the pick-up without any word: a machine (app_amd `initial_silence`).
    pub initial_silence_ms: u32,
    /// Voice in the greeting beyond which it is a machine's (`greeting`).
    pub greeting_ms: u32,
    /// Silence after the greeting that makes it a person's (`after_greeting_silence`).
    pub after_greeting_silence_ms: u32,
    /// Audio after which the detector gives up, not sure (`total_analysis_time`).
    pub total_analysis_ms: u32,
    /// Consecutive voice that makes a word (`min_word_length`).
    pub min_word_ms: u32,
    /// Silence that separates two words (`between_words_silence`).
    pub between_words_silence_ms: u32,
    /// Words a person says; one more is a machine (`maximum_number_of_words`; app_amd's
    /// default is 2, ours 3).
    pub max_words: u32,
    /// A single word this long is a machine (`maximum_word_length`).
    pub max_word_ms: u32,
    /// Mean absolute amplitude (16-bit linear) below which a 20 ms frame is silence
    /// (`silence_threshold`).
    pub silence_threshold: u16,
    /// A voicemail beep (one steady tone) during analysis is a machine. Not in app_amd.
    pub detect_beep: bool,
}

impl Default for AmdConfig {
    /// app_amd's defaults but three words allowed, and beep detection on.
    fn default() -> Self {
        AmdConfig {
            max_words: 3,
            detect_beep: true,
            ..AmdConfig::asterisk()
        }
    }
}

/// The longest time a field may hold: ten minutes, far beyond any analysis, and small
/// enough that no sum of them overflows.
pub const MAX_MS: u32 = 600_000;

/// Why a configuration was refused; `field` is the [`AmdConfig`] field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{field} must be greater than zero")]
    Zero { field: &'static str },
    #[error("{field} is {value} ms; at most {max} ms")]
    TooLong {
        field: &'static str,
        value: u32,
        max: u32,
    },
}

impl AmdConfig {
    /// Exactly app_amd's compiled-in defaults, without the beep cause: the baseline.
    pub const fn asterisk() -> Self {
        AmdConfig {
            initial_silence_ms: 2500,
            greeting_ms: 1500,
            after_greeting_silence_ms: 800,
            total_analysis_ms: 5000,
            min_word_ms: 100,
            between_words_silence_ms: 50,
            max_words: 2,
            max_word_ms: 5000,
            silence_threshold: 256,
            detect_beep: false,
        }
    }

    /// Checks the thresholds a campaign supplies. Zero times, a zero silence threshold
    /// (every frame would be voice) and times beyond [`MAX_MS`] are refused; anything else
    /// is a campaign's choice, however odd (app_amd accepts any integer).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let times = [
            ("initial_silence_ms", self.initial_silence_ms),
            ("greeting_ms", self.greeting_ms),
            ("after_greeting_silence_ms", self.after_greeting_silence_ms),
            ("total_analysis_ms", self.total_analysis_ms),
            ("min_word_ms", self.min_word_ms),
            ("between_words_silence_ms", self.between_words_silence_ms),
            ("max_word_ms", self.max_word_ms),
        ];
        for (field, value) in times {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
            if value > MAX_MS {
                return Err(ConfigError::TooLong {
                    field,
                    value,
                    max: MAX_MS,
                });
            }
        }
        if self.silence_threshold == 0 {
            return Err(ConfigError::Zero {
                field: "silence_threshold",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_app_amds_but_three_words_and_the_beep() {
        let c = AmdConfig::default();
        assert_eq!(
            c,
            AmdConfig {
                max_words: 3,
                detect_beep: true,
                ..AmdConfig::asterisk()
            }
        );
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn the_baseline_is_app_amds_and_valid() {
        let c = AmdConfig::asterisk();
        assert!(!c.detect_beep);
        assert_eq!(
            (
                c.initial_silence_ms,
                c.greeting_ms,
                c.after_greeting_silence_ms
            ),
            (2500, 1500, 800)
        );
        assert_eq!((c.total_analysis_ms, c.min_word_ms), (5000, 100));
        assert_eq!((c.between_words_silence_ms, c.max_words), (50, 2));
        assert_eq!((c.max_word_ms, c.silence_threshold), (5000, 256));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let c = AmdConfig {
            greeting_ms: 0,
            ..AmdConfig::default()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(
            e,
            ConfigError::Zero {
                field: "greeting_ms"
            }
        );
        assert!(e.to_string().contains("greeting_ms"));

        let c = AmdConfig {
            total_analysis_ms: MAX_MS + 1,
            ..AmdConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("total_analysis_ms")
        );

        let c = AmdConfig {
            silence_threshold: 0,
            ..AmdConfig::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::Zero {
                field: "silence_threshold"
            })
        );
    }

    #[test]
    fn zero_words_is_a_campaigns_choice() {
        let c = AmdConfig {
            max_words: 0,
            detect_beep: false,
            ..AmdConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
    }
}
