// Rotary position embedding, Hugging Face "rotate half" layout, applied in place.
//
// Rotates heads 0..n_heads of every token row of `qk` (the query heads followed by the key
// heads of the fused QKV activations). Within a head, element j pairs with j + head_dim/2:
//   out[j]        = x[j] * cos - x[j + half] * sin
//   out[j + half] = x[j + half] * cos + x[j] * sin
// cos and sin come from a table computed on the host in f64: [positions, half] of (cos, sin).
// The Rust owner (src/kernels/rope.rs) prepends: const WG.

struct Params {
    n_tokens: u32,
    n_heads: u32,     // heads to rotate in each row
    head_dim: u32,
    row_stride: u32,  // floats per token row of qk
    start_pos: u32,   // position of token 0
    total: u32,       // n_tokens * n_heads * head_dim / 2
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> qk: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.total) {
        return;
    }
    let half = p.head_dim / 2u;
    let j = i % half;
    let head = (i / half) % p.n_heads;
    let t = i / (half * p.n_heads);
    let cs = table[(p.start_pos + t) * half + j];
    let base = t * p.row_stride + head * p.head_dim;
    let x1 = qk[base + j];
    let x2 = qk[base + j + half];
    qk[base + j] = x1 * cs.x - x2 * cs.y;
    qk[base + j + half] = x2 * cs.x + x1 * cs.y;
}
