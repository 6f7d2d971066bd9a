//! Owner of `shaders/matmul_{f32,f16,q8_0,q4_0,q4_1}.wgsl`: Y (+)= W X for the tokens of a
//! step, W a weight matrix in any format, X staged (see staging.rs). One token (decode)
//! takes the `decode` entry point (or `decode_split`, matmul_split.wgsl), a block of tokens
//! (prefill) the `prefill` one or, on CPU-type adapters, `prefill_token_lanes`
//! (matmul_token_lanes.wgsl).

use super::matrix::{GpuMatrix, WeightFormat};
use super::staging::StagedLayout;
use super::tuning::{DecodeVariant, Tuner};
use crate::error::{Error, Result};
use crate::gpu::{
    kernel::grid, Bound, Gpu, ParamArena, Recorder, ShaderSource, StorageBuffer, TexelCopy,
    TexelTexture,
};
use crate::shader;

/// How the prefill entry points spread a step's rows and tokens over the invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefillShape {
    /// `prefill` (matmul_common.wgsl): each invocation one row and [`PREFILL_TOKENS`]
    /// tokens, `workgroup` invocations per workgroup (one SIMD vector, 8, on a CPU-type
    /// adapter; 64 on a GPU, where 8 would fill a quarter of a 32-wide subgroup).
    RowLanes { workgroup: u32 },
    /// `prefill_token_lanes` (matmul_token_lanes.wgsl, every format): lane l of a
    /// subgroup of 8 takes tokens l and l + 8 of 16 and every lane the same
    /// [`TOKEN_LANES_ROWS`] rows, so each unit of weights is loaded and unpacked once for
    /// 16 tokens and each token's x once for 8 rows. Needs subgroups of at least 8.
    TokenLanes,
}

/// Lanes per workgroup of `prefill_token_lanes`: one subgroup of 8.
const TOKEN_LANES: u32 = 8;
/// Tokens each lane of `prefill_token_lanes` takes (8 apart): each row's unit, unpacked and
/// handed round once, serves both (three or four tokens a lane spill their accumulators).
const TOKENS_PER_LANE: u32 = 2;
/// Rows each invocation of `prefill_token_lanes` computes: lane l loads row l's unit.
const TOKEN_LANES_ROWS: u32 = 8;

impl PrefillShape {
    /// The shape for `gpu`: token lanes on a CPU-type adapter where the subgroups allow them
    /// (a third to two thirds of row lanes' time there, by format: see the README), row
    /// lanes otherwise.
    pub fn for_gpu(gpu: &Gpu) -> PrefillShape {
        let token_lanes = PrefillShape::TokenLanes;
        if gpu.is_software() && token_lanes.runs_on(gpu) && !super::forced_portable() {
            token_lanes
        } else {
            PrefillShape::RowLanes {
                workgroup: if gpu.is_software() { 8 } else { 64 },
            }
        }
    }

    /// Every shape `gpu` can run (tests check each).
    pub fn available(gpu: &Gpu) -> Vec<PrefillShape> {
        let mut all = vec![
            PrefillShape::RowLanes { workgroup: 8 },
            PrefillShape::RowLanes { workgroup: 64 },
            PrefillShape::TokenLanes,
        ];
        all.retain(|shape| shape.runs_on(gpu));
        all
    }

    /// Tokens one workgroup covers: a step of a multiple of them leaves no lane idle.
    pub fn token_group(self) -> u32 {
        match self {
            PrefillShape::RowLanes { .. } => PREFILL_TOKENS,
            PrefillShape::TokenLanes => TOKENS_PER_LANE * TOKEN_LANES,
        }
    }

    /// Rows one workgroup covers.
    fn rows_per_workgroup(self) -> u32 {
        match self {
            PrefillShape::RowLanes { workgroup } => workgroup,
            PrefillShape::TokenLanes => TOKEN_LANES_ROWS,
        }
    }

