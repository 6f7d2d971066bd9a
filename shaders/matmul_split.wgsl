// The decode (one-token) product for GPUs: appended to matmul_common.wgsl by
// src/kernels/matmul.rs for a split DecodeVariant, which defines LANES and reads x with
// staged_x.wgsl over a storage binding (the lanes of a row read different units of x).
//
// LANES neighbouring invocations of one subgroup per row (a power of two up to the
// subgroup size): lane j takes units j, j + LANES, ... and a butterfly of
// subgroupShuffleXor sums the row. On a GPU, `decode`'s one invocation walking a whole row
// waits on each load in turn and leaves most of the chip idle; this spreads a row's loads
// over LANES invocations.
@compute @workgroup_size(WG)
fn decode_split(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    x_setup();
    let lane = lid % LANES;
    let first = (wid.x + wid.y * nwg.x) * (WG / LANES) + lid / LANES;
    let row = min(first, p.rows - 1u);
    var acc = 0.0;
    // Every lane runs the same number of rounds, so all of them reach the shuffles together.
    for (var first_unit = 0u; first_unit < p.per_row; first_unit += LANES) {
        let b = first_unit + lane;
        if (b < p.per_row) {
            acc += token_dot(load_block(row, b, row_scales(row, b / 4u)[b % 4u]), x_block(0u, b));
        }
    }
    for (var mask = LANES / 2u; mask > 0u; mask /= 2u) {
        acc += subgroupShuffleXor(acc, mask);
    }
    if (lane == 0u) {
        store(first, 0u, acc);
    }
}
