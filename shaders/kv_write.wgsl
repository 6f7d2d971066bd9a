// KV-cache write: stores the new tokens' K and V rows into the cache at their positions,
// the keys rotated to those positions (rope.wgsl).
//
// The cache of one layer is a pair of Rgba32Uint textures read as runs of texels (see
// formats.wgsl): cache row r (sequence * ctx + position) holds n_kv_heads heads of
// HEAD_TEXELS texels each, the head's values 4 to a texel as f32 bits, zero-padded when
// head_dim is not a multiple of 4. `src` holds the fused QKV activations, one row per token:
// K starts at k_offset and V at v_offset. One invocation per (token, head, texel).
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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    let row_texels = p.n_kv_heads * HEAD_TEXELS;
    if (i >= p.n_tokens * row_texels) {
        return;
    }
    let t = i / row_texels;
    let head = (i % row_texels) / HEAD_TEXELS;
    let c = i % HEAD_TEXELS;
    let row = t * p.src_stride + head * p.head_dim;
    let at = texel_at((p.first_row + t) * row_texels + head * HEAD_TEXELS + c);
    textureStore(k_cache, at, gather(row + p.k_offset, 4u * c, true, p.start_pos + t));
    textureStore(v_cache, at, gather(row + p.v_offset, 4u * c, false, 0u));
}
