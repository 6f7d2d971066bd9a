//! The matmul kernels in every weight format (decode and prefill entry points), the stage
//! kernel that lays their inputs out, and weights over 128 MiB or split into shards.

use crate::common::{self, assert_close, random_vec, reference};
use rand::Rng;
use shaderlm::gpu::{ParamArena, StorageBuffer};
use shaderlm::kernels::matmul::{MatMul, MatMulIo, PrefillShape, XReader};
use shaderlm::kernels::stage::Stage;
use shaderlm::kernels::{
    run, DecodeVariant, GpuMatrix, PackedMatrix, StageWriter, StagedLayout, WeightFormat,
};

/// The kernel against the weights and staged inputs it was given (f64 reference): only f32
/// rounding of the accumulation separates them.
const EXACT_TOLERANCE: f64 = 1e-5;

/// The kernel against the unquantized f32 weights and inputs: what quantizing the weights
/// (and the inputs to int8, for quantized formats) costs on uniform random data.
fn format_tolerance(format: WeightFormat) -> f64 {
    match format {
        WeightFormat::F32 => 1e-5,
        WeightFormat::F16 => 1e-3,
        WeightFormat::Q8_0 => 2e-2,
        WeightFormat::Q4_0 | WeightFormat::Q4_1 => 0.12,
    }
}

#[derive(Clone, Copy)]
struct Case {
    format: WeightFormat,
    n: usize,
    k: usize,
    tokens: usize,
    bias: bool,
    accumulate: bool,
    /// Texels per shard, to force sharding.
    shard_texels: Option<u64>,
    /// The decode shape (workgroup size, rows per invocation, lanes per row).
    variant: DecodeVariant,
    /// How the prefill entry points spread rows and tokens over invocations.
    prefill: PrefillShape,
    /// Rows the staged input holds beyond the tokens (NaN, which no output may show).
    spare_rows: usize,
}

/// Checks `case` with every reader of x this adapter has.
fn check(case: Case) {
    for reader in XReader::available(common::gpu()) {
        check_with(case, reader);
    }
}

