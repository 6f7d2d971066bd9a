//! Embedding gather, RoPE, KV-cache write, SwiGLU and the residual add.

use crate::common::{self, assert_close, random_vec, reference};
use rand::Rng;
use shaderlm::gpu::{ParamArena, StorageBuffer, TexelTexture};
use shaderlm::kernels::attention::CacheShape;
use shaderlm::kernels::embedding::Embedding;
use shaderlm::kernels::kv_write::{KvWrite, KvWriteInput};
use shaderlm::kernels::rope::{default_inv_freq, rope_table};
use shaderlm::kernels::swiglu::{SwiGlu, SwiGluInput};
use shaderlm::kernels::{run, GpuMatrix, PackedMatrix, StageWriter, StagedLayout, WeightFormat};

const TOLERANCE: f64 = 1e-5;

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn check_embedding(
    format: WeightFormat,
    vocab: usize,
    cols: usize,
    n_tokens: usize,
    shard_texels: Option<u64>,
) {
    let gpu = common::gpu();
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let table = random_vec(&mut rng, vocab * cols, 1.0);
    let mut ids: Vec<u32> = (0..n_tokens)
        .map(|_| rng.random_range(0..vocab as u32))
        .collect();
    ids[0] = vocab as u32 - 1; // the last row, in the last shard
    let packed = PackedMatrix::from_f32(&table, vocab as u32, cols as u32, format);
    let table_gpu =
        GpuMatrix::upload_sharded(gpu, "table", &packed, shard_texels.unwrap_or(u64::MAX)).unwrap();
    let ids_gpu = StorageBuffer::from_slice(gpu, "ids", &ids).unwrap();
    let out_gpu = StorageBuffer::new(gpu, "out", (n_tokens * cols * 4) as u64).unwrap();
    out_gpu.fill_f32(gpu, f32::NAN);
    let mut arena = ParamArena::new(gpu, 512).unwrap();
    let embedding = Embedding::new(
        gpu,
        &mut arena,
        &table_gpu,
        &ids_gpu.buffer,
        &out_gpu.buffer,
    )
    .unwrap();
    run(gpu, &mut arena, "embedding test", |rec| {
        embedding.encode(rec, n_tokens as u32)
    })
    .unwrap();
    // The rows exactly as stored: gathering adds no error of its own.
    let stored = reference::stored_weights(&table, format);
    let expected: Vec<f64> = ids
        .iter()
        .flat_map(|&id| to_f64(&stored[id as usize * cols..][..cols]))
        .collect();
    let out = out_gpu.read_f32(gpu).unwrap();
    let what = format!(
        "{} embedding vocab={vocab} cols={cols} tokens={n_tokens} shards={}",
        format.name(),
        table_gpu.shards.len()
    );
    assert_close(&out, &expected, 0.0, seed, &what);
}

#[test]
fn embedding_gathers_rows_in_every_format() {
    for format in WeightFormat::ALL {
        check_embedding(format, 49152, 64, 17, None);
        check_embedding(format, 1000, 576, 3, Some(500));
    }
    check_embedding(WeightFormat::F32, 100, 3, 1, None);
    check_embedding(WeightFormat::F16, 100, 17, 2, Some(10));
}

/// 60,000 x 576 f32 is 138 MB, over one 128 MiB storage binding.
#[test]
fn embedding_table_over_128_mib() {
    check_embedding(WeightFormat::F32, 60_000, 576, 7, None);
}

