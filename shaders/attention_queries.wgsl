// Causal GQA attention for prefill on CPU-type adapters: one query per lane. Same bindings
// and results as attention.wgsl; needs subgroups of at least WG = 8 invocations.
//
// The per-key kernels (attention.wgsl, subgroup/attention.wgsl) spread one query's head
// over the lanes, so every score needs a reduction across lanes and every key an online-
// softmax update that only one lane's worth of work justifies. Here lane l of a workgroup
// takes query l of a run of WG consecutive queries, for one query head: a score is a
// plain dot product within the lane, and the softmax of WG queries is one vector operation.
// Keys go in rounds of ROUND = 4 (the components of a vec4): their scores first, then the
// running sums rescaled to the round's maximum and the round's values added, in one pass
// over the accumulators. That pass matters on CPU-type adapters: a variable written inside
// a loop costs a load, a masked blend and a store per write there (lanes may have left the
// loop), so accumulating key by key cost more than the arithmetic (this shape measured
// 2.2x faster than key by key). A key's texels are the same for every lane: each lane
// loads every WG-th texel and subgroupBroadcast hands them round (one gather per WG
// texels). A key past a lane's own position (the run's last keys) weighs 0 there.
// Queries are rotated as they are loaded (the table of rope.wgsl).
// The output goes through `fn write_head(t, head)`, which reads the normalized head from
// `out_head`: attention_queries_rows.wgsl writes f32 rows, attention_queries_staged.wgsl
// the staged input of the output projection.
// The Rust owner (src/kernels/attention.rs) prepends rope.wgsl, attention_inputs.wgsl,
// TEXTURE_WIDTH, HEAD_TEXELS and WG (8), and one of those writers.

const ROUND: u32 = 4u;  // keys per round: the vec4s of the main loop
// Texels of half a head (head_dim a multiple of 8: the owner checks).
const HALF_TEXELS: u32 = HEAD_TEXELS / 2u;

// A copy of the step's rows of q (attention_inputs.wgsl's q, whose storage loads at per-lane
// addresses are loops over the lanes on CPU-type adapters: a quarter of this kernel's time
// went to loading queries from it), copied by the owner before each dispatch; texel i at
// texel_at(i) (formats.wgsl).
@group(0) @binding(10) var q_texels: texture_storage_2d<rgba32uint, read>;
// Texels per lane of a key's head, and the head padded to whole runs of WG texels.
const LANE_TEXELS: u32 = (HEAD_TEXELS + WG - 1u) / WG;
const PADDED_TEXELS: u32 = LANE_TEXELS * WG;

// The head being written, normalized (read by write_head).
var<private> out_head: array<vec4<f32>, HEAD_TEXELS>;
// This lane's query head (rotated, pre-scaled, zero-padded) and its running sum of values.
var<private> qv: array<vec4<f32>, PADDED_TEXELS>;
var<private> acc: array<vec4<f32>, PADDED_TEXELS>;

// Texel lane + i * WG of the head in `row`, zero past the head: the lane's share of a
// key's (or value's) texels, which subgroupBroadcast hands round.
fn lane_texel(cache: texture_storage_2d<rgba32uint, read>, row: u32, kv_head: u32, lane: u32, i: u32) -> vec4<f32> {
    let c = lane + i * WG;
    if (c < HEAD_TEXELS) {
        return cache_texel(cache, row, kv_head, c);
    }
    return vec4<f32>(0.0);
}

// This lane's query against the key in `row`. (subgroupBroadcast takes constant lanes: one
// term per lane of WG = 8.)
fn key_score(row: u32, kv_head: u32, lane: u32) -> f32 {
    var s = vec4<f32>(0.0);
    for (var i = 0u; i < LANE_TEXELS; i++) {
        let k = lane_texel(k_cache, row, kv_head, lane, i);
        let c = i * WG;
        s += qv[c] * subgroupBroadcast(k, 0u) + qv[c + 1u] * subgroupBroadcast(k, 1u)
           + qv[c + 2u] * subgroupBroadcast(k, 2u) + qv[c + 3u] * subgroupBroadcast(k, 3u)
           + qv[c + 4u] * subgroupBroadcast(k, 4u) + qv[c + 5u] * subgroupBroadcast(k, 5u)
           + qv[c + 6u] * subgroupBroadcast(k, 6u) + qv[c + 7u] * subgroupBroadcast(k, 7u);
    }
    return (s.x + s.y) + (s.z + s.w);
}

