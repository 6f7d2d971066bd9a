//! The KV cache: per layer, one K and one V buffer of [sequences, ctx, kv_dim] floats,
//! allocated once and written in place. Several sequences share the buffers (slots), ready
//! for parallel sampling and speculative decoding; generation uses slot 0 today.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, StorageBuffer};
use crate::model::config::ModelConfig;

pub struct KvCache {
    pub k: Vec<StorageBuffer>,
    pub v: Vec<StorageBuffer>,
    pub ctx: usize,
    pub sequences: usize,
    pub kv_dim: usize,
}

impl KvCache {
    /// Bytes one layer's K (or V) buffer needs.
    pub fn layer_bytes(config: &ModelConfig, ctx: usize, sequences: usize) -> u64 {
        (sequences * ctx * config.kv_dim() * 4) as u64
    }

    pub fn new(gpu: &Gpu, config: &ModelConfig, ctx: usize, sequences: usize) -> Result<KvCache> {
        let bytes = Self::layer_bytes(config, ctx, sequences);
        if bytes > gpu.max_binding_bytes() {
            let per_position = (sequences * config.kv_dim() * 4) as u64;
            return Err(Error::usage(format!(
                "--ctx {ctx}: one layer's KV cache would take {bytes} bytes, over the adapter's largest \
                 storage binding ({} bytes); use --ctx {} or less",
                gpu.max_binding_bytes(),
                gpu.max_binding_bytes() / per_position
            )));
        }
        let mut k = Vec::with_capacity(config.num_layers);
        let mut v = Vec::with_capacity(config.num_layers);
        for layer in 0..config.num_layers {
            k.push(StorageBuffer::new(gpu, &format!("k cache {layer}"), bytes)?);
            v.push(StorageBuffer::new(gpu, &format!("v cache {layer}"), bytes)?);
        }
        Ok(KvCache {
            k,
            v,
            ctx,
            sequences,
            kv_dim: config.kv_dim(),
        })
    }

    /// The cache row holding position 0 of `sequence`.
    pub fn first_row(&self, sequence: usize) -> u32 {
        (sequence * self.ctx) as u32
    }

    pub fn bytes(&self) -> u64 {
        self.k.iter().chain(&self.v).map(|b| b.bytes).sum()
    }
}
