// Embedding row gather: out[t, k] = table[ids[t], k], the table in any weight format (see
// formats.wgsl, prepended by src/kernels/embedding.rs with const WG). A large table is split
// into shards of whole rows; each shard's dispatch writes only the tokens whose id it holds.
// One entry point per format; each invocation writes one element.

struct Params {
    n_tokens: u32,
    cols: u32,
    first_row: u32,
    shard_rows: u32,
    per_row: u32,     // texels (f32, f16) or blocks (quantized) per row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var table: texture_storage_2d<rgba32uint, read>;
@group(0) @binding(3) var scales: texture_storage_2d<rgba32uint, read>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// The row of the table for element i, or none when this shard does not hold the token.
fn locate(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> vec3<u32> {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.n_tokens * p.cols) {
        return vec3<u32>(0u, 0u, 0u);
    }
    let id = ids[i / p.cols];
    if (id < p.first_row || id - p.first_row >= p.shard_rows) {
        return vec3<u32>(0u, 0u, 0u);
    }
    return vec3<u32>(1u, id - p.first_row, i);
}

// The scale u32 of block b of `row`.
fn block_scale(row: u32, b: u32) -> u32 {
    return scale_texel(scales, row, p.per_row, b / 4u)[b % 4u];
}

@compute @workgroup_size(WG)
fn gather_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let at = locate(wid, nwg, lid);
    if (at.x == 0u) {
        return;
    }
    let k = at.z % p.cols;
    let t = textureLoad(table, row_texel(at.y, p.per_row, k / 4u));
    out[at.z] = bitcast<f32>(t[k % 4u]);
}

@compute @workgroup_size(WG)
fn gather_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let at = locate(wid, nwg, lid);
    if (at.x == 0u) {
        return;
    }
    let k = at.z % p.cols;
    let t = textureLoad(table, row_texel(at.y, p.per_row, k / 8u));
    let pair = unpack2x16float(t[(k % 8u) / 2u]);
    out[at.z] = select(pair.x, pair.y, (k % 2u) == 1u);
}

@compute @workgroup_size(WG)
fn gather_q8_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let at = locate(wid, nwg, lid);
    if (at.x == 0u) {
        return;
    }
    let k = at.z % p.cols;
    let j = k % 32u;
    let t = textureLoad(table, row_texel(at.y, 2u * p.per_row, 2u * (k / 32u) + j / 16u));
    out[at.z] = unpack2x16float(block_scale(at.y, k / 32u)).x * byte_at(t, j % 16u);
}

// Weight k of `row` in a table of 4-bit blocks.
fn nibble(row: u32, k: u32) -> f32 {
    return nibble_at(textureLoad(table, row_texel(row, p.per_row, k / 32u)), k % 32u);
}

@compute @workgroup_size(WG)
fn gather_q4_0(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let at = locate(wid, nwg, lid);
    if (at.x == 0u) {
        return;
    }
    let k = at.z % p.cols;
    out[at.z] = unpack2x16float(block_scale(at.y, k / 32u)).x * (nibble(at.y, k) - 8.0);
}

@compute @workgroup_size(WG)
fn gather_q4_1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let at = locate(wid, nwg, lid);
    if (at.x == 0u) {
        return;
    }
    let k = at.z % p.cols;
    let dm = unpack2x16float(block_scale(at.y, k / 32u));
    out[at.z] = dm.x * nibble(at.y, k) + dm.y;
}
