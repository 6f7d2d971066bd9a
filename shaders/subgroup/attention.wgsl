// Causal GQA attention over the KV cache: the subgroup twin of ../attention.wgsl, for
// adapters with a fixed subgroup size (WG = that size). Same bindings and results.
//
// One workgroup per (query, HEADS query heads of one KV group): the heads sharing a KV
// head go together, so each key's and value's texels are loaded once for all of them
// (texture loads are most of the cost on CPU-type adapters). The workgroup is KEY_SPLIT
// subgroups of WG lanes; subgroup s visits keys s, s + KEY_SPLIT, ... one at a time, and
// lane i holds head texels i, i + WG, ... of each query head and of each output. Per key,
// each lane dots its texels, subgroupAdd gives the score, and an online softmax (running
// maximum and sum) folds the key's value in. With KEY_SPLIT = 1 (CPU-type adapters) that
// is all: no workgroup memory, no barriers. On a GPU one subgroup walking every key alone
// leaves the chip idle and waits on each load in turn, so KEY_SPLIT subgroups share the
// keys and their partial softmaxes are merged through workgroup memory at the end (the
// subgroups are taken to be consecutive runs of WG invocations, as on every driver seen).
// Queries are rotated as they are loaded (rope.wgsl).
// The output goes through `fn write_texel(t, head, i, lane, result)`, called by every lane
// for every texel i < TEXELS_PER_INVOCATION of every head: attention_rows.wgsl writes f32
// rows, attention_staged.wgsl the staged input of the output projection.
// The Rust owner (src/kernels/attention.rs) prepends rope.wgsl, attention_inputs.wgsl,
// TEXTURE_WIDTH,
// HEAD_TEXELS, WG, HEADS (a divisor of n_heads / n_kv_heads),
// TEXELS_PER_INVOCATION = ceil(HEAD_TEXELS / WG), KEY_SPLIT and one of those writers.

// Each subgroup's running maximum, sum and output texels, for the merge (KEY_SPLIT > 1).
var<workgroup> part_max: array<f32, KEY_SPLIT * HEADS>;
var<workgroup> part_sum: array<f32, KEY_SPLIT * HEADS>;
var<workgroup> part_acc: array<vec4<f32>, KEY_SPLIT * HEADS * TEXELS_PER_INVOCATION * WG>;

@compute @workgroup_size(WG * KEY_SPLIT)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) index: u32) {
    let lid = index % WG;     // lane in its subgroup
    let part = index / WG;    // the subgroup, and so its share of the keys
    let item = wid.x + wid.y * nwg.x;
    let items_per_token = p.n_heads / HEADS;
    if (item >= p.n_tokens * items_per_token) {
        return;
    }
    let t = item / items_per_token;
    let first_head = (item % items_per_token) * HEADS;
    let kv_head = first_head / (p.n_heads / p.n_kv_heads);

    // This invocation's texels of each query head, rotated (rope.wgsl), pre-scaled and
    // zero-padded.
    var qv: array<array<vec4<f32>, TEXELS_PER_INVOCATION>, HEADS>;
    for (var h = 0u; h < HEADS; h++) {
        let base = t * p.q_stride + (first_head + h) * p.head_dim;
        for (var i = 0u; i < TEXELS_PER_INVOCATION; i++) {
            let c = lid + i * WG;
            for (var j = 0u; j < 4u; j++) {
                let d = 4u * c + j;
                if (c < HEAD_TEXELS && d < p.head_dim) {
                    let partner = q[base + rope_partner(d, p.head_dim)];
                    qv[h][i][j] = rope(q[base + d], partner, d, p.head_dim, p.start_pos + t) * p.scale;
                }
            }
        }
    }

    let n_keys = p.start_pos + t + 1u;
    var running_max: array<f32, HEADS>;
    var running_sum: array<f32, HEADS>;
    var acc: array<array<vec4<f32>, TEXELS_PER_INVOCATION>, HEADS>;
    for (var h = 0u; h < HEADS; h++) {
        running_max[h] = NEG_INF;
    }
    for (var key = part; key < n_keys; key += KEY_SPLIT) {
        let row = p.first_row + key;
        var k: array<vec4<f32>, TEXELS_PER_INVOCATION>;
        var v: array<vec4<f32>, TEXELS_PER_INVOCATION>;
        for (var i = 0u; i < TEXELS_PER_INVOCATION; i++) {
            let c = lid + i * WG;
            if (c < HEAD_TEXELS) {
                k[i] = cache_texel(k_cache, row, kv_head, c);
                v[i] = cache_texel(v_cache, row, kv_head, c);
            }
        }
        for (var h = 0u; h < HEADS; h++) {
            var partial = 0.0;
            for (var i = 0u; i < TEXELS_PER_INVOCATION; i++) {
                partial += dot(qv[h][i], k[i]);
            }
            let score = subgroupAdd(partial);
            let new_max = max(running_max[h], score);
            let correction = exp(running_max[h] - new_max);
            let weight = exp(score - new_max);
            running_sum[h] = running_sum[h] * correction + weight;
            for (var i = 0u; i < TEXELS_PER_INVOCATION; i++) {
                acc[h][i] = acc[h][i] * correction + weight * v[i];
            }
            running_max[h] = new_max;
        }
    }

    if (KEY_SPLIT > 1u) {
        // Merge into subgroup 0: rescale every subgroup's partial sums to the largest
        // running maximum. A subgroup that saw no key (NEG_INF, sum 0) adds nothing.
        for (var h = 0u; h < HEADS; h++) {
            let slot = part * HEADS + h;
            part_max[slot] = running_max[h];
            part_sum[slot] = running_sum[h];
            for (var i = 0u; i < TEXELS_PER_INVOCATION; i++) {
                part_acc[(slot * TEXELS_PER_INVOCATION + i) * WG + lid] = acc[h][i];
            }
        }
        workgroupBarrier();
        if (part == 0u) {
            for (var h = 0u; h < HEADS; h++) {
                var top = NEG_INF;
                for (var other = 0u; other < KEY_SPLIT; other++) {
                    top = max(top, part_max[other * HEADS + h]);
                }
                running_sum[h] = 0.0;
                for (var i = 0u; i < TEXELS_PER_INVOCATION; i++) {
                    acc[h][i] = vec4<f32>(0.0);
                }
                for (var other = 0u; other < KEY_SPLIT; other++) {
                    let slot = other * HEADS + h;
                    let factor = exp(part_max[slot] - top);
                    running_sum[h] += part_sum[slot] * factor;
                    for (var i = 0u; i < TEXELS_PER_INVOCATION; i++) {
                        acc[h][i] += part_acc[(slot * TEXELS_PER_INVOCATION + i) * WG + lid] * factor;
                    }
                }
            }
        }
    }
    if (part == 0u) {
        for (var h = 0u; h < HEADS; h++) {
            for (var i = 0u; i < TEXELS_PER_INVOCATION; i++) {
                write_texel(t, first_head + h, i, lid, acc[h][i] / running_sum[h]);
            }
        }
    }
}
