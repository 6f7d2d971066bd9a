// Y = W X with W in f16 (8 weights per texel, unpacked with unpack2x16float, so no f16
// shader feature is needed) and X staged as f32 rows.

@group(0) @binding(1) var weights: texture_2d<u32>;
@group(0) @binding(3) var<uniform> x: array<array<vec4<f32>, XP>, XR>;

// Float formats have no scales.
fn row_scales(row: u32, g: u32) -> vec4<u32> {
    return vec4<u32>(0u);
}

struct Block {
    w0: vec4<f32>,   // weights 0..3 of the texel
    w1: vec4<f32>,   // weights 4..7
}

fn load_block(i: u32, scale: u32) -> Block {
    let h = textureLoad(weights, texel_at(i), 0);
    return Block(vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y)),
                 vec4<f32>(unpack2x16float(h.z), unpack2x16float(h.w)));
}

fn token_dot(w: Block, b: u32, t: u32) -> f32 {
    return dot(w.w0, x[t][2u * b]) + dot(w.w1, x[t][2u * b + 1u]);
}
