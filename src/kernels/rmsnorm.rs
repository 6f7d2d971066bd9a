//! Owner of `shaders/rmsnorm.wgsl`: RMSNorm, written staged for the matmul that follows.

use super::staging::{StageWriter, StagedLayout};
use crate::error::{Error, Result};
use crate::gpu::{
    kernel::grid, Bound, Gpu, ParamArena, Recorder, StorageBuffer, TexelCopy, TexelTexture,
};
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

/// Where the kernel reads x and the weight from (shaders/norm_input_storage.wgsl,
/// norm_x_*.wgsl, norm_weight_uniform.wgsl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormInput {
    /// Storage bindings: any size, and the cheaper read on GPUs.
    Storage,
    /// Uniform bindings, for CPU-type adapters: there a load at a different address per
    /// lane is a vector gather from a uniform buffer but a loop over the lanes from a
    /// storage buffer (lavapipe, RMSNorm of 32 rows of 576: see the closing note of issue 5).
    /// x is bound as far as a uniform binding reaches (64 KiB: 28 rows of 576); calls
    /// reaching past that read a texel copy of x, as with [`NormInput::Texture`].
    Uniform,
    /// x from a texel-texture copy made before each dispatch, the weight from a uniform
    /// binding: any number of rows, at the price of the copy.
    Texture,
}

impl NormInput {
    /// The adapter's better reader for these buffers: uniform on a CPU-type adapter where
    /// the buffers allow it, storage elsewhere.
    pub fn for_buffers(gpu: &Gpu, x: &wgpu::Buffer, weight: &wgpu::Buffer) -> NormInput {
        let preferred = if gpu.is_software() {
            NormInput::Uniform
        } else {
            NormInput::Storage
        };
        if Self::available(gpu, x, weight).contains(&preferred) {
            preferred
        } else {
            NormInput::Storage
        }
    }

    /// Every reader these buffers allow (tests check each).
    pub fn available(gpu: &Gpu, x: &wgpu::Buffer, weight: &wgpu::Buffer) -> Vec<NormInput> {
        let mut all = vec![NormInput::Storage];
        // x in whole texels (for the copy), the weight within a uniform binding.
        if x.size().is_multiple_of(16) && fits_uniform(gpu, weight) {
            all.push(NormInput::Texture);
            if x.usage().contains(wgpu::BufferUsages::UNIFORM) {
                all.push(NormInput::Uniform);
            }
        }
        all
    }
}

/// A buffer created with UNIFORM usage, whole vec4s, within the uniform binding limit.
fn fits_uniform(gpu: &Gpu, buffer: &wgpu::Buffer) -> bool {
    buffer.usage().contains(wgpu::BufferUsages::UNIFORM)
        && buffer.size().is_multiple_of(16)
        && buffer.size() <= gpu.limits.max_uniform_buffer_binding_size
}

/// `staged[r] = rmsnorm(x[first_row + r]) * weight` for rows of `layout.cols` floats.
pub struct RmsNorm {
    /// The reader of x the input asks for: storage (every row), uniform (the rows one
    /// binding holds) or texture (every row, through a copy).
    first: Reader,
    /// The texture reader, for calls reaching past the rows `first` reaches.
    past_first: Option<Reader>,
    cols: u32,
    eps: f32,
}

