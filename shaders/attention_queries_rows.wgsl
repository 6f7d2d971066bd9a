// The per-query attention's output as f32 rows (see attention_queries.wgsl): head `head`
// of token t at out[t * out_stride + head * head_dim ..], stored as whole vec4s (the owner
// keeps out_stride and head_dim multiples of 4): on a CPU-type adapter a store at a
// per-lane address is one store per lane, so a vec4 costs what a float does.

@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

fn write_head(t: u32, head: u32) {
    let base = (t * p.out_stride + head * p.head_dim) / 4u;
    for (var c = 0u; c < HEAD_TEXELS; c++) {
        out[base + c] = out_head[c];
    }
}
