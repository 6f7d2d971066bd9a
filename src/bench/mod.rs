//! `shaderlm bench`: llama-bench-style throughput (ppN: prefill N tokens; tgN: generate N
//! tokens one at a time), mean and standard deviation over repetitions after a warm-up,
//! each set against the adapter's ceilings measured in the same run.

pub mod ceilings;
pub mod report;

use crate::error::{Error, Result};
use crate::model::forward::StepTiming;
use crate::model::Model;
use ceilings::Ceilings;
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub prompt_lengths: Vec<usize>,
    pub gen_lengths: Vec<usize>,
    pub repetitions: usize,
}

/// One row of results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    pub test: String,
    pub tokens: usize,
    /// Tokens per second of each repetition.
    pub samples_ts: Vec<f64>,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    /// What the adapter's ceiling allows (bandwidth for tg, arithmetic for pp), tokens/s.
    pub roofline_ts: f64,
    pub roofline_pct: f64,
}

fn mean_sd(samples: &[f64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = if samples.len() > 1 {
        samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Bytes a decode step reads at `position`: every weight matrix once (the embedding only
/// as the LM head, when tied) and the K and V of every cached position.
pub fn decode_bytes(model: &Model, position: usize) -> f64 {
    let c = model.config();
    let kv = 2.0 * c.num_layers as f64 * position as f64 * c.kv_dim() as f64 * 4.0;
    model.transformer.decode_weight_bytes() as f64 + kv
}

/// Floating-point operations per prompt token when `tokens` are prefilled from position 0:
/// two per weight of every layer, plus attention over the average context.
pub fn prefill_flops_per_token(model: &Model, tokens: usize) -> f64 {
    let c = model.config();
    let (d, i) = (c.hidden_size as f64, c.intermediate_size as f64);
    let layer_weights = d * c.qkv_dim() as f64 + c.q_dim() as f64 * d + 3.0 * d * i;
    let attention = 4.0 * (tokens as f64 / 2.0) * c.q_dim() as f64;
    c.num_layers as f64 * (2.0 * layer_weights + attention)
}

/// Random prompt ids, the same every run.
fn random_tokens(vocab: usize, n: usize) -> Vec<u32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1234);
    (0..n).map(|_| rng.random_range(0..vocab as u32)).collect()
}

/// Prefills `tokens` from position 0; returns seconds.
pub fn run_prefill(model: &mut Model, tokens: &[u32]) -> Result<f64> {
    let start = Instant::now();
    model.transformer.forward(0, tokens, 0)?;
    Ok(start.elapsed().as_secs_f64())
}

/// Generates `n` tokens one at a time from position 0 (each step's logits read back);
/// returns seconds.
pub fn run_decode(model: &mut Model, n: usize) -> Result<f64> {
    let tokens = random_tokens(model.config().vocab_size, n);
    let start = Instant::now();
    for (position, &token) in tokens.iter().enumerate() {
        model.transformer.forward(0, &[token], position)?;
    }
    Ok(start.elapsed().as_secs_f64())
}

pub fn run(
    model: &mut Model,
    options: &BenchOptions,
    ceilings: &Ceilings,
    mut progress: impl FnMut(&str),
) -> Result<Vec<BenchRow>> {
    let ctx = model.transformer.options.ctx;
    if options.repetitions == 0 {
        return Err(Error::usage("-r: at least one repetition"));
    }
    let mut rows = Vec::new();
    for &n in &options.prompt_lengths {
        if n == 0 || n > ctx {
            return Err(Error::usage(format!(
                "-p {n}: must be between 1 and the context ({ctx}, -c)"
            )));
        }
        let tokens = random_tokens(model.config().vocab_size, n);
        progress(&format!("pp{n}: warm-up"));
        run_prefill(model, &tokens)?;
        let mut samples = Vec::new();
        for r in 0..options.repetitions {
            progress(&format!("pp{n}: run {}/{}", r + 1, options.repetitions));
            samples.push(n as f64 / run_prefill(model, &tokens)?);
        }
        let roofline = ceilings.flops / prefill_flops_per_token(model, n);
        rows.push(row(format!("pp{n}"), n, samples, roofline));
    }
    for &n in &options.gen_lengths {
        if n == 0 || n > ctx {
            return Err(Error::usage(format!(
                "-n {n}: must be between 1 and the context ({ctx}, -c)"
            )));
        }
        progress(&format!("tg{n}: warm-up"));
        run_decode(model, n.min(8))?;
        let mut samples = Vec::new();
        for r in 0..options.repetitions {
            progress(&format!("tg{n}: run {}/{}", r + 1, options.repetitions));
            samples.push(n as f64 / run_decode(model, n)?);
        }
        let roofline = ceilings.read_bytes_per_s() / decode_bytes(model, n / 2);
        rows.push(row(format!("tg{n}"), n, samples, roofline));
    }
    Ok(rows)
}

fn row(test: String, tokens: usize, samples: Vec<f64>, roofline_ts: f64) -> BenchRow {
    let (avg_ts, stddev_ts) = mean_sd(&samples);
    BenchRow {
        test,
        tokens,
        samples_ts: samples,
        avg_ts,
        stddev_ts,
        roofline_ts,
        roofline_pct: 100.0 * avg_ts / roofline_ts,
    }
}

/// One decode step (at position `position`) and one prefill of `prompt` tokens, profiled.
pub fn profile(
    model: &mut Model,
    prompt: usize,
    position: usize,
) -> Result<(StepTiming, StepTiming)> {
    let tokens = random_tokens(model.config().vocab_size, prompt.max(position + 1));
    model.transformer.set_profiling(true)?;
    let result = (|| {
        // Warm-up, so pipelines are compiled before the profiled steps.
        model.transformer.forward(0, &tokens[..prompt], 0)?;
        model.transformer.forward(0, &tokens[..prompt], 0)?;
        let prefill = model.transformer.last_timing.clone();
        model.transformer.forward(0, &tokens[..=position], 0)?;
        model
            .transformer
            .forward(0, &tokens[position..=position], position)?;
        Ok((prefill, model.transformer.last_timing.clone()))
    })();
    model.transformer.set_profiling(false)?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_standard_deviation() {
        let (m, s) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m, 5.0);
        assert!((s - 2.138).abs() < 1e-3);
        assert_eq!(mean_sd(&[3.0]), (3.0, 0.0));
    }
}
