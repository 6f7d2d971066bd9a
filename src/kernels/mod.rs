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
pub mod tuning;

pub use matrix::{GpuMatrix, PackedMatrix, WeightFormat};
pub use staging::{StageWriter, StagedLayout};
pub use tuning::{DecodeVariant, Tuner};

use crate::error::Result;
use crate::gpu::{kernel::grid, Gpu, ParamArena, Recorder};

/// How a kernel reduces across invocations: with subgroup operations, when the adapter has
/// them at one fixed subgroup size (the workgroup is then one subgroup, or several that
/// split the work, see `AttentionVariant`), or through workgroup memory and barriers (the
/// portable twin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    Subgroup(u32),
    Workgroup,
}

/// `SHADERLM_PORTABLE=1`: use the portable twin of every kernel that has a subgroup one.
pub(crate) fn forced_portable() -> bool {
    std::env::var("SHADERLM_PORTABLE").is_ok_and(|v| v == "1")
}

impl Reduction {
    /// The best this adapter offers (`SHADERLM_PORTABLE=1` forces the portable kernels).
    pub fn for_gpu(gpu: &Gpu) -> Reduction {
        match gpu.fixed_subgroup_size() {
            Some(size) if !forced_portable() => Reduction::Subgroup(size),
            _ => Reduction::Workgroup,
        }
    }

    /// Every variant this adapter can run (tests check each).
    pub fn available(gpu: &Gpu) -> Vec<Reduction> {
        let mut all = vec![Reduction::Workgroup];
        if let Some(size) = gpu.fixed_subgroup_size() {
            all.push(Reduction::Subgroup(size));
        }
        all
    }
}

/// The variants of a kernel piece whose subgroup form has 8 invocations of one subgroup
/// work together (the x reader, the stage writer): `portable`, then `subgroup` where the
/// adapter has subgroup operations and subgroups of at least 8 (tests check each).
pub(crate) fn lanes_of_8_variants<T>(gpu: &Gpu, portable: T, subgroup: T) -> Vec<T> {
    let mut all = vec![portable];
    if has_lanes_of_8(gpu) {
        all.push(subgroup);
    }
    all
}

/// Whether 8 invocations of a workgroup are lanes of one subgroup: subgroup operations and
/// subgroups of at least 8.
pub(crate) fn has_lanes_of_8(gpu: &Gpu) -> bool {
    gpu.has_subgroups() && gpu.info.subgroup_min_size >= 8
}

/// The variant to use of those `lanes_of_8_variants` gives: the subgroup one where there
/// is one, unless `SHADERLM_PORTABLE=1`.
pub(crate) fn preferred<T: Copy>(variants: &[T]) -> T {
    if forced_portable() {
        variants[0]
    } else {
        variants[variants.len() - 1]
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
