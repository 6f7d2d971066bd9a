// Causal GQA attention for prefill on CPU-type adapters: one query per lane. Same bindings
// and results as attention.wgsl; needs subgroups of at least WG = 8 invocations.
//
// The per-key kernels (attention.wgsl, subgroup/attention.wgsl) spread one query's head
// over the lanes, so every score needs a reduction across lanes and every key an online-
// softmax update that only one lane's worth of work justifies. Here lane l of a workgroup
// takes query l of a run of WG consecutive queries, for HEADS query heads of one KV group
// (each key and value texel is loaded and handed round once for all of them): a score is a
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
// TEXTURE_WIDTH, HEAD_TEXELS, WG (8) and HEADS, and one of those writers.

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
// key_scores and add_values write out at most 4 texels a lane (head_dim <= 128).
const_assert LANE_TEXELS <= 4u;

// The head being written, normalized (read by write_head).
var<private> out_head: array<vec4<f32>, HEAD_TEXELS>;
// This lane's query in each of the workgroup's HEADS (1 to 4) heads of one KV group
// (rotated, pre-scaled, zero-padded) and their running sums of values. Heads are indexed by
// constants only (code for heads past HEADS is compiled out on lavapipe): a loop over the
// heads made every access an indexed one, 3-4x slower there. Sized for 4 heads whatever
// HEADS is (4 KiB a lane at head_dim 128): this kernel serves CPU-type adapters only.
var<private> qv: array<array<vec4<f32>, PADDED_TEXELS>, 4>;
var<private> acc: array<array<vec4<f32>, PADDED_TEXELS>, 4>;

// Texel lane + i * WG of the head in `row`, zero past the head: the lane's share of a
// key's (or value's) texels, which subgroupBroadcast hands round.
fn lane_texel(cache: texture_storage_2d<rgba32uint, read>, row: u32, kv_head: u32, lane: u32, i: u32) -> vec4<f32> {
    let c = lane + i * WG;
    if (c < HEAD_TEXELS) {
        return cache_texel(cache, row, kv_head, c);
    }
    return vec4<f32>(0.0);
}

// Head h's query texels c..c + 7 against the 8 key texels k.
fn head_dot(h: u32, c: u32, k: array<vec4<f32>, 8>) -> vec4<f32> {
    return qv[h][c] * k[0] + qv[h][c + 1u] * k[1] + qv[h][c + 2u] * k[2] + qv[h][c + 3u] * k[3]
         + qv[h][c + 4u] * k[4] + qv[h][c + 5u] * k[5] + qv[h][c + 6u] * k[6] + qv[h][c + 7u] * k[7];
}

fn sum4(v: vec4<f32>) -> f32 {
    return (v.x + v.y) + (v.z + v.w);
}

// This lane's queries against the key in `row`, one score per head of the group (component
// h), the key's texels loaded and handed round once for all of them. (subgroupBroadcast
// takes constant lanes: one term per lane of WG = 8.)
fn key_scores(row: u32, kv_head: u32, lane: u32) -> vec4<f32> {
    var partial = array<vec4<f32>, 4>();
    // The lane's texels written out (LANE_TEXELS of at most 4): a loop would leave the
    // indices into qv dynamic once its body grows with HEADS, and lavapipe then reads qv
    // through scratch memory (3-4x slower).
    if (LANE_TEXELS > 0u) { add_key_texel(&partial, 0u, row, kv_head, lane); }
    if (LANE_TEXELS > 1u) { add_key_texel(&partial, 1u, row, kv_head, lane); }
    if (LANE_TEXELS > 2u) { add_key_texel(&partial, 2u, row, kv_head, lane); }
    if (LANE_TEXELS > 3u) { add_key_texel(&partial, 3u, row, kv_head, lane); }
    return vec4<f32>(sum4(partial[0]), sum4(partial[1]), sum4(partial[2]), sum4(partial[3]));
}

// Texel lane + i * WG of the key in `row`, handed round: every head's partial score.
fn add_key_texel(partial: ptr<function, array<vec4<f32>, 4>>, i: u32, row: u32, kv_head: u32, lane: u32) {
    let t = lane_texel(k_cache, row, kv_head, lane, i);
    let k = array<vec4<f32>, 8>(subgroupBroadcast(t, 0u), subgroupBroadcast(t, 1u),
                                subgroupBroadcast(t, 2u), subgroupBroadcast(t, 3u),
                                subgroupBroadcast(t, 4u), subgroupBroadcast(t, 5u),
                                subgroupBroadcast(t, 6u), subgroupBroadcast(t, 7u));
    let c = i * WG;
    (*partial)[0] += head_dot(0u, c, k);
    if (HEADS > 1u) { (*partial)[1] += head_dot(1u, c, k); }
    if (HEADS > 2u) { (*partial)[2] += head_dot(2u, c, k); }
    if (HEADS > 3u) { (*partial)[3] += head_dot(3u, c, k); }
}

