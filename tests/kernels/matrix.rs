//! matvec (decode) and matmul (prefill), including sharded weights over 128 MiB.

use crate::common::{self, assert_close, random_vec, reference};
use shaderlm::gpu::{ParamArena, StorageBuffer};
use shaderlm::kernels::matmul::MatMul;
use shaderlm::kernels::matvec::MatVec;
use shaderlm::kernels::{run, GpuMatrix};

/// Relative error allowed for f32 products (f64 reference).
const TOLERANCE: f64 = 1e-5;

/// Runs the matvec on row `x_row` of an [x_rows, k] input and compares with the reference.
fn check_matvec(
    n: usize,
    k: usize,
    x_rows: usize,
    bias: bool,
    accumulate: bool,
    shard_bytes: Option<u64>,
) {
    let gpu = common::gpu();
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let w = random_vec(&mut rng, n * k, 1.0);
    let x = random_vec(&mut rng, x_rows * k, 1.0);
    let b = random_vec(&mut rng, n, 1.0);
    let y0 = random_vec(&mut rng, n, 1.0);
    let x_row = x_rows - 1;

    let limit = shard_bytes.unwrap_or(gpu.max_binding_bytes());
    let w_gpu = GpuMatrix::from_f32_sharded(gpu, "w", n as u32, k as u32, &w, limit).unwrap();
    if let Some(limit) = shard_bytes {
        assert!(
            w_gpu.shards.len() as u64 >= (n * k * 4) as u64 / limit,
            "expected shards"
        );
    }
    let x_gpu = StorageBuffer::from_slice(gpu, "x", &x).unwrap();
    let b_gpu = StorageBuffer::from_slice(gpu, "bias", &b).unwrap();
    let y_gpu = StorageBuffer::new(gpu, "y", (n * 4) as u64).unwrap();
    if accumulate {
        y_gpu.write(gpu, &y0);
    } else {
        y_gpu.fill_f32(gpu, f32::NAN);
    }

    let mut arena = ParamArena::new(gpu, 512).unwrap();
    let bias_buffer = bias.then_some(&b_gpu.buffer);
    let matvec = MatVec::new(
        gpu,
        &mut arena,
        &w_gpu,
        &x_gpu.buffer,
        bias_buffer,
        &y_gpu.buffer,
        accumulate,
    )
    .unwrap();
    run(gpu, &mut arena, "matvec test", |rec| {
        matvec.encode(rec, x_row as u32)
    })
    .unwrap();
    let out = y_gpu.read_f32(gpu).unwrap();

    let mut expected = reference::matmul(&x[x_row * k..], &w, bias.then_some(&b), 1, n, k);
    if accumulate {
        expected
            .iter_mut()
            .zip(&y0)
            .for_each(|(e, &y)| *e += f64::from(y));
    }
    let what = format!(
        "matvec n={n} k={k} bias={bias} accumulate={accumulate} shards={}",
        w_gpu.shards.len()
    );
    assert_close(&out, &expected, TOLERANCE, seed, &what);
}

fn check_matmul(
    m: usize,
    n: usize,
    k: usize,
    bias: bool,
    accumulate: bool,
    shard_bytes: Option<u64>,
) {
    let gpu = common::gpu();
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let w = random_vec(&mut rng, n * k, 1.0);
    let x = random_vec(&mut rng, m * k, 1.0);
    let b = random_vec(&mut rng, n, 1.0);
    let y0 = random_vec(&mut rng, m * n, 1.0);

    let limit = shard_bytes.unwrap_or(gpu.max_binding_bytes());
    let w_gpu = GpuMatrix::from_f32_sharded(gpu, "w", n as u32, k as u32, &w, limit).unwrap();
    let x_gpu = StorageBuffer::from_slice(gpu, "x", &x).unwrap();
    let b_gpu = StorageBuffer::from_slice(gpu, "bias", &b).unwrap();
    let y_gpu = StorageBuffer::new(gpu, "y", (m * n * 4) as u64).unwrap();
    if accumulate {
        y_gpu.write(gpu, &y0);
    } else {
        y_gpu.fill_f32(gpu, f32::NAN);
    }

    let mut arena = ParamArena::new(gpu, 512).unwrap();
    let bias_buffer = bias.then_some(&b_gpu.buffer);
    let matmul = MatMul::new(
        gpu,
        &mut arena,
        &w_gpu,
        &x_gpu.buffer,
        bias_buffer,
        &y_gpu.buffer,
        accumulate,
    )
    .unwrap();
    run(gpu, &mut arena, "matmul test", |rec| {
        matmul.encode(rec, m as u32)
    })
    .unwrap();
    let out = y_gpu.read_f32(gpu).unwrap();

    let mut expected = reference::matmul(&x, &w, bias.then_some(&b), m, n, k);
    if accumulate {
        expected
            .iter_mut()
            .zip(&y0)
            .for_each(|(e, &y)| *e += f64::from(y));
    }
    let what = format!(
        "matmul m={m} n={n} k={k} bias={bias} accumulate={accumulate} shards={}",
        w_gpu.shards.len()
    );
    assert_close(&out, &expected, TOLERANCE, seed, &what);
}

const SIZES: [usize; 6] = [1, 3, 17, 64, 576, 1536];

#[test]
fn matvec_matches_reference_at_every_size_pair() {
    for &n in &SIZES {
        for &k in &SIZES {
            check_matvec(n, k, 1, false, false, None);
        }
    }
}

#[test]
fn matvec_with_bias_accumulate_and_a_later_input_row() {
    check_matvec(17, 64, 3, true, false, None);
    check_matvec(576, 576, 2, false, true, None);
    check_matvec(1536, 17, 5, true, true, None);
}

#[test]
fn matvec_over_a_vocabulary_sized_matrix() {
    check_matvec(49152, 576, 1, false, false, None);
    check_matvec(151_936 / 4 + 3, 64, 1, false, false, None);
}

#[test]
fn matvec_across_forced_shards() {
    // 1000 rows of 64 floats in shards of 100 KiB: 400 rows each, the last one partial.
    check_matvec(1000, 64, 2, true, true, Some(100 * 1024));
    check_matvec(999, 17, 1, false, false, Some(4096));
}

#[test]
fn matmul_matches_reference_at_awkward_shapes() {
    let shapes = [
        (1, 1, 1),
        (3, 3, 3),
        (17, 17, 17),
        (64, 64, 64),
        (7, 576, 576),
        (17, 1536, 576),
        (64, 576, 1536),
        (3, 17, 1536),
        (64, 1, 3),
        (5, 49152, 64),
    ];
    for (m, n, k) in shapes {
        check_matmul(m, n, k, false, false, None);
    }
}

#[test]
fn matmul_with_bias_accumulate_and_shards() {
    check_matmul(17, 64, 64, true, false, None);
    check_matmul(3, 576, 576, false, true, None);
    check_matmul(13, 1000, 64, true, true, Some(100 * 1024));
}

/// A real binding limit, not a forced one: 60,000 rows of 576 floats are 138 MB, over the
/// 128 MiB a storage binding may cover on lavapipe and WebGPU's defaults.
#[test]
fn matvec_over_128_mib_is_split_into_shards() {
    let gpu = common::gpu();
    let rows = 60_000;
    let cols = 576;
    assert!((rows * cols * 4) as u64 > 128 << 20);
    if gpu.max_binding_bytes() >= (rows * cols * 4) as u64 {
        eprintln!(
            "note: this adapter binds {} bytes at once; the matrix is still checked",
            gpu.max_binding_bytes()
        );
    }
    check_matvec(rows, cols, 1, false, false, None);
}
