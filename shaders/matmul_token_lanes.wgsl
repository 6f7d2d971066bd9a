// Prefill for the 4-bit formats (matmul_q4_0.wgsl, matmul_q4_1.wgsl) on CPU-type adapters,
// with the roles of the lanes turned round (appended by src/kernels/matmul.rs, with the
// portable reader of x): lane l of a workgroup of WG = 8 (one subgroup) takes token
// 8 * workgroup_id.y + l, and every lane computes the same TOKEN_LANES_ROWS (16) rows.
//
// Why: on a CPU-type adapter the 8 lanes are one SIMD vector, and what all lanes share is
// computed once. The row-per-lane `prefill` unpacks a block of weights once for 4 tokens but
// pays for each token's x 8 times over (a gather, its rearrangement and 20 broadcasts per
// block, for 8 rows). Here each lane gathers and rearranges its own token's block once for
// 16 rows, and each row's block is loaded and unpacked once for 8 tokens: lane l loads the
// texel of row l of a run of 8 (neighbours in memory, formats.wgsl) and subgroupBroadcast
// hands it round. subgroupBroadcast takes a constant lane, hence the rows written out.

fn lane_dot(q: vec4<u32>, scale: u32, x: XBlock) -> f32 {
    return token_dot(block_of(q, scale), x);
}

// This lane's x against the blocks of 8 rows, lane l holding row l's texel q and scale word.
fn eight_rows(q: vec4<u32>, scale: u32, x: XBlock) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        vec4<f32>(lane_dot(subgroupBroadcast(q, 0u), subgroupBroadcast(scale, 0u), x),
                  lane_dot(subgroupBroadcast(q, 1u), subgroupBroadcast(scale, 1u), x),
                  lane_dot(subgroupBroadcast(q, 2u), subgroupBroadcast(scale, 2u), x),
                  lane_dot(subgroupBroadcast(q, 3u), subgroupBroadcast(scale, 3u), x)),
        vec4<f32>(lane_dot(subgroupBroadcast(q, 4u), subgroupBroadcast(scale, 4u), x),
                  lane_dot(subgroupBroadcast(q, 5u), subgroupBroadcast(scale, 5u), x),
                  lane_dot(subgroupBroadcast(q, 6u), subgroupBroadcast(scale, 6u), x),
                  lane_dot(subgroupBroadcast(q, 7u), subgroupBroadcast(scale, 7u), x)));
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
            let a = eight_rows(textureLoad(weights, row_texel(row_a, p.per_row, b)), scales_a[j], x);
            let c = eight_rows(textureLoad(weights, row_texel(row_b, p.per_row, b)), scales_b[j], x);
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