    /// The most tokens a step of this shape may give a matrix of `format` with `cols`
    /// columns, as far as its staged input goes. A prefill that reads x through the uniform
    /// binding (row lanes on a CPU-type adapter, where a storage read of x would cost
    /// several times more) holds what that binding holds, rounded down to whole token groups
    /// (steps of 28 tokens would leave the last group of each step half idle); the others
    /// are not limited by x (`u32::MAX`): token lanes read a texture copy of it, and row
    /// lanes on a GPU a storage binding where a step outgrows the uniform one.
    pub fn max_step_tokens(self, gpu: &Gpu, format: WeightFormat, cols: u32) -> u32 {
        if self == PrefillShape::TokenLanes || !gpu.is_software() {
            return u32::MAX;
        }
        let rows = StagedLayout::max_rows(gpu, format, cols);
        let group = self.token_group();
        if rows >= group {
            rows / group * group
        } else {
            rows.max(1)
        }
    }

    fn runs_on(self, gpu: &Gpu) -> bool {
        match self {
            PrefillShape::RowLanes { .. } => true,
            PrefillShape::TokenLanes => super::has_lanes_of_8(gpu),
        }
    }
}

/// The most tokens a prefill step may give a matrix of `format` with `cols` columns, as far
/// as its staged input goes, with the adapter's prefill shape ([`PrefillShape::max_step_tokens`]).
pub fn max_step_tokens(gpu: &Gpu, format: WeightFormat, cols: u32) -> u32 {
    PrefillShape::for_gpu(gpu).max_step_tokens(gpu, format, cols)
}

/// Tokens per invocation of `prefill`: each unit of W fetched and unpacked serves them all.
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

/// How the invocations of a matmul read the staged x, which they all read at the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XReader {
    /// Every invocation loads what it uses (`shaders/staged_x.wgsl`).
    Portable,
    /// Each lane of a subgroup loads one word in 8 and subgroupBroadcast shares them
    /// (`shaders/subgroup/staged_x.wgsl`): on CPU-type adapters a uniform load at a computed
    /// offset is a per-lane gather, so this does an eighth of the gathers.
    Subgroup,
    /// The portable reader over a storage binding: the split decode's lanes read different
    /// places of x, and a row-lanes prefill step may outgrow a uniform binding (on a GPU;
    /// a CPU-type adapter keeps its steps within it, `max_step_tokens`, as its storage
    /// loads cost ~10x more), as may a decode row.
    /// Not among [`Self::available`]: those take it whatever the reader of the other entry
    /// points.
    Storage,
    /// Every invocation loads what it uses from a texel-texture copy of the staged x
    /// (`shaders/staged_x_texture.wgsl`), made before each prefill dispatch: the token-lanes
    /// prefill takes it whatever the reader of the other entry points, since its lanes read
    /// different tokens' x and a texture gather costs less than a uniform-buffer one on
    /// CPU-type adapters.
    Texture,
}

impl XReader {
    /// The subgroup reader where subgroups hold at least 8 invocations
    /// (`SHADERLM_PORTABLE=1` forces the portable one).
    pub fn for_gpu(gpu: &Gpu) -> XReader {
        super::preferred(&Self::available(gpu))
    }

    /// Every reader this adapter can run (tests check each).
    pub fn available(gpu: &Gpu) -> Vec<XReader> {
        super::lanes_of_8_variants(gpu, XReader::Portable, XReader::Subgroup)
    }

    /// The binding of the staged x and the functions that read it.
    fn source(self) -> String {
        const UNIFORM: &str =
            "@group(0) @binding(3) var<uniform> x_rows: array<array<vec4<u32>, XV>, XR>;\n";
        const STORAGE: &str =
            "@group(0) @binding(3) var<storage, read> x_rows: array<array<vec4<u32>, XV>>;\n";
        match self {
            XReader::Portable => format!("{UNIFORM}{}", shader!("staged_x").wgsl),
            XReader::Subgroup => format!("{UNIFORM}{}", shader!("subgroup/staged_x").wgsl),
            XReader::Storage => format!("{STORAGE}{}", shader!("staged_x").wgsl),
            XReader::Texture => shader!("staged_x_texture").wgsl.to_string(),
        }
    }
}

