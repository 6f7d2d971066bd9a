//! Owner of `shaders/matmul_{f32,f16,q8_0,q4_0,q4_1}.wgsl`: Y (+)= W X for the tokens of a
//! step, W a weight matrix in any format, X staged (see staging.rs). One token (decode)
//! takes the `decode` entry point, a block of tokens (prefill) the `prefill` one.

use super::matrix::{GpuMatrix, WeightFormat};
use super::staging::StagedLayout;
use crate::error::{Error, Result};
use crate::gpu::{Bound, Gpu, ParamArena, Recorder, ShaderSource, StorageBuffer};
use crate::shader;

/// Invocations per workgroup; one SIMD vector on a CPU-type adapter.
const WG: u32 = 8;
/// Rows per invocation of `decode`, tokens per invocation of `prefill` (fixed by the shaders).
const DECODE_ROWS: u32 = 2;
const PREFILL_TOKENS: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    per_row: u32,
    tokens: u32,
    y_stride: u32,
    y_offset: u32,
    accumulate: u32,
    has_bias: u32,
    _pad: u32,
}

fn source(format: WeightFormat) -> ShaderSource {
    match format {
        WeightFormat::F32 => shader!("matmul_f32"),
        WeightFormat::F16 => shader!("matmul_f16"),
        WeightFormat::Q8_0 => shader!("matmul_q8_0"),
        WeightFormat::Q4_0 => shader!("matmul_q4_0"),
        WeightFormat::Q4_1 => shader!("matmul_q4_1"),
    }
}

struct Shard {
    decode: Bound,
    prefill: Bound,
    rows: u32,
    first_row: u32,
}

/// `Y[t, :] (+)= W X[t, :] (+ bias)` for the tokens of a step.
pub struct MatMul {
    shards: Vec<Shard>,
    per_row: u32,
    y_stride: u32,
    accumulate: bool,
    has_bias: bool,
    max_tokens: u32,
}

impl MatMul {
    /// Binds `w`, its staged input `x` (laid out as `layout`), an optional `bias` and the
    /// output `y`. With `accumulate`, the product is added to y (a fused residual add).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        w: &GpuMatrix,
        x: &StorageBuffer,
        layout: StagedLayout,
        bias: Option<&wgpu::Buffer>,
        y: &wgpu::Buffer,
        accumulate: bool,
    ) -> Result<MatMul> {
        if layout != StagedLayout::for_matrix(w, layout.rows) {
            return Err(Error::usage(format!(
                "matmul: a {} matrix of {} columns cannot read {layout:?}",
                w.format.name(),
                w.cols
            )));
        }
        let preamble = format!(
            "const TEXTURE_WIDTH: u32 = {}u;\nconst WG: u32 = {WG}u;\n{}{}{}",
            GpuMatrix::texture_width(gpu),
            layout.consumer_preamble(),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/formats.wgsl")),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/matmul_common.wgsl"
            )),
        );
        let source = source(w.format);
        let decode = gpu.pipeline(&source, &preamble, "decode")?;
        let prefill = gpu.pipeline(&source, &preamble, "prefill")?;
        let has_bias = bias.is_some();
        let bias = bias.unwrap_or(gpu.dummy());
        let bytes = std::mem::size_of::<Params>();
        let mut shards = Vec::new();
        for shard in &w.shards {
            let mut resources = vec![
                (1, wgpu::BindingResource::TextureView(&shard.data.view)),
                (3, x.buffer.as_entire_binding()),
                (4, bias.as_entire_binding()),
                (5, y.as_entire_binding()),
            ];
            if let Some(scales) = &shard.scales {
                resources.push((2, wgpu::BindingResource::TextureView(&scales.view)));
            }
            shards.push(Shard {
                decode: Bound::new(gpu, arena, &decode, "matvec", bytes, &resources)?,
                prefill: Bound::new(gpu, arena, &prefill, "matmul", bytes, &resources)?,
                rows: shard.rows,
                first_row: shard.first_row,
            });
        }
        Ok(MatMul {
            shards,
            per_row: if w.format.is_quantized() {
                w.cols / 32
            } else {
                w.format.texels_per_row(w.cols)
            },
            y_stride: w.rows,
            accumulate,
            has_bias,
            max_tokens: layout.rows,
        })
    }

    /// Records the product for the first `tokens` staged rows.
    pub fn encode(&self, rec: &mut Recorder<'_>, tokens: u32) {
        debug_assert!(tokens <= self.max_tokens);
        for shard in &self.shards {
            let params = Params {
                rows: shard.rows,
                per_row: self.per_row,
                tokens,
                y_stride: self.y_stride,
                y_offset: shard.first_row,
                accumulate: u32::from(self.accumulate),
                has_bias: u32::from(self.has_bias),
                _pad: 0,
            };
            if tokens == 1 {
                let groups = shard.rows.div_ceil(DECODE_ROWS * WG);
                rec.dispatch(&shard.decode, &params, [groups, 1, 1]);
            } else {
                let groups = shard.rows.div_ceil(WG);
                rec.dispatch(
                    &shard.prefill,
                    &params,
                    [groups, tokens.div_ceil(PREFILL_TOKENS), 1],
                );
            }
        }
    }
}
