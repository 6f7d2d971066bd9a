//! Host-side sampling of the next token from the last position's logits.
//!
//! The order follows llama.cpp: repetition penalty, then top-k, top-p and min-p on the
//! untempered distribution, then temperature, then a seeded draw. Temperature 0 is greedy.

use crate::error::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 picks the most likely token (greedy).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p; 1 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one; 0 keeps all.
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens by this; 1 is off.
    pub repeat_penalty: f32,
    /// How many of the most recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seed of the random draw; None picks one from the clock.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: None,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> SamplingParams {
        SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        }
    }

    /// Checks every value is in range; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::usage(format!(
                "--temp {}: must be a number >= 0",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::usage(format!(
                "--top-p {}: must be in (0, 1]",
                self.top_p
            )));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(Error::usage(format!(
                "--min-p {}: must be in [0, 1]",
                self.min_p
            )));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(Error::usage(format!(
                "--repeat-penalty {}: must be > 0",
                self.repeat_penalty
            )));
        }
        Ok(())
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Result<Sampler> {
        params.validate()?;
        let seed = params.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        Ok(Sampler {
            params,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// The next token, given the logits and the tokens so far (for the repetition penalty).
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::generation("no logits to sample from"));
        }
        if let Some(index) = logits
            .iter()
            .position(|l| l.is_nan() || *l == f32::INFINITY)
        {
            return Err(Error::generation(format!(
                "the logits hold {} at token {index}: the forward pass produced non-finite values",
                logits[index]
            )));
        }
        let p = &self.params;
        let mut logits = logits.to_vec();
        if p.repeat_penalty != 1.0 && p.repeat_last_n > 0 {
            let recent = &history[history.len().saturating_sub(p.repeat_last_n)..];
            let mut seen = std::collections::HashSet::new();
            for &t in recent {
                if let Some(l) = logits.get_mut(t as usize) {
                    if seen.insert(t) {
                        *l = if *l > 0.0 {
                            *l / p.repeat_penalty
                        } else {
                            *l * p.repeat_penalty
                        };
                    }
                }
            }
        }
        if p.temperature == 0.0 {
            return Ok(argmax(&logits));
        }
        let candidates = filter_candidates(&logits, p.top_k, p.top_p, p.min_p);
        // Temperature reshapes what is left; the draw is over those probabilities.
        let max = candidates
            .iter()
            .map(|c| c.1)
            .fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f64> = candidates
            .iter()
            .map(|&(_, l)| ((f64::from(l) - f64::from(max)) / f64::from(p.temperature)).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut target = self.rng.random::<f64>() * total;
        for (&(id, _), w) in candidates.iter().zip(&weights) {
            if target < *w {
                return Ok(id);
            }
            target -= w;
        }
        Ok(candidates[candidates.len() - 1].0)
    }
}

