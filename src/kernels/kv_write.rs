//! Owner of `shaders/kv_write.wgsl`.

use super::groups_for;
use crate::error::Result;
use crate::gpu::kernel::buffers;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder};
use crate::shader;

const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    kv_dim: u32,
    src_stride: u32,
    k_offset: u32,
    v_offset: u32,
    dst_base: u32,
}

/// Copies the K and V parts of each token row of `src` into one layer's cache.
pub struct KvWrite {
    bound: Bound,
    kv_dim: u32,
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
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        kv_dim: u32,
        src_stride: u32,
        k_offset: u32,
        v_offset: u32,
    ) -> Result<KvWrite> {
        let pipeline = gpu.pipeline(
            &shader!("kv_write"),
            &format!("const WG: u32 = {WG}u;\n"),
            "main",
        )?;
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "kv_write",
            std::mem::size_of::<Params>(),
            &buffers(&[src, k_cache, v_cache]),
        )?;
        Ok(KvWrite {
            bound,
            kv_dim,
            src_stride,
            k_offset,
            v_offset,
        })
    }

    /// Writes `n_tokens` rows at cache row `first_cache_row` (sequence * ctx + start_pos).
    pub fn encode(&self, rec: &mut Recorder<'_>, n_tokens: u32, first_cache_row: u32) {
        let params = Params {
            n_tokens,
            kv_dim: self.kv_dim,
            src_stride: self.src_stride,
            k_offset: self.k_offset,
            v_offset: self.v_offset,
            dst_base: first_cache_row * self.kv_dim,
        };
        rec.dispatch(
            &self.bound,
            &params,
            groups_for(rec.gpu, n_tokens * self.kv_dim, WG),
        );
    }
}
