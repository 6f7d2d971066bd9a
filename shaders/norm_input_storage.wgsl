// The RMSNorm's inputs read from storage buffers (src/kernels/rmsnorm.rs, `NormInput`):
// x[i] of the rows of x, weight[k] of the norm's weight. Prepended to rmsnorm.wgsl or its
// subgroup twin; norm_x_uniform.wgsl, norm_x_texture.wgsl and norm_weight_uniform.wgsl are
// the readers for CPU-type adapters.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;

fn x_at(i: u32) -> f32 {
    return x[i];
}

fn weight_at(k: u32) -> f32 {
    return weight[k];
}
