//! Plain CPU references, accumulating in f64. They share no code with the kernels.

use shaderlm::kernels::matrix::quantize;
use shaderlm::kernels::WeightFormat;
use shaderlm::model::tensor::DType;

/// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n])
pub fn matmul(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    m: usize,
    n: usize,
    k: usize,
) -> Vec<f64> {
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
        y.extend(
            row.iter()
                .zip(weight)
                .map(|(&v, &w)| f64::from(v) * scale * f64::from(w)),
        );
    }
    y
}

pub fn softmax(x: &[f32], cols: usize) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
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
#[allow(clippy::too_many_arguments)]
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

/// Hyper-parameters of the reference Llama forward pass.
#[derive(Debug, Clone)]
pub struct LlamaShape {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab: usize,
    pub theta: f64,
    pub eps: f64,
    pub tied: bool,
    pub qkv_bias: bool,
}

/// A plain Llama forward pass over a whole token sequence, f64 throughout, no KV cache:
/// returns the logits of every position. `w` maps Hugging Face tensor names to f32 data.
pub fn llama_forward(
    s: &LlamaShape,
    w: &std::collections::HashMap<String, Vec<f32>>,
    tokens: &[u32],
) -> Vec<Vec<f64>> {
    llama_forward_with(s, w, tokens, false)
}

/// [`llama_forward`], with every product's input rounded as the quantized kernels take it
/// when `int8_inputs`: staged as int8 blocks and read back ([`stage_rows`], [`unstage_rows`]).
pub fn llama_forward_with(
    s: &LlamaShape,
    w: &std::collections::HashMap<String, Vec<f32>>,
    tokens: &[u32],
    int8_inputs: bool,
) -> Vec<Vec<f64>> {
    let d = s.hidden;
    let hd = d / s.heads;
    let kv_dim = s.kv_heads * hd;
    let t_len = tokens.len();
    let get = |name: &str| -> &Vec<f32> { w.get(name).unwrap_or_else(|| panic!("missing {name}")) };
    let linear = |x: &[f64], name: &str, out: usize, bias: Option<&str>| -> Vec<f64> {
        let m = get(name);
        let inp = x.len();
        let x = if int8_inputs {
            let row: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let staged = stage_rows(&row, inp, true);
            unstage_rows(&staged, 1, inp, true)
                .into_iter()
                .map(f64::from)
                .collect()
        } else {
            x.to_vec()
        };
        (0..out)
            .map(|o| {
                let row = &m[o * inp..(o + 1) * inp];
                let b = bias.map_or(0.0, |b| f64::from(get(b)[o]));
                row.iter()
                    .zip(&x)
                    .map(|(&a, &v)| f64::from(a) * v)
                    .sum::<f64>()
                    + b
            })
            .collect()
    };
    let norm = |x: &[f64], name: &str| -> Vec<f64> {
        let g = get(name);
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let scale = 1.0 / (ms + s.eps).sqrt();
        x.iter()
            .zip(g)
            .map(|(v, &g)| v * scale * f64::from(g))
            .collect()
    };
    let embed = get("model.embed_tokens.weight");
    let mut x: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&t| {
            embed[t as usize * d..(t as usize + 1) * d]
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        })
        .collect();
    for l in 0..s.layers {
        let p = |n: &str| format!("model.layers.{l}.{n}");
        let bias = |n: &str| s.qkv_bias.then(|| p(n));
        let mut q_all = Vec::new();
        let mut k_all = Vec::new();
        let mut v_all = Vec::new();
        for (pos, xt) in x.iter().enumerate() {
            let h = norm(xt, &p("input_layernorm.weight"));
            let mut q = linear(
                &h,
                &p("self_attn.q_proj.weight"),
                d,
                bias("self_attn.q_proj.bias").as_deref(),
            );
            let mut k = linear(
                &h,
                &p("self_attn.k_proj.weight"),
                kv_dim,
                bias("self_attn.k_proj.bias").as_deref(),
            );
            let v = linear(
                &h,
                &p("self_attn.v_proj.weight"),
                kv_dim,
                bias("self_attn.v_proj.bias").as_deref(),
            );
            for head in q.chunks_mut(hd) {
                rope_head(head, pos, s.theta);
            }
            for head in k.chunks_mut(hd) {
                rope_head(head, pos, s.theta);
            }
            q_all.extend(q);
            k_all.extend(k);
            v_all.extend(v);
        }
        let attn = attention(&q_all, &k_all, &v_all, t_len, 0, s.heads, s.kv_heads, hd);
        for (pos, xt) in x.iter_mut().enumerate() {
            let o = linear(
                &attn[pos * d..(pos + 1) * d],
                &p("self_attn.o_proj.weight"),
                d,
                None,
            );
            xt.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let h = norm(xt, &p("post_attention_layernorm.weight"));
            let g = linear(&h, &p("mlp.gate_proj.weight"), s.intermediate, None);
            let u = linear(&h, &p("mlp.up_proj.weight"), s.intermediate, None);
            let m: Vec<f64> = g.iter().zip(&u).map(|(&g, &u)| silu(g) * u).collect();
            let down = linear(&m, &p("mlp.down_proj.weight"), d, None);
            xt.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        }
    }
    let head = if s.tied {
        "model.embed_tokens.weight"
    } else {
        "lm_head.weight"
    };
    x.iter()
        .map(|xt| linear(&norm(xt, "model.norm.weight"), head, s.vocab, None))
        .collect()
}

