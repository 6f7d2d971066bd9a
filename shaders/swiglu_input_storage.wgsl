// SwiGLU's input read from a storage buffer (src/kernels/swiglu.rs, `SwiGluInput`):
// gate_up_at(i) is float i of the rows of gate_up. Prepended to swiglu.wgsl;
// swiglu_input_texture.wgsl is the twin for CPU-type adapters.

@group(0) @binding(1) var<storage, read> gate_up: array<f32>;

fn gate_up_at(i: u32) -> f32 {
    return gate_up[i];
}
