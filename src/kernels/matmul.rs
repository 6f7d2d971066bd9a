//! Owner of `shaders/matmul.wgsl`: Y = X W^T for a block of tokens (prefill).

use super::{groups_for, pack_preamble, GpuMatrix};
use crate::error::Result;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder};
use crate::shader;

/// Rows of X and rows of W per invocation (a TM x TN register tile of Y).
const TM: u32 = 4;
const TN: u32 = 4;
const WG: u32 = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k_packs: u32,
    y_stride: u32,
    y_offset: u32,
    accumulate: u32,
    has_bias: u32,
    n_blocks: u32,
}

struct Shard {
    bound: Bound,
    rows: u32,
    first_row: u32,
}

/// `Y[m, :] (+)= W X[m, :] (+ bias)` for the first `m` rows of X.
pub struct MatMul {
    shards: Vec<Shard>,
    k_packs: u32,
    y_stride: u32,
    accumulate: bool,
    has_bias: bool,
}

impl MatMul {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        w: &GpuMatrix,
        x: &wgpu::Buffer,
        bias: Option<&wgpu::Buffer>,
        y: &wgpu::Buffer,
        accumulate: bool,
    ) -> Result<MatMul> {
        let vec4 = w.uses_vec4();
        let preamble = format!(
            "{}const TM: u32 = {TM}u;\nconst TN: u32 = {TN}u;\nconst WG: u32 = {WG}u;\n",
            pack_preamble(vec4)
        );
        let pipeline = gpu.pipeline(&shader!("matmul"), &preamble)?;
        let bias_buffer = bias.unwrap_or(gpu.dummy());
        let shards = w
            .shards
            .iter()
            .map(|shard| {
                let buffers = [&shard.buffer.buffer, x, bias_buffer, y];
                Ok(Shard {
                    bound: Bound::new(
                        gpu,
                        arena,
                        &pipeline,
                        "matmul",
                        std::mem::size_of::<Params>(),
                        &buffers,
                    )?,
                    rows: shard.rows,
                    first_row: shard.first_row,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let pack = if vec4 { 4 } else { 1 };
        Ok(MatMul {
            shards,
            k_packs: w.cols / pack,
            y_stride: w.rows,
            accumulate,
            has_bias: bias.is_some(),
        })
    }

    /// Records the product for the first `m` rows of X.
    pub fn encode(&self, rec: &mut Recorder<'_>, m: u32) {
        for shard in &self.shards {
            let n_blocks = shard.rows.div_ceil(TN);
            let params = Params {
                m,
                n: shard.rows,
                k_packs: self.k_packs,
                y_stride: self.y_stride,
                y_offset: shard.first_row,
                accumulate: u32::from(self.accumulate),
                has_bias: u32::from(self.has_bias),
                n_blocks,
            };
            let groups = groups_for(rec.gpu, m.div_ceil(TM) * n_blocks, WG);
            rec.dispatch(&shard.bound, &params, groups);
        }
    }
}
