//! Owner of `shaders/matvec.wgsl`: y = W x for one token (decode).

use super::{groups_for, pack_preamble, GpuMatrix};
use crate::error::Result;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder};
use crate::shader;

/// Rows each invocation computes, sharing every load of x.
const ROWS: u32 = 8;
/// One SIMD vector on a CPU-type adapter; GPUs want wider workgroups (per-adapter later).
const WG: u32 = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    k_packs: u32,
    x_offset: u32,
    y_offset: u32,
    accumulate: u32,
    has_bias: u32,
}

struct Shard {
    bound: Bound,
    rows: u32,
    first_row: u32,
}

/// `y[0..rows] (+)= W x (+ bias)` where x is one row of a [T, cols] activation buffer.
pub struct MatVec {
    shards: Vec<Shard>,
    k_packs: u32,
    pack: u32,
    accumulate: bool,
    has_bias: bool,
}

impl MatVec {
    /// Binds `w`, the activations `x`, an optional `bias` and the output `y`. With
    /// `accumulate`, the product is added to y (a fused residual add).
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        w: &GpuMatrix,
        x: &wgpu::Buffer,
        bias: Option<&wgpu::Buffer>,
        y: &wgpu::Buffer,
        accumulate: bool,
    ) -> Result<MatVec> {
        let vec4 = w.uses_vec4();
        let preamble = format!(
            "{}const ROWS: u32 = {ROWS}u;\nconst WG: u32 = {WG}u;\n",
            pack_preamble(vec4)
        );
        let pipeline = gpu.pipeline(&shader!("matvec"), &preamble)?;
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
                        "matvec",
                        std::mem::size_of::<Params>(),
                        &buffers,
                    )?,
                    rows: shard.rows,
                    first_row: shard.first_row,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let pack = if vec4 { 4 } else { 1 };
        Ok(MatVec {
            shards,
            k_packs: w.cols / pack,
            pack,
            accumulate,
            has_bias: bias.is_some(),
        })
    }

    /// Records the product for row `x_row` of the activations.
    pub fn encode(&self, rec: &mut Recorder<'_>, x_row: u32) {
        for shard in &self.shards {
            let params = Params {
                rows: shard.rows,
                k_packs: self.k_packs,
                x_offset: x_row * self.k_packs,
                y_offset: shard.first_row,
                accumulate: u32::from(self.accumulate),
                has_bias: u32::from(self.has_bias),
            };
            let groups = groups_for(rec.gpu, shard.rows.div_ceil(ROWS), WG);
            rec.dispatch(&shard.bound, &params, groups);
        }
    }

    /// Elements of x one pack covers (4 for vec4 loads).
    pub fn pack(&self) -> u32 {
        self.pack
    }
}
