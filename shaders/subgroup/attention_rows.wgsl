// The subgroup attention's output as f32 rows (see attention.wgsl): head `head` of token t
// at out[t * out_stride + head * head_dim ..]. Lane `lane` holds texel lane + i * WG.

@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn write_texel(t: u32, head: u32, i: u32, lane: u32, result: vec4<f32>) {
    let c = lane + i * WG;
    for (var j = 0u; j < 4u; j++) {
        let d = 4u * c + j;
        if (c < HEAD_TEXELS && d < p.head_dim) {
            out[t * p.out_stride + head * p.head_dim + d] = result[j];
        }
    }
}
