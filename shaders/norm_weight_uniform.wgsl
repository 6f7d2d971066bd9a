// The RMSNorm's weight read from a uniform binding of WEIGHT_TEXELS vec4s (uniform arrays
// take 16-byte elements), for CPU-type adapters: the weight of the uniform and texture
// readers of x (norm_x_uniform.wgsl, norm_x_texture.wgsl).

@group(0) @binding(2) var<uniform> weight: array<vec4<f32>, WEIGHT_TEXELS>;

fn weight_at(k: u32) -> f32 {
    return weight[k / 4u][k % 4u];
}
