// Writing the x of y = W x in the staged layout the matmul kernels read as a uniform buffer
// (see formats.wgsl). Prepended by the owners of kernels that produce matmul inputs; each
// defines `fn value(t: u32, k: u32) -> f32`, element k of row t, and the owner defines:
//   STAGE_Q8 (bool), STAGE_K (row length), STAGE_UNITS (blocks of 32, or vec4s, per row),
//   STAGE_ROW_WORDS (u32 words per staged row), STAGE_SCALES (word offset of the block
//   scales within a row, int8 layout only).
// Producers call stage(t, i, lane) for each item i < STAGE_ITEMS of row t, with STAGE_LANES
// invocations per item: here one invocation per unit (lane 0); subgroup/staging.wgsl is
// the twin where 8 lanes of a subgroup stage a block together.

const STAGE_LANES: u32 = 1u;
const STAGE_ITEMS: u32 = STAGE_UNITS;

@group(0) @binding(9) var<storage, read_write> staged: array<u32>;

// Block b (32 values) of row t as int8. The value of largest magnitude (the outlier a
// few channels of real models carry) is kept exactly, apart: it is stored as 0 among the
// int8 values, and the others are scaled by s = (their largest magnitude) / 127, so one
// outlier does not flatten the rest of its block. Per block: (s, s * sum(q), outlier, index),
// the index (0..31) as an f32 so that no float load can flush its bits.
fn stage_q8_block(t: u32, b: u32) {
    var values: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        for (var j = 0u; j < 4u; j++) {
            values[i][j] = value(t, b * 32u + 4u * i + j);
        }
    }
    stage_q8_values(t, b, values);
}

// The same for a block whose 32 values the caller holds (value k at values[k / 4][k % 4]).
// Vector operations over the 8 vec4s and no branches: on a CPU-type adapter a branch on
// per-lane data is a masked blend of every variable it writes.
fn stage_q8_values(t: u32, b: u32, values: array<vec4<f32>, 8>) {
    // The largest magnitude (the outlier), the first index holding it, and the largest
    // magnitude of the others (amax).
    var m = vec4<f32>(0.0);
    for (var i = 0u; i < 8u; i++) {
        m = max(m, abs(values[i]));
    }
    let top_abs = max(max(m.x, m.y), max(m.z, m.w));
    var top = 0u;
    for (var i = 7; i >= 0; i--) {
        let hit = abs(values[i]) == vec4<f32>(top_abs);
        let k = 4u * u32(i);
        top = select(top, k + 3u, hit.w);
        top = select(top, k + 2u, hit.z);
        top = select(top, k + 1u, hit.y);
        top = select(top, k, hit.x);
    }
    let lanes = vec4<u32>(0u, 1u, 2u, 3u);
    var others = vec4<f32>(0.0);
    for (var i = 0u; i < 8u; i++) {
        let is_top = vec4<u32>(4u * i) + lanes == vec4<u32>(top);
        others = max(others, select(abs(values[i]), vec4<f32>(0.0), is_top));
    }
    let amax = max(max(others.x, others.y), max(others.z, others.w));
    let s = amax / 127.0;
    let inv = select(0.0, 1.0 / s, s > 0.0);
    let row = t * STAGE_ROW_WORDS;
    var sums = vec4<i32>(0);
    for (var w = 0u; w < 8u; w++) {
        let is_top = vec4<u32>(4u * w) + lanes == vec4<u32>(top);
        let q = select(vec4<i32>(round(values[w] * inv)), vec4<i32>(0), is_top);
        sums += q;
        let bytes = (bitcast<vec4<u32>>(q) & vec4<u32>(0xFFu)) << (8u * lanes);
        staged[row + b * 8u + w] = (bytes.x | bytes.y) | (bytes.z | bytes.w);
    }
    let sum = (sums.x + sums.y) + (sums.z + sums.w);
    let top_value = values[top / 4u][top % 4u];
    let at = row + STAGE_SCALES + 4u * b;
    staged[at] = bitcast<u32>(s);
    staged[at + 1u] = bitcast<u32>(s * f32(sum));
    staged[at + 2u] = bitcast<u32>(top_value);
    staged[at + 3u] = bitcast<u32>(f32(top));
}

// Values 4i..4i+3 of row t as f32, zero past the end of the row.
fn stage_f32_vec4(t: u32, i: u32) {
    let row = t * STAGE_ROW_WORDS;
    for (var j = 0u; j < 4u; j++) {
        let k = 4u * i + j;
        var v = 0.0;
        if (k < STAGE_K) {
            v = value(t, k);
        }
        staged[row + k] = bitcast<u32>(v);
    }
}

// Stages unit u (a block of 32, or a vec4) of row t.
fn stage(t: u32, u: u32, lane: u32) {
    if (STAGE_Q8) {
        stage_q8_block(t, u);
    } else {
        stage_f32_vec4(t, u);
    }
}
