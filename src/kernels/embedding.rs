//! Owner of `shaders/embedding.wgsl`: the embedding row gather, for tables in any format.

use super::groups_for;
use super::matrix::{GpuMatrix, WeightFormat};
use crate::error::Result;
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
    per_row: u32,
    _pad: [u32; 3],
}

struct Shard {
    bound: Bound,
    first_row: u32,
    rows: u32,
}

/// `out[t] = table[ids[t]]` as f32, one dispatch per shard of the table.
pub struct Embedding {
    shards: Vec<Shard>,
    cols: u32,
    per_row: u32,
}

impl Embedding {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        table: &GpuMatrix,
        ids: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Embedding> {
        let entry = match table.format {
            WeightFormat::F32 => "gather_f32",
            WeightFormat::F16 => "gather_f16",
            WeightFormat::Q8_0 => "gather_q8_0",
            WeightFormat::Q4_0 => "gather_q4_0",
            WeightFormat::Q4_1 => "gather_q4_1",
        };
        let preamble = format!(
            "const TEXTURE_WIDTH: u32 = {}u;\nconst WG: u32 = {WG}u;\n{}",
            table.texture_width,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/formats.wgsl"))
        );
        let pipeline = gpu.pipeline(&shader!("embedding"), &preamble, entry)?;
        let mut shards = Vec::new();
        for shard in &table.shards {
            let mut resources = vec![
                (1, ids.as_entire_binding()),
                (2, wgpu::BindingResource::TextureView(&shard.data.view)),
                (4, out.as_entire_binding()),
            ];
            if let Some(scales) = &shard.scales {
                resources.push((3, wgpu::BindingResource::TextureView(&scales.view)));
            }
            shards.push(Shard {
                bound: Bound::new(
                    gpu,
                    arena,
                    &pipeline,
                    "embedding",
                    std::mem::size_of::<Params>(),
                    &resources,
                )?,
                first_row: shard.first_row,
                rows: shard.rows,
            });
        }
        Ok(Embedding {
            shards,
            cols: table.cols,
            per_row: if table.format.is_quantized() {
                table.cols / 32
            } else {
                table.format.texels_per_row(table.cols)
            },
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
                per_row: self.per_row,
                _pad: [0; 3],
            };
            rec.dispatch(
                &shard.bound,
                &params,
                groups_for(rec.gpu, n_tokens * self.cols, WG),
            );
        }
    }
}
