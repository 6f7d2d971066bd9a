//! Owner of `shaders/rmsnorm.wgsl`: RMSNorm, written staged for the matmul that follows.

use super::staging::{StageWriter, StagedLayout};
use crate::error::Result;
use crate::gpu::{kernel::buffers, kernel::grid, Bound, Gpu, ParamArena, Recorder, StorageBuffer};
use crate::shader;

/// Invocations per workgroup of the portable kernel.
const WG: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    first_row: u32,
    eps: f32,
}

/// `staged[r] = rmsnorm(x[first_row + r]) * weight` for rows of `layout.cols` floats.
pub struct RmsNorm {
    bound: Bound,
    cols: u32,
    eps: f32,
}

impl RmsNorm {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        staged: &StorageBuffer,
        layout: StagedLayout,
        eps: f32,
        writer: StageWriter,
    ) -> Result<RmsNorm> {
        // The subgroup twin reduces in, and stages with, runs of 8 lanes.
        let (source, wg) = match writer {
            StageWriter::Portable => (shader!("rmsnorm"), WG),
            StageWriter::Subgroup | StageWriter::SubgroupWide => {
                (shader!("subgroup/rmsnorm"), writer.row_workgroup_size())
            }
        };
        let preamble = format!(
            "const WG: u32 = {wg}u;\n{}",
            layout.producer_preamble(writer)
        );
        let pipeline = gpu.pipeline(&source, &preamble, "main")?;
        let mut resources = buffers(&[x, weight]);
        resources.push((9, staged.binding()));
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "rmsnorm",
            std::mem::size_of::<Params>(),
            &resources,
        )?;
        Ok(RmsNorm {
            bound,
            cols: layout.cols,
            eps,
        })
    }

    /// Normalises `rows` rows of x starting at `first_row` into staged rows 0..rows.
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
