//! The staged layout of matmul inputs: rows of x in a buffer the matmul kernels read as a
//! uniform buffer (see `shaders/formats.wgsl`). Kernels producing a matmul's input (RMSNorm,
//! SwiGLU, the stage kernel) write it; the matmul reads it.
//!
//! Uniform reads of x are what keeps a matrix-vector product fast on CPU-type adapters, and
//! broadcast cheaply on GPUs. A uniform binding holds at most 64 KiB on most adapters
//! ([`StagedLayout::max_rows`] rows): the decode reads row 0 of it, and a prefill step of
//! more rows reads x another way (see `matmul::max_step_tokens`).

use super::matrix::{GpuMatrix, WeightFormat};
use crate::error::Result;
use crate::gpu::{Gpu, StorageBuffer};
use crate::shader;

/// How a producer (RMSNorm, SwiGLU, the stage kernel) writes the staged layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageWriter {
    /// One invocation per unit, alone (`shaders/staging.wgsl`).
    Portable,
    /// The 8 lanes of a subgroup per block of 32, each value loaded and computed once
    /// (`shaders/subgroup/staging.wgsl`), in workgroups of 8: one SIMD vector on a
    /// CPU-type adapter. The portable writer walks a block twice in one invocation, a
    /// per-lane gather per value there.
    Subgroup,
    /// The same in wide workgroups, for GPUs: runs of 8 lanes stage blocks side by side
    /// (RMSNorm's one workgroup per row would otherwise stage its blocks one by one).
    SubgroupWide,
}

impl StageWriter {
    /// The subgroup writer where subgroups hold at least 8 invocations, in workgroups of 8
    /// on a CPU-type adapter and wide ones on a GPU (`SHADERLM_PORTABLE=1` forces the
    /// portable one).
    pub fn for_gpu(gpu: &Gpu) -> StageWriter {
        match super::preferred(&super::lanes_of_8_variants(
            gpu,
            StageWriter::Portable,
            StageWriter::Subgroup,
        )) {
            StageWriter::Subgroup if !gpu.is_software() => StageWriter::SubgroupWide,
            writer => writer,
        }
    }

    /// The writer for a producer of independent items (SwiGLU, the stage kernel): the
    /// subgroup one in wide workgroups wherever there is one. Even on a CPU-type adapter,
    /// where a workgroup of 8 is one SIMD vector, lavapipe pays per workgroup: SwiGLU of
    /// SmolLM2's 24-token step took 0.33 ms in workgroups of 8, 0.20 ms in workgroups of 64.
    pub fn for_items(gpu: &Gpu) -> StageWriter {
        match Self::for_gpu(gpu) {
            StageWriter::Subgroup => StageWriter::SubgroupWide,
            writer => writer,
        }
    }

    /// Every writer this adapter can run (tests check each).
    pub fn available(gpu: &Gpu) -> Vec<StageWriter> {
        let mut all = super::lanes_of_8_variants(gpu, StageWriter::Portable, StageWriter::Subgroup);
        if all.contains(&StageWriter::Subgroup) {
            all.push(StageWriter::SubgroupWide);
        }
        all
    }

    /// Invocations that stage one item together.
    pub fn lanes(self) -> u32 {
        match self {
            StageWriter::Portable => 1,
            StageWriter::Subgroup | StageWriter::SubgroupWide => 8,
        }
    }

    /// Workgroup size of a producer whose items are independent (SwiGLU, the stage kernel).
    pub fn workgroup_size(self) -> u32 {
        match self {
            StageWriter::Portable => 64,
            StageWriter::Subgroup => 8,
            StageWriter::SubgroupWide => 64,
        }
    }

    /// Workgroup size of a producer that stages one row per workgroup (RMSNorm).
    pub fn row_workgroup_size(self) -> u32 {
        match self {
            StageWriter::SubgroupWide => 256,
            _ => self.workgroup_size(),
        }
    }

    /// Workgroups of a producer with independent items (SwiGLU, the stage kernel) staging
    /// `rows` rows of `layout`.
    pub fn workgroups(self, gpu: &Gpu, layout: &StagedLayout, rows: u32) -> [u32; 3] {
        let invocations = rows * layout.items(self) * self.lanes();
        super::groups_for(gpu, invocations, self.workgroup_size())
    }

    fn source(self) -> String {
        match self {
            StageWriter::Portable => shader!("staging").wgsl.to_string(),
            StageWriter::Subgroup | StageWriter::SubgroupWide => format!(
                "{}{}",
                shader!("subgroup/stage_block").wgsl,
                shader!("subgroup/staging").wgsl
            ),
        }
    }
}

