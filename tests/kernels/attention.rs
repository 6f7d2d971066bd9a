//! Attention over the KV cache: GQA ratios 1 to 4, 1 to 300 cached positions, prefill
//! blocks of 1 to 64 queries, head_dim 64, 80 and 128, and long rows with large scores.

use crate::common::{self, assert_close, random_vec, reference};
use rand::Rng;
use shaderlm::gpu::{ParamArena, StorageBuffer, TexelTexture};
use shaderlm::kernels::attention::{
    Attention, AttentionOutput, AttentionShape, AttentionVariant, CacheShape,
};
use shaderlm::kernels::rope::{default_inv_freq, rope_table};
use shaderlm::kernels::{run, StagedLayout, WeightFormat};

const TOLERANCE: f64 = 1e-5;

struct Case {
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    n_tokens: usize,
    /// Positions already in the cache before the new queries.
    past: usize,
    /// Sequence slot in a cache of several sequences.
    sequence: usize,
    scale: f32,
}

fn check(case: Case) {
    let gpu = common::gpu();
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let Case {
        n_heads,
        n_kv_heads,
        head_dim: d,
        n_tokens,
        past,
        sequence,
        scale,
    } = case;
    let kv_dim = n_kv_heads * d;
    let ctx = past + n_tokens + 5;
    let sequences = sequence + 1;
    // Queries sit at the start of a wider row, as in the fused QKV activations.
    let q_stride = n_heads * d + 2 * kv_dim;
    let q = random_vec(&mut rng, n_tokens * q_stride, scale);
    let k = random_vec(&mut rng, sequences * ctx * kv_dim, scale);
    let v = random_vec(&mut rng, sequences * ctx * kv_dim, 1.0);
    // The kernel rotates the queries (RoPE) to their positions as it loads them.
    let theta = 10_000.0 + rng.random_range(0.0..100_000.0);
    let table = rope_table(ctx as u32, &default_inv_freq(d as u32, theta));

    let cache = CacheShape::new(n_kv_heads as u32, d as u32);
    let texels = |values: &[f32]| -> Vec<[u32; 4]> {
        values
            .chunks(kv_dim)
            .flat_map(|row| cache.texels_of_row(row))
            .collect()
    };
    let width = TexelTexture::width(gpu);
    let q_gpu = StorageBuffer::from_slice(gpu, "q", &q).unwrap();
    let table_gpu = StorageBuffer::from_slice(gpu, "rope table", &table).unwrap();
    let k_gpu = TexelTexture::upload(gpu, "k cache", &texels(&k), width).unwrap();
    let v_gpu = TexelTexture::upload(gpu, "v cache", &texels(&v), width).unwrap();
    let shape = AttentionShape {
        n_heads: n_heads as u32,
        cache,
        q_stride: q_stride as u32,
        out_stride: (n_heads * d) as u32,
    };
    // Runs the kernel `variant` over this case, writing `output`.
    let attend = |output: AttentionOutput<'_>, variant: AttentionVariant| {
        // A slot for each kernel: the per-key one and the per-query one.
        let mut arena = ParamArena::new(gpu, 2).unwrap();
        let attention = Attention::new(
            gpu,
            &mut arena,
            &q_gpu.buffer,
            &k_gpu,
            &v_gpu,
            &table_gpu,
            output,
            shape,
            variant,
        )
        .unwrap();
        run(gpu, &mut arena, "attention test", |rec| {
            attention.encode(rec, n_tokens as u32, past as u32, (sequence * ctx) as u32)
        })
        .unwrap();
    };
    // Every variant the adapter runs: the portable kernel and the subgroup twin, alone and
    // with subgroups sharing the keys, and the per-query prefill kernel.
    let mut outputs = Vec::new();
    for variant in AttentionVariant::available(gpu, &shape) {
        let out_gpu = StorageBuffer::new(gpu, "out", (n_tokens * n_heads * d * 4) as u64).unwrap();
        out_gpu.fill_f32(gpu, f32::NAN);
        attend(AttentionOutput::Rows(&out_gpu.buffer), variant);
        outputs.push((variant, out_gpu.read_f32(gpu).unwrap()));
    }

    let mut q_packed: Vec<f64> = (0..n_tokens)
        .flat_map(|t| {
            q[t * q_stride..][..n_heads * d]
                .iter()
                .map(|&x| f64::from(x))
        })
        .collect();
    for (t, row) in q_packed.chunks_mut(n_heads * d).enumerate() {
        for head in row.chunks_mut(d) {
            reference::rope_head(head, past + t, theta);
        }
    }
    let seq_k: Vec<f64> = k[sequence * ctx * kv_dim..][..ctx * kv_dim]
        .iter()
        .map(|&x| f64::from(x))
        .collect();
    let seq_v: Vec<f64> = v[sequence * ctx * kv_dim..][..ctx * kv_dim]
        .iter()
        .map(|&x| f64::from(x))
        .collect();
    let expected = reference::attention(
        &q_packed, &seq_k, &seq_v, n_tokens, past, n_heads, n_kv_heads, d,
    );
    for (variant, out) in outputs {
        let what = format!(
            "attention ({variant:?}) heads={n_heads}/{n_kv_heads} head_dim={d} tokens={n_tokens} past={past} sequence={sequence} scale={scale}"
        );
        assert_close(&out, &expected, TOLERANCE, seed, &what);
    }

    // Where the subgroup kernel writes the output projection's staged input itself: the
    // f32 layout (to f32 rounding) and the int8 one (within what int8 blocks allow).
    let cols = n_heads * d;
    for variant in AttentionVariant::available(gpu, &shape) {
        if !Attention::can_stage(variant.reduction, &shape) {
            continue;
        }
        for format in [WeightFormat::F32, WeightFormat::Q8_0] {
            let layout = StagedLayout::for_format(format, cols as u32, n_tokens as u32);
            let staged = layout.buffer(gpu, "staged").unwrap();
            staged.fill_f32(gpu, f32::NAN);
            attend(AttentionOutput::Staged(&staged, layout), variant);
            let words = staged.read_u32(gpu).unwrap();
            let what = format!(
                "attention staged {} ({variant:?}) heads={n_heads}/{n_kv_heads} head_dim={d} tokens={n_tokens} past={past}",
                format.name()
            );
            if layout.int8 {
                common::assert_int8_staged(&words, &expected, n_tokens, cols, seed, &what);
            } else {
                let values = reference::unstage_rows(&words, n_tokens, cols, false);
                assert_close(&values, &expected, TOLERANCE, seed, &what);
            }
        }
    }
}