/// The index of the largest logit (the lowest index among ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Tokens that survive top-k, top-p and min-p, with their logits: most likely first when
/// top-p or min-p is on (they need the order), else in no particular order (sorting the whole
/// vocabulary every token would cost more than the rest of sampling).
/// Never empty: the most likely token always survives.
pub fn filter_candidates(logits: &[f32], top_k: usize, top_p: f32, min_p: f32) -> Vec<(u32, f32)> {
    let mut candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| **l > f32::NEG_INFINITY)
        .map(|(i, &l)| (i as u32, l))
        .collect();
    if candidates.is_empty() {
        // Everything masked: fall back to the first token rather than failing.
        return vec![(argmax(logits), logits[argmax(logits) as usize])];
    }
    let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if top_k > 0 && top_k < candidates.len() {
        candidates.select_nth_unstable_by(top_k - 1, by_logit);
        candidates.truncate(top_k);
    }
    if top_p >= 1.0 && min_p <= 0.0 {
        return candidates;
    }
    candidates.sort_unstable_by(by_logit);

    let max = f64::from(candidates[0].1);
    let probs: Vec<f64> = candidates
        .iter()
        .map(|&(_, l)| (f64::from(l) - max).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    let mut keep = candidates.len();
    if top_p < 1.0 {
        let mut cumulative = 0.0;
        for (i, p) in probs.iter().enumerate() {
            cumulative += p / total;
            if cumulative >= f64::from(top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if min_p > 0.0 {
        // probs[0] is the largest, exp(0) = 1.
        let threshold = f64::from(min_p) * probs[0];
        let above = probs.iter().take_while(|&&p| p >= threshold).count();
        keep = keep.min(above.max(1));
    }
    candidates.truncate(keep.max(1));
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32, min_p: f32, seed: u64) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k,
            top_p,
            min_p,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: Some(seed),
        }
    }

    #[test]
    fn top_k_1_equals_greedy() {
        let logits: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 / 100.0)
            .collect();
        let mut sampler = Sampler::new(params(1.5, 1, 1.0, 0.0, 3)).unwrap();
        for _ in 0..20 {
            assert_eq!(sampler.sample(&logits, &[]).unwrap(), argmax(&logits));
        }
        let mut greedy = Sampler::new(SamplingParams::greedy()).unwrap();
        assert_eq!(greedy.sample(&logits, &[]).unwrap(), argmax(&logits));
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        // Probabilities 0.5, 0.25, 0.125, 0.0625, ...
        let logits: Vec<f32> = (0..10)
            .map(|i| -(i as f32) * std::f32::consts::LN_2)
            .collect();
        let ids = |c: Vec<(u32, f32)>| c.into_iter().map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(ids(filter_candidates(&logits, 0, 0.5, 0.0)), vec![0]);
        assert_eq!(ids(filter_candidates(&logits, 0, 0.7, 0.0)), vec![0, 1]);
        assert_eq!(ids(filter_candidates(&logits, 0, 0.8, 0.0)), vec![0, 1, 2]);
        assert_eq!(ids(filter_candidates(&logits, 0, 1.0, 0.0)).len(), 10);
        // min-p 0.2 keeps probabilities >= 0.1: 0.5, 0.25, 0.125.
        assert_eq!(ids(filter_candidates(&logits, 0, 1.0, 0.2)), vec![0, 1, 2]);
    }

    #[test]
    fn a_seeded_run_repeats() {
        let logits: Vec<f32> = (0..500).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let run = |seed| {
            let mut s = Sampler::new(params(1.0, 0, 1.0, 0.0, seed)).unwrap();
            (0..50)
                .map(|_| s.sample(&logits, &[]).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    /// Chi-square goodness of fit of many draws against softmax(logits / T).
    #[test]
    fn frequencies_match_the_tempered_softmax() {
        let logits = [2.0f32, 1.0, 0.5, 0.0, -1.0, -3.0];
        let temperature = 0.7;
        let mut sampler = Sampler::new(params(temperature, 0, 1.0, 0.0, 7)).unwrap();
        let draws = 60_000;
        let mut counts = [0usize; 6];
        for _ in 0..draws {
            counts[sampler.sample(&logits, &[]).unwrap() as usize] += 1;
        }
        let weights: Vec<f64> = logits
            .iter()
            .map(|&l| (f64::from(l) / f64::from(temperature)).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let chi2: f64 = counts
            .iter()
            .zip(&weights)
            .map(|(&c, w)| {
                let expected = draws as f64 * w / total;
                (c as f64 - expected).powi(2) / expected
            })
            .sum();
        // 5 degrees of freedom: P(chi2 > 20.5) = 0.001.
        assert!(chi2 < 20.5, "chi-square {chi2} for counts {counts:?}");
    }

    #[test]
    fn repetition_penalty_lowers_recent_tokens() {
        let logits = [5.0f32, 4.9, -1.0];
        let mut sampler = Sampler::new(SamplingParams {
            repeat_penalty: 1.5,
            ..SamplingParams::greedy()
        })
        .unwrap();
        assert_eq!(sampler.sample(&logits, &[0]).unwrap(), 1);
        assert_eq!(sampler.sample(&logits, &[1]).unwrap(), 0);
    }

    #[test]
    fn nan_logits_are_an_error_and_flags_are_checked() {
        let mut sampler = Sampler::new(SamplingParams::greedy()).unwrap();
        let err = sampler.sample(&[0.0, f32::NAN], &[]).unwrap_err();
        assert!(err.to_string().contains("NaN at token 1"), "{err}");
        for (bad, flag) in [
            (
                SamplingParams {
                    temperature: -1.0,
                    ..Default::default()
                },
                "--temp",
            ),
            (
                SamplingParams {
                    top_p: 0.0,
                    ..Default::default()
                },
                "--top-p",
            ),
            (
                SamplingParams {
                    top_p: 1.5,
                    ..Default::default()
                },
                "--top-p",
            ),
            (
                SamplingParams {
                    min_p: 1.5,
                    ..Default::default()
                },
                "--min-p",
            ),
            (
                SamplingParams {
                    repeat_penalty: 0.0,
                    ..Default::default()
                },
                "--repeat-penalty",
            ),
        ] {
            let err = Sampler::new(bad).err().unwrap().to_string();
            assert!(err.contains(flag), "{err}");
        }
    }
}
