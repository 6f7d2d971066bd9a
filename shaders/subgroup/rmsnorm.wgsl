// RMSNorm written staged: the subgroup twin of ../rmsnorm.wgsl, for adapters whose
// subgroups hold at least 8 invocations. One workgroup of WG (a multiple of 8) per row, in
// which each run of 8 lanes stages a block at a time (subgroup/staging.wgsl). With WG = 8
// (CPU-type adapters) the workgroup is one subgroup: one subgroup sum of the squares, no
// workgroup memory, no barriers. A GPU takes a wider workgroup, so that the blocks of a
// row are staged side by side rather than one after another; each run of 8 sums its
// squares (lanes8_add) and the runs add theirs through workgroup memory.
// The Rust owner (src/kernels/rmsnorm.rs) prepends subgroup/staging.wgsl, the reader of x
// and the weight (../norm_input_*.wgsl) and const WG.

struct Params {
    rows: u32,
    cols: u32,
    first_row: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<private> row_scale: f32;
var<workgroup> run_sums: array<f32, WG / 8u>;

fn value(t: u32, k: u32) -> f32 {
    return x_at((p.first_row + t) * p.cols + k) * row_scale * weight_at(k);
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
        let v = x_at(src + c);
        sum += v * v;
    }
    sum = lanes8_add(sum);  // stage_block.wgsl
    if (WG > 8u) {
        if (lid % 8u == 0u) {
            run_sums[lid / 8u] = sum;
        }
        workgroupBarrier();
        sum = 0.0;
        for (var i = 0u; i < WG / 8u; i++) {
            sum += run_sums[i];
        }
    }
    row_scale = inverseSqrt(sum / f32(p.cols) + p.eps);
    for (var u = lid / 8u; u < STAGE_ITEMS; u += WG / 8u) {
        stage(r, u, lid % 8u);
    }
}