/// Stages rows of `cols` values as the matmul kernels read them (an independent CPU
/// version of shaders/staging.wgsl): f32 rows padded to pairs of vec4s, or int8 blocks of 32 with
/// (scale, scale * sum, outlier, outlier index as f32) per block, the outlier (the value of largest
/// magnitude) kept exactly and stored as 0. Returns u32 words.
pub fn stage_rows(rows: &[f32], cols: usize, int8: bool) -> Vec<u32> {
    let mut out = Vec::new();
    for row in rows.chunks(cols) {
        if !int8 {
            let padded = cols.div_ceil(8) * 8;
            out.extend((0..padded).map(|k| row.get(k).copied().unwrap_or(0.0).to_bits()));
            continue;
        }
        let mut words = Vec::new();
        let mut scales = Vec::new();
        for block in row.chunks(32) {
            let mut top = 0;
            for (j, v) in block.iter().enumerate() {
                if v.abs() > block[top].abs() {
                    top = j;
                }
            }
            let amax = block
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != top)
                .fold(0.0f32, |m, (_, v)| m.max(v.abs()));
            let s = amax / 127.0;
            let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
            let q: Vec<i32> = block
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    if j == top {
                        0
                    } else {
                        (v * inv).round_ties_even() as i32
                    }
                })
                .collect();
            for w in q.chunks(4) {
                words.push(
                    w.iter()
                        .enumerate()
                        .fold(0u32, |acc, (j, &v)| acc | ((v as u32 & 0xFF) << (8 * j))),
                );
            }
            scales.extend([
                s.to_bits(),
                (s * q.iter().sum::<i32>() as f32).to_bits(),
                block[top].to_bits(),
                (top as f32).to_bits(),
            ]);
        }
        out.extend(words);
        out.extend(scales);
    }
    out
}

/// The values a staged buffer holds, row by row (int8 values times their block scale, the
/// outliers exact).
pub fn unstage_rows(words: &[u32], rows: usize, cols: usize, int8: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * cols);
    if !int8 {
        let padded = cols.div_ceil(8) * 8;
        for r in 0..rows {
            out.extend(
                words[r * padded..r * padded + cols]
                    .iter()
                    .map(|w| f32::from_bits(*w)),
            );
        }
        return out;
    }
    let blocks = cols / 32;
    let row_words = blocks * 8 + blocks * 4;
    for r in 0..rows {
        let row = &words[r * row_words..(r + 1) * row_words];
        for k in 0..cols {
            let scales = &row[blocks * 8 + 4 * (k / 32)..][..4];
            if f32::from_bits(scales[3]) as usize == k % 32 {
                out.push(f32::from_bits(scales[2]));
            } else {
                let q = (row[k / 4] >> (8 * (k % 4))) as u8 as i8;
                out.push(f32::from(q) * f32::from_bits(scales[0]));
            }
        }
    }
    out
}

/// GGUF blocks back to f32, written independently of the library: q8_0 (f16 d, 32 i8),
/// q4_0 (f16 d, 16 bytes, w = d (q - 8)), q4_1 (f16 d, f16 m, 16 bytes, w = d q + m); in a
/// 4-bit block byte j holds weight j low and weight j + 16 high.
pub fn dequantize_blocks(kind: &str, bytes: &[u8]) -> Vec<f32> {
    let half = |b: &[u8]| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
    let mut out = Vec::new();
    match kind {
        "q8_0" => {
            for block in bytes.chunks(34) {
                out.extend(block[2..].iter().map(|&q| half(block) * f32::from(q as i8)));
            }
        }
        "q4_0" | "q4_1" => {
            let size = if kind == "q4_0" { 18 } else { 20 };
            for block in bytes.chunks(size) {
                let d = half(block);
                let m = if kind == "q4_1" {
                    half(&block[2..])
                } else {
                    0.0
                };
                let q = &block[size - 16..];
                let value = |nibble: u8| {
                    if kind == "q4_0" {
                        d * (f32::from(nibble) - 8.0)
                    } else {
                        d * f32::from(nibble) + m
                    }
                };
                let mut values = [0.0f32; 32];
                for j in 0..16 {
                    values[j] = value(q[j] & 15);
                    values[j + 16] = value(q[j] >> 4);
                }
                out.extend(values);
            }
        }
        other => panic!("no reference dequantizer for {other}"),
    }
    out
}

/// `w` rounded as `format` stores it: f16 through the `half` crate, quantized formats
/// through GGUF blocks decoded by the independent reference.
pub fn stored_weights(w: &[f32], format: WeightFormat) -> Vec<f32> {
    let blocks = |dtype| dequantize_blocks(format.name(), &quantize(dtype, w));
    match format {
        WeightFormat::F32 => w.to_vec(),
        WeightFormat::F16 => w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
        WeightFormat::Q8_0 => blocks(DType::Q8_0),
        WeightFormat::Q4_0 => blocks(DType::Q4_0),
        WeightFormat::Q4_1 => blocks(DType::Q4_1),
    }
}