fn preamble(
    w: &GpuMatrix,
    layout: &StagedLayout,
    reader: XReader,
    workgroup: u32,
    rows: u32,
    lanes: u32,
    token_lanes: bool,
) -> String {
    // How the format multiplies x: int8 blocks by dot4I8Packed (Q8_0), int8 blocks
    // rearranged for 4-bit weights (Q4_0, Q4_1; each reader rearranges in its own way), or
    // floats.
    let int8_x = match w.format {
        WeightFormat::Q8_0 => shader!("matmul_int8_x").wgsl.to_string(),
        WeightFormat::Q4_0 | WeightFormat::Q4_1 => {
            let pairs = if reader == XReader::Subgroup {
                shader!("subgroup/staged_x_pairs").wgsl
            } else {
                shader!("staged_x_pairs").wgsl
            };
            format!("{}{pairs}", shader!("matmul_nibble_x").wgsl)
        }
        WeightFormat::F32 | WeightFormat::F16 => String::new(),
    };
    // The entry points beyond the two of matmul_common.wgsl.
    let extra = if lanes > 1 {
        shader!("matmul_split").wgsl
    } else if token_lanes {
        shader!("matmul_token_lanes").wgsl
    } else {
        ""
    };
    format!(
        "const TEXTURE_WIDTH: u32 = {}u;\nconst WG: u32 = {workgroup}u;\nconst ROWS: u32 = {rows}u;\nconst LANES: u32 = {lanes}u;\nconst TOKENS: u32 = {PREFILL_TOKENS}u;\nconst TOKEN_LANES_ROWS: u32 = {TOKEN_LANES_ROWS}u;\nconst TOKENS_PER_LANE: u32 = {TOKENS_PER_LANE}u;\n{}{}{int8_x}{}{}{extra}",
        w.texture_width,
        layout.consumer_preamble(),
        reader.source(),
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/formats.wgsl")),
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/matmul_common.wgsl")),
    )
}

/// What a matmul reads and writes: `Y[t, :] (+)= W X[t, :] (+ bias)`, X staged as `layout`.
#[derive(Clone, Copy)]
pub struct MatMulIo<'a> {
    pub w: &'a GpuMatrix,
    pub x: &'a StorageBuffer,
    pub layout: StagedLayout,
    pub bias: Option<&'a wgpu::Buffer>,
    pub y: &'a wgpu::Buffer,
    /// Add the product into Y (a fused residual add).
    pub accumulate: bool,
}

/// `Y[t, :] (+)= W X[t, :] (+ bias)` for the tokens of a step.
pub struct MatMul {
    shards: Vec<Shard>,
    per_row: u32,
    y_stride: u32,
    accumulate: bool,
    has_bias: bool,
    max_tokens: u32,
    decode: DecodeVariant,
    prefill: PrefillShape,
    /// The token-lanes prefill's texture copy of the staged x.
    x_copy: Option<TexelCopy>,
    /// Texels (vec4s) per staged row.
    x_row_texels: u32,
}

impl MatMul {
    /// Binds `io` once, with the default decode shape.
    pub fn new(gpu: &Gpu, arena: &mut ParamArena, io: MatMulIo<'_>) -> Result<MatMul> {
        Self::with_variant(
            gpu,
            arena,
            io,
            DecodeVariant::DEFAULT,
            XReader::for_gpu(gpu),
            PrefillShape::for_gpu(gpu),
        )
    }

