// Embedding row gather: out[t, :] = table[ids[t], :] for the ids this shard holds.
//
// A large table is split into shards of whole rows; each shard's dispatch writes only the
// tokens whose id falls in [first_row, first_row + shard_rows).
// The Rust owner (src/kernels/embedding.rs) prepends: const WG.

struct Params {
    n_tokens: u32,
    cols: u32,
    first_row: u32,
    shard_rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= p.n_tokens * p.cols) {
        return;
    }
    let t = i / p.cols;
    let c = i % p.cols;
    let id = ids[t];
    if (id >= p.first_row && id - p.first_row < p.shard_rows) {
        out[i] = table[(id - p.first_row) * p.cols + c];
    }
}
