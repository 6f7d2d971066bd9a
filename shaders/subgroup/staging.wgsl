// The subgroup stage writer for producers that define `fn value(t: u32, k: u32) -> f32`
// (see ../staging.wgsl): appended to stage_block.wgsl. The producer calls stage(t, b, lane)
// from a run of 8 lanes (local index % 8 = lane) together for each block b < STAGE_ITEMS
// of row t.

// Block b of row t, zero past the end of the row.
fn stage(t: u32, b: u32, lane: u32) {
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let k = b * 32u + 4u * lane + j;
        if (k < STAGE_K) {
            v[j] = value(t, k);
        }
    }
    stage_values(t, b, lane, v);
}