fn check_with(case: Case, reader: XReader) {
    let Case {
        format,
        n,
        k,
        tokens,
        bias,
        accumulate,
        shard_texels,
        variant,
        prefill,
        spare_rows,
    } = case;
    let gpu = common::gpu();
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let w = random_vec(&mut rng, n * k, 1.0);
    let x = random_vec(&mut rng, tokens * k, 1.0);
    let b = random_vec(&mut rng, n, 1.0);
    let y0 = random_vec(&mut rng, tokens * n, 1.0);

    let packed = PackedMatrix::from_f32(&w, n as u32, k as u32, format);
    let w_gpu =
        GpuMatrix::upload_sharded(gpu, "w", &packed, shard_texels.unwrap_or(u64::MAX)).unwrap();
    if shard_texels.is_some() {
        assert!(w_gpu.shards.len() > 1, "expected several shards");
    }
    let layout = StagedLayout::for_matrix(&w_gpu, (tokens + spare_rows) as u32);
    let x_gpu = StorageBuffer::from_slice(gpu, "x", &x).unwrap();
    let staged = layout.buffer(gpu, "staged x").unwrap();
    // Rows past the tokens poisoned (the padding of a row stays zero, as in a fresh buffer).
    let row_floats = (layout.row_words()) as usize;
    let mut poisoned = vec![0.0f32; layout.rows as usize * row_floats];
    poisoned[tokens * row_floats..].fill(f32::NAN);
    staged.write(gpu, &poisoned);
    let b_gpu = StorageBuffer::from_slice(gpu, "bias", &b).unwrap();
    let y_gpu = StorageBuffer::new(gpu, "y", (tokens * n * 4) as u64).unwrap();
    if accumulate {
        y_gpu.write(gpu, &y0);
    } else {
        y_gpu.fill_f32(gpu, f32::NAN);
    }

    let mut arena = ParamArena::new(gpu, 512).unwrap();
    let writer = StageWriter::for_gpu(gpu);
    let stage = Stage::new(gpu, &mut arena, &x_gpu.buffer, &staged, layout, writer).unwrap();
    let bias_buffer = bias.then_some(&b_gpu.buffer);
    let io = MatMulIo {
        w: &w_gpu,
        x: &staged,
        layout,
        bias: bias_buffer,
        y: &y_gpu.buffer,
        accumulate,
    };
    let matmul = MatMul::with_variant(gpu, &mut arena, io, variant, reader, prefill).unwrap();
    run(gpu, &mut arena, "matmul test", |rec| {
        stage.encode(rec, tokens as u32);
        matmul.encode(rec, tokens as u32);
    })
    .unwrap();
    let out = y_gpu.read_f32(gpu).unwrap();

    let what = format!(
        "{} matmul n={n} k={k} tokens={tokens} bias={bias} accumulate={accumulate} shards={} \
         reader={reader:?} decode={variant:?} prefill={prefill:?} staged rows={}",
        format.name(),
        w_gpu.shards.len(),
        layout.rows
    );
    let add = |mut y: Vec<f64>| {
        if accumulate {
            y.iter_mut().zip(&y0).for_each(|(e, &v)| *e += f64::from(v));
        }
        y
    };
    // Exactly what the kernel was given: the weights as their format stores them (decoded
    // here independently of the library's packing) and the staged inputs.
    let given_w = reference::stored_weights(&w, format);
    let staged_x = reference::unstage_rows(&staged.read_u32(gpu).unwrap(), tokens, k, layout.int8);
    let exact = add(reference::matmul(
        &staged_x,
        &given_w,
        bias.then_some(&b),
        tokens,
        n,
        k,
    ));
    let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<f32>>();
    let mut magnitude = reference::matmul(
        &abs(&staged_x),
        &abs(&given_w),
        bias.then_some(&abs(&b)),
        tokens,
        n,
        k,
    );
    if accumulate {
        magnitude
            .iter_mut()
            .zip(&y0)
            .for_each(|(m, &v)| *m += f64::from(v.abs()));
    }
    common::assert_close_sums(
        &out,
        &exact,
        &magnitude,
        0.01,
        EXACT_TOLERANCE,
        seed,
        &format!("{what} (against its packed inputs)"),
    );
    // A statistical bound: it needs enough terms per dot product and enough outputs (with
    // 17 outputs of one token, 4-bit weights exceeded it in 3 runs of 12: the relative
    // error of so few sums spreads too widely for a fixed bound).
    if n * tokens >= 64 && k >= 64 {
        let ideal = add(reference::matmul(&x, &w, bias.then_some(&b), tokens, n, k));
        assert_close(
            &out,
            &ideal,
            format_tolerance(format),
            seed,
            &format!("{what} (against f32 inputs)"),
        );
    }
}

const SIZES: [usize; 6] = [1, 3, 17, 64, 576, 1536];
const BLOCK_SIZES: [usize; 4] = [32, 64, 576, 1536];

fn case(format: WeightFormat, n: usize, k: usize, tokens: usize) -> Case {
    Case {
        format,
        n,
        k,
        tokens,
        bias: false,
        accumulate: false,
        shard_texels: None,
        variant: DecodeVariant::DEFAULT,
        prefill: PrefillShape::for_gpu(common::gpu()),
        spare_rows: 2,
    }
}

#[test]
fn float_formats_at_every_size_pair() {
    for format in [WeightFormat::F32, WeightFormat::F16] {
        for &n in &SIZES {
            for &k in &SIZES {
                check(case(format, n, k, 1));
            }
        }
    }
}

#[test]
fn quantized_formats_at_every_size_pair() {
    for format in [WeightFormat::Q8_0, WeightFormat::Q4_0, WeightFormat::Q4_1] {
        for &n in &SIZES {
            for &k in &BLOCK_SIZES {
                check(case(format, n, k, 1));
            }
        }
    }
}

