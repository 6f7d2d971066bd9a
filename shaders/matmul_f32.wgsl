// Y = W X with W in f32 (4 weights per texel) and X staged as f32 rows.

@group(0) @binding(1) var weights: texture_2d<u32>;
@group(0) @binding(3) var<uniform> x: array<array<vec4<f32>, XP>, XR>;

struct Block {
    w: vec4<f32>,
}

fn load_block(g: u32) -> Block {
    return Block(bitcast<vec4<f32>>(textureLoad(weights, texel_at(g), 0)));
}

fn token_dot(w: Block, b: u32, t: u32) -> f32 {
    return dot(w.w, x[t][b]);
}

@compute @workgroup_size(WG)
fn decode(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let row0 = invocation(wid, lid) * 2u;
    if (row0 >= p.rows) {
        return;
    }
    // Two rows per invocation share every load of x; a missing second row repeats the first.
    let base0 = row0 * p.per_row;
    let base1 = min(row0 + 1u, p.rows - 1u) * p.per_row;
    var acc0 = 0.0;
    var acc1 = 0.0;
    for (var b = 0u; b < p.per_row; b++) {
        acc0 += token_dot(load_block(base0 + b), b, 0u);
        acc1 += token_dot(load_block(base1 + b), b, 0u);
    }
    store(row0, 0u, acc0);
    store(row0 + 1u, 0u, acc1);
}

@compute @workgroup_size(WG)
fn prefill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let row = invocation(wid, lid);
    if (row >= p.rows) {
        return;
    }
    // Four tokens per invocation share every block of W; missing tokens repeat the last.
    let t0 = wid.y * 4u;
    let last = p.tokens - 1u;
    let base = row * p.per_row;
    var acc0 = 0.0;
    var acc1 = 0.0;
    var acc2 = 0.0;
    var acc3 = 0.0;
    for (var b = 0u; b < p.per_row; b++) {
        let block = load_block(base + b);
        acc0 += token_dot(block, b, min(t0, last));
        acc1 += token_dot(block, b, min(t0 + 1u, last));
        acc2 += token_dot(block, b, min(t0 + 2u, last));
        acc3 += token_dot(block, b, min(t0 + 3u, last));
    }
    store(row, t0, acc0);
    store(row, t0 + 1u, acc1);
    store(row, t0 + 2u, acc2);
    store(row, t0 + 3u, acc3);
}
