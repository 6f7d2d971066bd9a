// SwiGLU activation: out[t, j] = silu(gate[t, j]) * up[t, j], silu(g) = g / (1 + exp(-g)).
//
// `gate_up` holds one row per token: the gate projection in columns 0..cols and the up
// projection in columns up_offset..up_offset + cols.
// The Rust owner (src/kernels/swiglu.rs) prepends: const WG.

struct Params {
    n_tokens: u32,
    cols: u32,
    in_stride: u32,
    up_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate_up: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.n_tokens * p.cols) {
        return;
    }
    let t = i / p.cols;
    let j = i % p.cols;
    let g = gate_up[t * p.in_stride + j];
    let u = gate_up[t * p.in_stride + p.up_offset + j];
    out[i] = g / (1.0 + exp(-g)) * u;
}