/// `case` with every prefill shape the adapter runs, not only its own.
fn check_every_prefill_shape(case: Case) {
    for prefill in PrefillShape::available(common::gpu()) {
        check(Case { prefill, ..case });
    }
}

#[test]
fn prefill_blocks_of_tokens_in_every_format() {
    for format in WeightFormat::ALL {
        for tokens in [2, 3, 7, 17] {
            check(case(format, 67, 64, tokens));
        }
        check(case(format, 576, 576, 5));
        // Every prefill shape the adapter runs (the other adapter type's workgroup among
        // them), over partial runs of rows and tokens (token lanes: a lane's second token
        // past the end at 13 and 29 tokens, its first too at 7) and several groups of tokens.
        for (n, tokens) in [(67, 7), (67, 13), (67, 17), (67, 29), (40, 33)] {
            check_every_prefill_shape(case(format, n, 64, tokens));
        }
    }
}

#[test]
fn bias_and_fused_residual_add() {
    let mut rng = common::rng(common::seed());
    for format in WeightFormat::ALL {
        let tokens = [1, 3, 6][rng.random_range(0..3)];
        check(Case {
            bias: true,
            ..case(format, 17, 64, tokens)
        });
        check(Case {
            accumulate: true,
            ..case(format, 576, 576, tokens)
        });
        check(Case {
            bias: true,
            accumulate: true,
            ..case(format, 1536, 64, tokens)
        });
        // Every prefill shape with both, not only the adapter's own.
        check_every_prefill_shape(Case {
            bias: true,
            accumulate: true,
            ..case(format, 67, 64, 13)
        });
    }
}

#[test]
fn vocabulary_sized_matrices() {
    check(case(WeightFormat::Q8_0, 49152, 576, 1));
    check(case(WeightFormat::F16, 151_936 / 4 + 3, 64, 1));
    check(case(WeightFormat::Q4_1, 49152, 64, 5));
}

#[test]
fn matrices_split_into_shards() {
    for format in WeightFormat::ALL {
        // A few hundred texels per shard: the last shard is partial.
        check(Case {
            shard_texels: Some(300),
            bias: true,
            accumulate: true,
            ..case(format, 1000, 64, 1)
        });
        check_every_prefill_shape(Case {
            shard_texels: Some(300),
            bias: true,
            accumulate: true,
            ..case(format, 999, 64, 13)
        });
    }
}

/// A step of thousands of tokens (`--ubatch 4096`): the token-lanes prefill's copy of x takes
/// the widest texture whatever the matrix's width (at this matrix's 64 texels, 2800 staged f32
/// rows of 1536 would need a texture 16800 rows tall).
#[test]
fn prefill_step_of_thousands_of_tokens() {
    check(case(WeightFormat::F32, 8, 1536, 2800));
}

/// 60,000 x 576 f32 weights are 138 MB: more than one 128 MiB storage binding, which is why
/// weights live in textures; this one still fits one texture on lavapipe.
#[test]
fn f32_matrix_over_128_mib() {
    check(case(WeightFormat::F32, 60_000, 576, 1));
}

