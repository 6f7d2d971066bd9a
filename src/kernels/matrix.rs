//! Weight matrices on the GPU, compact and in the layout `shaders/formats.wgsl` describes:
//! the weights in an Rgba32Uint texture read as a run of 16-byte texels, rows interleaved in
//! groups of [`ROW_GROUP`], and for quantized formats one u32 of scales per block of 32 in a
//! second texture laid out the same way. A matrix whose texels do not fit one texture is
//! split into shards of whole row groups.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, TexelTexture};
use crate::model::tensor::{self, DType, BLOCK};
use half::f16;

/// How a matrix's weights are stored on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightFormat {
    F32,
    F16,
    Q8_0,
    Q4_0,
    Q4_1,
}

impl WeightFormat {
    pub const ALL: [WeightFormat; 5] = [
        WeightFormat::F32,
        WeightFormat::F16,
        WeightFormat::Q8_0,
        WeightFormat::Q4_0,
        WeightFormat::Q4_1,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::F16 => "f16",
            WeightFormat::Q8_0 => "q8_0",
            WeightFormat::Q4_0 => "q4_0",
            WeightFormat::Q4_1 => "q4_1",
        }
    }

    pub fn parse(s: &str) -> Option<WeightFormat> {
        WeightFormat::ALL
            .into_iter()
            .find(|f| f.name() == s.to_ascii_lowercase())
    }

    pub fn is_quantized(self) -> bool {
        matches!(
            self,
            WeightFormat::Q8_0 | WeightFormat::Q4_0 | WeightFormat::Q4_1
        )
    }

    /// The storage format of a tensor kept as it is in the file.
    pub fn of_dtype(dtype: DType) -> WeightFormat {
        match dtype {
            DType::F32 => WeightFormat::F32,
            DType::F16 | DType::BF16 => WeightFormat::F16,
            DType::Q8_0 => WeightFormat::Q8_0,
            DType::Q4_0 => WeightFormat::Q4_0,
            DType::Q4_1 => WeightFormat::Q4_1,
        }
    }

    /// 16-byte texels one row of `cols` weights takes (rows are padded with zeros).
    pub fn texels_per_row(self, cols: u32) -> u32 {
        match self {
            WeightFormat::F32 => cols.div_ceil(4),
            WeightFormat::F16 => cols.div_ceil(8),
            WeightFormat::Q8_0 => cols / 16,
            WeightFormat::Q4_0 | WeightFormat::Q4_1 => cols / 32,
        }
    }

    /// Checks that rows of `cols` weights can be stored in this format.
    pub fn check_cols(self, name: &str, cols: u32) -> Result<()> {
        if self.is_quantized() && !cols.is_multiple_of(BLOCK as u32) {
            return Err(Error::usage(format!(
                "{name}: rows of {cols} weights cannot be stored as {} (blocks of {BLOCK})",
                self.name()
            )));
        }
        Ok(())
    }
}

/// Weights of a matrix in host memory, laid out for upload: the texels of every row, and
/// for quantized formats one u32 per block.
pub struct PackedMatrix {
    pub rows: u32,
    pub cols: u32,
    pub format: WeightFormat,
    pub texels: Vec<[u32; 4]>,
    pub scales: Vec<u32>,
}

impl PackedMatrix {
    /// Packs rows of `cols` values stored as `dtype` (raw bytes, rows in order), keeping
    /// quantized blocks as they are when `format` matches `dtype`, converting otherwise.
    pub fn from_raw(
        name: &str,
        dtype: DType,
        bytes: &[u8],
        rows: u32,
        cols: u32,
        format: WeightFormat,
    ) -> Result<PackedMatrix> {
        format.check_cols(name, cols)?;
        let same_blocks = matches!(
            (dtype, format),
            (DType::Q8_0, WeightFormat::Q8_0)
                | (DType::Q4_0, WeightFormat::Q4_0)
                | (DType::Q4_1, WeightFormat::Q4_1)
        );
        if same_blocks {
            return Ok(Self::from_blocks(dtype, bytes, rows, cols, format));
        }
        if dtype == DType::F16 && format == WeightFormat::F16 {
            let halves: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Ok(Self::from_f16_bits(&halves, rows, cols));
        }
        let values = tensor::dequantize(dtype, bytes, rows as usize * cols as usize);
        Ok(Self::from_f32(&values, rows, cols, format))
    }