    /// Like [`Self::new`] with the decode shape the tuner picks for this adapter, measured
    /// on `io.w` itself at first use.
    pub fn tuned(
        gpu: &Gpu,
        arena: &mut ParamArena,
        io: MatMulIo<'_>,
        tuner: &mut Tuner,
    ) -> Result<MatMul> {
        let w = io.w;
        let reader = XReader::for_gpu(gpu);
        let prefill = PrefillShape::for_gpu(gpu);
        let key = format!(
            "matmul decode {} {}x{} {reader:?}",
            w.format.name(),
            w.rows,
            w.cols
        );
        let variant = tuner.decode_variant(gpu, &key, |candidates| {
            let slots = 2 * w.shards.len() * candidates.len();
            let mut scratch = ParamArena::new(gpu, slots as u32)?;
            let built = candidates
                .iter()
                .map(|&candidate| {
                    Self::with_variant(gpu, &mut scratch, io, candidate, reader, prefill)
                })
                .collect::<Result<Vec<_>>>()?;
            // Enough calls per submission that a GPU's submit-and-wait (tens of
            // microseconds) does not drown calls of a few microseconds.
            let calls = if gpu.is_software() { 4 } else { 64 };
            // Rounds over every candidate, so that a slow spell of a shared machine slows
            // them alike; the best of rounds 1.. counts (round 0 warms up).
            let mut best = vec![f64::INFINITY; built.len()];
            for round in 0..5 {
                for (m, best) in built.iter().zip(&mut best) {
                    let start = std::time::Instant::now();
                    let mut rec = Recorder::new(gpu, &mut scratch, None);
                    for _ in 0..calls {
                        m.encode(&mut rec, 1);
                    }
                    rec.submit("tuning a matmul")?;
                    if round > 0 {
                        *best = best.min(start.elapsed().as_secs_f64() / f64::from(calls));
                    }
                }
            }
            Ok(best)
        })?;
        Self::with_variant(gpu, arena, io, variant, reader, prefill)
    }

