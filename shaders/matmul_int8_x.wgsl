// The block of x the Q8_0 format (matmul_q8_0.wgsl) multiplies by dot4I8Packed, prepended
// with it by src/kernels/matmul.rs: block b of token t's row staged as int8 (see
// formats.wgsl), read through the staged-x reader: 32 int8 values and
// (s, s * sum of the int8 values, outlier, outlier index as f32).

struct XBlock {
    q0: vec4<u32>,
    q1: vec4<u32>,
    s: vec4<f32>,
}

fn x_block(t: u32, b: u32) -> XBlock {
    let q = x_vec8(t, 2u * b);
    return XBlock(q[0], q[1], bitcast<vec4<f32>>(x_vec4(t, XQ + b)));
}
