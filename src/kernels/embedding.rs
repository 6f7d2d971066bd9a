//! Owner of `shaders/embedding.wgsl`.

use super::{groups_for, GpuMatrix, WeightFormat};
use crate::error::{Error, Result};
use crate::gpu::{Bound, Gpu, ParamArena, Recorder};
use crate::shader;

const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    cols: u32,
    first_row: u32,
    shard_rows: u32,
}

struct Shard {
    bound: Bound,
    first_row: u32,
    rows: u32,
}

/// `out[t] = table[ids[t]]`, one dispatch per shard of the table.
pub struct Embedding {
    shards: Vec<Shard>,
    cols: u32,
}

impl Embedding {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        table: &GpuMatrix,
        ids: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Embedding> {
        if table.format != WeightFormat::F32 {
            return Err(Error::usage(format!(
                "embedding: {} tables are not supported by the gather kernel",
                table.format.name()
            )));
        }
        let pipeline = gpu.pipeline(&shader!("embedding"), &format!("const WG: u32 = {WG}u;\n"))?;
        let shards = table
            .shards
            .iter()
            .map(|shard| {
                Ok(Shard {
                    bound: Bound::new(
                        gpu,
                        arena,
                        &pipeline,
                        "embedding",
                        std::mem::size_of::<Params>(),
                        &[ids, &shard.buffer.buffer, out],
                    )?,
                    first_row: shard.first_row,
                    rows: shard.rows,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Embedding {
            shards,
            cols: table.cols,
        })
    }

    /// Gathers the rows of the first `n_tokens` ids.
    pub fn encode(&self, rec: &mut Recorder<'_>, n_tokens: u32) {
        for shard in &self.shards {
            let params = Params {
                n_tokens,
                cols: self.cols,
                first_row: shard.first_row,
                shard_rows: shard.rows,
            };
            rec.dispatch(
                &shard.bound,
                &params,
                groups_for(rec.gpu, n_tokens * self.cols, WG),
            );
        }
    }
}
