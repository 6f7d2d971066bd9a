//! Owner of `shaders/swiglu.wgsl`: silu(gate) * up, written staged for the down projection.

use super::staging::{StageWriter, StagedLayout};
use crate::error::Result;
use crate::gpu::{kernel::buffers, Bound, Gpu, ParamArena, Recorder, StorageBuffer};
use crate::shader;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    cols: u32,
}

/// `staged[t, j] = silu(gate_up[t, j]) * gate_up[t, cols + j]` for j < cols.
pub struct SwiGlu {
    bound: Bound,
    layout: StagedLayout,
    writer: StageWriter,
}

impl SwiGlu {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        gate_up: &wgpu::Buffer,
        staged: &StorageBuffer,
        layout: StagedLayout,
        writer: StageWriter,
    ) -> Result<SwiGlu> {
        let preamble = format!(
            "const WG: u32 = {}u;\n{}",
            writer.workgroup_size(),
            layout.producer_preamble(writer)
        );
        let pipeline = gpu.pipeline(&shader!("swiglu"), &preamble, "main")?;
        let mut resources = buffers(&[gate_up]);
        resources.push((9, staged.binding()));
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "swiglu",
            std::mem::size_of::<Params>(),
            &resources,
        )?;
        Ok(SwiGlu {
            bound,
            layout,
            writer,
        })
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, n_tokens: u32) {
        let params = Params {
            n_tokens,
            cols: self.layout.cols,
        };
        let groups = self.writer.workgroups(rec.gpu, &self.layout, n_tokens);
        rec.dispatch(&self.bound, &params, groups);
    }
}