// acc = acc * correction + the round's values weighted by `w` (w[h]: head h's weights of the
// round's four keys), the values' texels loaded and handed round once for the round and
// the group, and acc written once per round.
fn add_values(rows: vec4<u32>, w: array<vec4<f32>, 4>, correction: vec4<f32>, kv_head: u32, lane: u32) {
    // Written out, as in key_scores.
    if (LANE_TEXELS > 0u) { add_value_texels(rows, 0u, w, correction, kv_head, lane); }
    if (LANE_TEXELS > 1u) { add_value_texels(rows, 1u, w, correction, kv_head, lane); }
    if (LANE_TEXELS > 2u) { add_value_texels(rows, 2u, w, correction, kv_head, lane); }
    if (LANE_TEXELS > 3u) { add_value_texels(rows, 3u, w, correction, kv_head, lane); }
}

// Texel lane + i * WG of the round's four values, handed round into every head's acc.
fn add_value_texels(rows: vec4<u32>, i: u32, w: array<vec4<f32>, 4>, correction: vec4<f32>, kv_head: u32, lane: u32) {
    let v0 = lane_texel(v_cache, rows.x, kv_head, lane, i);
    let v1 = lane_texel(v_cache, rows.y, kv_head, lane, i);
    let v2 = lane_texel(v_cache, rows.z, kv_head, lane, i);
    let v3 = lane_texel(v_cache, rows.w, kv_head, lane, i);
    let c = i * WG;
    add_value_texel(c + 0u, array(subgroupBroadcast(v0, 0u), subgroupBroadcast(v1, 0u), subgroupBroadcast(v2, 0u), subgroupBroadcast(v3, 0u)), w, correction);
    add_value_texel(c + 1u, array(subgroupBroadcast(v0, 1u), subgroupBroadcast(v1, 1u), subgroupBroadcast(v2, 1u), subgroupBroadcast(v3, 1u)), w, correction);
    add_value_texel(c + 2u, array(subgroupBroadcast(v0, 2u), subgroupBroadcast(v1, 2u), subgroupBroadcast(v2, 2u), subgroupBroadcast(v3, 2u)), w, correction);
    add_value_texel(c + 3u, array(subgroupBroadcast(v0, 3u), subgroupBroadcast(v1, 3u), subgroupBroadcast(v2, 3u), subgroupBroadcast(v3, 3u)), w, correction);
    add_value_texel(c + 4u, array(subgroupBroadcast(v0, 4u), subgroupBroadcast(v1, 4u), subgroupBroadcast(v2, 4u), subgroupBroadcast(v3, 4u)), w, correction);
    add_value_texel(c + 5u, array(subgroupBroadcast(v0, 5u), subgroupBroadcast(v1, 5u), subgroupBroadcast(v2, 5u), subgroupBroadcast(v3, 5u)), w, correction);
    add_value_texel(c + 6u, array(subgroupBroadcast(v0, 6u), subgroupBroadcast(v1, 6u), subgroupBroadcast(v2, 6u), subgroupBroadcast(v3, 6u)), w, correction);
    add_value_texel(c + 7u, array(subgroupBroadcast(v0, 7u), subgroupBroadcast(v1, 7u), subgroupBroadcast(v2, 7u), subgroupBroadcast(v3, 7u)), w, correction);
}

// acc[h][c] = acc[h][c] * correction + the round's four values v of texel c weighted by w.
fn add_head(h: u32, c: u32, v: array<vec4<f32>, 4>, w: vec4<f32>, correction: f32) {
    acc[h][c] = acc[h][c] * correction + w.x * v[0] + w.y * v[1] + w.z * v[2] + w.w * v[3];
}