    /// Packs (quantizing if asked) row-major f32 values.
    pub fn from_f32(values: &[f32], rows: u32, cols: u32, format: WeightFormat) -> PackedMatrix {
        let (r, c) = (rows as usize, cols as usize);
        assert_eq!(values.len(), r * c, "matrix data length");
        match format {
            WeightFormat::F32 => {
                let per_row = format.texels_per_row(cols) as usize;
                let mut texels = vec![[0u32; 4]; r * per_row];
                for (row, chunk) in values.chunks(c).enumerate() {
                    for (j, v) in chunk.iter().enumerate() {
                        texels[row * per_row + j / 4][j % 4] = v.to_bits();
                    }
                }
                PackedMatrix {
                    rows,
                    cols,
                    format,
                    texels,
                    scales: Vec::new(),
                }
            }
            WeightFormat::F16 => {
                let halves: Vec<u16> = values.iter().map(|&v| f16::from_f32(v).to_bits()).collect();
                Self::from_f16_bits(&halves, rows, cols)
            }
            _ => {
                let dtype = match format {
                    WeightFormat::Q8_0 => DType::Q8_0,
                    WeightFormat::Q4_0 => DType::Q4_0,
                    _ => DType::Q4_1,
                };
                let bytes = quantize(dtype, values);
                Self::from_blocks(dtype, &bytes, rows, cols, format)
            }
        }
    }

    fn from_f16_bits(halves: &[u16], rows: u32, cols: u32) -> PackedMatrix {
        let per_row = WeightFormat::F16.texels_per_row(cols) as usize;
        let mut texels = vec![[0u32; 4]; rows as usize * per_row];
        for (row, chunk) in halves.chunks(cols as usize).enumerate() {
            for (j, &h) in chunk.iter().enumerate() {
                let word = &mut texels[row * per_row + j / 8][(j % 8) / 2];
                *word |= u32::from(h) << (16 * (j % 2));
            }
        }
        PackedMatrix {
            rows,
            cols,
            format: WeightFormat::F16,
            texels,
            scales: Vec::new(),
        }
    }

    /// Splits GGUF blocks into texels of quants and a u32 of scales per block.
    fn from_blocks(
        dtype: DType,
        bytes: &[u8],
        rows: u32,
        cols: u32,
        format: WeightFormat,
    ) -> PackedMatrix {
        let (_, block_bytes) = dtype.block();
        let blocks = rows as usize * cols as usize / BLOCK;
        let word = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut texels =
            Vec::with_capacity(blocks * if format == WeightFormat::Q8_0 { 2 } else { 1 });
        let mut scales = Vec::with_capacity(blocks);
        for block in bytes.chunks_exact(block_bytes as usize).take(blocks) {
            match format {
                WeightFormat::Q8_0 => {
                    scales.push(u32::from(u16::from_le_bytes([block[0], block[1]])));
                    let q = &block[2..34];
                    texels.push([word(q, 0), word(q, 4), word(q, 8), word(q, 12)]);
                    texels.push([word(q, 16), word(q, 20), word(q, 24), word(q, 28)]);
                }
                WeightFormat::Q4_0 => {
                    scales.push(u32::from(u16::from_le_bytes([block[0], block[1]])));
                    let q = &block[2..18];
                    texels.push([word(q, 0), word(q, 4), word(q, 8), word(q, 12)]);
                }
                _ => {
                    scales.push(word(block, 0));
                    let q = &block[4..20];
                    texels.push([word(q, 0), word(q, 4), word(q, 8), word(q, 12)]);
                }
            }
        }
        PackedMatrix {
            rows,
            cols,
            format,
            texels,
            scales,
        }
    }

    /// The weights back as f32 (what the kernels compute with), for references and tests.
    pub fn dequantize(&self) -> Vec<f32> {
        let (rows, cols) = (self.rows as usize, self.cols as usize);
        let per_row = self.format.texels_per_row(self.cols) as usize;
        let mut out = vec![0.0f32; rows * cols];
        for row in 0..rows {
            for j in 0..cols {
                out[row * cols + j] = match self.format {
                    WeightFormat::F32 => f32::from_bits(self.texels[row * per_row + j / 4][j % 4]),
                    WeightFormat::F16 => {
                        let w = self.texels[row * per_row + j / 8][(j % 8) / 2];
                        f16::from_bits((w >> (16 * (j % 2))) as u16).to_f32()
                    }
                    _ => {
                        let block = row * cols / BLOCK + j / BLOCK;
                        let (jj, s) = (j % BLOCK, self.scales[block]);
                        let d = f16::from_bits(s as u16).to_f32();
                        match self.format {
                            WeightFormat::Q8_0 => {
                                let w = self.texels[2 * block + jj / 16][(jj % 16) / 4];
                                d * f32::from((w >> (8 * (jj % 4))) as u8 as i8)
                            }
                            _ => {
                                let w = self.texels[block][(jj % 16) / 4];
                                let byte = (w >> (8 * (jj % 4))) & 0xFF;
                                let q = if jj < 16 { byte & 0xF } else { byte >> 4 } as f32;
                                if self.format == WeightFormat::Q4_0 {
                                    d * (q - 8.0)
                                } else {
                                    d * q + f16::from_bits((s >> 16) as u16).to_f32()
                                }
                            }
                        }
                    }
                };
            }
        }
        out
    }
}

