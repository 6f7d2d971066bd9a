// What every attention kernel reads (attention.wgsl, subgroup/attention.wgsl,
// attention_queries.wgsl), prepended by src/kernels/attention.rs: the step's parameters, the
// queries and the KV cache (laid out as kv_write.wgsl describes).

const NEG_INF: f32 = -3.0e38;

struct Params {
    n_tokens: u32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    start_pos: u32,
    q_stride: u32,   // floats per token row of q
    first_row: u32,  // cache row of position 0 of this sequence
    out_stride: u32, // floats per token row of out
    scale: f32,      // 1 / sqrt(head_dim)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var k_cache: texture_storage_2d<rgba32uint, read>;
@group(0) @binding(3) var v_cache: texture_storage_2d<rgba32uint, read>;

// Texel c of KV head kv_head in cache row `row`.
fn cache_texel(cache: texture_storage_2d<rgba32uint, read>, row: u32, kv_head: u32, c: u32) -> vec4<f32> {
    let i = row * p.n_kv_heads * HEAD_TEXELS + kv_head * HEAD_TEXELS + c;
    return bitcast<vec4<f32>>(textureLoad(cache, texel_at(i)));
}
