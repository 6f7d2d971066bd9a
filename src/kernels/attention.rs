//! Owner of `shaders/attention.wgsl`.

use crate::error::{Error, Result};
use crate::gpu::kernel::buffers;
use crate::gpu::{kernel::grid, Bound, Gpu, ParamArena, Recorder};
use crate::shader;

const WG: u32 = 64;
/// The shader keeps one head's query in workgroup memory of this size.
pub const MAX_HEAD_DIM: u32 = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    start_pos: u32,
    q_stride: u32,
    kv_base: u32,
    out_stride: u32,
    scale: f32,
    _pad: [u32; 3],
}

/// Shapes of one attention call site.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    /// Floats per token row of the query buffer (queries start at column 0).
    pub q_stride: u32,
    /// Floats per token row of the output.
    pub out_stride: u32,
}

/// Causal GQA attention of new queries over one layer's KV cache.
pub struct Attention {
    bound: Bound,
    shape: AttentionShape,
}

impl Attention {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        q: &wgpu::Buffer,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        out: &wgpu::Buffer,
        shape: AttentionShape,
    ) -> Result<Attention> {
        if shape.head_dim == 0 || shape.head_dim > MAX_HEAD_DIM || !shape.head_dim.is_multiple_of(2)
        {
            return Err(Error::usage(format!(
                "attention: head_dim {} is not supported (even, at most {MAX_HEAD_DIM})",
                shape.head_dim
            )));
        }
        if shape.n_kv_heads == 0 || !shape.n_heads.is_multiple_of(shape.n_kv_heads) {
            return Err(Error::usage(format!(
                "attention: {} query heads cannot be grouped over {} KV heads",
                shape.n_heads, shape.n_kv_heads
            )));
        }
        let pipeline = gpu.pipeline(
            &shader!("attention"),
            &format!("const WG: u32 = {WG}u;\n"),
            "main",
        )?;
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "attention",
            std::mem::size_of::<Params>(),
            &buffers(&[q, k_cache, v_cache, out]),
        )?;
        Ok(Attention { bound, shape })
    }

    /// Attends `n_tokens` queries at positions start_pos.. over the cache rows from
    /// `first_cache_row` (sequence * ctx), which must already hold positions 0..start_pos + n_tokens.
    pub fn encode(
        &self,
        rec: &mut Recorder<'_>,
        n_tokens: u32,
        start_pos: u32,
        first_cache_row: u32,
    ) {
        let s = self.shape;
        let params = Params {
            n_tokens,
            n_heads: s.n_heads,
            n_kv_heads: s.n_kv_heads,
            head_dim: s.head_dim,
            start_pos,
            q_stride: s.q_stride,
            kv_base: first_cache_row * s.n_kv_heads * s.head_dim,
            out_stride: s.out_stride,
            scale: 1.0 / (s.head_dim as f32).sqrt(),
            _pad: [0; 3],
        };
        rec.dispatch(&self.bound, &params, grid(rec.gpu, n_tokens * s.n_heads));
    }
}
