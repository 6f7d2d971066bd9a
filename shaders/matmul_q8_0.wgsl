// Y = W X with W in q8_0 blocks (w = d * q, q int8) and X staged as int8 blocks:
// per block, sum(w * x) = d * s * sum(q * xq) + w[i] * outlier, where i is
// the index of the block's outlier (see formats.wgsl).

@group(0) @binding(1) var weights: texture_storage_2d<rgba32uint, read>;
@group(0) @binding(2) var scales: texture_storage_2d<rgba32uint, read>;

fn row_scales(row: u32, g: u32) -> vec4<u32> {
    return scale_texel(scales, row, p.per_row, g);
}

struct Block {
    q0: vec4<u32>,   // weights 0..15 of the block, one byte each
    q1: vec4<u32>,   // weights 16..31
    d: f32,
}

// A block is two texels.
fn unit_words(row: u32, b: u32) -> array<vec4<u32>, 2> {
    return array<vec4<u32>, 2>(textureLoad(weights, row_texel(row, 2u * p.per_row, 2u * b)),
                               textureLoad(weights, row_texel(row, 2u * p.per_row, 2u * b + 1u)));
}

fn block_of(u: array<vec4<u32>, 2>, scale: u32) -> Block {
    return Block(u[0], u[1], unpack2x16float(scale).x);
}

fn token_dot(w: Block, x: XBlock) -> f32 {
    let isum = dot16_i8(w.q0, x.q0) + dot16_i8(w.q1, x.q1);
    let s = x.s;
    let index = u32(s.w);
    let outlier = byte_at(select(w.q0, w.q1, index >= 16u), index % 16u) * s.z;
    return w.d * (s.x * f32(isum) + outlier);
}