/// K and V rows land at their positions, heads padded to whole texels (head_dim 64 needs no
/// padding, 10 does), keys rotated to their positions (RoPE, against the f64 reference),
/// values as they are, every other position left as it was.
fn check_kv_write(
    n_kv_heads: usize,
    head_dim: usize,
    q_dim: usize,
    n_tokens: usize,
    ctx: usize,
    start: usize,
) {
    let gpu = common::gpu();
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let kv_dim = n_kv_heads * head_dim;
    let stride = q_dim + 2 * kv_dim;
    let src = random_vec(&mut rng, n_tokens * stride, 1.0);
    let theta = 10_000.0 + rng.random_range(0.0..100_000.0);
    let table = rope_table(ctx as u32, &default_inv_freq(head_dim as u32, theta));
    let table_gpu = StorageBuffer::from_slice(gpu, "rope table", &table).unwrap();
    let k_init = random_vec(&mut rng, ctx * kv_dim, 1.0);
    let v_init = random_vec(&mut rng, ctx * kv_dim, 1.0);
    let cache = CacheShape::new(n_kv_heads as u32, head_dim as u32);
    let texels = |values: &[f32]| -> Vec<[u32; 4]> {
        values
            .chunks(kv_dim)
            .flat_map(|row| cache.texels_of_row(row))
            .collect()
    };
    let width = TexelTexture::width(gpu);
    let src_gpu = StorageBuffer::from_slice(gpu, "qkv", &src).unwrap();
    let (k_offset, v_offset) = (q_dim as u32, (q_dim + kv_dim) as u32);
    let inputs = KvWriteInput::available(cache, stride as u32, k_offset, v_offset);
    // Every reader the shape allows: the storage one, and the texture copy where rows are
    // whole vec4s and head_dim a multiple of 8.
    let written = inputs.into_iter().map(|input| {
        let k_gpu = TexelTexture::upload(gpu, "k cache", &texels(&k_init), width).unwrap();
        let v_gpu = TexelTexture::upload(gpu, "v cache", &texels(&v_init), width).unwrap();
        let mut arena = ParamArena::new(gpu, 2).unwrap();
        let write = KvWrite::new(
            gpu,
            &mut arena,
            &src_gpu.buffer,
            &k_gpu,
            &v_gpu,
            &table_gpu,
            cache,
            stride as u32,
            k_offset,
            v_offset,
            input,
        )
        .unwrap();
        run(gpu, &mut arena, "kv write test", |rec| {
            write.encode(rec, n_tokens as u32, start as u32, start as u32)
        })
        .unwrap();
        (input, k_gpu, v_gpu)
    });
    let (mut k_expected, mut v_expected) = (to_f64(&k_init), v_init.clone());
    for t in 0..n_tokens {
        for e in 0..kv_dim {
            k_expected[(start + t) * kv_dim + e] = f64::from(src[t * stride + q_dim + e]);
            v_expected[(start + t) * kv_dim + e] = src[t * stride + q_dim + kv_dim + e];
        }
        for head in k_expected[(start + t) * kv_dim..][..kv_dim].chunks_mut(head_dim) {
            reference::rope_head(head, start + t, theta);
        }
    }
    for (input, k_gpu, v_gpu) in written {
        // The K cache read back as values (texel padding dropped).
        let k_values: Vec<f32> = k_gpu
            .read(gpu)
            .unwrap()
            .chunks(cache.row_texels() as usize)
            .flat_map(|row| {
                row.chunks(cache.head_texels() as usize).flat_map(|head| {
                    let values: Vec<f32> =
                        head.iter().flatten().map(|&w| f32::from_bits(w)).collect();
                    values[..head_dim].to_vec()
                })
            })
            .collect();
        let what = format!(
            "kv write ({input:?} input): K cache, heads={n_kv_heads} head_dim={head_dim} tokens={n_tokens} start={start}"
        );
        assert_close(&k_values, &k_expected, TOLERANCE, seed, &what);
        assert_eq!(
            v_gpu.read(gpu).unwrap(),
            texels(&v_expected),
            "kv write ({input:?} input): V cache (seed {seed})"
        );
    }
}

#[test]
fn kv_write_places_rows_at_their_positions() {
    check_kv_write(3, 64, 576, 7, 40, 11);
    check_kv_write(2, 10, 60, 1, 9, 8);
    check_kv_write(1, 34, 34, 5, 5, 0);
    // Long positions, head_dim 128 and the smallest pair.
    check_kv_write(3, 64, 576, 1, 300, 299);
    check_kv_write(2, 128, 256, 17, 30, 3);
    check_kv_write(1, 2, 2, 3, 1004, 1000);
}

#[test]
fn swiglu_matches_reference() {
    let gpu = common::gpu();
    for (n_tokens, cols, int8) in [
        (1, 1, false),
        (3, 17, false),
        (7, 1536, false),
        (17, 64, false),
        (5, 20, false),
        (1, 32, true),
        (3, 1536, true),
        (17, 64, true),
        // 4096 texels: exactly one row of the texture reader's copy.
        (2, 4096, true),
    ] {
        let seed = common::seed();
        let mut rng = common::rng(seed);
        let gate_up = random_vec(&mut rng, n_tokens * 2 * cols, 6.0);
        let format = if int8 {
            WeightFormat::Q4_1
        } else {
            WeightFormat::F16
        };
        let layout = StagedLayout::for_format(format, cols as u32, n_tokens as u32);
        // Two rows more than the step uses, NaN: no output may show them (the texture
        // reader copies the step's rows alone).
        let mut padded = gate_up.clone();
        padded.resize((n_tokens + 2) * 2 * cols, f32::NAN);
        let in_gpu = StorageBuffer::from_slice(gpu, "gate_up", &padded).unwrap();
        let mut expected = Vec::new();
        for t in 0..n_tokens {
            for j in 0..cols {
                let g = f64::from(gate_up[t * 2 * cols + j]);
                let u = f64::from(gate_up[t * 2 * cols + cols + j]);
                expected.push(reference::silu(g) * u);
            }
        }
        // Every stage writer the adapter runs (the portable one and the subgroup twin), each
        // with every reader of gate_up the shape allows.
        let variants = StageWriter::available(gpu).into_iter().flat_map(|writer| {
            SwiGluInput::available(cols as u32)
                .into_iter()
                .map(move |input| (writer, input))
        });
        for (writer, input) in variants {
            let staged = layout.buffer(gpu, "staged").unwrap();
            staged.fill_f32(gpu, f32::NAN);
            let mut arena = ParamArena::new(gpu, 2).unwrap();
            let op = SwiGlu::new(
                gpu,
                &mut arena,
                &in_gpu.buffer,
                &staged,
                layout,
                writer,
                input,
            )
            .unwrap();
            run(gpu, &mut arena, "swiglu test", |rec| {
                op.encode(rec, n_tokens as u32)
            })
            .unwrap();
            let words = staged.read_u32(gpu).unwrap();
            let what = format!(
                "swiglu ({writer:?}, {input:?} input) tokens={n_tokens} cols={cols} int8={int8}"
            );
            if int8 {
                common::assert_int8_staged(&words, &expected, n_tokens, cols, seed, &what);
            } else {
                assert_close(
                    &reference::unstage_rows(&words, n_tokens, cols, false),
                    &expected,
                    TOLERANCE,
                    seed,
                    &what,
                );
            }
        }
    }
}
