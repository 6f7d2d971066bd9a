// Reading the staged x of y = W x (layouts in formats.wgsl) through a read-only storage
// binding, for the split decode (matmul_split.wgsl's decode_split), whose lanes read
// different places of x at once: a uniform buffer serves one address at a time on some
// GPUs, a storage load gathers them. Same functions as staged_x.wgsl; the owner
// (src/kernels/matmul.rs) defines XV (vec4s per row).

@group(0) @binding(3) var<storage, read> x_rows: array<array<vec4<u32>, XV>>;

fn x_setup() {}

// vec4 i of row t.
fn x_vec4(t: u32, i: u32) -> vec4<u32> {
    return x_rows[t][i];
}

// vec4s i and i + 1 of row t.
fn x_vec8(t: u32, i: u32) -> array<vec4<u32>, 2> {
    return array<vec4<u32>, 2>(x_rows[t][i], x_rows[t][i + 1u]);
}