/// How rows of `cols` values are staged, and how many rows the buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedLayout {
    /// int8 blocks of 32 with scales (for quantized weights), else f32.
    pub int8: bool,
    pub cols: u32,
    pub rows: u32,
}

impl StagedLayout {
    /// The layout the matmul over `w` reads, for `rows` tokens.
    pub fn for_matrix(w: &GpuMatrix, rows: u32) -> StagedLayout {
        Self::for_format(w.format, w.cols, rows)
    }

    pub fn for_format(format: WeightFormat, cols: u32, rows: u32) -> StagedLayout {
        StagedLayout {
            int8: format.is_quantized(),
            cols,
            rows,
        }
    }

    fn blocks(&self) -> u32 {
        self.cols.div_ceil(32)
    }

    /// vec4<u32> of int8 values (XQ) and vec4<f32> of block scales (XS) per row.
    fn int8_vec4s(&self) -> (u32, u32) {
        (self.blocks() * 2, self.blocks())
    }

    /// Units (blocks of 32, or vec4s) one invocation of the portable writer stages at a time:
    /// for f32, every vec4 of the row, so that the padding is written (zeros) too.
    fn units(&self) -> u32 {
        if self.int8 {
            self.blocks()
        } else {
            self.row_words() / 4
        }
    }

    pub fn row_words(&self) -> u32 {
        if self.int8 {
            let (q, s) = self.int8_vec4s();
            4 * (q + s)
        } else {
            // Whole pairs of vec4s: an f16 texel holds 8 weights, and the f16 matmul reads
            // x for all 8 (the writers write the padding as zeros: `units`).
            8 * self.cols.div_ceil(8)
        }
    }

    pub fn bytes(&self) -> u64 {
        u64::from(self.rows) * u64::from(self.row_words()) * 4
    }

    /// The most rows of `cols` a uniform binding of this adapter can hold in `format`'s layout.
    pub fn max_rows(gpu: &Gpu, format: WeightFormat, cols: u32) -> u32 {
        let row_bytes = u64::from(Self::for_format(format, cols, 1).row_words()) * 4;
        (gpu.limits.max_uniform_buffer_binding_size / row_bytes).min(u64::from(u32::MAX)) as u32
    }

    /// Items `writer` stages per row, each by [`StageWriter::lanes`] invocations.
    pub fn items(&self, writer: StageWriter) -> u32 {
        match writer {
            StageWriter::Portable => self.units(),
            StageWriter::Subgroup | StageWriter::SubgroupWide => self.blocks(),
        }
    }

    /// Constants and the writer for a kernel that writes this layout (see staging.wgsl).
    pub fn producer_preamble(&self, writer: StageWriter) -> String {
        format!(
            "{}const STAGE_BLOCK_IS_SUBGROUP: bool = {};\n{}",
            self.producer_constants(),
            writer == StageWriter::Subgroup,
            writer.source()
        )
    }

    /// Constants and the subgroup block writer alone (subgroup/stage_block.wgsl), for a
    /// kernel that holds the values in its lanes already (the subgroup attention, whose
    /// subgroups of 8 are the lanes of a block).
    pub fn block_writer_preamble(&self) -> String {
        format!(
            "{}const STAGE_BLOCK_IS_SUBGROUP: bool = true;\n{}",
            self.producer_constants(),
            shader!("subgroup/stage_block").wgsl
        )
    }

    fn producer_constants(&self) -> String {
        let scales = if self.int8 {
            4 * self.int8_vec4s().0
        } else {
            0
        };
        format!(
            "const STAGE_Q8: bool = {};\nconst STAGE_K: u32 = {}u;\nconst STAGE_UNITS: u32 = {}u;\n\
             const STAGE_ROW_WORDS: u32 = {}u;\nconst STAGE_SCALES: u32 = {scales}u;\n\
             const STAGE_BLOCKS: u32 = {}u;\n",
            self.int8,
            self.cols,
            self.units(),
            self.row_words(),
            self.blocks(),
        )
    }

    /// Constants for the matmul that reads this layout (see formats.wgsl).
    pub fn consumer_preamble(&self) -> String {
        let (q, _) = self.int8_vec4s();
        format!(
            "const XR: u32 = {}u;\nconst XV: u32 = {}u;\nconst XQ: u32 = {q}u;\n",
            self.rows,
            self.row_words() / 4
        )
    }

    /// A buffer for this layout, writable as storage and readable as a uniform buffer (the
    /// matmuls bind as many of its first rows as a uniform binding holds).
    pub fn buffer(&self, gpu: &Gpu, label: &str) -> Result<StorageBuffer> {
        StorageBuffer::with_usage(gpu, label, self.bytes(), wgpu::BufferUsages::UNIFORM)
    }
}
