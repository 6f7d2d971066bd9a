//! Shared test support: one GPU per test binary, seeded random inputs, error measures.
#![allow(dead_code)]

pub mod reference;
pub mod tiny_gguf;
pub mod tiny_model;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shaderlm::gpu::{Gpu, GpuOptions};
use std::sync::OnceLock;

/// The adapter the tests run on (the software one in CI), opened once per test binary.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::new(&GpuOptions::default()).expect("no GPU adapter for the tests");
        eprintln!(
            "tests run on {}",
            shaderlm::gpu::adapter::describe(&gpu.info)
        );
        gpu
    })
}

/// A fresh seed per run (SHADERLM_TEST_SEED repeats one); failures print it.
pub fn seed() -> u64 {
    if let Some(seed) = std::env::var("SHADERLM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (std::process::id() as u64).rotate_left(32)
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` values uniform in [-scale, scale).
pub fn random_vec(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// ||out - reference|| / ||reference||, with NaN anywhere counting as infinitely wrong.
pub fn relative_error(out: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(out.len(), reference.len(), "output length");
    let mut diff = 0.0f64;
    let mut norm = 0.0f64;
    for (&o, &r) in out.iter().zip(reference) {
        if !o.is_finite() {
            return f64::INFINITY;
        }
        diff += (f64::from(o) - r).powi(2);
        norm += r * r;
    }
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

/// Like [`assert_close`] for sums of products, whose f32 rounding error scales with the sum of
/// the terms' magnitudes (`magnitude`, the reference computed on absolute values), not with
/// the result: where the terms cancel to under `floor` of that sum (a rare draw when there
/// are few outputs), the error is taken relative to `floor * ||magnitude||` instead of the
/// near-zero ||reference||. Otherwise this is exactly ||out - reference|| / ||reference||.
pub fn assert_close_sums(
    out: &[f32],
    reference: &[f64],
    magnitude: &[f64],
    floor: f64,
    tolerance: f64,
    seed: u64,
    what: &str,
) {
    assert_eq!(out.len(), reference.len(), "output length");
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let difference: Vec<f64> = out
        .iter()
        .zip(reference)
        .map(|(&o, &r)| {
            if o.is_finite() {
                f64::from(o) - r
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let scale = norm(reference).max(floor * norm(magnitude));
    let error = if scale > 0.0 {
        norm(&difference) / scale
    } else {
        norm(&difference)
    };
    assert!(
        error <= tolerance,
        "{what}: relative error {error:e} > {tolerance:e} (seed {seed}; rerun with SHADERLM_TEST_SEED={seed})"
    );
}

/// Fails with the seed and shape when the relative error exceeds `tolerance`.
pub fn assert_close(out: &[f32], reference: &[f64], tolerance: f64, seed: u64, what: &str) {
    let error = relative_error(out, reference);
    assert!(
        error <= tolerance,
        "{what}: relative error {error:e} > {tolerance:e} (seed {seed}; rerun with SHADERLM_TEST_SEED={seed})"
    );
}

/// Checks int8-staged rows against reference values: each block's step is the largest
/// magnitude but its outlier's over 127 and its second word is step * (sum of its int8
/// values), both as computed from the reference; each value may be off by at most half a
/// step (plus f32 rounding of the inputs), never more.
pub fn assert_int8_staged(
    words: &[u32],
    reference: &[f64],
    rows: usize,
    cols: usize,
    seed: u64,
    what: &str,
) {
    let values = reference::unstage_rows(words, rows, cols, true);
    let blocks = cols / 32;
    let row_words = blocks * 8 + blocks * 4;
    for r in 0..rows {
        for b in 0..blocks {
            let block = &reference[r * cols + b * 32..r * cols + b * 32 + 32];
            let mut magnitudes: Vec<f64> = block.iter().map(|v| v.abs()).collect();
            magnitudes.sort_by(f64::total_cmp);
            let want_step = magnitudes[30] / 127.0;
            let at = r * row_words + blocks * 8 + 4 * b;
            let step = f64::from(f32::from_bits(words[at]));
            assert!(
                (step - want_step).abs() <= 1e-4 * want_step + 1e-30,
                "{what}: row {r} block {b}: step {step} vs {want_step} (seed {seed})"
            );
            let int_sum: i64 = words[r * row_words + b * 8..r * row_words + b * 8 + 8]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .map(|byte| i64::from(byte as i8))
                .sum();
            let scaled_sum = f64::from(f32::from_bits(words[at + 1]));
            let want_sum = step * int_sum as f64;
            assert!(
                (scaled_sum - want_sum).abs() <= 1e-5 * (step * 32.0 * 127.0) + 1e-30,
                "{what}: row {r} block {b}: step * sum {scaled_sum} vs {want_sum} (seed {seed})"
            );
        }
    }
    for (i, (&got, &want)) in values.iter().zip(reference).enumerate() {
        let (r, k) = (i / cols, i % cols);
        let step = f64::from(f32::from_bits(
            words[r * row_words + blocks * 8 + 4 * (k / 32)],
        ));
        let bound = 0.5 * step * (1.0 + 1e-3) + 1e-5 * want.abs() + 1e-30;
        assert!(
            (f64::from(got) - want).abs() <= bound,
            "{what}: row {r} column {k}: {got} vs {want} (step {step}; seed {seed}; rerun with SHADERLM_TEST_SEED={seed})"
        );
    }
}