/// The kernel bound to one reader of x, the rows of x it reaches, and for the texture
/// reader the copy of x to record before each dispatch.
struct Reader {
    bound: Bound,
    reach: u32,
    copy: Option<TexelCopy>,
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
        if !NormInput::available(gpu, x, weight).contains(&input) {
            return Err(Error::usage(format!(
                "rmsnorm: {input:?} input needs x in whole vec4s and a weight of whole vec4s \
                 within a uniform binding ({} and {} bytes)",
                x.size(),
                weight.size()
            )));
        }
        let row_bytes = u64::from(layout.cols) * 4;
        let x_rows = (x.size() / row_bytes) as u32;
        if x_rows == 0 {
            return Err(Error::usage(format!(
                "rmsnorm: x of {} bytes holds no row of {} floats",
                x.size(),
                layout.cols
            )));
        }
        let weight_reader = || {
            format!(
                "const WEIGHT_TEXELS: u32 = {}u;\n{}",
                weight.size() / 16,
                shader!("norm_weight_uniform").wgsl
            )
        };
        let bind = |arena: &mut ParamArena, reader: &str, x_binding: wgpu::BindingResource<'_>| {
            Self::bind(
                gpu,
                arena,
                reader,
                [(1, x_binding), (2, weight.as_entire_binding())],
                staged,
                layout,
                writer,
            )
        };
        // Every row of x, through a texel copy made before each dispatch.
        let texture_reader = |arena: &mut ParamArena| -> Result<Reader> {
            let copy = gpu.texel_copy("residual texels", x, TexelTexture::width(gpu))?;
            let reader = format!(
                "{}{}{}",
                copy.reader_preamble(),
                shader!("norm_x_texture").wgsl,
                weight_reader()
            );
            Ok(Reader {
                bound: bind(arena, &reader, copy.binding())?,
                reach: x_rows,
                copy: Some(copy),
            })
        };
        // As many whole rows as a uniform binding holds, in whole vec4s.
        let uniform_rows = {
            let limit = gpu.limits.max_uniform_buffer_binding_size.min(x.size());
            (limit / row_bytes) as u32
        };
        let first = match input {
            NormInput::Storage => Reader {
                bound: bind(
                    arena,
                    shader!("norm_input_storage").wgsl,
                    x.as_entire_binding(),
                )?,
                reach: x_rows,
                copy: None,
            },
            NormInput::Uniform if uniform_rows > 0 => {
                let bytes = (u64::from(uniform_rows) * row_bytes).next_multiple_of(16);
                let reader = format!(
                    "const X_TEXELS: u32 = {}u;\n{}{}",
                    bytes / 16,
                    shader!("norm_x_uniform").wgsl,
                    weight_reader()
                );
                let binding = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: x,
                    offset: 0,
                    size: std::num::NonZeroU64::new(bytes),
                });
                Reader {
                    bound: bind(arena, &reader, binding)?,
                    reach: uniform_rows,
                    copy: None,
                }
            }
            // (A row too long for a uniform binding: the copy serves every call.)
            NormInput::Uniform | NormInput::Texture => texture_reader(arena)?,
        };
        let past_first = if first.reach < x_rows {
            Some(texture_reader(arena)?)
        } else {
            None
        };
        Ok(RmsNorm {
            first,
            past_first,
            cols: layout.cols,
            eps,
        })
    }

    /// The kernel with `reader` (the norm_*.wgsl that define x_at and weight_at) bound to
    /// `inputs` (bindings 1 and 2) and `staged`.
    fn bind<'a>(
        gpu: &Gpu,
        arena: &mut ParamArena,
        reader: &str,
        inputs: [(u32, wgpu::BindingResource<'a>); 2],
        staged: &'a StorageBuffer,
        layout: StagedLayout,
        writer: StageWriter,
    ) -> Result<Bound> {
        // The subgroup twin reduces in, and stages with, runs of 8 lanes.
        let (source, wg) = match writer {
            StageWriter::Portable => (shader!("rmsnorm"), WG),
            StageWriter::Subgroup | StageWriter::SubgroupWide => {
                (shader!("subgroup/rmsnorm"), writer.row_workgroup_size())
            }
        };
        let preamble = format!(
            "const WG: u32 = {wg}u;\n{}{reader}",
            layout.producer_preamble(writer),
        );
        let pipeline = gpu.pipeline(&source, &preamble, "main")?;
        let [x, weight] = inputs;
        Bound::new(
            gpu,
            arena,
            &pipeline,
            "rmsnorm",
            std::mem::size_of::<Params>(),
            &[x, weight, (9, staged.binding())],
        )
    }

    /// Normalises `rows` rows of x starting at `first_row` into staged rows 0..rows.
    pub fn encode(&self, rec: &mut Recorder<'_>, rows: u32, first_row: u32) {
        let end = first_row + rows;
        let reader = match &self.past_first {
            Some(past) if end > self.first.reach => past,
            _ => &self.first,
        };
        if let Some(copy) = &reader.copy {
            copy.record(rec, (u64::from(end) * u64::from(self.cols)).div_ceil(4));
        }
        let params = Params {
            rows,
            cols: self.cols,
            first_row,
            eps: self.eps,
        };
        rec.dispatch(&reader.bound, &params, grid(rec.gpu, rows));
    }
}
