// Y = W X with W in f32 (4 weights per texel) and X staged as f32 rows.

@group(0) @binding(1) var weights: texture_2d<u32>;
@group(0) @binding(3) var<uniform> x: array<array<vec4<f32>, XP>, XR>;

// Float formats have no scales.
fn row_scales(row: u32, g: u32) -> vec4<u32> {
    return vec4<u32>(0u);
}

struct Block {
    w: vec4<f32>,
}

fn load_block(i: u32, scale: u32) -> Block {
    return Block(bitcast<vec4<f32>>(textureLoad(weights, texel_at(i), 0)));
}

fn token_dot(w: Block, b: u32, t: u32) -> f32 {
    return dot(w.w, x[t][b]);
}
