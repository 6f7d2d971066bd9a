// SwiGLU's input read from a copy of it in a texel texture (formats.wgsl: texel i at
// (i % TEXTURE_WIDTH, i / TEXTURE_WIDTH), four floats as bits per texel): the twin of
// swiglu_input_storage.wgsl for CPU-type adapters, where a load at a different address per
// lane is a vector gather from a texture but a loop over the lanes from a storage buffer.
// The owner (src/kernels/swiglu.rs) copies the buffer into the texture before each
// dispatch. Prepended to swiglu.wgsl after formats.wgsl.

@group(0) @binding(1) var gate_up_texels: texture_storage_2d<rgba32uint, read>;

fn gate_up_at(i: u32) -> f32 {
    return bitcast<f32>(textureLoad(gate_up_texels, texel_at(i / 4u))[i % 4u]);
}
