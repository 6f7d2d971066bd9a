// Prefill on CPU-type adapters, every weight format, with the roles of the lanes turned
// round (appended by src/kernels/matmul.rs, with the texture reader of x): lane l of a
// workgroup of WG = 8 (one subgroup) takes tokens 16 * workgroup_id.y + l and that + 8, and
// every lane computes the same TOKEN_LANES_ROWS (8) rows for both.
//
// Why: on a CPU-type adapter the 8 lanes are one SIMD vector, and what all lanes share is
// computed once. The row-per-lane `prefill` unpacks a unit of weights once for 4 tokens but
// pays for each token's x 8 times over (a gather, its rearrangement and a broadcast of every
// value, for 8 rows). Here each lane gathers its own tokens' x once for 8 rows, and each
// row's unit is loaded and unpacked once for 16 tokens: lane l loads the unit of row l of a
// run of 8 (neighbours in memory, formats.wgsl), as far as the format's unit_words goes
// (f16 unpacks its halves there, before they are handed round); subgroupBroadcast hands it
// round, and block_of's work on it (the 4-bit formats split their nibbles) serves both
// tokens. Two tokens a lane (TOKENS_PER_LANE) cost 11-20% less, by format, than one with 16
// rows (the same accumulators); three or four spill theirs. subgroupBroadcast takes a
// constant lane, hence the rows written out.

const_assert TOKEN_LANES_ROWS == 8u && TOKENS_PER_LANE == 2u;

// A row's unit (as handed round from the lane that loaded it) against this lane's two
// tokens' x.
fn two_tokens(u0: vec4<u32>, u1: vec4<u32>, scale: u32, x0: XBlock, x1: XBlock) -> vec2<f32> {
    let w = block_of(array<vec4<u32>, 2>(u0, u1), scale);
    return vec2<f32>(token_dot(w, x0), token_dot(w, x1));
}

// Rows first..first + 7, lane k holding row first + k's unit words u and scale word, against
// this lane's two tokens: [token 0 rows 0..3, rows 4..7, token 1 rows 0..3, rows 4..7]. (Where a
// format's second word vector repeats the first, its broadcasts go unused and are dropped.)
fn eight_rows(u: array<vec4<u32>, 2>, scale: u32, x0: XBlock, x1: XBlock) -> array<vec4<f32>, 4> {
    let u0 = u[0];
    let u1 = u[1];
    let s = scale;
    let r0 = two_tokens(subgroupBroadcast(u0, 0u), subgroupBroadcast(u1, 0u), subgroupBroadcast(s, 0u), x0, x1);
    let r1 = two_tokens(subgroupBroadcast(u0, 1u), subgroupBroadcast(u1, 1u), subgroupBroadcast(s, 1u), x0, x1);
    let r2 = two_tokens(subgroupBroadcast(u0, 2u), subgroupBroadcast(u1, 2u), subgroupBroadcast(s, 2u), x0, x1);
    let r3 = two_tokens(subgroupBroadcast(u0, 3u), subgroupBroadcast(u1, 3u), subgroupBroadcast(s, 3u), x0, x1);
    let r4 = two_tokens(subgroupBroadcast(u0, 4u), subgroupBroadcast(u1, 4u), subgroupBroadcast(s, 4u), x0, x1);
    let r5 = two_tokens(subgroupBroadcast(u0, 5u), subgroupBroadcast(u1, 5u), subgroupBroadcast(s, 5u), x0, x1);
    let r6 = two_tokens(subgroupBroadcast(u0, 6u), subgroupBroadcast(u1, 6u), subgroupBroadcast(s, 6u), x0, x1);
    let r7 = two_tokens(subgroupBroadcast(u0, 7u), subgroupBroadcast(u1, 7u), subgroupBroadcast(s, 7u), x0, x1);
    return array<vec4<f32>, 4>(vec4<f32>(r0.x, r1.x, r2.x, r3.x), vec4<f32>(r4.x, r5.x, r6.x, r7.x),
                               vec4<f32>(r0.y, r1.y, r2.y, r3.y), vec4<f32>(r4.y, r5.y, r6.y, r7.y));
}

@compute @workgroup_size(WG)
fn prefill_token_lanes(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(subgroup_invocation_id) lane: u32) {
    let token0 = wid.y * TOKENS_PER_LANE * WG + lane;
    let token1 = token0 + WG;
    let first = wid.x * TOKEN_LANES_ROWS;
    // Lane l loads row first + l; rows past the end repeat the last one, tokens past the end
    // the last token (neither is stored).
    let row = min(first + lane, p.rows - 1u);
    let t0 = min(token0, p.tokens - 1u);
    let t1 = min(token1, p.tokens - 1u);
    var acc: array<vec4<f32>, 4>;  // as eight_rows returns them
    for (var g = 0u; g * 4u < p.per_row; g++) {
        let scales = row_scales(row, g);
        for (var j = 0u; j < min(4u, p.per_row - 4u * g); j++) {
            let b = 4u * g + j;
            let a = eight_rows(unit_words(row, b), scales[j], x_block(t0, b), x_block(t1, b));
            acc[0] += a[0];
            acc[1] += a[1];
            acc[2] += a[2];
            acc[3] += a[3];
        }
    }
    for (var r = 0u; r < TOKEN_LANES_ROWS; r++) {
        store(first + r, token0, acc[r / 4u][r % 4u]);
        store(first + r, token1, acc[2u + r / 4u][r % 4u]);
    }
}
