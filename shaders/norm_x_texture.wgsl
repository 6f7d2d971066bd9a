// The RMSNorm's x read from a copy of it in a texel texture (formats.wgsl: texel i at
// (i % TEXTURE_WIDTH, i / TEXTURE_WIDTH), four floats as bits per texel), for CPU-type
// adapters where x outgrows a uniform binding: a texture gather costs about what a
// uniform one does there, a storage load at per-lane addresses several times more. The
// owner (src/kernels/rmsnorm.rs) copies x into the texture before each dispatch.
// Prepended with formats.wgsl and norm_weight_uniform.wgsl.

@group(0) @binding(1) var x_texels: texture_storage_2d<rgba32uint, read>;

fn x_at(i: u32) -> f32 {
    return bitcast<f32>(textureLoad(x_texels, texel_at(i / 4u))[i % 4u]);
}
