//! Owner of `shaders/rope.wgsl` (rotary position embedding, applied by the kernels that
//! read queries and keys: attention and the KV-cache write) and of the cos/sin table it reads.

use crate::gpu::StorageBuffer;
use crate::shader;

/// Where the kernels that rotate bind the table (rope.wgsl).
const TABLE_BINDING: u32 = 8;

/// The rotation functions and the table's binding, for a kernel's preamble.
pub(crate) fn source() -> &'static str {
    shader!("rope").wgsl
}

/// The table bound where [`source`] expects it.
pub(crate) fn table_binding(table: &StorageBuffer) -> (u32, wgpu::BindingResource<'_>) {
    (TABLE_BINDING, table.buffer.as_entire_binding())
}

/// The rotation angles of every position: `[positions, head_dim / 2]` pairs of (cos, sin),
/// computed in f64. `inv_freq[j]` is the frequency of pair j (theta^(-2j/head_dim) for
/// plain RoPE; scaled variants pass their own).
pub fn rope_table(positions: u32, inv_freq: &[f64]) -> Vec<[f32; 2]> {
    let mut table = Vec::with_capacity(positions as usize * inv_freq.len());
    for pos in 0..positions {
        for &freq in inv_freq {
            let angle = f64::from(pos) * freq;
            table.push([angle.cos() as f32, angle.sin() as f32]);
        }
    }
    table
}

/// Plain RoPE frequencies: theta^(-2j / head_dim) for j in 0..head_dim/2.
pub fn default_inv_freq(head_dim: u32, theta: f64) -> Vec<f64> {
    (0..head_dim / 2)
        .map(|j| theta.powf(-2.0 * f64::from(j) / f64::from(head_dim)))
        .collect()
}
