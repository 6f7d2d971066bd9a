//! Owner of `shaders/rope.wgsl`, and the cos/sin table it reads.

use super::groups_for;
use crate::error::Result;
use crate::gpu::kernel::buffers;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder, StorageBuffer};
use crate::shader;

const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    n_heads: u32,
    head_dim: u32,
    row_stride: u32,
    start_pos: u32,
    total: u32,
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

/// Rotates the first `n_heads` heads of each token row of `qk` in place.
pub struct Rope {
    bound: Bound,
    n_heads: u32,
    head_dim: u32,
    row_stride: u32,
}

impl Rope {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        table: &StorageBuffer,
        qk: &wgpu::Buffer,
        n_heads: u32,
        head_dim: u32,
        row_stride: u32,
    ) -> Result<Rope> {
        let pipeline = gpu.pipeline(
            &shader!("rope"),
            &format!("const WG: u32 = {WG}u;\n"),
            "main",
        )?;
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "rope",
            std::mem::size_of::<Params>(),
            &buffers(&[&table.buffer, qk]),
        )?;
        Ok(Rope {
            bound,
            n_heads,
            head_dim,
            row_stride,
        })
    }

    /// Rotates `n_tokens` rows whose first token sits at `start_pos`.
    pub fn encode(&self, rec: &mut Recorder<'_>, n_tokens: u32, start_pos: u32) {
        let total = n_tokens * self.n_heads * self.head_dim / 2;
        let params = Params {
            n_tokens,
            n_heads: self.n_heads,
            head_dim: self.head_dim,
            row_stride: self.row_stride,
            start_pos,
            total,
        };
        rec.dispatch(&self.bound, &params, groups_for(rec.gpu, total, WG));
    }
}
