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
fn stage_q8_values(t: u32, b: u32, values: array<vec4<f32>, 8>) {
    // One pass finds the largest magnitude (the outlier) and the second largest (amax).
    var top = 0u;
    var top_abs = -1.0;
    var top_value = 0.0;
    var amax = 0.0;
    for (var k = 0u; k < 32u; k++) {
        let v = values[k / 4u][k % 4u];
        let a = abs(v);
        if (a > top_abs) {
            amax = max(amax, top_abs);
            top_abs = a;
            top = k;
            top_value = v;
        } else {
            amax = max(amax, a);
        }
    }
    let s = amax / 127.0;
    let inv = select(0.0, 1.0 / s, s > 0.0);
    let row = t * STAGE_ROW_WORDS;
    var sum = 0;
    for (var w = 0u; w < 8u; w++) {
        var word = 0u;
        for (var j = 0u; j < 4u; j++) {
            let k = w * 4u + j;
            let q = select(i32(round(values[w][j] * inv)), 0, k == top);
            sum += q;
            word |= (u32(q) & 0xFFu) << (8u * j);
        }
        staged[row + b * 8u + w] = word;
    }
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
