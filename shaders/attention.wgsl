// Causal scaled-dot-product attention of new queries over the KV cache, grouped-query.
//
// Query t (at position start_pos + t) of head h attends to cache positions 0..=start_pos + t
// of KV head h / (n_heads / n_kv_heads). One workgroup per (query, head). Keys are taken in
// tiles of WG: each invocation scores one key, then the tile updates a running maximum and
// sum (online softmax), so rows of any length stay stable without storing all scores.
// Invocation `lid` accumulates output dimensions lid, lid + WG, ...
// The Rust owner (src/kernels/attention.rs) prepends: const WG (a power of two).

const MAX_HEAD_DIM: u32 = 256u;
const DIMS_PER_INVOCATION: u32 = MAX_HEAD_DIM / WG;
const NEG_INF: f32 = -3.0e38;

struct Params {
    n_tokens: u32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    start_pos: u32,
    q_stride: u32,   // floats per token row of q
    kv_base: u32,    // first float of this sequence in the cache
    out_stride: u32, // floats per token row of out
    scale: f32,      // 1 / sqrt(head_dim)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> q_tile: array<f32, MAX_HEAD_DIM>;
var<workgroup> weights: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let item = wid.x + wid.y * nwg.x;
    if (item >= p.n_tokens * p.n_heads) {
        return;
    }
    let t = item / p.n_heads;
    let head = item % p.n_heads;
    let kv_head = head / (p.n_heads / p.n_kv_heads);
    let kv_dim = p.n_kv_heads * p.head_dim;
    let hd = p.head_dim;

    let q_base = t * p.q_stride + head * hd;
    for (var d = lid; d < hd; d += WG) {
        q_tile[d] = q[q_base + d] * p.scale;
    }
    workgroupBarrier();

    let n_keys = p.start_pos + t + 1u;
    var running_max = NEG_INF;
    var running_sum = 0.0;
    var acc: array<f32, DIMS_PER_INVOCATION>;

    for (var tile = 0u; tile < n_keys; tile += WG) {
        let key = tile + lid;
        var score = NEG_INF;
        if (key < n_keys) {
            let k_base = p.kv_base + key * kv_dim + kv_head * hd;
            score = 0.0;
            for (var d = 0u; d < hd; d++) {
                score += q_tile[d] * k_cache[k_base + d];
            }
        }
        weights[lid] = score;
        workgroupBarrier();
        var tile_max = NEG_INF;
        for (var j = 0u; j < WG; j++) {
            tile_max = max(tile_max, weights[j]);
        }
        let new_max = max(running_max, tile_max);
        let correction = exp(running_max - new_max);
        workgroupBarrier();
        weights[lid] = select(0.0, exp(score - new_max), key < n_keys);
        workgroupBarrier();

        let in_tile = min(WG, n_keys - tile);
        var tile_sum = 0.0;
        for (var j = 0u; j < in_tile; j++) {
            tile_sum += weights[j];
        }
        running_sum = running_sum * correction + tile_sum;
        for (var i = 0u; i < DIMS_PER_INVOCATION; i++) {
            let d = lid + i * WG;
            if (d < hd) {
                var value = acc[i] * correction;
                for (var j = 0u; j < in_tile; j++) {
                    value += weights[j] * v_cache[p.kv_base + (tile + j) * kv_dim + kv_head * hd + d];
                }
                acc[i] = value;
            }
        }
        running_max = new_max;
        workgroupBarrier();
    }

    for (var i = 0u; i < DIMS_PER_INVOCATION; i++) {
        let d = lid + i * WG;
        if (d < hd) {
            out[t * p.out_stride + head * hd + d] = acc[i] / running_sum;
        }
    }
}
