// Reading the staged x of y = W x (layouts in formats.wgsl), the portable way: every
// invocation loads what it uses. The subgroup twin (subgroup/staged_x.wgsl) shares the
// loads across a subgroup. Prepended by src/kernels/matmul.rs, which declares the binding
// x_rows: a uniform buffer, or a storage buffer where that does not serve: the split
// decode, whose lanes read different places of x at once (a uniform buffer serves one
// address at a time on some GPUs, a storage load gathers them), and a row-lanes prefill
// (or a decode row) larger than a uniform binding holds.

// Called once by every invocation before it reads x.
fn x_setup() {}

// vec4 i of row t.
fn x_vec4(t: u32, i: u32) -> vec4<u32> {
    return x_rows[t][i];
}

// vec4s i and i + 1 of row t.
fn x_vec8(t: u32, i: u32) -> array<vec4<u32>, 2> {
    return array<vec4<u32>, 2>(x_rows[t][i], x_rows[t][i + 1u]);
}