    /// Like [`Self::new`] with an explicit decode shape, reader of x and prefill shape.
    pub fn with_variant(
        gpu: &Gpu,
        arena: &mut ParamArena,
        io: MatMulIo<'_>,
        decode_variant: DecodeVariant,
        reader: XReader,
        prefill: PrefillShape,
    ) -> Result<MatMul> {
        let MatMulIo {
            w,
            x,
            layout,
            bias,
            y,
            accumulate,
        } = io;
        if layout != StagedLayout::for_matrix(w, layout.rows) {
            return Err(Error::usage(format!(
                "matmul: a {} matrix of {} columns cannot read {layout:?}",
                w.format.name(),
                w.cols
            )));
        }
        let source = source(w.format);
        let DecodeVariant {
            workgroup,
            rows,
            lanes,
        } = decode_variant;
        if !decode_variant.runs_on(gpu) {
            return Err(Error::usage(format!(
                "matmul: {decode_variant:?} needs subgroups of at least {lanes} lanes (this adapter: {}..{})",
                gpu.info.subgroup_min_size, gpu.info.subgroup_max_size
            )));
        }
        // The uniform binding of x holds its first rows, as many as fit: all a decode reads
        // (row 0), and a row-lanes prefill's whole step where the step fits; where none fits,
        // or the step does not, those read a storage binding.
        let uniform_layout = StagedLayout {
            rows: layout
                .rows
                .min(StagedLayout::max_rows(gpu, w.format, w.cols)),
            ..layout
        };
        let whole_x = x.buffer.as_entire_binding();
        let uniform_x = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &x.buffer,
            offset: 0,
            size: std::num::NonZeroU64::new(uniform_layout.bytes()),
        });
        let (decode, decode_x) = if lanes > 1 {
            let preamble = preamble(w, &layout, XReader::Storage, workgroup, 1, lanes, false);
            (
                gpu.pipeline(&source, &preamble, "decode_split")?,
                whole_x.clone(),
            )
        } else if uniform_layout.rows == 0 {
            let preamble = preamble(w, &layout, XReader::Storage, workgroup, rows, 1, false);
            (gpu.pipeline(&source, &preamble, "decode")?, whole_x.clone())
        } else {
            let preamble = preamble(w, &uniform_layout, reader, workgroup, rows, 1, false);
            (gpu.pipeline(&source, &preamble, "decode")?, uniform_x)
        };
        if !prefill.runs_on(gpu) {
            return Err(Error::usage(format!(
                "matmul: {prefill:?} needs subgroups of at least 8 lanes (this adapter: {}..{})",
                gpu.info.subgroup_min_size, gpu.info.subgroup_max_size
            )));
        }
        let (prefill_pipeline, x_copy) = match prefill {
            // Each lane reads its own token's x: from the texture copy.
            PrefillShape::TokenLanes => {
                // The copy of x takes the widest texture, whatever the matrix's width, so
                // that a step of any size fits it (a 64-texel-wide copy of x for a 1536-wide
                // f32 matrix held at most ~2700 tokens on lavapipe).
                let x_width = TexelTexture::width(gpu);
                let preamble = format!(
                    "const X_TEXTURE_WIDTH: u32 = {x_width}u;\n{}",
                    preamble(w, &layout, XReader::Texture, TOKEN_LANES, 1, 1, true)
                );
                let copy = gpu.texel_copy("staged x texels", &x.buffer, x_width)?;
                (
                    gpu.pipeline(&source, &preamble, "prefill_token_lanes")?,
                    Some(copy),
                )
            }
            PrefillShape::RowLanes { workgroup } => {
                let reader = if uniform_layout == layout {
                    reader
                } else {
                    XReader::Storage
                };
                let preamble = preamble(w, &layout, reader, workgroup, 1, 1, false);
                (gpu.pipeline(&source, &preamble, "prefill")?, None)
            }
        };
        let prefill_x = x_copy.as_ref().map_or(whole_x.clone(), TexelCopy::binding);
        let has_bias = bias.is_some();
        let bias = bias.unwrap_or(gpu.dummy());
        let bytes = std::mem::size_of::<Params>();
        let mut shards = Vec::new();
        for shard in &w.shards {
            let resources = |x_binding| {
                let mut resources = vec![
                    (1, wgpu::BindingResource::TextureView(&shard.data.view)),
                    (3, x_binding),
                    (4, bias.as_entire_binding()),
                    (5, y.as_entire_binding()),
                ];
                if let Some(scales) = &shard.scales {
                    resources.push((2, wgpu::BindingResource::TextureView(&scales.view)));
                }
                resources
            };
            let decode_resources = resources(decode_x.clone());
            let prefill_resources = resources(prefill_x.clone());
            shards.push(Shard {
                decode: Bound::new(gpu, arena, &decode, "matvec", bytes, &decode_resources)?,
                prefill: Bound::new(
                    gpu,
                    arena,
                    &prefill_pipeline,
                    "matmul",
                    bytes,
                    &prefill_resources,
                )?,
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
            decode: decode_variant,
            prefill,
            x_copy,
            x_row_texels: layout.row_words() / 4,
        })
    }

    /// Records the product for the first `tokens` staged rows.
    pub fn encode(&self, rec: &mut Recorder<'_>, tokens: u32) {
        debug_assert!(tokens <= self.max_tokens);
        if let Some(copy) = self.x_copy.as_ref().filter(|_| tokens > 1) {
            copy.record(rec, u64::from(tokens) * u64::from(self.x_row_texels));
        }
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
            if tokens == 1 && self.decode.lanes > 1 {
                let rows_per_group = self.decode.workgroup / self.decode.lanes;
                let groups = grid(rec.gpu, shard.rows.div_ceil(rows_per_group));
                rec.dispatch(&shard.decode, &params, groups);
            } else if tokens == 1 {
                let groups = shard
                    .rows
                    .div_ceil(self.decode.rows * self.decode.workgroup);
                rec.dispatch(&shard.decode, &params, [groups, 1, 1]);
            } else {
                let groups = [
                    shard.rows.div_ceil(self.prefill.rows_per_workgroup()),
                    tokens.div_ceil(self.prefill.token_group()),
                    1,
                ];
                rec.dispatch(&shard.prefill, &params, groups);
            }
        }
    }
}
