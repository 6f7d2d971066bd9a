// Row-wise softmax, numerically stable: y = exp(x - max(x)) / sum(exp(x - max(x))).
//
// One workgroup per row of any length; the maximum and the sum are reduced in workgroup
// memory. The Rust owner (src/kernels/softmax.rs) prepends: const WG (a power of two).

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = wid.x + wid.y * nwg.x;
    if (r >= p.rows) {
        return;
    }
    let base = r * p.cols;

    var local_max = -3.0e38;
    for (var c = lid; c < p.cols; c += WG) {
        local_max = max(local_max, x[base + c]);
    }
    partial[lid] = local_max;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            partial[lid] = max(partial[lid], partial[lid + stride]);
        }
        workgroupBarrier();
    }
    let row_max = partial[0];
    workgroupBarrier();

    var local_sum = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        local_sum += exp(x[base + c] - row_max);
    }
    partial[lid] = local_sum;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let inv_sum = 1.0 / partial[0];

    for (var c = lid; c < p.cols; c += WG) {
        y[base + c] = exp(x[base + c] - row_max) * inv_sum;
    }
}
