// Stages rows of plain f32 activations for a matmul (see staging.wgsl): the attention
// output on its way to the output projection. One invocation per (row, unit).
// The Rust owner (src/kernels/stage.rs) prepends staging.wgsl and const WG.

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;

fn value(t: u32, k: u32) -> f32 {
    return src[t * p.cols + k];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    // STAGE_LANES invocations per item; they leave together or not at all.
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    let item = i / STAGE_LANES;
    if (item >= p.rows * STAGE_ITEMS) {
        return;
    }
    stage(item / STAGE_ITEMS, item % STAGE_ITEMS, i % STAGE_LANES);
}
