// Rotary position embedding, Hugging Face "rotate half" layout, applied where queries and
// keys are read rather than by a pass of its own: the attention kernels rotate the query
// heads they load, the KV-cache write rotates the key heads it stores (one dispatch per
// layer fewer). Within a head of head_dim elements, element j pairs with j + head_dim/2:
//   out[j]        = x[j] * cos - x[j + half] * sin
//   out[j + half] = x[j + half] * cos + x[j] * sin
// cos and sin come from a table computed on the host in f64: [positions, half] of (cos, sin)
// (src/kernels/rope.rs). Prepended by the owners of those kernels.

@group(0) @binding(8) var<storage, read> rope_table: array<vec2<f32>>;

// The element that element d of a head pairs with.
fn rope_partner(d: u32, head_dim: u32) -> u32 {
    let half = head_dim / 2u;
    return select(d - half, d + half, d < half);
}

// Element d of a head at position pos, rotated: x is the element, partner the element
// rope_partner(d) of the same head.
fn rope(x: f32, partner: f32, d: u32, head_dim: u32, pos: u32) -> f32 {
    let half = head_dim / 2u;
    let cs = rope_table[pos * half + d % half];
    return select(x * cs.x + partner * cs.y, x * cs.x - partner * cs.y, d < half);
}
