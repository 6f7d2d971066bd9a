//! Owner of `shaders/stage.wgsl`: stages rows of f32 activations for a matmul.

use super::staging::{StageWriter, StagedLayout};
use crate::error::Result;
use crate::gpu::{kernel::buffers, Bound, Gpu, ParamArena, Recorder, StorageBuffer};
use crate::shader;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
}

/// `staged[t] = src[t]` in the staged layout.
pub struct Stage {
    bound: Bound,
    layout: StagedLayout,
    writer: StageWriter,
}

impl Stage {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        src: &wgpu::Buffer,
        staged: &StorageBuffer,
        layout: StagedLayout,
        writer: StageWriter,
    ) -> Result<Stage> {
        let preamble = format!(
            "const WG: u32 = {}u;\n{}",
            writer.workgroup_size(),
            layout.producer_preamble(writer)
        );
        let pipeline = gpu.pipeline(&shader!("stage"), &preamble, "main")?;
        let mut resources = buffers(&[src]);
        resources.push((9, staged.binding()));
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "stage",
            std::mem::size_of::<Params>(),
            &resources,
        )?;
        Ok(Stage {
            bound,
            layout,
            writer,
        })
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, rows: u32) {
        let params = Params {
            rows,
            cols: self.layout.cols,
        };
        let groups = self.writer.workgroups(rec.gpu, &self.layout, rows);
        rec.dispatch(&self.bound, &params, groups);
    }
}