/// Quantizes f32 values (a multiple of 32) into GGUF blocks, as llama.cpp's reference
/// quantizers do.
pub fn quantize(dtype: DType, values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / BLOCK * dtype.block().1 as usize);
    for block in values.chunks_exact(BLOCK) {
        match dtype {
            DType::Q8_0 => {
                let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend(f16::from_f32(d).to_le_bytes());
                out.extend(block.iter().map(|v| (v * inv).round() as i8 as u8));
            }
            DType::Q4_0 => {
                // The value of largest magnitude maps to -8.
                let max = block
                    .iter()
                    .fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
                let d = max / -8.0;
                let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend(f16::from_f32(d).to_le_bytes());
                let q = |v: f32| ((v * inv + 8.5) as i32).clamp(0, 15) as u8;
                for j in 0..16 {
                    out.push(q(block[j]) | (q(block[j + 16]) << 4));
                }
            }
            DType::Q4_1 => {
                let min = block.iter().cloned().fold(f32::INFINITY, f32::min);
                let max = block.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let d = (max - min) / 15.0;
                let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend(f16::from_f32(d).to_le_bytes());
                out.extend(f16::from_f32(min).to_le_bytes());
                let q = |v: f32| (((v - min) * inv + 0.5) as i32).clamp(0, 15) as u8;
                for j in 0..16 {
                    out.push(q(block[j]) | (q(block[j + 16]) << 4));
                }
            }
            other => unreachable!("quantize to {other:?}"),
        }
    }
    out
}

/// A run of whole rows of a matrix held in one texture (plus its scales).
pub struct MatrixShard {
    pub first_row: u32,
    pub rows: u32,
    pub data: TexelTexture,
    pub scales: Option<TexelTexture>,
}

/// A [rows, cols] weight matrix on the GPU.
pub struct GpuMatrix {
    pub rows: u32,
    pub cols: u32,
    pub format: WeightFormat,
    /// Texels per texture row of every shard (data and scales); kernels reading the
    /// matrix are compiled for it.
    pub texture_width: u32,
    pub shards: Vec<MatrixShard>,
}

/// Rows interleaved texel by texel on the GPU (formats.wgsl's ROW_GROUP): neighbouring
/// invocations computing neighbouring rows then read one contiguous run of memory.
pub const ROW_GROUP: usize = 8;

/// Interleaves `rows` rows of `per_row` texels in groups of [`ROW_GROUP`]: texel u of row r
/// goes to `((r / ROW_GROUP) * per_row + u) * ROW_GROUP + r % ROW_GROUP`; the last group is
/// padded with zero texels.
fn interleave_rows(texels: &[[u32; 4]], rows: usize, per_row: usize) -> Vec<[u32; 4]> {
    let mut out = vec![[0u32; 4]; rows.div_ceil(ROW_GROUP) * ROW_GROUP * per_row];
    for (r, row) in texels.chunks_exact(per_row.max(1)).take(rows).enumerate() {
        for (u, &texel) in row.iter().enumerate() {
            out[((r / ROW_GROUP) * per_row + u) * ROW_GROUP + r % ROW_GROUP] = texel;
        }
    }
    out
}

/// The narrowest texture width weights use, in texels.
const MIN_TEXTURE_WIDTH: u64 = 64;

impl GpuMatrix {
    /// The width of the textures holding `texels`: the narrowest power of two (at least
    /// 64) at which they fit in the adapter's tallest texture, so the padding of the last
    /// texture row stays under 1 KiB for most matrices instead of up to 64 KiB (7 MB over
    /// SmolLM2's 241 weight textures at a fixed width of 4096). Matrices too large for one
    /// texture even at the widest width are split into shards at that width.
    pub fn texture_width_for(gpu: &Gpu, texels: u64) -> u32 {
        let widest = u64::from(TexelTexture::width(gpu));
        let tallest = u64::from(gpu.limits.max_texture_dimension_2d.max(1));
        let needed = texels
            .div_ceil(tallest)
            .max(MIN_TEXTURE_WIDTH)
            .next_power_of_two();
        needed.min(widest) as u32
    }

    pub fn upload(gpu: &Gpu, label: &str, packed: &PackedMatrix) -> Result<GpuMatrix> {
        Self::upload_sharded(gpu, label, packed, u64::MAX)
    }

