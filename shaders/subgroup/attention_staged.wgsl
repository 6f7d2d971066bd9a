// The subgroup attention's output written straight into the staged input of the output
// projection (see attention.wgsl and stage_block.wgsl), which saves a stage pass per layer.
// For WG = 8 and head_dim a multiple of 32: lane `lane` holds texel lane + 8i of a head,
// values 32i + 4 lane.., so texel i of all 8 lanes is block i of the head, laid out as
// stage_values takes it. The owner prepends stage_block.wgsl and its constants.

fn write_texel(t: u32, head: u32, i: u32, lane: u32, result: vec4<f32>) {
    stage_values(t, head * (p.head_dim / 32u) + i, lane, result);
}
