// Shared by the kernels that read weight matrices or staged activations; the Rust owners
// prepend it. The owner also defines TEXTURE_WIDTH (a power of two).
//
// Weight matrices live in Rgba32Uint textures read as one long run of 16-byte texels: texel
// i sits at (i % TEXTURE_WIDTH, i / TEXTURE_WIDTH). Texture loads are the fast path for
// per-invocation gathers on CPU-type adapters (storage-buffer loads go lane by lane there),
// and they are bound as read-only storage textures: on lavapipe a storage-image load
// costs less than a sampled-texture fetch (tg +15% measured), and GPUs read both through
// their texture caches.
// Rows are interleaved in groups of ROW_GROUP: unit u (a texel) of row r is texel
// ((r / ROW_GROUP) * units_per_row + u) * ROW_GROUP + r % ROW_GROUP, so invocations working
// on neighbouring rows at the same unit read one contiguous run of memory (one stream for
// a CPU's prefetcher instead of one per row; coalesced on GPUs). A matrix's last group is
// padded to whole rows.
//   f32:  4 weights per texel.        f16: 8 per texel (two per u32, low half first).
//   q8_0: a block of 32 int8 weights is 2 texels; q4_0 and q4_1: a block is 1 texel
//         (byte j holds weight j in its low nibble and weight j + 16 in its high nibble).
// Quantized formats keep one u32 per block in a second texture, 4 blocks per texel, each
// row's blocks starting a texel of their own (a row of B blocks takes ceil(B / 4) texels):
//   q8_0, q4_0: the f16 scale d in the low half; q4_1: d in the low half, the f16 min m high.
//
// Staged activations (the x of y = W x) sit in a uniform buffer, one row per token:
//   for f32 and f16 weights: K floats, padded to pairs of vec4s (an f16 texel: 8 weights);
//   for quantized weights: K int8 values in blocks of 32 (16 per vec4<u32>), then per block
//   a vec4 of (scale s, s * sum of the int8 values, outlier, outlier index as f32): the block's
//   value of largest magnitude is kept exactly and stands as 0 among the int8 values
//   (see staging.wgsl).

const ROW_GROUP: u32 = 8u;

fn texel_at(i: u32) -> vec2<u32> {
    return texel_in(i, TEXTURE_WIDTH);
}

// Texel i of a run laid out `width` texels a row (a power of two).
fn texel_in(i: u32, width: u32) -> vec2<u32> {
    return vec2<u32>(i % width, i / width);
}

// Texel u of `row` in a matrix of `per_row` texels per row (rows interleaved, see above).
fn row_texel(row: u32, per_row: u32, u: u32) -> vec2<u32> {
    return texel_at(((row / ROW_GROUP) * per_row + u) * ROW_GROUP + row % ROW_GROUP);
}

// The scales of blocks 4g..4g+3 of `row`, for rows of `blocks` blocks.
fn scale_texel(scales: texture_storage_2d<rgba32uint, read>, row: u32, blocks: u32, g: u32) -> vec4<u32> {
    return textureLoad(scales, row_texel(row, (blocks + 3u) / 4u, g));
}

// Sum over 16 int8 pairs packed in two words each of a and b.
fn dot16_i8(a: vec4<u32>, b: vec4<u32>) -> i32 {
    return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}

// The weight at `index` (0..31) of a block of 4-bit values held in one texel: byte
// index % 16, low nibble for 0..15, high for 16..31.
fn nibble_at(q: vec4<u32>, index: u32) -> f32 {
    // Low nibbles hold values 0..15, high nibbles 16..31: one shift picks either.
    let shift = 8u * (index % 4u) + select(0u, 4u, index >= 16u);
    return f32((q[(index % 16u) / 4u] >> shift) & 15u);
}

// The signed byte at `index` (0..15) of a texel.
fn byte_at(q: vec4<u32>, index: u32) -> f32 {
    return f32(i32(q[index / 4u] << (24u - 8u * (index % 4u))) >> 24u);
}