    /// Like [`Self::upload`] with at most `max_shard_texels` per shard, but at least one
    /// row group (tests use it to exercise sharding without gigabytes of weights).
    pub fn upload_sharded(
        gpu: &Gpu,
        label: &str,
        packed: &PackedMatrix,
        max_shard_texels: u64,
    ) -> Result<GpuMatrix> {
        let per_row = u64::from(packed.format.texels_per_row(packed.cols));
        let group = ROW_GROUP as u64;
        let padded_rows = u64::from(packed.rows).div_ceil(group) * group;
        let width = Self::texture_width_for(gpu, per_row * padded_rows);
        let capacity = (u64::from(width) * u64::from(gpu.limits.max_texture_dimension_2d))
            .min(max_shard_texels);
        let rows_per_shard =
            (capacity / per_row.max(1) / group * group).clamp(group, u64::from(u32::MAX)) as u32;
        let blocks_per_row = packed.cols as u64 / BLOCK as u64;
        let mut shards = Vec::new();
        let mut first_row = 0u32;
        while first_row < packed.rows {
            let rows = rows_per_shard.min(packed.rows - first_row);
            let name = if rows == packed.rows {
                label.to_string()
            } else {
                format!("{label} [rows {first_row}..{}]", first_row + rows)
            };
            let start = (u64::from(first_row) * per_row) as usize;
            let end = start + (u64::from(rows) * per_row) as usize;
            let data = TexelTexture::upload(
                gpu,
                &name,
                &interleave_rows(&packed.texels[start..end], rows as usize, per_row as usize),
                width,
            )?;
            let scales = if packed.format.is_quantized() {
                // Each row's scales start a texel of their own (see formats.wgsl).
                let mut grouped: Vec<[u32; 4]> = Vec::new();
                for row in first_row..first_row + rows {
                    let s = (u64::from(row) * blocks_per_row) as usize;
                    for c in packed.scales[s..s + blocks_per_row as usize].chunks(4) {
                        let mut texel = [0u32; 4];
                        texel[..c.len()].copy_from_slice(c);
                        grouped.push(texel);
                    }
                }
                Some(TexelTexture::upload(
                    gpu,
                    &format!("{name} scales"),
                    &interleave_rows(&grouped, rows as usize, blocks_per_row.div_ceil(4) as usize),
                    width,
                )?)
            } else {
                None
            };
            shards.push(MatrixShard {
                first_row,
                rows,
                data,
                scales,
            });
            first_row += rows;
        }
        Ok(GpuMatrix {
            rows: packed.rows,
            cols: packed.cols,
            format: packed.format,
            texture_width: width,
            shards,
        })
    }

    /// Uploads a row-major f32 matrix in `format`.
    pub fn from_f32(
        gpu: &Gpu,
        label: &str,
        rows: u32,
        cols: u32,
        values: &[f32],
        format: WeightFormat,
    ) -> Result<GpuMatrix> {
        format.check_cols(label, cols)?;
        Self::upload(
            gpu,
            label,
            &PackedMatrix::from_f32(values, rows, cols, format),
        )
    }

    /// Bytes of GPU memory the matrix occupies.
    pub fn bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.data.bytes() + s.scales.as_ref().map_or(0, |t| t.bytes()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_every_format() {
        let (rows, cols) = (3u32, 64u32);
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        for format in WeightFormat::ALL {
            let packed = PackedMatrix::from_f32(&values, rows, cols, format);
            let back = packed.dequantize();
            let max_err = values
                .iter()
                .zip(&back)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            let bound = match format {
                WeightFormat::F32 => 0.0,
                WeightFormat::F16 => 2e-3,
                WeightFormat::Q8_0 => 2.0 / 127.0,
                _ => 2.0 / 7.0,
            };
            assert!(max_err <= bound, "{format:?}: max error {max_err}");
        }
    }

    #[test]
    fn gguf_blocks_are_kept_bit_for_bit() {
        let values: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_1] {
            let bytes = quantize(dtype, &values);
            let format = WeightFormat::of_dtype(dtype);
            let packed = PackedMatrix::from_raw("w", dtype, &bytes, 2, 32, format).unwrap();
            assert_eq!(
                packed.dequantize(),
                tensor::dequantize(dtype, &bytes, 64),
                "{dtype:?}"
            );
        }
        let err = PackedMatrix::from_raw("w", DType::F32, &[0; 4 * 40], 2, 20, WeightFormat::Q4_1)
            .err()
            .unwrap();
        assert!(err.to_string().contains("w: rows of 20"), "{err}");
    }
}
