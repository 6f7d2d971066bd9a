//! Plain CPU references, accumulating in f64. They share no code with the kernels.

/// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n])
pub fn matmul(x: &[f32], w: &[f32], bias: Option<&[f32]>, m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut y = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for kk in 0..k {
                acc += f64::from(x[i * k + kk]) * f64::from(w[j * k + kk]);
            }
            if let Some(b) = bias {
                acc += f64::from(b[j]);
            }
            y[i * n + j] = acc;
        }
    }
    y
}

pub fn rmsnorm(x: &[f32], weight: &[f32], cols: usize, eps: f64) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let mean_sq = row.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / cols as f64;
        let scale = 1.0 / (mean_sq + eps).sqrt();
        y.extend(row.iter().zip(weight).map(|(&v, &w)| f64::from(v) * scale * f64::from(w)));
    }
    y
}

pub fn softmax(x: &[f32], cols: usize) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let exps: Vec<f64> = row.iter().map(|&v| (f64::from(v) - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        y.extend(exps.iter().map(|e| e / sum));
    }
    y
}

pub fn silu(g: f64) -> f64 {
    g / (1.0 + (-g).exp())
}

/// Rotate-half RoPE of one head vector at `pos` with base `theta`.
pub fn rope_head(x: &mut [f64], pos: usize, theta: f64) {
    let d = x.len();
    let half = d / 2;
    for j in 0..half {
        let freq = theta.powf(-2.0 * j as f64 / d as f64);
        let (sin, cos) = (pos as f64 * freq).sin_cos();
        let (x1, x2) = (x[j], x[j + half]);
        x[j] = x1 * cos - x2 * sin;
        x[j + half] = x2 * cos + x1 * sin;
    }
}

/// Causal GQA attention. q: [t, n_heads, d] for positions start..start+t; k, v:
/// [positions, n_kv_heads, d] holding at least start + t positions. Returns [t, n_heads, d].
pub fn attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    n_tokens: usize,
    start: usize,
    n_heads: usize,
    n_kv_heads: usize,
    d: usize,
) -> Vec<f64> {
    let group = n_heads / n_kv_heads;
    let kv_dim = n_kv_heads * d;
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = vec![0.0; n_tokens * n_heads * d];
    for t in 0..n_tokens {
        for h in 0..n_heads {
            let kvh = h / group;
            let qv = &q[(t * n_heads + h) * d..][..d];
            let n_keys = start + t + 1;
            let scores: Vec<f64> = (0..n_keys)
                .map(|j| {
                    let kr = &k[j * kv_dim + kvh * d..][..d];
                    qv.iter().zip(kr).map(|(a, b)| a * b).sum::<f64>() * scale
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            let o = &mut out[(t * n_heads + h) * d..][..d];
            for (j, e) in exps.iter().enumerate() {
                let vr = &v[j * kv_dim + kvh * d..][..d];
                for (oi, vi) in o.iter_mut().zip(vr) {
                    *oi += e / sum * vi;
                }
            }
        }
    }
    out
}
