// Writing the x of y = W x in the staged layout, a block of 32 values at a time by the 8
// lanes of a subgroup: the core of the subgroup twin of ../staging.wgsl (staging.wgsl in
// this folder adds the rest), also used alone by the subgroup attention to stage its output. Lane l holds
// values 4l..4l+3 of the block (neighbouring lanes on neighbouring memory, each value
// computed once), and subgroup reductions find the block's outlier, scale and sum. The
// portable writer walks a block twice in one invocation, one per-lane gather per value.
// Same layout and same arithmetic, so both writers give the same words.
//
// Callers run on adapters whose subgroups hold at least 8 invocations, in workgroups of a
// multiple of 8, and call stage_values(t, b, lane, v) from 8 neighbouring lanes (lane =
// local index % 8) together for each block b < STAGE_ITEMS of row t (an item is a block of
// 32 values in both layouts). The reductions run over those 8 lanes alone: where the
// subgroup is exactly those 8 lanes (STAGE_BLOCK_IS_SUBGROUP: workgroups of 8, and the
// attention's subgroups of 8) by subgroup operations, which CPU-type adapters run faster,
// else by a butterfly of subgroupShuffleXor, so that one subgroup of a GPU stages several
// blocks at once. The owner defines STAGE_BLOCKS (blocks of 32 per row) and
// STAGE_BLOCK_IS_SUBGROUP besides the constants listed in ../staging.wgsl.

const STAGE_LANES: u32 = 8u;
const STAGE_ITEMS: u32 = STAGE_BLOCKS;

@group(0) @binding(9) var<storage, read_write> staged: array<u32>;

// Reductions over the 8 lanes of one block (lanes 8i..8i+7 of a subgroup). The block's
// integers (outlier index, sum of int8 values) go through them as f32, which holds them
// exactly; a minimum is the negated maximum of the negated values.
fn lanes8_max(v: f32) -> f32 {
    if (STAGE_BLOCK_IS_SUBGROUP) {
        return subgroupMax(v);
    }
    var r = max(v, subgroupShuffleXor(v, 4u));
    r = max(r, subgroupShuffleXor(r, 2u));
    return max(r, subgroupShuffleXor(r, 1u));
}

fn lanes8_add(v: f32) -> f32 {
    if (STAGE_BLOCK_IS_SUBGROUP) {
        return subgroupAdd(v);
    }
    var r = v + subgroupShuffleXor(v, 4u);
    r += subgroupShuffleXor(r, 2u);
    return r + subgroupShuffleXor(r, 1u);
}

fn stage_q8_block(t: u32, b: u32, lane: u32, v: vec4<f32>) {
    let a = abs(v);
    let top_abs = lanes8_max(max(max(a.x, a.y), max(a.z, a.w)));
    // The outlier is the first value of largest magnitude, as in the portable writer.
    let index = vec4<u32>(4u * lane) + vec4<u32>(0u, 1u, 2u, 3u);
    let candidates = select(vec4<u32>(32u), index, a == vec4<f32>(top_abs));
    let first = min(min(candidates.x, candidates.y), min(candidates.z, candidates.w));
    let top = u32(-lanes8_max(-f32(first)));
    let is_top = index == vec4<u32>(top);
    let rest = select(a, vec4<f32>(0.0), is_top);
    let amax = lanes8_max(max(max(rest.x, rest.y), max(rest.z, rest.w)));
    // Exactly one lane holds the outlier; the others add zeros (an exact sum).
    let mine = select(vec4<f32>(0.0), v, is_top);
    let top_value = lanes8_add(mine.x + mine.y + mine.z + mine.w);

    let s = amax / 127.0;
    let inv = select(0.0, 1.0 / s, s > 0.0);
    let q = select(vec4<i32>(round(v * inv)), vec4<i32>(0), is_top);
    let bytes = vec4<u32>(q) & vec4<u32>(0xFFu);
    let row = t * STAGE_ROW_WORDS;
    staged[row + b * 8u + lane] = bytes.x | (bytes.y << 8u) | (bytes.z << 16u) | (bytes.w << 24u);
    let sum = i32(lanes8_add(f32(q.x + q.y + q.z + q.w)));
    if (lane == 0u) {
        let at = row + STAGE_SCALES + 4u * b;
        staged[at] = bitcast<u32>(s);
        staged[at + 1u] = bitcast<u32>(s * f32(sum));
        staged[at + 2u] = bitcast<u32>(top_value);
        staged[at + 3u] = bitcast<u32>(f32(top));
    }
}

// Block b of row t from the values v each lane holds: int8 with scales, or (f32 layout)
// the 8 vec4s it covers, up to the end of the row.
fn stage_values(t: u32, b: u32, lane: u32, v: vec4<f32>) {
    if (STAGE_Q8) {
        stage_q8_block(t, b, lane, v);
    } else if (8u * b + lane < STAGE_UNITS) {
        let at = t * STAGE_ROW_WORDS + 4u * (8u * b + lane);
        for (var j = 0u; j < 4u; j++) {
            staged[at + j] = bitcast<u32>(v[j]);
        }
    }
}
