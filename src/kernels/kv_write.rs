//! Owner of `shaders/kv_write.wgsl`.

use super::attention::CacheShape;
use super::groups_for;
use super::rope;
use crate::error::Result;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder, StorageBuffer, TexelTexture};
use crate::shader;

const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    n_kv_heads: u32,
    head_dim: u32,
    src_stride: u32,
    k_offset: u32,
    v_offset: u32,
    first_row: u32,
    start_pos: u32,
}

/// Copies the K and V parts of each token row of `src` into one layer's cache textures.
pub struct KvWrite {
    bound: Bound,
    shape: CacheShape,
    src_stride: u32,
    k_offset: u32,
    v_offset: u32,
}

impl KvWrite {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        src: &wgpu::Buffer,
        k_cache: &TexelTexture,
        v_cache: &TexelTexture,
        rope_table: &StorageBuffer,
        shape: CacheShape,
        src_stride: u32,
        k_offset: u32,
        v_offset: u32,
    ) -> Result<KvWrite> {
        let preamble = format!(
            "const WG: u32 = {WG}u;\n{}{}",
            shape.preamble(gpu),
            rope::source()
        );
        let pipeline = gpu.pipeline(&shader!("kv_write"), &preamble, "main")?;
        let resources = [
            (1, src.as_entire_binding()),
            (2, wgpu::BindingResource::TextureView(&k_cache.view)),
            (3, wgpu::BindingResource::TextureView(&v_cache.view)),
            rope::table_binding(rope_table),
        ];
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "kv_write",
            std::mem::size_of::<Params>(),
            &resources,
        )?;
        Ok(KvWrite {
            bound,
            shape,
            src_stride,
            k_offset,
            v_offset,
        })
    }

    /// Writes `n_tokens` rows, the first at position `start_pos` and cache row `first_row`
    /// (sequence * ctx + start_pos), keys rotated to their positions.
    pub fn encode(&self, rec: &mut Recorder<'_>, n_tokens: u32, start_pos: u32, first_row: u32) {
        let params = Params {
            n_tokens,
            n_kv_heads: self.shape.n_kv_heads,
            head_dim: self.shape.head_dim,
            src_stride: self.src_stride,
            k_offset: self.k_offset,
            v_offset: self.v_offset,
            first_row,
            start_pos,
        };
        let groups = groups_for(rec.gpu, n_tokens * self.shape.row_texels(), WG);
        rec.dispatch(&self.bound, &params, groups);
    }
}
