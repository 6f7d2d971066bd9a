// Matrix-vector product for decode: y[offset + r] (+)= dot(W[r, :], x) (+ bias[r]).
//
// W holds `rows` rows of `k_packs` packs (a pack is a vec4<f32> when K % 4 == 0, else one
// f32). Each invocation computes ROWS consecutive rows, so every load of x serves ROWS rows;
// no workgroup memory and no barriers (cheap on CPU-type adapters, fine on GPUs).
//
// The Rust owner (src/kernels/matvec.rs) prepends: alias Pack, const PACK, fn pdot,
// const ROWS, const WG.

struct Params {
    rows: u32,        // rows of W in this shard
    k_packs: u32,     // packs per row
    x_offset: u32,    // first pack of x (selects one row of a [T, K] activation)
    y_offset: u32,    // where row 0 of this shard lands in y
    accumulate: u32,  // 1: add into y (fused residual), 0: overwrite
    has_bias: u32,    // 1: add bias[r]
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<Pack>;
@group(0) @binding(2) var<storage, read> x: array<Pack>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let first = ((wid.x + wid.y * nwg.x) * WG + lid) * ROWS;
    if (first >= p.rows) {
        return;
    }
    // Rows past the end repeat the last row; their results are dropped below.
    var base: array<u32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
        base[r] = min(first + r, p.rows - 1u) * p.k_packs;
    }
    var acc: array<f32, ROWS>;
    for (var k = 0u; k < p.k_packs; k++) {
        let xv = x[p.x_offset + k];
        for (var r = 0u; r < ROWS; r++) {
            acc[r] += pdot(w[base[r] + k], xv);
        }
    }
    for (var r = 0u; r < ROWS; r++) {
        let row = first + r;
        if (row < p.rows) {
            var value = acc[r];
            if (p.has_bias != 0u) {
                value += bias[p.y_offset + row];
            }
            let out = p.y_offset + row;
            if (p.accumulate != 0u) {
                value += y[out];
            }
            y[out] = value;
        }
    }
}
