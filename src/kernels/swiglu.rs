//! Owner of `shaders/swiglu.wgsl`.

use super::groups_for;
use crate::error::Result;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder};
use crate::shader;

const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    cols: u32,
    in_stride: u32,
    up_offset: u32,
}

/// `out[t, j] = silu(gate_up[t, j]) * gate_up[t, up_offset + j]` for j < cols.
pub struct SwiGlu {
    bound: Bound,
    cols: u32,
    in_stride: u32,
    up_offset: u32,
}

impl SwiGlu {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        gate_up: &wgpu::Buffer,
        out: &wgpu::Buffer,
        cols: u32,
        in_stride: u32,
        up_offset: u32,
    ) -> Result<SwiGlu> {
        let pipeline = gpu.pipeline(&shader!("swiglu"), &format!("const WG: u32 = {WG}u;\n"))?;
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "swiglu",
            std::mem::size_of::<Params>(),
            &[gate_up, out],
        )?;
        Ok(SwiGlu {
            bound,
            cols,
            in_stride,
            up_offset,
        })
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, n_tokens: u32) {
        let params = Params {
            n_tokens,
            cols: self.cols,
            in_stride: self.in_stride,
            up_offset: self.up_offset,
        };
        rec.dispatch(
            &self.bound,
            &params,
            groups_for(rec.gpu, n_tokens * self.cols, WG),
        );
    }
}
