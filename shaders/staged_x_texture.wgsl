// Reading the staged x of y = W x from a copy of it in a texel texture of its own width
// X_TEXTURE_WIDTH (the widest, so that a step of any size fits; formats.wgsl's texel_in;
// row t's vec4 i is texel t * XV + i),
// every invocation loading what it uses: the reader of the token-lanes prefill
// (matmul_token_lanes.wgsl), whose lanes read different tokens' x. On a CPU-type adapter a
// load at a different place per lane is a gather either way, and a texture gather costs
// less than a uniform-buffer one (lavapipe: ~35 instructions per 16-byte texel against
// ~24 per 4-byte word). src/kernels/matmul.rs copies the staged buffer into the texture
// before each prefill dispatch.

@group(0) @binding(3) var x_texels: texture_storage_2d<rgba32uint, read>;

// Called once by every invocation before it reads x.
fn x_setup() {}

// vec4 i of row t.
fn x_vec4(t: u32, i: u32) -> vec4<u32> {
    return textureLoad(x_texels, texel_in(t * XV + i, X_TEXTURE_WIDTH));
}

// vec4s i and i + 1 of row t.
fn x_vec8(t: u32, i: u32) -> array<vec4<u32>, 2> {
    return array<vec4<u32>, 2>(x_vec4(t, i), x_vec4(t, i + 1u));
}
