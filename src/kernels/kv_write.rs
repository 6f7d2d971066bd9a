//! Owner of `shaders/kv_write.wgsl`.

use super::attention::CacheShape;
use super::groups_for;
use super::rope;
use crate::error::Result;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder, StorageBuffer, TexelCopy, TexelTexture};
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

/// Where the kernel reads the new rows from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvWriteInput {
    /// The storage buffer (`main`): any shape, and the cheaper read on GPUs.
    Storage,
    /// For steps of several tokens, a texel-texture copy of it made before each dispatch
    /// (`main_texels`, the copy shared with the per-query attention's, `Gpu::texel_copy`), for
    /// CPU-type adapters: a storage load at per-lane addresses is a loop over the lanes
    /// there. Needs head_dim a multiple of 8 and rows and offsets of whole vec4s.
    Texture,
}

impl KvWriteInput {
    /// The texture on a CPU-type adapter where the shape allows it, storage elsewhere.
    pub fn for_gpu(
        gpu: &Gpu,
        shape: CacheShape,
        src_stride: u32,
        k_offset: u32,
        v_offset: u32,
    ) -> KvWriteInput {
        let texture = KvWriteInput::Texture;
        if gpu.is_software()
            && Self::available(shape, src_stride, k_offset, v_offset).contains(&texture)
        {
            texture
        } else {
            KvWriteInput::Storage
        }
    }

    /// Every reader the shape allows (tests check each).
    pub fn available(
        shape: CacheShape,
        src_stride: u32,
        k_offset: u32,
        v_offset: u32,
    ) -> Vec<KvWriteInput> {
        let mut all = vec![KvWriteInput::Storage];
        let whole = [src_stride, k_offset, v_offset]
            .iter()
            .all(|n| n.is_multiple_of(4));
        if whole && shape.head_dim.is_multiple_of(8) {
            all.push(KvWriteInput::Texture);
        }
        all
    }
}

/// Copies the K and V parts of each token row of `src` into one layer's cache textures.
pub struct KvWrite {
    bound: Bound,
    /// With `KvWriteInput::Texture`: `main_texels` and the copy it reads.
    texels: Option<(Bound, TexelCopy)>,
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
        input: KvWriteInput,
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
        let bytes = std::mem::size_of::<Params>();
        let bound = Bound::new(gpu, arena, &pipeline, "kv_write", bytes, &resources)?;
        let texels = match input {
            KvWriteInput::Storage => None,
            KvWriteInput::Texture => {
                let pipeline = gpu.pipeline(&shader!("kv_write"), &preamble, "main_texels")?;
                let copy = gpu.texel_copy("query texels", src, TexelTexture::width(gpu))?;
                let resources = copy.in_place_of(1, &resources);
                let bound = Bound::new(gpu, arena, &pipeline, "kv_write", bytes, &resources)?;
                Some((bound, copy))
            }
        };
        Ok(KvWrite {
            bound,
            texels,
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
        match &self.texels {
            Some((bound, copy)) if n_tokens > 1 => {
                copy.record(rec, u64::from(n_tokens) * u64::from(self.src_stride) / 4);
                rec.dispatch(bound, &params, groups);
            }
            _ => rec.dispatch(&self.bound, &params, groups),
        }
    }
}
