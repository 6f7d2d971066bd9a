// Matrix-matrix product for prefill: Y[m, offset + n] (+)= dot(X[m, :], W[n, :]) (+ bias[n]).
//
// X is [M, K] activations, W is [N, K] weights (rows of `k_packs` packs), Y is [M, y_stride].
// Each invocation computes a TM x TN block of Y in registers: per pack of K it loads TM packs
// of X and TN packs of W and does TM * TN pack-dot-products. No workgroup memory, no
// barriers; edges are handled by clamping loads and skipping stores, so any M, N, K works.
//
// The Rust owner (src/kernels/matmul.rs) prepends: alias Pack, const PACK, fn pdot,
// const TM, const TN, const WG.

struct Params {
    m: u32,           // rows of X and Y
    n: u32,           // rows of W in this shard
    k_packs: u32,     // packs per row of X and W
    y_stride: u32,    // floats per row of Y
    y_offset: u32,    // column of Y that W's row 0 writes
    accumulate: u32,  // 1: add into Y (fused residual), 0: overwrite
    has_bias: u32,    // 1: add bias[n]
    n_blocks: u32,    // ceil(n / TN)
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
    let block = (wid.x + wid.y * nwg.x) * WG + lid;
    let m0 = (block / p.n_blocks) * TM;
    let n0 = (block % p.n_blocks) * TN;
    if (m0 >= p.m) {
        return;
    }
    var x_base: array<u32, TM>;
    for (var i = 0u; i < TM; i++) {
        x_base[i] = min(m0 + i, p.m - 1u) * p.k_packs;
    }
    var w_base: array<u32, TN>;
    for (var j = 0u; j < TN; j++) {
        w_base[j] = min(n0 + j, p.n - 1u) * p.k_packs;
    }
    var acc: array<f32, TM * TN>;
    for (var k = 0u; k < p.k_packs; k++) {
        var xs: array<Pack, TM>;
        for (var i = 0u; i < TM; i++) {
            xs[i] = x[x_base[i] + k];
        }
        for (var j = 0u; j < TN; j++) {
            let wv = w[w_base[j] + k];
            for (var i = 0u; i < TM; i++) {
                acc[i * TN + j] += pdot(xs[i], wv);
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let row = m0 + i;
        for (var j = 0u; j < TN; j++) {
            let col = n0 + j;
            if (row < p.m && col < p.n) {
                var value = acc[i * TN + j];
                if (p.has_bias != 0u) {
                    value += bias[p.y_offset + col];
                }
                let out = row * p.y_stride + p.y_offset + col;
                if (p.accumulate != 0u) {
                    value += y[out];
                }
                y[out] = value;
            }
        }
    }
}