#[test]
fn stage_kernel_lays_out_rows_like_the_reference() {
    let gpu = common::gpu();
    for (int8, cols, rows) in [
        (false, 3, 2),
        (false, 17, 5),
        (false, 576, 1),
        (true, 32, 3),
        (true, 576, 4),
        (true, 1536, 1),
    ] {
        let seed = common::seed();
        let mut rng = common::rng(seed);
        let mut x = random_vec(&mut rng, rows * cols, 3.0);
        if int8 && rows >= 3 {
            // Row 1 all zeros (scale 0); row 2's first block with its largest magnitude
            // twice (+2.5 at 5, -2.5 at 9): the first is the outlier, the other sets the
            // scale.
            x[cols..2 * cols].fill(0.0);
            let tied = &mut x[2 * cols..2 * cols + 32];
            tied.iter_mut().for_each(|v| *v = v.clamp(-2.0, 2.0));
            tied[5] = 2.5;
            tied[9] = -2.5;
        }
        let format = if int8 {
            WeightFormat::Q8_0
        } else {
            WeightFormat::F32
        };
        let layout = StagedLayout::for_format(format, cols as u32, rows as u32);
        let x_gpu = StorageBuffer::from_slice(gpu, "x", &x).unwrap();
        let expected = reference::stage_rows(&x, cols, int8);
        // Every stage writer the adapter runs: the portable one and the subgroup twin, which
        // compute the same things in the same order and so must write the same words.
        let mut first_writer: Option<Vec<u32>> = None;
        for writer in StageWriter::available(gpu) {
            let staged = layout.buffer(gpu, "staged").unwrap();
            staged.fill_f32(gpu, f32::NAN);
            let mut arena = ParamArena::new(gpu, 4).unwrap();
            let stage =
                Stage::new(gpu, &mut arena, &x_gpu.buffer, &staged, layout, writer).unwrap();
            run(gpu, &mut arena, "stage test", |rec| {
                stage.encode(rec, rows as u32)
            })
            .unwrap();
            let got = staged.read_u32(gpu).unwrap();
            assert_eq!(got.len(), expected.len(), "staged words, cols {cols}");
            let what = format!("stage ({writer:?}) int8={int8} cols={cols} rows={rows}");
            if int8 {
                let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                common::assert_int8_staged(&got, &x64, rows, cols, seed, &what);
                if rows >= 3 {
                    let row_words = cols / 32 * 12;
                    // Block 0's (scale, scale * sum, outlier, outlier index) in row r.
                    let outlier = |r: usize| -> [f32; 4] {
                        std::array::from_fn(|i| {
                            f32::from_bits(got[r * row_words + cols / 32 * 8 + i])
                        })
                    };
                    assert_eq!(outlier(1), [0.0; 4], "{what}: a row of zeros");
                    assert_eq!(outlier(2)[2..], [2.5, 5.0], "{what}: the first of a tie");
                }
                // Scales and sums agree with the reference's to f32 rounding.
                let scales = |w: &[u32]| reference::unstage_rows(w, rows, cols, true);
                let theirs: Vec<f64> = scales(&expected).iter().map(|&v| f64::from(v)).collect();
                assert_close(&scales(&got), &theirs, 1e-2, seed, &what);
            } else {
                assert_eq!(got, expected, "{what}: f32 staging is a padded copy");
            }
            match &first_writer {
                None => first_writer = Some(got),
                Some(words) => assert_eq!(&got, words, "{what}: words differ between writers"),
            }
        }
    }
}

/// Every decode shape the tuner may pick, in every format: none may be faster but wrong.
#[test]
fn every_tunable_decode_variant() {
    for variant in DecodeVariant::all(common::gpu()) {
        for format in WeightFormat::ALL {
            check(Case {
                variant,
                bias: true,
                ..case(format, 67, 64, 1)
            });
            check(Case {
                variant,
                accumulate: true,
                ..case(format, 5, 576, 1)
            });
        }
    }
}

