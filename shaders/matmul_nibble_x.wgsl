// The block of x the 4-bit formats (matmul_q4_0.wgsl, matmul_q4_1.wgsl) multiply, prepended
// with them by src/kernels/matmul.rs: block b of token t's row staged as int8 (see
// formats.wgsl), with its int8 values rearranged for products with 4-bit weights without
// dot4I8Packed, which CPU-type adapters emulate byte by byte (lavapipe: ~24 instructions
// for 4 products).
//
// The rearrangement: the bytes of a word go into 16-bit halves, sign-extended and swapped:
// even = b0 * 65536 + b2, odd = b1 * 65536 + b3 (as 32-bit integers, wrapping). With a weight
// word's nibbles split the same way but not swapped (w0 | w2 << 16 and w1 | w3 << 16), one
// 32-bit product is (w0 * b0 + w2 * b2) * 65536 + w0 * b2 (w2 * b0 falls off the top).
// Eight such products (16 weights) sum to H * 65536 + L, where H is the sum of the 16
// products wanted (|H| <= 16 * 15 * 127 = 30480) and L the sum of the low terms
// (|L| <= 8 * 15 * 127 = 15240 < 32768), so the total fits an i32 and
// (total + 32768) >> 16 (arithmetic) is exactly H. The readers of x rearrange each word once,
// the subgroup one before it hands the words round.

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
    let w = bitcast<i32>(word);
    return bitcast<u32>(((w << 24u) >> 8u) + ((w << 8u) >> 24u));
}

fn x_odd(word: u32) -> u32 {
    let w = bitcast<i32>(word);
    return bitcast<u32>((((w << 16u) >> 8u) & -65536) + (w >> 24u));
}

// A block of 32 nibbles split for the products: weights 0..15 (low nibbles) and 16..31
// (high nibbles), even and odd bytes.
struct Nibbles {
    even0: vec4<u32>,
    odd0: vec4<u32>,
    even1: vec4<u32>,
    odd1: vec4<u32>,
}

fn split_nibbles(q: vec4<u32>) -> Nibbles {
    let m = vec4<u32>(0x000F000Fu);
    return Nibbles(q & m, (q >> vec4<u32>(8u)) & m, (q >> vec4<u32>(4u)) & m,
                   (q >> vec4<u32>(12u)) & m);
}

// H from a sum of eight products H * 65536 + L (see above).
fn high_half(total: u32) -> i32 {
    return (bitcast<i32>(total) + 0x8000) >> 16u;
}

// The sum of the 32 nibble * int8 products of a block.
fn nibble_dot(w: Nibbles, x: XBlock) -> i32 {
    let lo = w.even0 * x.even0 + w.odd0 * x.odd0;
    let hi = w.even1 * x.even1 + w.odd1 * x.odd1;
    return high_half(lo.x + lo.y + lo.z + lo.w) + high_half(hi.x + hi.y + hi.z + hi.w);
}
