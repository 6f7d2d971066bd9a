//! One Rust owner per shader: it compiles the pipeline, binds the buffers once (`new`) and
//! records a dispatch with that step's values (`encode`). Kernels know shapes and buffers,
//! never models.

pub mod add;
pub mod attention;
pub mod embedding;
pub mod kv_write;
pub mod matmul;
pub mod matrix;
pub mod matvec;
pub mod rmsnorm;
pub mod rope;
pub mod softmax;
pub mod swiglu;

pub use matrix::{GpuMatrix, WeightFormat};

use crate::error::Result;
use crate::gpu::{kernel::grid, Gpu, ParamArena, Recorder};

/// WGSL that defines the `Pack` type the matrix kernels load: a vec4 of f32 when the row
/// length is a multiple of 4 (one 16-byte load), else a single f32.
pub(crate) fn pack_preamble(vec4: bool) -> &'static str {
    if vec4 {
        "alias Pack = vec4<f32>;\nconst PACK: u32 = 4u;\n\
         fn pdot(a: Pack, b: Pack) -> f32 { return dot(a, b); }\n"
    } else {
        "alias Pack = f32;\nconst PACK: u32 = 1u;\n\
         fn pdot(a: Pack, b: Pack) -> f32 { return a * b; }\n"
    }
}

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
