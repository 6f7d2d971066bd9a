// Prefill on CPU-type adapters, every weight format, with the roles of the lanes turned
// round (appended by src/kernels/matmul.rs, with the texture reader of x): lane l of a
// workgroup of WG = 8 (one subgroup) takes token 8 * workgroup_id.y + l, and every lane
// computes the same TOKEN_LANES_ROWS (16) rows.
//
// Why: on a CPU-type adapter the 8 lanes are one SIMD vector, and what all lanes share is
// computed once. The row-per-lane `prefill` unpacks a unit of weights once for 4 tokens but
// pays for each token's x 8 times over (a gather, its rearrangement and a broadcast of every
// value, for 8 rows). Here each lane gathers its own token's x once for 16 rows, and each
// row's unit is loaded and unpacked once for 8 tokens: lane l loads the unit of row l of a
// run of 8 (neighbours in memory, formats.wgsl), as far as the format's unit_words goes
// (f16 unpacks its halves there, before they are handed round), and subgroupBroadcast
// hands it round. subgroupBroadcast takes a constant lane, hence the rows written out.

fn lane_dot(u0: vec4<u32>, u1: vec4<u32>, scale: u32, x: XBlock) -> f32 {
    return token_dot(block_of(array<vec4<u32>, 2>(u0, u1), scale), x);
}

// This lane's x against the units of 8 rows, lane l holding row l's unit words u and scale
// word. (Where a format's second word vector repeats the first, its broadcasts go unused
// and the compiler drops them.)
fn eight_rows(u: array<vec4<u32>, 2>, scale: u32, x: XBlock) -> array<vec4<f32>, 2> {
    let u0 = u[0];
    let u1 = u[1];
    let s = scale;
    return array<vec4<f32>, 2>(
        vec4<f32>(lane_dot(subgroupBroadcast(u0, 0u), subgroupBroadcast(u1, 0u), subgroupBroadcast(s, 0u), x),
                  lane_dot(subgroupBroadcast(u0, 1u), subgroupBroadcast(u1, 1u), subgroupBroadcast(s, 1u), x),
                  lane_dot(subgroupBroadcast(u0, 2u), subgroupBroadcast(u1, 2u), subgroupBroadcast(s, 2u), x),
                  lane_dot(subgroupBroadcast(u0, 3u), subgroupBroadcast(u1, 3u), subgroupBroadcast(s, 3u), x)),
        vec4<f32>(lane_dot(subgroupBroadcast(u0, 4u), subgroupBroadcast(u1, 4u), subgroupBroadcast(s, 4u), x),
                  lane_dot(subgroupBroadcast(u0, 5u), subgroupBroadcast(u1, 5u), subgroupBroadcast(s, 5u), x),
                  lane_dot(subgroupBroadcast(u0, 6u), subgroupBroadcast(u1, 6u), subgroupBroadcast(s, 6u), x),
                  lane_dot(subgroupBroadcast(u0, 7u), subgroupBroadcast(u1, 7u), subgroupBroadcast(s, 7u), x)));
}

@compute @workgroup_size(WG)
fn prefill_token_lanes(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(subgroup_invocation_id) lane: u32) {
    let token = wid.y * WG + lane;
    let t = min(token, p.tokens - 1u);
    let first = wid.x * TOKEN_LANES_ROWS;
    // Lane l loads rows first + l and first + 8 + l; rows past the end repeat the last one,
    // tokens past the end the last token (neither is stored).
    let row_a = min(first + lane, p.rows - 1u);
    let row_b = min(first + 8u + lane, p.rows - 1u);
    var acc: array<vec4<f32>, 4>;  // row first + r in acc[r / 4][r % 4]
    for (var g = 0u; g * 4u < p.per_row; g++) {
        let scales_a = row_scales(row_a, g);
        let scales_b = row_scales(row_b, g);
        for (var j = 0u; j < min(4u, p.per_row - 4u * g); j++) {
            let b = 4u * g + j;
            let x = x_block(t, b);
            let a = eight_rows(unit_words(row_a, b), scales_a[j], x);
            let c = eight_rows(unit_words(row_b, b), scales_b[j], x);
            acc[0] += a[0];
            acc[1] += a[1];
            acc[2] += c[0];
            acc[3] += c[1];
        }
    }
    for (var r = 0u; r < TOKEN_LANES_ROWS; r++) {
        store(first + r, token, acc[r / 4u][r % 4u]);
    }
}
