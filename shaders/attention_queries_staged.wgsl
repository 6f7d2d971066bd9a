// The per-query attention's output written straight into the staged input of the output
// projection (see attention_queries.wgsl), by the one-invocation writer of staging.wgsl:
// a lane holds whole heads of its query, and with head_dim a multiple of 32 (int8 blocks)
// or of 4 (f32 vec4s) a head is whole units of the staged row. The owner prepends
// staging.wgsl and its constants.

// Element k of row t, for the f32 writer: from the head being written.
fn value(t: u32, k: u32) -> f32 {
    let d = k % p.head_dim;
    return out_head[d / 4u][d % 4u];
}

fn write_head(t: u32, head: u32) {
    if (STAGE_Q8) {
        // Blocks of 8 texels, handed over whole (the writer indexes them by constants).
        for (var u = 0u; u < HEAD_TEXELS / 8u; u++) {
            var block: array<vec4<f32>, 8>;
            for (var i = 0u; i < 8u; i++) {
                block[i] = out_head[8u * u + i];
            }
            stage_q8_values(t, head * (HEAD_TEXELS / 8u) + u, block);
        }
    } else {
        for (var c = 0u; c < HEAD_TEXELS; c++) {
            stage(t, head * HEAD_TEXELS + c, 0u);
        }
    }
}