/// Every finite f16 value, in the low and the high half of a word, unpacks to exactly the
/// value the `half` crate gives (or zero for a subnormal, where an adapter flushes them).
#[test]
fn every_finite_f16_value_unpacks_exactly() {
    let gpu = common::gpu();
    let finite: Vec<f32> = (0..=u16::MAX)
        .map(half::f16::from_bits)
        .filter(|h| h.is_finite())
        .map(f32::from)
        .collect();
    let (n, k) = (finite.len(), 8);
    for column in 0..2 {
        // Row r holds value r in `column`, and x picks that column out.
        let mut w = vec![0.0f32; n * k];
        for (r, &v) in finite.iter().enumerate() {
            w[r * k + column] = v;
        }
        let mut x = vec![0.0f32; k];
        x[column] = 1.0;
        let packed = PackedMatrix::from_f32(&w, n as u32, k as u32, WeightFormat::F16);
        let w_gpu = GpuMatrix::upload(gpu, "w", &packed).unwrap();
        let layout = StagedLayout::for_matrix(&w_gpu, 1);
        let x_gpu = StorageBuffer::from_slice(gpu, "x", &x).unwrap();
        let staged = layout.buffer(gpu, "staged x").unwrap();
        let y_gpu = StorageBuffer::new(gpu, "y", (n * 4) as u64).unwrap();
        y_gpu.fill_f32(gpu, f32::NAN);
        let mut arena = ParamArena::new(gpu, 8).unwrap();
        let stage = Stage::new(
            gpu,
            &mut arena,
            &x_gpu.buffer,
            &staged,
            layout,
            StageWriter::for_gpu(gpu),
        )
        .unwrap();
        let io = MatMulIo {
            w: &w_gpu,
            x: &staged,
            layout,
            bias: None,
            y: &y_gpu.buffer,
            accumulate: false,
        };
        let matmul = MatMul::new(gpu, &mut arena, io).unwrap();
        run(gpu, &mut arena, "f16 unpack test", |rec| {
            stage.encode(rec, 1);
            matmul.encode(rec, 1);
        })
        .unwrap();
        let out = y_gpu.read_f32(gpu).unwrap();
        for (&got, &want) in out.iter().zip(&finite) {
            // f16 subnormals lie below 2^-14.
            let flushed = want.abs() < f32::from(half::f16::MIN_POSITIVE) && got == 0.0;
            assert!(
                got.to_bits() == want.to_bits() || flushed,
                "half {column}: {want:e} (bits {:#06x}) unpacked as {got:e}",
                half::f16::from_f32(want).to_bits()
            );
        }
    }
}

#[test]
fn staged_inputs_beyond_a_uniform_binding() {
    // A uniform binding holds 64 KiB: 28 staged int8 rows of 1536, 10 f32 ones. Staged
    // buffers of more rows: the decode reads its row through a binding of the first rows,
    // a row-lanes prefill of more rows than fit reads a storage binding, token lanes their
    // texture copy.
    let gpu = common::gpu();
    for format in WeightFormat::ALL {
        let fit = StagedLayout::max_rows(gpu, format, 1536) as usize;
        check(Case {
            spare_rows: fit + 7,
            ..case(format, 67, 1536, 1)
        });
        for prefill in PrefillShape::available(gpu) {
            check(Case {
                prefill,
                ..case(format, 67, 1536, fit + 13)
            });
        }
    }
}

#[test]
fn prefill_steps_fit_the_staged_input_in_whole_token_groups() {
    let gpu = common::gpu();
    for format in WeightFormat::ALL {
        for cols in [64, 576, 1536, 4096] {
            for shape in PrefillShape::available(gpu) {
                let step = shape.max_step_tokens(gpu, format, cols);
                let capacity = StagedLayout::max_rows(gpu, format, cols);
                let group = shape.token_group();
                let what = format!(
                    "{} cols={cols} {shape:?}: step {step}, capacity {capacity}, group {group}",
                    format.name()
                );
                // Only row lanes on a CPU-type adapter read x through the uniform binding.
                if shape == PrefillShape::TokenLanes || !gpu.is_software() {
                    assert_eq!(step, u32::MAX, "{what}");
                    continue;
                }
                assert!(step >= 1 && step <= capacity.max(1), "{what}");
                if capacity >= group {
                    assert_eq!(step % group, 0, "{what}");
                    assert!(
                        step + group > capacity,
                        "{what}: a whole group more would fit"
                    );
                }
            }
        }
    }
}
