// KV-cache write: stores the new tokens' K and V rows into the cache at their positions,
// the keys rotated to those positions (rope.wgsl).
//
// The cache of one layer is a pair of Rgba32Uint textures read as runs of texels (see
// formats.wgsl): cache row r (sequence * ctx + position) holds n_kv_heads heads of
// HEAD_TEXELS texels each, the head's values 4 to a texel as f32 bits, zero-padded when
// head_dim is not a multiple of 4. `src` holds the fused QKV activations, one row per token:
// K starts at k_offset and V at v_offset. One invocation per (token, head, texel).
// `main_texels` is the twin for CPU-type adapters that reads a texel-texture copy of src
// (a storage load at per-lane addresses is a loop over the lanes there, a texture load a
// gather): whole texels, a key texel rotated with its partner texel (head_dim a multiple
// of 8, rows and offsets of src whole vec4s: the owner checks).
// The Rust owner (src/kernels/kv_write.rs) prepends TEXTURE_WIDTH, HEAD_TEXELS, WG and
// rope.wgsl.

struct Params {
    n_tokens: u32,
    n_kv_heads: u32,
    head_dim: u32,
    src_stride: u32,
    k_offset: u32,
    v_offset: u32,
    first_row: u32,   // cache row of token 0
    start_pos: u32,   // position of token 0 (keys are rotated to their positions)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var k_cache: texture_storage_2d<rgba32uint, write>;
@group(0) @binding(3) var v_cache: texture_storage_2d<rgba32uint, write>;
// The copy of src `main_texels` reads: float i in texel i / 4 at texel_at(i / 4).
@group(0) @binding(10) var src_texels: texture_storage_2d<rgba32uint, read>;

// Elements first..first + 3 of the head at `base` in src, rotated (rope.wgsl) to `pos` for
// keys, as they are for values.
fn gather(base: u32, first: u32, rotate: bool, pos: u32) -> vec4<u32> {
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let d = first + j;
        if (d < p.head_dim) {
            v[j] = src[base + d];
            if (rotate) {
                v[j] = rope(v[j], src[base + rope_partner(d, p.head_dim)], d, p.head_dim, pos);
            }
        }
    }
    return bitcast<vec4<u32>>(v);
}

// What invocation i writes: texel c of KV head `head` of token t, the head's first float in
// src (`row`, before the K or V offset) and the cache texel it goes to (`at`).
struct Item {
    t: u32,
    c: u32,
    row: u32,
    at: vec2<u32>,
}

fn item(i: u32) -> Item {
    let row_texels = p.n_kv_heads * HEAD_TEXELS;
    let t = i / row_texels;
    let head = (i % row_texels) / HEAD_TEXELS;
    let c = i % HEAD_TEXELS;
    let at = texel_at((p.first_row + t) * row_texels + head * HEAD_TEXELS + c);
    return Item(t, c, t * p.src_stride + head * p.head_dim, at);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.n_tokens * p.n_kv_heads * HEAD_TEXELS) {
        return;
    }
    let it = item(i);
    textureStore(k_cache, it.at, gather(it.row + p.k_offset, 4u * it.c, true, p.start_pos + it.t));
    textureStore(v_cache, it.at, gather(it.row + p.v_offset, 4u * it.c, false, 0u));
}

@compute @workgroup_size(WG)
fn main_texels(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.n_tokens * p.n_kv_heads * HEAD_TEXELS) {
        return;
    }
    let it = item(i);
    let c = it.c;
    // Texel c of the key pairs with texel c + half (or c - half) of the same head.
    let half = max(HEAD_TEXELS / 2u, 1u);  // (at least 1: naga rejects a constant division by 0)
    let first_k = (it.row + p.k_offset) / 4u;
    let k = bitcast<vec4<f32>>(textureLoad(src_texels, texel_at(first_k + c)));
    let partner_c = select(c - half, c + half, c < half);
    let partner = bitcast<vec4<f32>>(textureLoad(src_texels, texel_at(first_k + partner_c)));
    let a = (p.start_pos + it.t) * (p.head_dim / 2u) + 4u * (c % half);
    let cs = array<vec2<f32>, 4>(rope_table[a], rope_table[a + 1u], rope_table[a + 2u],
                                 rope_table[a + 3u]);
    let cosines = vec4<f32>(cs[0].x, cs[1].x, cs[2].x, cs[3].x);
    let sines = vec4<f32>(cs[0].y, cs[1].y, cs[2].y, cs[3].y);
    let rotated = select(k * cosines + partner * sines, k * cosines - partner * sines, c < half);
    textureStore(k_cache, it.at, bitcast<vec4<u32>>(rotated));
    textureStore(v_cache, it.at, textureLoad(src_texels, texel_at((it.row + p.v_offset) / 4u + c)));
}
