//! Owner of `shaders/softmax.wgsl`.

use crate::error::Result;
use crate::gpu::kernel::buffers;
use crate::gpu::{kernel::grid, Bound, Gpu, ParamArena, Recorder};
use crate::shader;

const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
}

/// Row-wise softmax of `rows` rows of `cols` floats.
pub struct Softmax {
    bound: Bound,
    cols: u32,
}

impl Softmax {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        cols: u32,
    ) -> Result<Softmax> {
        let pipeline = gpu.pipeline(
            &shader!("softmax"),
            &format!("const WG: u32 = {WG}u;\n"),
            "main",
        )?;
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "softmax",
            std::mem::size_of::<Params>(),
            &buffers(&[x, y]),
        )?;
        Ok(Softmax { bound, cols })
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, rows: u32) {
        let params = Params {
            rows,
            cols: self.cols,
        };
        rec.dispatch(&self.bound, &params, grid(rec.gpu, rows));
    }
}
