// Reading the staged x of y = W x: the subgroup twin of ../staged_x.wgsl, for subgroups of
// at least 8 invocations, all active (no invocation leaves early). Every invocation reads
// x at the same place, and on CPU-type adapters a uniform-buffer load at a computed offset
// is a per-invocation gather: ~25 instructions per word for 8 lanes. Here lane l loads
// only word l % 8 of the run, and subgroupBroadcast hands each word to every lane: one
// gather per 8 words instead of 8. The owner declares the binding x_rows (a uniform
// buffer).

var<private> lane: u32;

// Called once by every invocation before it reads x: the lane's index in its subgroup.
fn x_setup() {
    lane = subgroupExclusiveAdd(1u);
}

// vec4 i of row t.
fn x_vec4(t: u32, i: u32) -> vec4<u32> {
    let mine = x_rows[t][i][lane % 4u];
    return vec4<u32>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u),
                     subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u));
}

// vec4s i and i + 1 of row t.
fn x_vec8(t: u32, i: u32) -> array<vec4<u32>, 2> {
    let mine = x_rows[t][i + (lane / 4u) % 2u][lane % 4u];
    return array<vec4<u32>, 2>(
        vec4<u32>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u),
                  subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u)),
        vec4<u32>(subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u),
                  subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u)));
}
