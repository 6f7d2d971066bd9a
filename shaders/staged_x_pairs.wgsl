// x_pairs8 for the readers that load every word themselves (staged_x.wgsl, over a uniform
// or a storage binding): vec4s i and i + 1 of row t rearranged for the 4-bit formats
// (matmul_nibble_x.wgsl). The subgroup reader has its own, which rearranges each word
// before it hands it round.

fn x_pairs8(t: u32, i: u32) -> array<vec4<u32>, 4> {
    let q = x_vec8(t, i);
    return array<vec4<u32>, 4>(
        vec4<u32>(x_even(q[0].x), x_even(q[0].y), x_even(q[0].z), x_even(q[0].w)),
        vec4<u32>(x_odd(q[0].x), x_odd(q[0].y), x_odd(q[0].z), x_odd(q[0].w)),
        vec4<u32>(x_even(q[1].x), x_even(q[1].y), x_even(q[1].z), x_even(q[1].w)),
        vec4<u32>(x_odd(q[1].x), x_odd(q[1].y), x_odd(q[1].z), x_odd(q[1].w)));
}