// Texel c of every head's acc: rescaled and the round's four values v added, head h with
// weights w[h] (its four keys) and correction[h].
fn add_value_texel(c: u32, v: array<vec4<f32>, 4>, w: array<vec4<f32>, 4>, correction: vec4<f32>) {
    add_head(0u, c, v, w[0], correction.x);
    if (HEADS > 1u) { add_head(1u, c, v, w[1], correction.y); }
    if (HEADS > 2u) { add_head(2u, c, v, w[2], correction.z); }
    if (HEADS > 3u) { add_head(3u, c, v, w[3], correction.w); }
}

// Head h's query of token t from the texture copy of q, rotated and pre-scaled: element d
// pairs with d + head_dim / 2, so texel c pairs with texel c + HALF_TEXELS.
fn load_query(h: u32, t: u32, head: u32) {
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
        qv[h][c] = (x * cosines - partner * sines) * p.scale;
        qv[h][c + HALF_TEXELS] = (partner * cosines + x * sines) * p.scale;
    }
}

// Head h's output, normalized by its running sum.
fn write_query(h: u32, t: u32, head: u32, running_sum: f32) {
    for (var c = 0u; c < HEAD_TEXELS; c++) {
        out_head[c] = acc[h][c] / running_sum;
    }
    write_head(t, head);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let item = wid.x + wid.y * nwg.x;
    let head_groups = p.n_heads / HEADS;
    let first_query = (item / head_groups) * WG;
    if (first_query >= p.n_tokens) {
        return;
    }
    let head = (item % head_groups) * HEADS;
    let kv_head = head / (p.n_heads / p.n_kv_heads);
    // Lanes past the last query repeat it and write nothing.
    let t = min(first_query + lid, p.n_tokens - 1u);
    load_query(0u, t, head);
    if (HEADS > 1u) { load_query(1u, t, head + 1u); }
    if (HEADS > 2u) { load_query(2u, t, head + 2u); }
    if (HEADS > 3u) { load_query(3u, t, head + 3u); }

    // Every lane walks the keys of the run's last query; its own are the first `visible`.
    // Scores, maxima and sums hold one head per component (those past HEADS stay finite
    // and unused).
    let n_keys = p.start_pos + min(first_query + WG, p.n_tokens);
    let visible = p.start_pos + t + 1u;
    var running_max = vec4<f32>(NEG_INF);
    var running_sum = vec4<f32>(0.0);
    for (var first_key = 0u; first_key < n_keys; first_key += ROUND) {
        let keys = vec4<u32>(first_key) + vec4<u32>(0u, 1u, 2u, 3u);
        let rows = p.first_row + min(keys, vec4<u32>(n_keys - 1u));
        let mine = keys < vec4<u32>(visible);
        // Key j's scores, one head per component.
        let s0 = select(vec4<f32>(NEG_INF), key_scores(rows.x, kv_head, lid), mine.x);
        let s1 = select(vec4<f32>(NEG_INF), key_scores(rows.y, kv_head, lid), mine.y);
        let s2 = select(vec4<f32>(NEG_INF), key_scores(rows.z, kv_head, lid), mine.z);
        let s3 = select(vec4<f32>(NEG_INF), key_scores(rows.w, kv_head, lid), mine.w);
        let round_max = max(running_max, max(max(s0, s1), max(s2, s3)));
        let correction = exp(running_max - round_max);
        let w0 = select(vec4<f32>(0.0), exp(s0 - round_max), mine.x);
        let w1 = select(vec4<f32>(0.0), exp(s1 - round_max), mine.y);
        let w2 = select(vec4<f32>(0.0), exp(s2 - round_max), mine.z);
        let w3 = select(vec4<f32>(0.0), exp(s3 - round_max), mine.w);
        running_sum = running_sum * correction + (w0 + w1) + (w2 + w3);
        // Per head: its weights of the round's four keys.
        let w = array<vec4<f32>, 4>(vec4<f32>(w0.x, w1.x, w2.x, w3.x), vec4<f32>(w0.y, w1.y, w2.y, w3.y),
                                    vec4<f32>(w0.z, w1.z, w2.z, w3.z), vec4<f32>(w0.w, w1.w, w2.w, w3.w));
        add_values(rows, w, correction, kv_head, lid);
        running_max = round_max;
    }

    if (first_query + lid < p.n_tokens) {
        write_query(0u, t, head, running_sum.x);
        if (HEADS > 1u) { write_query(1u, t, head + 1u, running_sum.y); }
        if (HEADS > 2u) { write_query(2u, t, head + 2u, running_sum.z); }
        if (HEADS > 3u) { write_query(3u, t, head + 3u, running_sum.w); }
    }
}
