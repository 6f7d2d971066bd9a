// RMSNorm, written staged for the matmul that follows (see staging.wgsl):
//   staged row r = x[first_row + r, :] / sqrt(mean(x^2) + eps) * weight.
//
// One workgroup per row: the sum of squares is reduced in workgroup memory, then each
// invocation stages every WG-th unit (block or vec4) of the row.
// The Rust owner (src/kernels/rmsnorm.rs) prepends staging.wgsl, the reader of x and the
// weight (norm_input_*.wgsl) and const WG (a power of two).

struct Params {
    rows: u32,
    cols: u32,
    first_row: u32,  // row of x that staged row 0 normalises (the last token, for the head)
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;
var<workgroup> row_scale: f32;

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
    partial[lid] = sum;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        row_scale = inverseSqrt(partial[0] / f32(p.cols) + p.eps);
    }
    workgroupBarrier();
    for (var u = lid; u < STAGE_ITEMS; u += WG) {
        stage(r, u, 0u);
    }
}
