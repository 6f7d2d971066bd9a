//! The KV cache: per layer, one K and one V texture holding [sequences, ctx] rows of
//! n_kv_heads heads (see shaders/kv_write.wgsl), allocated once and written in place.
//! Several sequences share the textures (slots), ready for parallel sampling and
//! speculative decoding; generation uses slot 0 today.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, TexelTexture};
use crate::kernels::attention::CacheShape;
use crate::model::config::ModelConfig;

pub struct KvCache {
    pub k: Vec<TexelTexture>,
    pub v: Vec<TexelTexture>,
    pub ctx: usize,
    pub sequences: usize,
    pub shape: CacheShape,
}

impl KvCache {
    pub fn new(gpu: &Gpu, config: &ModelConfig, ctx: usize, sequences: usize) -> Result<KvCache> {
        let shape = CacheShape::new(config.num_kv_heads as u32, config.head_dim as u32);
        let texels = (sequences * ctx) as u64 * u64::from(shape.row_texels());
        let width = TexelTexture::width(gpu);
        let rows_allowed = u64::from(width) * u64::from(gpu.limits.max_texture_dimension_2d);
        if texels > rows_allowed {
            let per_position = u64::from(shape.row_texels()) * sequences as u64;
            return Err(Error::usage(format!(
                "--ctx {ctx}: one layer's KV cache would need {texels} texels, over the {rows_allowed} \
                 one texture holds on this adapter; use --ctx {} or less",
                rows_allowed / per_position
            )));
        }
        let mut k = Vec::with_capacity(config.num_layers);
        let mut v = Vec::with_capacity(config.num_layers);
        for layer in 0..config.num_layers {
            k.push(TexelTexture::new(
                gpu,
                &format!("k cache {layer}"),
                texels,
                width,
            )?);
            v.push(TexelTexture::new(
                gpu,
                &format!("v cache {layer}"),
                texels,
                width,
            )?);
        }
        Ok(KvCache {
            k,
            v,
            ctx,
            sequences,
            shape,
        })
    }

    /// The cache row holding position 0 of `sequence`.
    pub fn first_row(&self, sequence: usize) -> u32 {
        (sequence * self.ctx) as u32
    }

    pub fn bytes(&self) -> u64 {
        self.k.iter().chain(&self.v).map(|t| t.bytes()).sum()
    }
}
