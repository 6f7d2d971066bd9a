//! One Rust owner per shader: it compiles the pipeline, binds the buffers once (`new`) and
//! records a dispatch with that step's values (`encode`). Kernels know shapes and buffers,
//! never models.

pub mod attention;
pub mod embedding;
pub mod kv_write;
pub mod matmul;
pub mod matrix;
pub mod rmsnorm;
pub mod rope;
pub mod softmax;
pub mod stage;
pub mod staging;
pub mod swiglu;

pub use matrix::{GpuMatrix, PackedMatrix, WeightFormat};
pub use staging::StagedLayout;

use crate::error::Result;
use crate::gpu::{kernel::grid, Gpu, ParamArena, Recorder};

/// Workgroups for `total` invocations at `wg` per workgroup.
pub(crate) fn groups_for(gpu: &Gpu, total: u32, wg: u32) -> [u32; 3] {
    grid(gpu, total.div_ceil(wg))
}

/// Records one step with `record`, submits it and waits for the GPU.
/// Convenient for tests and one-off work; the model records its steps itself.
pub fn run(
    gpu: &Gpu,
    arena: &mut ParamArena,
    operation: &str,
    record: impl FnOnce(&mut Recorder<'_>),
) -> Result<()> {
    let mut recorder = Recorder::new(gpu, arena, None);
    record(&mut recorder);
    recorder.submit(operation)
}
