// The RMSNorm's x read from a uniform binding of its first X_TEXELS vec4s: the twin of
// norm_input_storage.wgsl's x for CPU-type adapters, where a load at a different address
// per lane is a vector gather from a uniform buffer but a loop over the lanes from a
// storage buffer (lavapipe: ~8x the time). The owner (src/kernels/rmsnorm.rs) binds as many
// rows as a uniform binding holds and sends calls reaching past them to the texture reader
// (norm_x_texture.wgsl). Prepended with norm_weight_uniform.wgsl.

@group(0) @binding(1) var<uniform> x: array<vec4<f32>, X_TEXELS>;

fn x_at(i: u32) -> f32 {
    return x[i / 4u][i % 4u];
}