#[test]
fn attention_decode_over_1_to_300_cached_positions() {
    for (n_heads, n_kv_heads) in [(4, 4), (9, 3)] {
        for past in [0, 1, 2, 63, 64, 65, 150, 299] {
            check(Case {
                n_heads,
                n_kv_heads,
                head_dim: 64,
                n_tokens: 1,
                past,
                sequence: 0,
                scale: 1.0,
            });
        }
    }
}

#[test]
fn attention_prefill_blocks_of_1_7_and_64() {
    for (n_heads, n_kv_heads) in [(4, 4), (9, 3)] {
        for n_tokens in [1, 7, 64] {
            for past in [0, 5, 236] {
                check(Case {
                    n_heads,
                    n_kv_heads,
                    head_dim: 64,
                    n_tokens,
                    past,
                    sequence: 0,
                    scale: 1.0,
                });
            }
        }
    }
}

#[test]
fn attention_head_dim_128_and_a_second_sequence() {
    check(Case {
        n_heads: 6,
        n_kv_heads: 2,
        head_dim: 128,
        n_tokens: 7,
        past: 100,
        sequence: 1,
        scale: 1.0,
    });
    check(Case {
        n_heads: 3,
        n_kv_heads: 3,
        head_dim: 128,
        n_tokens: 1,
        past: 300,
        sequence: 2,
        scale: 1.0,
    });
}

/// The per-query prefill takes 1 to 4 query heads of a KV group per workgroup, fewer as
/// head_dim grows (at most 6 heads x texels a lane): for a GQA ratio of 4, 4 at head_dim 32
/// (1 texel a lane) and 2 at head_dim 64 (2 texels); for a ratio of 2, 2 at head_dim 80
/// (3 texels, its heads padded to whole runs of 8). The cases above run groups of 1
/// (head_dim 128 among them: 4 texels a lane, the most the kernel takes) and 3.
#[test]
fn attention_per_query_groups_of_1_to_4() {
    for (n_heads, n_kv_heads, head_dim, n_tokens, past) in
        [(8, 2, 32, 33, 9), (8, 2, 64, 33, 9), (2, 1, 80, 3, 17)]
    {
        check(Case {
            n_heads,
            n_kv_heads,
            head_dim,
            n_tokens,
            past,
            sequence: 0,
            scale: 1.0,
        });
    }
}

#[test]
fn attention_softmax_stays_stable_for_long_rows_and_large_scores() {
    // Inputs in [-12, 12] give scores with a standard deviation of 48 and a largest of
    // about 170: exp overflows f32 past 88, so this fails without the running maximum.
    check(Case {
        n_heads: 2,
        n_kv_heads: 1,
        head_dim: 64,
        n_tokens: 3,
        past: 2000,
        sequence: 0,
        scale: 12.0,
    });
}
