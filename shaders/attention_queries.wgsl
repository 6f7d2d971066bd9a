// Causal GQA attention for prefill on CPU-type adapters: one query per lane. Same bindings
// and results as attention.wgsl; needs subgroups of at least WG = 8 invocations.
//
// The per-key kernels (attention.wgsl, subgroup/attention.wgsl) spread one query's head
// over the lanes, so every score needs a reduction across lanes and every key an online-
// softmax update that only one lane's worth of work justifies. Here lane l of a workgroup
// takes query l of a run of WG consecutive queries, for one query head: a score is a
// plain dot product within the lane, and the softmax of WG queries is one vector operation.
// Keys go in rounds of ROUND: their scores first, then one rescale of the running sums to
// the round's maximum, then their values. A key's texels are the same for every lane:
// each lane loads every WG-th texel and subgroupBroadcast hands them round (one gather per
// WG texels). A key past a lane's own position (the run's last keys) weighs 0 there.
// Queries are rotated as they are loaded (rope.wgsl).
// The output goes through `fn write_head(t, head)`, which reads the normalized head from
// `out_head`: attention_queries_rows.wgsl writes f32 rows, attention_queries_staged.wgsl
// the staged input of the output projection.
// The Rust owner (src/kernels/attention.rs) prepends rope.wgsl, attention_inputs.wgsl,
// TEXTURE_WIDTH, HEAD_TEXELS and WG (8), and one of those writers.

const ROUND: u32 = 4u;
// Texels per lane of a key's head, and the head padded to whole runs of WG texels.
const LANE_TEXELS: u32 = (HEAD_TEXELS + WG - 1u) / WG;
const PADDED_TEXELS: u32 = LANE_TEXELS * WG;

// The head being written, normalized (read by write_head).
var<private> out_head: array<vec4<f32>, HEAD_TEXELS>;

// The texels of one key's (or value's) head, in every lane; zero past the head.
fn head_texels(cache: texture_storage_2d<rgba32uint, read>, row: u32, kv_head: u32, lane: u32) -> array<vec4<f32>, PADDED_TEXELS> {
    var out: array<vec4<f32>, PADDED_TEXELS>;
    for (var i = 0u; i < LANE_TEXELS; i++) {
        let c = lane + i * WG;
        var mine = vec4<f32>(0.0);
        if (c < HEAD_TEXELS) {
            mine = cache_texel(cache, row, kv_head, c);
        }
        // subgroupBroadcast takes constant lanes: one statement per lane of WG = 8.
        out[i * WG] = subgroupBroadcast(mine, 0u);
        out[i * WG + 1u] = subgroupBroadcast(mine, 1u);
        out[i * WG + 2u] = subgroupBroadcast(mine, 2u);
        out[i * WG + 3u] = subgroupBroadcast(mine, 3u);
        out[i * WG + 4u] = subgroupBroadcast(mine, 4u);
        out[i * WG + 5u] = subgroupBroadcast(mine, 5u);
        out[i * WG + 6u] = subgroupBroadcast(mine, 6u);
        out[i * WG + 7u] = subgroupBroadcast(mine, 7u);
    }
    return out;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let item = wid.x + wid.y * nwg.x;
    let first_query = (item / p.n_heads) * WG;
    if (first_query >= p.n_tokens) {
        return;
    }
    let head = item % p.n_heads;
    let kv_head = head / (p.n_heads / p.n_kv_heads);
    // Lanes past the last query repeat it and write nothing.
    let t = min(first_query + lid, p.n_tokens - 1u);

    // This lane's query head, rotated (rope.wgsl), pre-scaled and zero-padded.
    var qv: array<vec4<f32>, HEAD_TEXELS>;
    let base = t * p.q_stride + head * p.head_dim;
    for (var c = 0u; c < HEAD_TEXELS; c++) {
        for (var j = 0u; j < 4u; j++) {
            let d = 4u * c + j;
            if (d < p.head_dim) {
                let partner = q[base + rope_partner(d, p.head_dim)];
                qv[c][j] = rope(q[base + d], partner, d, p.head_dim, p.start_pos + t) * p.scale;
            }
        }
    }

    // Every lane walks the keys of the run's last query; its own are the first `visible`.
    let n_keys = p.start_pos + min(first_query + WG, p.n_tokens);
    let visible = p.start_pos + t + 1u;
    var running_max = NEG_INF;
    var running_sum = 0.0;
    var acc: array<vec4<f32>, HEAD_TEXELS>;
    for (var first_key = 0u; first_key < n_keys; first_key += ROUND) {
        var score: array<f32, ROUND>;
        var round_max = running_max;
        for (var j = 0u; j < ROUND; j++) {
            let key = first_key + j;
            let k = head_texels(k_cache, p.first_row + min(key, n_keys - 1u), kv_head, lid);
            var s = 0.0;
            for (var c = 0u; c < HEAD_TEXELS; c++) {
                s += dot(qv[c], k[c]);
            }
            score[j] = select(NEG_INF, s, key < visible);
            round_max = max(round_max, score[j]);
        }
        let correction = exp(running_max - round_max);
        running_sum *= correction;
        for (var c = 0u; c < HEAD_TEXELS; c++) {
            acc[c] *= correction;
        }
        for (var j = 0u; j < ROUND; j++) {
            let key = first_key + j;
            let weight = select(0.0, exp(score[j] - round_max), key < visible);
            running_sum += weight;
            let v = head_texels(v_cache, p.first_row + min(key, n_keys - 1u), kv_head, lid);
            for (var c = 0u; c < HEAD_TEXELS; c++) {
                acc[c] += weight * v[c];
            }
        }
        running_max = round_max;
    }

    if (first_query + lid < p.n_tokens) {
        for (var c = 0u; c < HEAD_TEXELS; c++) {
            out_head[c] = acc[c] / running_sum;
        }
        write_head(t, head);
    }
}
