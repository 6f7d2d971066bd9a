// KV-cache write: copies the new tokens' K and V rows into the cache at their positions.
//
// `src` holds the fused QKV activations, one row per token; K starts at k_offset and V at
// v_offset within a row. The cache of one layer is [sequences, positions, kv_dim]; row t
// lands at dst_base + t * kv_dim (dst_base = (sequence * ctx + start_pos) * kv_dim).
// The Rust owner (src/kernels/kv_write.rs) prepends: const WG.

struct Params {
    n_tokens: u32,
    kv_dim: u32,
    src_stride: u32,
    k_offset: u32,
    v_offset: u32,
    dst_base: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> v_cache: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.n_tokens * p.kv_dim) {
        return;
    }
    let t = i / p.kv_dim;
    let e = i % p.kv_dim;
    let row = t * p.src_stride;
    k_cache[p.dst_base + i] = src[row + p.k_offset + e];
    v_cache[p.dst_base + i] = src[row + p.v_offset + e];
}
