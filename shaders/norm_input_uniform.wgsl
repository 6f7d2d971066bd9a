// The RMSNorm's inputs read from uniform buffers: the twin of norm_input_storage.wgsl for
// CPU-type adapters, where a load at a different address per lane is a vector gather from
// a uniform buffer but a loop over the lanes from a storage buffer (lavapipe: ~8x the
// time). The owner (src/kernels/rmsnorm.rs) binds them only where both buffers fit a
// uniform binding, and defines X_TEXELS and WEIGHT_TEXELS, their sizes in vec4s (uniform
// arrays take 16-byte elements).

@group(0) @binding(1) var<uniform> x: array<vec4<f32>, X_TEXELS>;
@group(0) @binding(2) var<uniform> weight: array<vec4<f32>, WEIGHT_TEXELS>;

fn x_at(i: u32) -> f32 {
    return x[i / 4u][i % 4u];
}

fn weight_at(k: u32) -> f32 {
    return weight[k / 4u][k % 4u];
}
