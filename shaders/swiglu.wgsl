// SwiGLU activation, written staged for the down projection (see staging.wgsl):
//   value(t, j) = silu(gate[t, j]) * up[t, j], silu(g) = g / (1 + exp(-g)).
//
// `gate_up` holds one row per token: the gate projection in columns 0..cols and the up
// projection in columns cols..2 cols. One invocation per (token, unit).
// The Rust owner (src/kernels/swiglu.rs) prepends staging.wgsl, the reader of gate_up
// (swiglu_input_*.wgsl) and const WG.

struct Params {
    n_tokens: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn value(t: u32, j: u32) -> f32 {
    let g = gate_up_at(t * 2u * p.cols + j);
    let u = gate_up_at(t * 2u * p.cols + p.cols + j);
    return g / (1.0 + exp(-g)) * u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // STAGE_LANES invocations per item; they leave together or not at all.
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    let item = i / STAGE_LANES;
    if (item >= p.n_tokens * STAGE_ITEMS) {
        return;
    }
    stage(item / STAGE_ITEMS, item % STAGE_ITEMS, i % STAGE_LANES);
}
