//! RMSNorm and softmax.

use crate::common::{self, assert_close, random_vec, reference};
use shaderlm::gpu::{ParamArena, StorageBuffer};
use shaderlm::kernels::rmsnorm::{NormInput, RmsNorm};
use shaderlm::kernels::softmax::Softmax;
use shaderlm::kernels::{run, StageWriter, StagedLayout, WeightFormat};

const TOLERANCE: f64 = 1e-5;

/// RMSNorm of `rows` rows from `first_row` of x, which holds `later_rows` more, staged as f32
/// (compared to 1e-5) or int8 (compared within what int8 quantization allows).
fn check_rmsnorm_in(rows: usize, cols: usize, first_row: usize, later_rows: usize, int8: bool) {
    let gpu = common::gpu();
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let x = random_vec(&mut rng, (first_row + rows + later_rows) * cols, 3.0);
    let weight = random_vec(&mut rng, cols, 2.0);
    let eps = 1e-5;

    let format = if int8 {
        WeightFormat::Q8_0
    } else {
        WeightFormat::F32
    };
    let layout = StagedLayout::for_format(format, cols as u32, rows as u32);
    // Uploaded in whole vec4s, so that the uniform reader can bind them too; the padding is
    // NaN, which no output may show.
    let upload = |label: &str, values: &[f32]| {
        let mut padded = values.to_vec();
        padded.resize(values.len().next_multiple_of(4), f32::NAN);
        StorageBuffer::from_slice_with_usage(gpu, label, &padded, wgpu::BufferUsages::UNIFORM)
            .unwrap()
    };
    let (x_gpu, w_gpu) = (upload("x", &x), upload("weight", &weight));
    let inputs = NormInput::available(gpu, &x_gpu.buffer, &w_gpu.buffer);
    if cols.next_multiple_of(4) * 4 <= 65536 {
        assert!(inputs.contains(&NormInput::Uniform), "{inputs:?}");
        assert!(inputs.contains(&NormInput::Texture), "{inputs:?}");
    }
    // Every variant the adapter runs: the portable kernel and the subgroup twin, each
    // reading from storage, uniform bindings (with the texture copy for rows past what a
    // uniform binding holds) and the texture copy.
    let variants = StageWriter::available(gpu)
        .into_iter()
        .flat_map(|writer| inputs.iter().map(move |&input| (writer, input)));
    for (writer, input) in variants {
        let staged = layout.buffer(gpu, "staged").unwrap();
        staged.fill_f32(gpu, f32::NAN);
        let mut arena = ParamArena::new(gpu, 2).unwrap();
        let norm = RmsNorm::new(
            gpu,
            &mut arena,
            &x_gpu.buffer,
            &w_gpu.buffer,
            &staged,
            layout,
            eps,
            writer,
            input,
        )
        .unwrap();
        run(gpu, &mut arena, "rmsnorm test", |rec| {
            norm.encode(rec, rows as u32, first_row as u32)
        })
        .unwrap();
        check_staged_norm(
            &staged.read_u32(gpu).unwrap(),
            &x,
            &weight,
            rows,
            cols,
            first_row,
            eps,
            int8,
            seed,
            &format!("{writer:?}, {input:?} input, x of {} rows", x.len() / cols),
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn check_staged_norm(
    words: &[u32],
    x: &[f32],
    weight: &[f32],
    rows: usize,
    cols: usize,
    first_row: usize,
    eps: f32,
    int8: bool,
    seed: u64,
    variant: &str,
) {
    let rows_normed = &x[first_row * cols..(first_row + rows) * cols];
    let expected = reference::rmsnorm(rows_normed, weight, cols, f64::from(eps));
    let what =
        format!("rmsnorm ({variant}) rows={rows} cols={cols} first_row={first_row} int8={int8}");
    if int8 {
        common::assert_int8_staged(words, &expected, rows, cols, seed, &what);
    } else {
        assert_close(
            &reference::unstage_rows(words, rows, cols, false),
            &expected,
            TOLERANCE,
            seed,
            &what,
        );
    }
}

fn check_rmsnorm(rows: usize, cols: usize, first_row: usize, int8: bool) {
    check_rmsnorm_in(rows, cols, first_row, 0, int8);
}

#[test]
fn rmsnorm_matches_reference() {
    for cols in [1usize, 3, 17, 64, 576, 1536] {
        // As many rows as a 64 KiB staged f32 input holds, up to 17.
        for rows in [1, 3, 17usize.min(16384 / (cols.div_ceil(4) * 4))] {
            check_rmsnorm(rows, cols, 0, false);
        }
    }
    // The longest row a 64 KiB staged f32 input holds.
    check_rmsnorm(1, 16_000, 0, false);
}

#[test]
fn rmsnorm_staged_as_int8_blocks() {
    for cols in [32, 64, 576, 1536] {
        for rows in [1, 3, 17] {
            check_rmsnorm(rows, cols, 0, true);
        }
    }
}

#[test]
fn rmsnorm_of_one_later_row() {
    // The final norm before the LM head normalises only the last token's row.
    check_rmsnorm(1, 576, 6, false);
    check_rmsnorm(1, 576, 6, true);
}

#[test]
fn rmsnorm_of_rows_past_a_uniform_binding() {
    // 64 KiB hold 28 rows of 576: a step of 40 rows, a later row past the first 28, and one
    // row (a decode step) of a buffer larger than a uniform binding.
    for int8 in [false, true] {
        check_rmsnorm(40, 576, 0, int8);
        check_rmsnorm(3, 576, 30, int8);
        check_rmsnorm_in(1, 576, 0, 39, int8);
        check_rmsnorm_in(2, 576, 26, 12, int8);
    }
}

fn check_softmax(rows: usize, cols: usize, scale: f32) {
    let gpu = common::gpu();
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let x = random_vec(&mut rng, rows * cols, scale);
    let x_gpu = StorageBuffer::from_slice(gpu, "x", &x).unwrap();
    let y_gpu = StorageBuffer::new(gpu, "y", (rows * cols * 4) as u64).unwrap();
    y_gpu.fill_f32(gpu, f32::NAN);
    let mut arena = ParamArena::new(gpu, 1).unwrap();
    let softmax = Softmax::new(gpu, &mut arena, &x_gpu.buffer, &y_gpu.buffer, cols as u32).unwrap();
    run(gpu, &mut arena, "softmax test", |rec| {
        softmax.encode(rec, rows as u32)
    })
    .unwrap();
    let expected = reference::softmax(&x, cols);
    let out = y_gpu.read_f32(gpu).unwrap();
    assert_close(
        &out,
        &expected,
        TOLERANCE,
        seed,
        &format!("softmax rows={rows} cols={cols} scale={scale}"),
    );
}

#[test]
fn softmax_matches_reference() {
    for cols in [1, 3, 17, 64, 576, 1536] {
        check_softmax(3, cols, 5.0);
    }
    check_softmax(2, 49152, 10.0);
    check_softmax(1, 151_936, 10.0);
}

#[test]
fn softmax_is_stable_for_huge_logits() {
    // exp(1e4) overflows f32: only a max-subtracted softmax survives this.
    check_softmax(4, 1000, 1.0e4);
}
