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

struct Block {
    lo: vec4<u32>,   // weights 0..15 of the block, one byte each
    hi: vec4<u32>,   // weights 16..31
    dm: vec2<f32>,   // d and m
}

fn load_block(g: u32) -> Block {
    let q = textureLoad(weights, texel_at(g), 0);
    let nibbles = vec4<u32>(0x0F0F0F0Fu);
    return Block(q & nibbles, (q >> vec4<u32>(4u)) & nibbles, unpack2x16float(block_scale(scales, g)));
}

fn token_dot(w: Block, b: u32, t: u32) -> f32 {
    let isum = dot16_i8(w.lo, x[t].q[2u * b]) + dot16_i8(w.hi, x[t].q[2u * b + 1u]);
    let s = x_scale(b, t);
    return w.dm.x * s.x * f32(isum) + w.dm.y * s.y;
}

@compute @workgroup_size(WG)
fn decode(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let row0 = invocation(wid, lid) * 2u;
    if (row0 >= p.rows) {
        return;
    }
    // Two rows per invocation share every load of x; a missing second row repeats the first.
    let base0 = row0 * p.per_row;
    let base1 = min(row0 + 1u, p.rows - 1u) * p.per_row;
    var acc0 = 0.0;
    var acc1 = 0.0;
    for (var b = 0u; b < p.per_row; b++) {
        acc0 += token_dot(load_block(base0 + b), b, 0u);
        acc1 += token_dot(load_block(base1 + b), b, 0u);
    }
    store(row0, 0u, acc0);
    store(row0 + 1u, 0u, acc1);
}

@compute @workgroup_size(WG)
fn prefill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let row = invocation(wid, lid);
    if (row >= p.rows) {
        return;
    }
    // Four tokens per invocation share every block of W; missing tokens repeat the last.
    let t0 = wid.y * 4u;
    let last = p.tokens - 1u;
    let base = row * p.per_row;
    var acc0 = 0.0;
    var acc1 = 0.0;
    var acc2 = 0.0;
    var acc3 = 0.0;
    for (var b = 0u; b < p.per_row; b++) {
        let block = load_block(base + b);
        acc0 += token_dot(block, b, min(t0, last));
        acc1 += token_dot(block, b, min(t0 + 1u, last));
        acc2 += token_dot(block, b, min(t0 + 2u, last));
        acc3 += token_dot(block, b, min(t0 + 3u, last));
    }
    store(row, t0, acc0);
    store(row, t0 + 1u, acc1);
    store(row, t0 + 2u, acc2);
    store(row, t0 + 3u, acc3);
}
