//! What a model will need on the GPU, worked out before anything is allocated, so that a
//! model too large for the adapter is reported with the numbers instead of failing midway.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, TexelTexture};
use crate::kernels::attention::CacheShape;
use crate::kernels::matmul;
use crate::kernels::matrix::ROW_GROUP;
use crate::kernels::{GpuMatrix, StagedLayout, WeightFormat};
use crate::model::source::ModelSource;
use crate::model::weights::matrix_plan;

/// Bytes of GPU memory, by use.
#[derive(Debug, Clone, Copy)]
pub struct MemoryPlan {
    pub weights: u64,
    pub kv_cache: u64,
    pub activations: u64,
}

/// Bytes a texel texture of `texels` takes (whole rows of `width`).
fn texture_bytes(texels: u64, width: u64) -> u64 {
    texels.div_ceil(width).max(1) * width * 16
}

impl MemoryPlan {
    pub fn new(
        gpu: &Gpu,
        source: &ModelSource,
        format: Option<WeightFormat>,
        ctx: usize,
        sequences: usize,
        max_batch: usize,
    ) -> Result<MemoryPlan> {
        let c = &source.config;
        let width = u64::from(TexelTexture::width(gpu));
        let matrices = matrix_plan(source, format)?;
        let mut weights = 0u64;
        let mut max_step_tokens = max_batch.max(1);
        for m in &matrices {
            // As GpuMatrix::upload lays it out: rows padded to whole row groups (a sharded
            // matrix also pads each shard's last texture row, which this leaves out: under
            // one texture row per extra shard).
            let rows = u64::from(m.rows).div_ceil(ROW_GROUP as u64) * ROW_GROUP as u64;
            let texels = rows * u64::from(m.format.texels_per_row(m.cols));
            let width = u64::from(GpuMatrix::texture_width_for(gpu, texels));
            weights += texture_bytes(texels, width);
            if m.format.is_quantized() {
                weights += texture_bytes(rows * u64::from(m.cols / 32).div_ceil(4), width);
            }
            if !m.label.starts_with("embedding") && !m.label.starts_with("lm_head") {
                max_step_tokens =
                    max_step_tokens.min(matmul::max_step_tokens(gpu, m.format, m.cols) as usize);
            }
        }
        let vectors = c.num_layers * 2 * c.hidden_size
            + c.hidden_size
            + if c.qkv_bias {
                c.num_layers * c.qkv_dim()
            } else {
                0
            };
        weights += 4 * vectors as u64;

        let shape = CacheShape::new(c.num_kv_heads as u32, c.head_dim as u32);
        let cache_texels = (sequences * ctx) as u64 * u64::from(shape.row_texels());
        let rows_allowed = width * u64::from(gpu.limits.max_texture_dimension_2d);
        if cache_texels > rows_allowed {
            let per_position = u64::from(shape.row_texels()) * sequences as u64;
            return Err(Error::usage(format!(
                "--ctx {ctx}: one layer's KV cache needs {cache_texels} texels of 16 bytes, over the {rows_allowed} \
                 one texture holds on this adapter; use --ctx {} or less",
                rows_allowed / per_position
            )));
        }
        let kv_cache = 2 * c.num_layers as u64 * texture_bytes(cache_texels, width);

        let t = max_step_tokens;
        let per_token = c.hidden_size + c.qkv_dim() + c.q_dim() + 2 * c.intermediate_size + 1;
        let largest = 4 * (t * 2 * c.intermediate_size) as u64;
        if largest > gpu.max_binding_bytes() {
            return Err(Error::device(format!(
                "the gate/up activations of {t} tokens take {largest} bytes, over the adapter's largest \
                 storage binding of {} bytes",
                gpu.max_binding_bytes()
            )));
        }
        // The staged inputs of layer 0's products (every layer shares them) and of the LM
        // head (one row).
        let staged: u64 = matrices
            .iter()
            .filter(|m| m.label.starts_with("model.layers.0."))
            .map(|m| StagedLayout::for_format(m.format, m.cols, t as u32).bytes())
            .sum::<u64>()
            + matrices
                .iter()
                .rfind(|m| m.label == "lm_head" || m.label == "embedding")
                .map_or(0, |m| StagedLayout::for_format(m.format, m.cols, 1).bytes());
        let buffers = 4 * (t * per_token + c.vocab_size) as u64 + staged;
        // On CPU-type adapters kernels read most of them through texel copies (at most
        // one copy of each).
        let activations = if gpu.is_software() {
            2 * buffers
        } else {
            buffers
        };
        Ok(MemoryPlan {
            weights,
            kv_cache,
            activations,
        })
    }

    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.activations
    }

    /// Fails, naming every number, when the adapter's memory cannot hold the plan.
    pub fn check(&self, gpu: &Gpu, ctx: usize) -> Result<()> {
        let Some(available) = gpu.memory else {
            return Ok(());
        };
        if self.total() > available {
            let mb = |b: u64| b as f64 / 1e6;
            return Err(Error::device(format!(
                "the model needs {:.1} MB of GPU memory (weights {:.1} MB, KV cache {:.1} MB for --ctx {ctx}, \
                 activations {:.1} MB) but {} has {:.1} MB; try a smaller --ctx or a compact --dtype",
                mb(self.total()),
                mb(self.weights),
                mb(self.kv_cache),
                mb(self.activations),
                gpu.info.name,
                mb(available)
            )));
        }
        Ok(())
    }
}
