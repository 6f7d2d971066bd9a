// Y = W X with W in q4_1 blocks (w = d * q + m, q in 0..15) and X staged as int8 blocks:
// per block, sum(w * x) = d * s * sum(q * xq) + m * (s * sum(xq)) + w[i] * outlier, where i is
// the index of the block's outlier (see formats.wgsl).

@group(0) @binding(1) var weights: texture_storage_2d<rgba32uint, read>;
@group(0) @binding(2) var scales: texture_storage_2d<rgba32uint, read>;

fn row_scales(row: u32, g: u32) -> vec4<u32> {
    return scale_texel(scales, row, p.per_row, g);
}

struct Block {
    q: vec4<u32>,    // the block as stored (for the outlier's weight)
    n: Nibbles,      // split for the products (matmul_nibble_x.wgsl)
    dm: vec2<f32>,   // d and m
}

// A block is one texel; the second word vector repeats it (unused).
fn unit_words(row: u32, b: u32) -> array<vec4<u32>, 2> {
    let q = textureLoad(weights, row_texel(row, p.per_row, b));
    return array<vec4<u32>, 2>(q, q);
}

fn block_of(u: array<vec4<u32>, 2>, scale: u32) -> Block {
    let q = u[0];
    return Block(q, split_nibbles(q), unpack2x16float(scale));
}

fn token_dot(w: Block, x: XBlock) -> f32 {
    let isum = nibble_dot(w.n, x);
    let s = x.s;
    // d * (s * isum + q[i] * outlier) + m * (s * sum(xq) + outlier), grouped so that
    // m's factor is the same for every row.
    return w.dm.x * (s.x * f32(isum) + nibble_at(w.q, u32(s.w)) * s.z) + w.dm.y * (s.y + s.z);
}
