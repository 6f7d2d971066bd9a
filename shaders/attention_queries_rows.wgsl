// The per-query attention's output as f32 rows (see attention_queries.wgsl): head `head`
// of token t at out[t * out_stride + head * head_dim ..].

@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn write_head(t: u32, head: u32) {
    let base = t * p.out_stride + head * p.head_dim;
    for (var d = 0u; d < p.head_dim; d++) {
        out[base + d] = out_head[d / 4u][d % 4u];
    }
}
