// Shared by matmul_{f32,f16,q8_0,q4_0,q4_1}.wgsl (prepended by src/kernels/matmul.rs):
// the parameters, the bias and output bindings, and the epilogue.
//
// Y[t, y_offset + r] (+)= sum_k W[r, k] * X[t, k] (+ bias[y_offset + r]) for the rows r of
// one shard of W and the tokens t of the step. `decode` computes one token with ROWS rows
// per invocation; `prefill` computes TM tokens per invocation, one row each, the tokens
// taken from workgroup_id.y. Neither uses workgroup memory or barriers.

struct Params {
    rows: u32,        // rows of W in this shard
    per_row: u32,     // texels (f32, f16) or blocks (quantized) per row of W
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

// The flat index of an invocation along the rows of W.
fn invocation(wid: vec3<u32>, lid: u32) -> u32 {
    return wid.x * WG + lid;
}
