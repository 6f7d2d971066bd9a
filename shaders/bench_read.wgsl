// Streaming read bandwidth: every invocation sums a strided run of 16-byte texels, so
// neighbouring invocations read neighbouring texels (coalesced on GPUs). Two entry points:
// the same data read from a texel texture bound as a read-only storage texture (how weights
// are read) and from a storage buffer.
// The Rust owner (src/bench/ceilings.rs) prepends TEXTURE_WIDTH and WG.

struct Params {
    texels: u32,
    invocations: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var data_texture: texture_storage_2d<rgba32uint, read>;
@group(0) @binding(2) var<storage, read> data_buffer: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> sink: array<u32>;

fn texel_at(i: u32) -> vec2<u32> {
    return vec2<u32>(i % TEXTURE_WIDTH, i / TEXTURE_WIDTH);
}

@compute @workgroup_size(WG)
fn texture_read(@builtin(global_invocation_id) gid: vec3<u32>) {
    var acc = vec4<u32>(0u);
    for (var i = gid.x; i < p.texels; i += p.invocations) {
        acc ^= textureLoad(data_texture, texel_at(i));
    }
    sink[gid.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}

@compute @workgroup_size(WG)
fn buffer_read(@builtin(global_invocation_id) gid: vec3<u32>) {
    var acc = vec4<u32>(0u);
    for (var i = gid.x; i < p.texels; i += p.invocations) {
        acc ^= data_buffer[i];
    }
    sink[gid.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}
