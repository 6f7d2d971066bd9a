//! Weight matrices on the GPU, split into shards of whole rows so that each shard fits in
//! one storage binding (128 MiB on lavapipe and WebGPU's defaults).

use crate::error::Result;
use crate::gpu::{Gpu, StorageBuffer};

/// How a matrix's elements are stored on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    F32,
}

impl WeightFormat {
    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
        }
    }

    /// Bytes one row of `cols` elements takes.
    pub fn row_bytes(self, cols: u32) -> u64 {
        match self {
            WeightFormat::F32 => u64::from(cols) * 4,
        }
    }
}

/// A run of whole rows held in one buffer.
pub struct MatrixShard {
    pub buffer: StorageBuffer,
    pub first_row: u32,
    pub rows: u32,
}

/// A [rows, cols] weight matrix, row-major, in `format`.
pub struct GpuMatrix {
    pub rows: u32,
    pub cols: u32,
    pub format: WeightFormat,
    pub shards: Vec<MatrixShard>,
}

impl GpuMatrix {
    /// Uploads a row-major f32 matrix, in as many shards as the binding limit asks for.
    pub fn from_f32(
        gpu: &Gpu,
        label: &str,
        rows: u32,
        cols: u32,
        data: &[f32],
    ) -> Result<GpuMatrix> {
        Self::from_f32_sharded(gpu, label, rows, cols, data, gpu.max_binding_bytes())
    }

    /// Like [`Self::from_f32`] with shards of at most `max_shard_bytes` (tests use it to
    /// exercise sharding on adapters with large bindings).
    pub fn from_f32_sharded(
        gpu: &Gpu,
        label: &str,
        rows: u32,
        cols: u32,
        data: &[f32],
        max_shard_bytes: u64,
    ) -> Result<GpuMatrix> {
        assert_eq!(
            data.len(),
            rows as usize * cols as usize,
            "{label}: data length"
        );
        let bytes = bytemuck::cast_slice(data);
        Self::upload(
            gpu,
            label,
            rows,
            cols,
            WeightFormat::F32,
            bytes,
            max_shard_bytes,
        )
    }

    fn upload(
        gpu: &Gpu,
        label: &str,
        rows: u32,
        cols: u32,
        format: WeightFormat,
        bytes: &[u8],
        max_shard_bytes: u64,
    ) -> Result<GpuMatrix> {
        let row_bytes = format.row_bytes(cols);
        let rows_per_shard =
            Self::rows_per_shard(max_shard_bytes.min(gpu.max_binding_bytes()), row_bytes);
        let mut shards = Vec::new();
        let mut first_row = 0u32;
        while first_row < rows {
            let shard_rows = rows_per_shard.min(rows - first_row);
            let start = (u64::from(first_row) * row_bytes) as usize;
            let end = start + (u64::from(shard_rows) * row_bytes) as usize;
            let name = if rows_per_shard >= rows {
                label.to_string()
            } else {
                format!("{label} [rows {first_row}..{}]", first_row + shard_rows)
            };
            shards.push(MatrixShard {
                buffer: StorageBuffer::from_bytes(gpu, &name, &bytes[start..end])?,
                first_row,
                rows: shard_rows,
            });
            first_row += shard_rows;
        }
        Ok(GpuMatrix {
            rows,
            cols,
            format,
            shards,
        })
    }

    /// Whole rows that fit in one binding of `max_binding` bytes (at least one).
    pub fn rows_per_shard(max_binding: u64, row_bytes: u64) -> u32 {
        (max_binding / row_bytes.max(1)).clamp(1, u64::from(u32::MAX)) as u32
    }

    /// Bytes of GPU memory the matrix occupies.
    pub fn bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.buffer.bytes).sum()
    }

    /// Elements per row as the matrix kernels see them: vec4 packs when cols % 4 == 0.
    pub fn uses_vec4(&self) -> bool {
        self.cols.is_multiple_of(4)
    }
}
