// Causal scaled-dot-product attention of new queries over the KV cache, grouped-query.
//
// Query t (at position start_pos + t) of head h, rotated here (rope.wgsl), attends to cache
// positions 0..=start_pos + t of KV head h / (n_heads / n_kv_heads). The cache is a pair of textures laid out as
// kv_write.wgsl describes. One workgroup per (query, head). Keys are taken in tiles of WG:
// each invocation scores one key, then the tile updates a running maximum and sum (online
// softmax), so rows of any length stay stable without storing all scores. Invocation c < HEAD_TEXELS
// accumulates output values 4c..4c+3.
// The Rust owner (src/kernels/attention.rs) prepends rope.wgsl, attention_inputs.wgsl,
// TEXTURE_WIDTH, HEAD_TEXELS
// and WG (a power of two, at least HEAD_TEXELS).

@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> q_tile: array<vec4<f32>, HEAD_TEXELS>;
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

    // The query, rotated (rope.wgsl), pre-scaled, zero-padded to whole texels.
    if (lid < HEAD_TEXELS) {
        let base = t * p.q_stride + head * p.head_dim;
        var v = vec4<f32>(0.0);
        for (var j = 0u; j < 4u; j++) {
            let d = 4u * lid + j;
            if (d < p.head_dim) {
                let partner = q[base + rope_partner(d, p.head_dim)];
                v[j] = rope(q[base + d], partner, d, p.head_dim, p.start_pos + t) * p.scale;
            }
        }
        q_tile[lid] = v;
    }
    workgroupBarrier();

    let n_keys = p.start_pos + t + 1u;
    var running_max = NEG_INF;
    var running_sum = 0.0;
    var acc = vec4<f32>(0.0);

    for (var tile = 0u; tile < n_keys; tile += WG) {
        let key = tile + lid;
        var score = NEG_INF;
        if (key < n_keys) {
            score = 0.0;
            for (var c = 0u; c < HEAD_TEXELS; c++) {
                score += dot(q_tile[c], cache_texel(k_cache, p.first_row + key, kv_head, c));
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
        if (lid < HEAD_TEXELS) {
            var value = acc * correction;
            for (var j = 0u; j < in_tile; j++) {
                value += weights[j] * cache_texel(v_cache, p.first_row + tile + j, kv_head, lid);
            }
            acc = value;
        }
        running_max = new_max;
        workgroupBarrier();
    }

    if (lid < HEAD_TEXELS) {
        let result = acc / running_sum;
        for (var j = 0u; j < 4u; j++) {
            let d = 4u * lid + j;
            if (d < p.head_dim) {
                out[t * p.out_stride + head * p.head_dim + d] = result[j];
            }
        }
    }
}
