// Y = W X with W in f16 (8 weights per texel, unpacked with unpack2x16float, so no f16
// shader feature is needed) and X staged as f32 rows.

@group(0) @binding(1) var weights: texture_storage_2d<rgba32uint, read>;

// Float formats have no scales.
fn row_scales(row: u32, g: u32) -> vec4<u32> {
    return vec4<u32>(0u);
}

struct Block {
    w0: vec4<f32>,   // weights 0..3 of the texel
    w1: vec4<f32>,   // weights 4..7
}

// A unit is one texel, its 8 halves unpacked here (so that the token-lanes prefill
// unpacks each once, before handing it round) and held as the bits of 8 floats.
fn unit_words(row: u32, b: u32) -> array<vec4<u32>, 2> {
    let h = textureLoad(weights, row_texel(row, p.per_row, b));
    return array<vec4<u32>, 2>(
        bitcast<vec4<u32>>(vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y))),
        bitcast<vec4<u32>>(vec4<f32>(unpack2x16float(h.z), unpack2x16float(h.w))));
}

fn block_of(u: array<vec4<u32>, 2>, scale: u32) -> Block {
    return Block(bitcast<vec4<f32>>(u[0]), bitcast<vec4<f32>>(u[1]));
}

// The 8 values of x under unit b.
struct XBlock {
    x0: vec4<f32>,
    x1: vec4<f32>,
}

fn x_block(t: u32, b: u32) -> XBlock {
    let v = x_vec8(t, 2u * b);
    return XBlock(bitcast<vec4<f32>>(v[0]), bitcast<vec4<f32>>(v[1]));
}

fn token_dot(w: Block, x: XBlock) -> f32 {
    return dot(w.w0, x.x0) + dot(w.w1, x.x1);
}
