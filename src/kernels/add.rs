//! Owner of `shaders/add.wgsl`.

use super::groups_for;
use crate::error::Result;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder};
use crate::shader;

const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
}

/// `x += y`, elementwise (the residual connection).
pub struct Add {
    bound: Bound,
}

impl Add {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        y: &wgpu::Buffer,
        x: &wgpu::Buffer,
    ) -> Result<Add> {
        let pipeline = gpu.pipeline(&shader!("add"), &format!("const WG: u32 = {WG}u;\n"))?;
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "add",
            std::mem::size_of::<Params>(),
            &[y, x],
        )?;
        Ok(Add { bound })
    }

    /// Adds the first `n` elements.
    pub fn encode(&self, rec: &mut Recorder<'_>, n: u32) {
        rec.dispatch(&self.bound, &Params { n }, groups_for(rec.gpu, n, WG));
    }
}
