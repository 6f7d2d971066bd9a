// Y = W X with W in q4_1 blocks (w = d * q + m, q in 0..15) and X staged as int8 blocks:
// per block, sum(w * x) = d * s * sum(q * xq) + m * (s * sum(xq)).

@group(0) @binding(1) var weights: texture_2d<u32>;
@group(0) @binding(2) var scales: texture_2d<u32>;
struct XRow { q: array<vec4<u32>, XQ>, s: array<vec4<f32>, XS> }
@group(0) @binding(3) var<uniform> x: array<XRow, XR>;

// (s, s * sum of the int8 values) of block b of token t.
fn x_scale(b: u32, t: u32) -> vec2<f32> {
    let sv = x[t].s[b / 2u];
    return select(sv.xy, sv.zw, (b & 1u) == 1u);
}

fn row_scales(row: u32, g: u32) -> vec4<u32> {
    return scale_texel(scales, row, p.per_row, g);
}

struct Block {
    lo: vec4<u32>,   // weights 0..15 of the block, one byte each
    hi: vec4<u32>,   // weights 16..31
    dm: vec2<f32>,   // d and m
}

fn load_block(i: u32, scale: u32) -> Block {
    let q = textureLoad(weights, texel_at(i), 0);
    let nibbles = vec4<u32>(0x0F0F0F0Fu);
    return Block(q & nibbles, (q >> vec4<u32>(4u)) & nibbles, unpack2x16float(scale));
}

fn token_dot(w: Block, b: u32, t: u32) -> f32 {
    let isum = dot16_i8(w.lo, x[t].q[2u * b]) + dot16_i8(w.hi, x[t].q[2u * b + 1u]);
    let s = x_scale(b, t);
    return w.dm.x * s.x * f32(isum) + w.dm.y * s.y;
}
