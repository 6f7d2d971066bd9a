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

/// Where the kernel reads x and the weight from (shaders/norm_input_*.wgsl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormInput {
    /// Storage bindings: any size, and the cheaper read on GPUs.
    Storage,
    /// Uniform bindings, for CPU-type adapters: there a load at a different address per
    /// lane is a vector gather from a uniform buffer but a loop over the lanes from a
    /// storage buffer (lavapipe, RMSNorm of 32 rows of 576: see the closing note of issue 5).
    Uniform,
}

impl NormInput {
    /// The adapter's better reader for these buffers: uniform on a CPU-type adapter where
    /// both can be bound that way, storage elsewhere.
    pub fn for_buffers(gpu: &Gpu, x: &wgpu::Buffer, weight: &wgpu::Buffer) -> NormInput {
        if gpu.is_software() && Self::fits_uniform(gpu, x) && Self::fits_uniform(gpu, weight) {
            NormInput::Uniform
        } else {
            NormInput::Storage
        }
    }

    /// Every reader these buffers allow (tests check each).
    pub fn available(gpu: &Gpu, x: &wgpu::Buffer, weight: &wgpu::Buffer) -> Vec<NormInput> {
        let mut all = vec![NormInput::Storage];
        if Self::fits_uniform(gpu, x) && Self::fits_uniform(gpu, weight) {
            all.push(NormInput::Uniform);
        }
        all
    }

    /// A buffer created with UNIFORM usage, whole vec4s, within the uniform binding limit.
    fn fits_uniform(gpu: &Gpu, buffer: &wgpu::Buffer) -> bool {
        buffer.usage().contains(wgpu::BufferUsages::UNIFORM)
            && buffer.size().is_multiple_of(16)
            && buffer.size() <= gpu.limits.max_uniform_buffer_binding_size
    }

    fn preamble(self, x: &wgpu::Buffer, weight: &wgpu::Buffer) -> String {
        match self {
            NormInput::Storage => shader!("norm_input_storage").wgsl.to_string(),
            NormInput::Uniform => format!(
                "const X_TEXELS: u32 = {}u;\nconst WEIGHT_TEXELS: u32 = {}u;\n{}",
                x.size() / 16,
                weight.size() / 16,
                shader!("norm_input_uniform").wgsl
            ),
        }
    }
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
        input: NormInput,
    ) -> Result<RmsNorm> {
        // The subgroup twin reduces in, and stages with, runs of 8 lanes.
        let (source, wg) = match writer {
            StageWriter::Portable => (shader!("rmsnorm"), WG),
            StageWriter::Subgroup | StageWriter::SubgroupWide => {
                (shader!("subgroup/rmsnorm"), writer.row_workgroup_size())
            }
        };
        let preamble = format!(
            "const WG: u32 = {wg}u;\n{}{}",
            layout.producer_preamble(writer),
            input.preamble(x, weight)
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
