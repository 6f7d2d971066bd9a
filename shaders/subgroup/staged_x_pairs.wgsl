// x_pairs8 for the subgroup reader (staged_x.wgsl in this folder), prepended for the 4-bit
// formats (matmul_nibble_x.wgsl): the twin of ../staged_x_pairs.wgsl.

// vec4s i and i + 1 of row t rearranged for the 4-bit formats (matmul_nibble_x.wgsl): each
// lane rearranges the word it loaded, then hands both halves round.
fn x_pairs8(t: u32, i: u32) -> array<vec4<u32>, 4> {
    let mine = x_rows[t][i + (lane / 4u) % 2u][lane % 4u];
    let even = x_even(mine);
    let odd = x_odd(mine);
    return array<vec4<u32>, 4>(
        vec4<u32>(subgroupBroadcast(even, 0u), subgroupBroadcast(even, 1u),
                  subgroupBroadcast(even, 2u), subgroupBroadcast(even, 3u)),
        vec4<u32>(subgroupBroadcast(odd, 0u), subgroupBroadcast(odd, 1u),
                  subgroupBroadcast(odd, 2u), subgroupBroadcast(odd, 3u)),
        vec4<u32>(subgroupBroadcast(even, 4u), subgroupBroadcast(even, 5u),
                  subgroupBroadcast(even, 6u), subgroupBroadcast(even, 7u)),
        vec4<u32>(subgroupBroadcast(odd, 4u), subgroupBroadcast(odd, 5u),
                  subgroupBroadcast(odd, 6u), subgroupBroadcast(odd, 7u)));
}
