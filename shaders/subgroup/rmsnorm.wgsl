// RMSNorm written staged: the subgroup twin of ../rmsnorm.wgsl, for adapters whose
// subgroups hold at least 8 invocations. One workgroup of 8 (one subgroup) per row:
// subgroupAdd replaces the workgroup-memory reduction, so there are no barriers, and the
// 8 lanes stage each block together (subgroup/staging.wgsl).
// The Rust owner (src/kernels/rmsnorm.rs) prepends subgroup/staging.wgsl and const WG = 8.

struct Params {
    rows: u32,
    cols: u32,
    first_row: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;

var<private> row_scale: f32;

fn value(t: u32, k: u32) -> f32 {
    return x[(p.first_row + t) * p.cols + k] * row_scale * weight[k];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = wid.x + wid.y * nwg.x;
    if (r >= p.rows) {
        return;
    }
    let src = (p.first_row + r) * p.cols;
    var sum = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        let v = x[src + c];
        sum += v * v;
    }
    row_scale = inverseSqrt(subgroupAdd(sum) / f32(p.cols) + p.eps);
    for (var u = 0u; u < STAGE_ITEMS; u++) {
        stage(r, u, lid);
    }
}
