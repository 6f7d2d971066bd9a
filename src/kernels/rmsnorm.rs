//! Owner of `shaders/rmsnorm.wgsl`.

use crate::error::Result;
use crate::gpu::{kernel::grid, Bound, Gpu, ParamArena, Recorder};
use crate::shader;

const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    first_row: u32,
    eps: f32,
}

/// `y[r] = rmsnorm(x[first_row + r]) * weight` for rows of `cols` floats.
pub struct RmsNorm {
    bound: Bound,
    cols: u32,
    eps: f32,
}

impl RmsNorm {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        y: &wgpu::Buffer,
        cols: u32,
        eps: f32,
    ) -> Result<RmsNorm> {
        let pipeline = gpu.pipeline(&shader!("rmsnorm"), &format!("const WG: u32 = {WG}u;\n"))?;
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "rmsnorm",
            std::mem::size_of::<Params>(),
            &[x, weight, y],
        )?;
        Ok(RmsNorm { bound, cols, eps })
    }

    /// Normalises `rows` rows of x starting at `first_row`.
    pub fn encode(&self, rec: &mut Recorder<'_>, rows: u32, first_row: u32) {
        let params = Params {
            rows,
            cols: self.cols,
            first_row,
            eps: self.eps,
        };
        rec.dispatch(&self.bound, &params, grid(rec.gpu, rows));
    }
}