// acc = acc * correction + the round's values weighted by `w`, the values' texels loaded
// once for the round (every lane its share) and acc written once per round.
fn add_values(rows: vec4<u32>, w: vec4<f32>, correction: f32, kv_head: u32, lane: u32) {
    for (var i = 0u; i < LANE_TEXELS; i++) {
        let v0 = lane_texel(v_cache, rows.x, kv_head, lane, i);
        let v1 = lane_texel(v_cache, rows.y, kv_head, lane, i);
        let v2 = lane_texel(v_cache, rows.z, kv_head, lane, i);
        let v3 = lane_texel(v_cache, rows.w, kv_head, lane, i);
        let c = i * WG;
        acc[c] = acc[c] * correction + w.x * subgroupBroadcast(v0, 0u) + w.y * subgroupBroadcast(v1, 0u) + w.z * subgroupBroadcast(v2, 0u) + w.w * subgroupBroadcast(v3, 0u);
        acc[c + 1u] = acc[c + 1u] * correction + w.x * subgroupBroadcast(v0, 1u) + w.y * subgroupBroadcast(v1, 1u) + w.z * subgroupBroadcast(v2, 1u) + w.w * subgroupBroadcast(v3, 1u);
        acc[c + 2u] = acc[c + 2u] * correction + w.x * subgroupBroadcast(v0, 2u) + w.y * subgroupBroadcast(v1, 2u) + w.z * subgroupBroadcast(v2, 2u) + w.w * subgroupBroadcast(v3, 2u);
        acc[c + 3u] = acc[c + 3u] * correction + w.x * subgroupBroadcast(v0, 3u) + w.y * subgroupBroadcast(v1, 3u) + w.z * subgroupBroadcast(v2, 3u) + w.w * subgroupBroadcast(v3, 3u);
        acc[c + 4u] = acc[c + 4u] * correction + w.x * subgroupBroadcast(v0, 4u) + w.y * subgroupBroadcast(v1, 4u) + w.z * subgroupBroadcast(v2, 4u) + w.w * subgroupBroadcast(v3, 4u);
        acc[c + 5u] = acc[c + 5u] * correction + w.x * subgroupBroadcast(v0, 5u) + w.y * subgroupBroadcast(v1, 5u) + w.z * subgroupBroadcast(v2, 5u) + w.w * subgroupBroadcast(v3, 5u);
        acc[c + 6u] = acc[c + 6u] * correction + w.x * subgroupBroadcast(v0, 6u) + w.y * subgroupBroadcast(v1, 6u) + w.z * subgroupBroadcast(v2, 6u) + w.w * subgroupBroadcast(v3, 6u);
        acc[c + 7u] = acc[c + 7u] * correction + w.x * subgroupBroadcast(v0, 7u) + w.y * subgroupBroadcast(v1, 7u) + w.z * subgroupBroadcast(v2, 7u) + w.w * subgroupBroadcast(v3, 7u);
    }
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

    // This lane's query head from the texture copy of q, rotated and pre-scaled: element d
    // pairs with d + head_dim / 2, so texel c pairs with texel c + HALF_TEXELS.
    let first_texel = (t * p.q_stride + head * p.head_dim) / 4u;
    var raw: array<vec4<f32>, HEAD_TEXELS>;
    for (var c = 0u; c < HEAD_TEXELS; c++) {
        raw[c] = bitcast<vec4<f32>>(textureLoad(q_texels, texel_at(first_texel + c)));
    }
    let angles = (p.start_pos + t) * (p.head_dim / 2u);
    for (var c = 0u; c < HALF_TEXELS; c++) {
        let a = angles + 4u * c;
        let cs = array<vec2<f32>, 4>(rope_table[a], rope_table[a + 1u], rope_table[a + 2u],
                                     rope_table[a + 3u]);
        let cosines = vec4<f32>(cs[0].x, cs[1].x, cs[2].x, cs[3].x);
        let sines = vec4<f32>(cs[0].y, cs[1].y, cs[2].y, cs[3].y);
        let x = raw[c];
        let partner = raw[c + HALF_TEXELS];
        qv[c] = (x * cosines - partner * sines) * p.scale;
        qv[c + HALF_TEXELS] = (partner * cosines + x * sines) * p.scale;
    }

    // Every lane walks the keys of the run's last query; its own are the first `visible`.
    let n_keys = p.start_pos + min(first_query + WG, p.n_tokens);
    let visible = p.start_pos + t + 1u;
    var running_max = NEG_INF;
    var running_sum = 0.0;
    for (var first_key = 0u; first_key < n_keys; first_key += ROUND) {
        let keys = vec4<u32>(first_key) + vec4<u32>(0u, 1u, 2u, 3u);
        let rows = p.first_row + min(keys, vec4<u32>(n_keys - 1u));
        let mine = keys < vec4<u32>(visible);
        let score = select(vec4<f32>(NEG_INF),
                           vec4<f32>(key_score(rows.x, kv_head, lid), key_score(rows.y, kv_head, lid),
                                     key_score(rows.z, kv_head, lid), key_score(rows.w, kv_head, lid)),
                           mine);
        let round_max = max(running_max, max(max(score.x, score.y), max(score.z, score.w)));
        let correction = exp(running_max - round_max);
        let w = select(vec4<f32>(0.0), exp(score - vec4<f32>(round_max)), mine);
        running_sum = running_sum * correction + (w.x + w.y) + (w.z + w.w);
        add_values(rows, w, correction, kv_head, lid);
        running_max = round_max;
    }

    if (first_query + lid < p.n_tokens) {
        for (var c = 0u; c < HEAD_TEXELS; c++) {
            out_head[c] = acc[c] / running_sum;
        }
        write_head(t, head);
    }
}
