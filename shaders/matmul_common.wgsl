// Shared by matmul_{f32,f16,q8_0,q4_0,q4_1}.wgsl (prepended by src/kernels/matmul.rs with
// a reader of the staged x, staged_x.wgsl or its subgroup twin): the parameters, the bias
// and output bindings, the epilogue and the two entry points (matmul_split.wgsl and
// matmul_token_lanes.wgsl add others).
//
// Y[t, y_offset + r] (+)= sum_k W[r, k] * X[t, k] (+ bias[y_offset + r]) for the rows r of
// one shard of W and the tokens t of the step. Each format file defines its bindings and
//   fn row_scales(row: u32, g: u32) -> vec4<u32>  the scales of blocks 4g..4g+3 of a row;
//   fn unit_words(row: u32, b: u32) -> array<vec4<u32>, 2>  unit b of a row (a block or a
//                                                   texel) as loaded (f16: unpacked);
//   fn block_of(u: array<vec4<u32>, 2>, scale: u32) -> Block  the unit made ready to multiply;
//   fn x_block(t: u32, b: u32) -> XBlock            the values of x under unit b, token t
//                                                   (matmul_int8_x.wgsl for Q8_0,
//                                                   matmul_nibble_x.wgsl for Q4_0 and Q4_1);
//   fn token_dot(w: Block, x: XBlock) -> f32        their sum of products.
// `decode` computes one token with ROWS rows per invocation; `prefill` TOKENS tokens per
// invocation (taken from workgroup_id.y), one row each. `decode` visits units in groups of
// four so a quantized format fetches one texel of scales per four blocks (matmul_split.wgsl
// adds a decode for GPUs). Neither entry here uses workgroup memory or barriers, and no
// invocation leaves before the others are done reading x (the subgroup reader needs them
// all).

struct Params {
    rows: u32,        // rows of W in this shard
    per_row: u32,     // units (texels for f32 and f16, blocks for quantized) per row
    tokens: u32,      // rows of X in this step
    y_stride: u32,    // floats per row of Y
    y_offset: u32,    // column of Y that row 0 of the shard writes
    accumulate: u32,  // 1: add into Y (a fused residual add)
    has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

fn store(row: u32, t: u32, acc: f32) {
    if (row >= p.rows || t >= p.tokens) {
        return;
    }
    var value = acc;
    if (p.has_bias != 0u) {
        value += bias[p.y_offset + row];
    }
    let out = t * p.y_stride + p.y_offset + row;
    if (p.accumulate != 0u) {
        value += y[out];
    }
    y[out] = value;
}

fn load_block(row: u32, b: u32, scale: u32) -> Block {
    return block_of(unit_words(row, b), scale);
}

@compute @workgroup_size(WG)
fn decode(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // ROWS rows, WG apart, share every load of x (neighbouring invocations take neighbouring
    // rows, whose units are neighbours in memory); rows past the end repeat the last one.
    x_setup();
    let first = wid.x * WG * ROWS + lid;
    var row: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        row[r] = min(first + r * WG, p.rows - 1u);
    }
    var acc: array<f32, ROWS>;
    for (var g = 0u; g * 4u < p.per_row; g++) {
        var scales: array<vec4<u32>, ROWS>;
        for (var r = 0u; r < ROWS; r++) {
            scales[r] = row_scales(row[r], g);
        }
        for (var j = 0u; j < min(4u, p.per_row - 4u * g); j++) {
            let b = 4u * g + j;
            let xb = x_block(0u, b);
            for (var r = 0u; r < ROWS; r++) {
                acc[r] += token_dot(load_block(row[r], b, scales[r][j]), xb);
            }
        }
    }
    for (var r = 0u; r < ROWS; r++) {
        store(first + r * WG, 0u, acc[r]);
    }
}

@compute @workgroup_size(WG)
fn prefill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    x_setup();
    // Rows past the end repeat the last one; TOKENS tokens share every unit of W, and
    // missing tokens repeat the last.
    let row = min(wid.x * WG + lid, p.rows - 1u);
    let t0 = wid.y * TOKENS;
    let last = p.tokens - 1u;
    var acc: array<f32, TOKENS>;
    for (var b = 0u; b < p.per_row; b++) {
        // Each unit is used TOKENS times, so fetching its scale alone costs little here.
        let w = load_block(row, b, row_scales(row, b / 4u)[b % 4u]);
        for (var i = 0u; i < TOKENS; i++) {
            acc[i] += token_dot(w, x_block(min(t0 + i, last), b));
        }
    }
    for (var i = 0u; i < TOKENS; i++) {
        store(wid.x * WG + lid, t0 + i, acc[i]);
    }
}
