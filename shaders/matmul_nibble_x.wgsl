// The block of x the 4-bit formats (matmul_q4_0.wgsl, matmul_q4_1.wgsl) multiply, prepended
// with them by src/kernels/matmul.rs: block b of token t's row staged as int8 (see
// formats.wgsl), with its int8 values rearranged for products with 4-bit weights without
// dot4I8Packed, which CPU-type adapters emulate byte by byte (lavapipe: ~24 instructions
// for 4 products).
//
// The rearrangement: each int8 value gets +128 (so 1..255, unsigned) and the bytes of a
// word go into 16-bit halves, swapped: even = b2 | b0 << 16, odd = b3 | b1 << 16. With a
// weight word's nibbles split the same way but not swapped (w0 | w2 << 16 and w1 | w3 << 16),
// one 32-bit product holds w0 * b0 + w2 * b2 in its high half (the low half holds w0 * b2,
// at most 15 * 255, so it never carries into the high half, and w2 * b0 falls off the
// top). Eight such products (16 weights) sum to at most 8 * 2 * 15 * 255 = 61200 in the high
// half and 30600 in the low: still no carry, so one shift gives the sum of 16 products.
// The +128 comes back out as 128 * (sum of the block's nibbles), which the format
// subtracts (see nibble_dot). The readers of x rearrange each word once, the subgroup one
// before it hands the words round.

struct XBlock {
    even0: vec4<u32>,  // values 0..15, rearranged (see above)
    odd0: vec4<u32>,
    even1: vec4<u32>,  // values 16..31
    odd1: vec4<u32>,
    s: vec4<f32>,      // (s, s * sum of the int8 values, outlier, outlier index as f32)
}

fn x_block(t: u32, b: u32) -> XBlock {
    let q = x_pairs8(t, 2u * b);
    return XBlock(q[0], q[1], q[2], q[3], bitcast<vec4<f32>>(x_vec4(t, XQ + b)));
}

// The rearranged halves of one staged word of int8 values.
fn x_even(word: u32) -> u32 {
    let b = (word ^ 0x80808080u) & 0x00FF00FFu;
    return (b >> 16u) | (b << 16u);
}

fn x_odd(word: u32) -> u32 {
    let b = ((word ^ 0x80808080u) >> 8u) & 0x00FF00FFu;
    return (b >> 16u) | (b << 16u);
}

// A block of 32 nibbles split for the products: weights 0..15 (low nibbles) and 16..31
// (high nibbles), even and odd bytes, and 128 * their sum.
struct Nibbles {
    even0: vec4<u32>,
    odd0: vec4<u32>,
    even1: vec4<u32>,
    odd1: vec4<u32>,
    bias: i32,
}

fn split_nibbles(q: vec4<u32>) -> Nibbles {
    let m = vec4<u32>(0x000F000Fu);
    let n = Nibbles(q & m, (q >> vec4<u32>(8u)) & m, (q >> vec4<u32>(4u)) & m,
                    (q >> vec4<u32>(12u)) & m, 0);
    // Each 16-bit half of `all` sums 4 nibbles per component, at most 60; of `total`, 240.
    let all = n.even0 + n.odd0 + n.even1 + n.odd1;
    let total = all.x + all.y + all.z + all.w;
    return Nibbles(n.even0, n.odd0, n.even1, n.odd1,
                   128 * i32((total & 0xFFFFu) + (total >> 16u)));
}

// The sum of the 32 nibble * int8 products of a block.
fn nibble_dot(w: Nibbles, x: XBlock) -> i32 {
    let lo = w.even0 * x.even0 + w.odd0 * x.odd0;
    let hi = w.even1 * x.even1 + w.odd1 * x.odd1;
    let sum_lo = (lo.x + lo.y + lo.z + lo.w) >> 16u;
    let sum_hi = (hi.x + hi.y + hi.z + hi.w) >> 16u;
    return i32(sum_lo + sum_hi) - w.bias;
}
