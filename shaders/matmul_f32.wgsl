// Y = W X with W in f32 (4 weights per texel) and X staged as f32 rows.

@group(0) @binding(1) var weights: texture_storage_2d<rgba32uint, read>;

// Float formats have no scales.
fn row_scales(row: u32, g: u32) -> vec4<u32> {
    return vec4<u32>(0u);
}

struct Block {
    w: vec4<f32>,
}

// A unit is one texel; the second word vector repeats it (unused).
fn unit_words(row: u32, b: u32) -> array<vec4<u32>, 2> {
    let w = textureLoad(weights, row_texel(row, p.per_row, b));
    return array<vec4<u32>, 2>(w, w);
}

fn block_of(u: array<vec4<u32>, 2>, scale: u32) -> Block {
    return Block(bitcast<vec4<f32>>(u[0]));
}

// The 4 values of x under unit b.
struct XBlock {
    x: vec4<f32>,
}

fn x_block(t: u32, b: u32) -> XBlock {
    return XBlock(bitcast<vec4<f32>>(x_vec4(t, b)));
}

fn token_dot(w: Block, x: XBlock) -> f32 {
    return dot(w.w, x.x);
}
