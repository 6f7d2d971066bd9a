//! Owner of `shaders/attention.wgsl`, its subgroup twin and the per-query prefill kernel
//! (`shaders/attention_queries.wgsl`), and the layout of the KV cache they read.

use super::staging::{StageWriter, StagedLayout};
use super::{rope, Reduction};
use crate::error::{Error, Result};
use crate::gpu::{
    kernel::grid, Bound, Gpu, ParamArena, Recorder, StorageBuffer, TexelCopy, TexelTexture,
};
use crate::shader;

/// Invocations per workgroup of the portable kernel.
const WG: u32 = 64;
/// The largest head the kernels take (the portable one keeps WG texels of 4 in workgroup memory).
pub const MAX_HEAD_DIM: u32 = 4 * WG;
/// Queries per workgroup of the per-query kernel, one per lane: one SIMD vector of a
/// CPU-type adapter.
const QUERY_LANES: u32 = 8;
/// The per-query kernel's code is written out per lane texel (at most 4: head_dim <= 128)
/// and per query head (`per_query_heads`); on lavapipe its compile time grows with both.
const PER_QUERY_MAX_HEAD_DIM: u32 = 4 * 4 * QUERY_LANES;

/// How one layer's KV cache is laid out: rows of n_kv_heads heads, each head_dim values
/// padded to whole texels of 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheShape {
    pub n_kv_heads: u32,
    pub head_dim: u32,
}

impl CacheShape {
    pub fn new(n_kv_heads: u32, head_dim: u32) -> CacheShape {
        CacheShape {
            n_kv_heads,
            head_dim,
        }
    }

    pub fn head_texels(&self) -> u32 {
        self.head_dim.div_ceil(4)
    }

    /// Texels of one cache row (one position of one sequence).
    pub fn row_texels(&self) -> u32 {
        self.n_kv_heads * self.head_texels()
    }

    /// WGSL constants (and texel addressing) for kernels that touch the cache.
    pub fn preamble(&self, gpu: &Gpu) -> String {
        format!(
            "const TEXTURE_WIDTH: u32 = {}u;\nconst HEAD_TEXELS: u32 = {}u;\n{}",
            TexelTexture::width(gpu),
            self.head_texels(),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/formats.wgsl"))
        )
    }

    /// A row of K or V values ([n_kv_heads, head_dim]) as cache texels.
    pub fn texels_of_row(&self, values: &[f32]) -> Vec<[u32; 4]> {
        let (hd, ht) = (self.head_dim as usize, self.head_texels() as usize);
        let mut out = vec![[0u32; 4]; self.row_texels() as usize];
        for (e, v) in values.iter().enumerate() {
            let (head, d) = (e / hd, e % hd);
            out[head * ht + d / 4][d % 4] = v.to_bits();
        }
        out
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    start_pos: u32,
    q_stride: u32,
    first_row: u32,
    out_stride: u32,
    scale: f32,
    _pad: [u32; 3],
}

/// Shapes of one attention call site.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub n_heads: u32,
    pub cache: CacheShape,
    /// Floats per token row of the query buffer (queries start at column 0).
    pub q_stride: u32,
    /// Floats per token row of the output.
    pub out_stride: u32,
}

impl AttentionShape {
    /// Query heads per KV head.
    fn gqa_ratio(&self) -> u32 {
        self.n_heads / self.cache.n_kv_heads.max(1)
    }
}

/// Where attention writes its output.
#[derive(Clone, Copy)]
pub enum AttentionOutput<'a> {
    /// f32 rows of n_heads * head_dim values, `out_stride` apart.
    Rows(&'a wgpu::Buffer),
    /// Straight into the staged input of the output projection, saving the stage pass
    /// (only where [`Attention::can_stage`] says so).
    Staged(&'a StorageBuffer, StagedLayout),
}

/// Which attention kernels run: the portable one, or the subgroup twin with `key_split`
/// subgroups sharing each workgroup's keys; and for steps of several queries (prefill),
/// optionally the per-query kernel instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionVariant {
    pub reduction: Reduction,
    /// Subgroups per workgroup, each visiting every key_split-th key (1 for the portable
    /// kernel).
    pub key_split: u32,
    /// Steps of more than one query run `attention_queries.wgsl`: one query per lane, no
    /// reductions across lanes.
    pub query_lanes: bool,
}

impl AttentionVariant {
    /// The best this adapter offers for `shape`: the subgroup kernel where there is one; on
    /// a GPU with up to 8 subgroups sharing the keys (a lone subgroup per workgroup leaves
    /// most of the chip idle at decode), on a CPU-type adapter one (each core runs whole
    /// workgroups, so a split only adds the merge). A CPU-type adapter prefills with the
    /// per-query kernel, whose lanes are the SIMD lanes of one core.
    pub fn for_gpu(gpu: &Gpu, shape: &AttentionShape) -> AttentionVariant {
        let reduction = Reduction::for_gpu(gpu);
        let key_split = if gpu.is_software() {
            1
        } else {
            Self::widest_split(gpu, reduction, shape, 8)
        };
        AttentionVariant {
            reduction,
            key_split,
            query_lanes: gpu.is_software() && Self::can_run_per_query(reduction, shape),
        }
    }

    /// The per-query kernel hands key texels round with subgroupBroadcast across its
    /// QUERY_LANES lanes, reads and writes heads as whole texels (rows of q and of the
    /// output, and halves of a head, whole vec4s), and takes heads of at most 128.
    fn can_run_per_query(reduction: Reduction, shape: &AttentionShape) -> bool {
        matches!(reduction, Reduction::Subgroup(size) if size >= QUERY_LANES)
            && shape.cache.head_dim.is_multiple_of(8)
            && shape.cache.head_dim <= PER_QUERY_MAX_HEAD_DIM
            && shape.q_stride.is_multiple_of(4)
            && shape.out_stride.is_multiple_of(4)
    }

    /// Every variant this adapter can run for `shape` (tests check each): the portable
    /// kernel, the subgroup one alone and with as many subgroups sharing the keys as
    /// [`Self::for_gpu`] takes on a GPU, and the adapter's choice with and without the
    /// per-query prefill.
    pub fn available(gpu: &Gpu, shape: &AttentionShape) -> Vec<AttentionVariant> {
        let mut all = Vec::new();
        for reduction in Reduction::available(gpu) {
            let mut splits = vec![1];
            let widest = Self::widest_split(gpu, reduction, shape, 8);
            if widest > 1 {
                splits.push(widest);
            }
            for key_split in splits {
                all.push(AttentionVariant {
                    reduction,
                    key_split,
                    query_lanes: false,
                });
            }
        }
        let best = Self::for_gpu(gpu, shape);
        if Self::can_run_per_query(best.reduction, shape) {
            all.push(AttentionVariant {
                query_lanes: true,
                ..best
            });
        }
        all
    }

    /// The largest power of two up to `most` subgroups whose merge fits the adapter's
    /// workgroup memory and invocation limits (1 for the portable kernel).
    fn widest_split(gpu: &Gpu, reduction: Reduction, shape: &AttentionShape, most: u32) -> u32 {
        let Reduction::Subgroup(size) = reduction else {
            return 1;
        };
        let heads = heads_per_workgroup(reduction, shape);
        let per_invocation = shape.cache.head_texels().div_ceil(size);
        // part_max and part_sum, then part_acc, per subgroup (see subgroup/attention.wgsl).
        let bytes_per_part = heads * (8 + per_invocation * size * 16);
        let mut split = most;
        let limits = &gpu.limits;
        while split > 1
            && (split * bytes_per_part > limits.max_compute_workgroup_storage_size
                || split * size > limits.max_compute_invocations_per_workgroup
                || split * size > limits.max_compute_workgroup_size_x)
        {
            split /= 2;
        }
        split
    }
}

/// Query heads one workgroup computes: the subgroup kernel takes up to 4 query heads of one
/// KV group (they share every load of the cache); the portable one takes one.
fn heads_per_workgroup(reduction: Reduction, shape: &AttentionShape) -> u32 {
    match reduction {
        Reduction::Workgroup => 1,
        Reduction::Subgroup(_) => largest_divisor_up_to(shape.gqa_ratio(), 4),
    }
}

/// Query heads of one KV group a workgroup of the per-query kernel takes (`HEADS`), sharing
/// every load of a key and value (SmolLM2, 3 heads, a prefill of 512 tokens writing W_o's
/// int8 input, medians of 6 interleaved rounds: 23 -> 16 ms a layer). Its code is written
/// out per head and per lane texel (indices into private arrays must be constants on
/// lavapipe), and the shader's compile time grows with both, so heads x lane texels stay
/// within 6: head_dim 64 takes up to 3 heads, 128 one (2 heads there took lavapipe ~30 s
/// more to compile a pipeline, for a gain not measured).
fn per_query_heads(shape: &AttentionShape) -> u32 {
    let lane_texels = shape.cache.head_texels().div_ceil(QUERY_LANES);
    largest_divisor_up_to(shape.gqa_ratio(), (6 / lane_texels).clamp(1, 4))
}

/// The largest divisor of `n` that is at most `max`.
fn largest_divisor_up_to(n: u32, max: u32) -> u32 {
    (1..=n.min(max))
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .unwrap_or(1)
}

/// RoPE and what every attention kernel reads (`shaders/attention_inputs.wgsl`).
fn inputs_source() -> String {
    format!("{}{}", rope::source(), shader!("attention_inputs").wgsl)
}

/// Causal GQA attention of new queries over one layer's KV cache.
pub struct Attention {
    bound: Bound,
    shape: AttentionShape,
    /// Query heads one workgroup of the per-key kernels computes.
    heads_per_workgroup: u32,
    /// The per-query kernel, for steps of several queries.
    per_query: Option<PerQuery>,
}

/// The per-query prefill kernel (`shaders/attention_queries.wgsl`) as bound.
struct PerQuery {
    bound: Bound,
    /// The texture copy of q it reads.
    q_copy: TexelCopy,
    /// Query heads one workgroup computes (`HEADS`).
    heads: u32,
}

impl Attention {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        q: &wgpu::Buffer,
        k_cache: &TexelTexture,
        v_cache: &TexelTexture,
        rope_table: &StorageBuffer,
        out: AttentionOutput<'_>,
        shape: AttentionShape,
        variant: AttentionVariant,
    ) -> Result<Attention> {
        let AttentionVariant {
            reduction,
            key_split,
            query_lanes,
        } = variant;
        let head_dim = shape.cache.head_dim;
        if head_dim == 0 || head_dim > MAX_HEAD_DIM || !head_dim.is_multiple_of(2) {
            return Err(Error::usage(format!(
                "attention: head_dim {head_dim} is not supported (even, at most {MAX_HEAD_DIM}: RoPE rotates pairs)"
            )));
        }
        let n_kv = shape.cache.n_kv_heads;
        if n_kv == 0 || !shape.n_heads.is_multiple_of(n_kv) {
            return Err(Error::usage(format!(
                "attention: {} query heads cannot be grouped over {n_kv} KV heads",
                shape.n_heads
            )));
        }
        let heads_per_workgroup = heads_per_workgroup(reduction, &shape);
        let fits = key_split.is_power_of_two()
            && key_split <= AttentionVariant::widest_split(gpu, reduction, &shape, key_split);
        if !fits {
            return Err(Error::usage(format!(
                "attention: {reduction:?} cannot split the keys {key_split} ways on this adapter"
            )));
        }
        if query_lanes && !AttentionVariant::can_run_per_query(reduction, &shape) {
            return Err(Error::usage(format!(
                "attention: the per-query kernel needs subgroups of at least {QUERY_LANES} ({reduction:?} given), \
                 head_dim a multiple of 8 and at most {PER_QUERY_MAX_HEAD_DIM} ({head_dim}) and rows \
                 of q and of the output in whole vec4s ({} and {})",
                shape.q_stride, shape.out_stride
            )));
        }
        let output = match out {
            AttentionOutput::Rows(buffer) => (4, buffer.as_entire_binding()),
            AttentionOutput::Staged(staged, layout) => {
                if !Self::can_stage(reduction, &shape) || layout.cols != shape.n_heads * head_dim {
                    return Err(Error::usage(format!(
                        "attention: cannot write {} staged columns from {} heads of {head_dim} with {reduction:?}",
                        layout.cols, shape.n_heads
                    )));
                }
                (9, staged.binding())
            }
        };
        let pipeline = match reduction {
            Reduction::Workgroup => {
                let preamble = format!(
                    "const WG: u32 = {WG}u;\n{}{}",
                    shape.cache.preamble(gpu),
                    inputs_source()
                );
                gpu.pipeline(&shader!("attention"), &preamble, "main")?
            }
            Reduction::Subgroup(size) => {
                let per_invocation = shape.cache.head_texels().div_ceil(size);
                let writer = match out {
                    AttentionOutput::Rows(_) => shader!("subgroup/attention_rows").wgsl.to_string(),
                    AttentionOutput::Staged(_, layout) => format!(
                        "{}{}",
                        layout.block_writer_preamble(),
                        shader!("subgroup/attention_staged").wgsl
                    ),
                };
                let preamble = format!(
                    "const WG: u32 = {size}u;\nconst TEXELS_PER_INVOCATION: u32 = {per_invocation}u;\n\
                     const HEADS: u32 = {heads_per_workgroup}u;\nconst KEY_SPLIT: u32 = {key_split}u;\n{}{}{writer}",
                    shape.cache.preamble(gpu),
                    inputs_source()
                );
                gpu.pipeline(&shader!("subgroup/attention"), &preamble, "main")?
            }
        };
        let resources = [
            (1, q.as_entire_binding()),
            (2, wgpu::BindingResource::TextureView(&k_cache.view)),
            (3, wgpu::BindingResource::TextureView(&v_cache.view)),
            output,
            rope::table_binding(rope_table),
        ];
        let bound = Bound::new(
            gpu,
            arena,
            &pipeline,
            "attention",
            std::mem::size_of::<Params>(),
            &resources,
        )?;
        let per_query = if query_lanes {
            let writer = match out {
                AttentionOutput::Rows(_) => shader!("attention_queries_rows").wgsl.to_string(),
                AttentionOutput::Staged(_, layout) => format!(
                    "{}{}",
                    layout.producer_preamble(StageWriter::Portable),
                    shader!("attention_queries_staged").wgsl
                ),
            };
            let heads = per_query_heads(&shape);
            let preamble = format!(
                "const WG: u32 = {QUERY_LANES}u;\nconst HEADS: u32 = {heads}u;\n{}{}{writer}",
                shape.cache.preamble(gpu),
                inputs_source()
            );
            let pipeline = gpu.pipeline(&shader!("attention_queries"), &preamble, "main")?;
            let q_copy = gpu.texel_copy("query texels", q, TexelTexture::width(gpu))?;
            // The kernel reads q from the copy, not from binding 1.
            let resources = q_copy.in_place_of(1, &resources);
            let bound = Bound::new(
                gpu,
                arena,
                &pipeline,
                "attention (per query)",
                std::mem::size_of::<Params>(),
                &resources,
            )?;
            Some(PerQuery {
                bound,
                q_copy,
                heads,
            })
        } else {
            None
        };
        Ok(Attention {
            bound,
            shape,
            heads_per_workgroup,
            per_query,
        })
    }

    /// Whether the kernel for `reduction` can write its output staged
    /// ([`AttentionOutput::Staged`]): the subgroup kernel with 8 lanes, each texel i of a
    /// head across them one block of 32 values (head_dim a multiple of 32), where the
    /// adapter runs the subgroup stage writer.
    pub fn can_stage(reduction: Reduction, shape: &AttentionShape) -> bool {
        reduction == Reduction::Subgroup(8) && shape.cache.head_dim.is_multiple_of(32)
    }

    /// Attends `n_tokens` queries at positions start_pos.. (as the projection wrote them:
    /// the kernel rotates them) over the cache rows from `first_row` (sequence * ctx), which
    /// must already hold positions 0..start_pos + n_tokens, keys rotated.
    pub fn encode(&self, rec: &mut Recorder<'_>, n_tokens: u32, start_pos: u32, first_row: u32) {
        let s = self.shape;
        let params = Params {
            n_tokens,
            n_heads: s.n_heads,
            n_kv_heads: s.cache.n_kv_heads,
            head_dim: s.cache.head_dim,
            start_pos,
            q_stride: s.q_stride,
            first_row,
            out_stride: s.out_stride,
            scale: 1.0 / (s.cache.head_dim as f32).sqrt(),
            _pad: [0; 3],
        };
        match &self.per_query {
            Some(PerQuery {
                bound,
                q_copy,
                heads,
            }) if n_tokens > 1 => {
                q_copy.record(rec, u64::from(n_tokens) * u64::from(s.q_stride) / 4);
                let workgroups = n_tokens.div_ceil(QUERY_LANES) * (s.n_heads / heads);
                rec.dispatch(bound, &params, grid(rec.gpu, workgroups));
            }
            _ => {
                let workgroups = n_tokens * (s.n_heads / self.heads_per_workgroup);
                rec.dispatch(&self.bound, &params, grid(rec.gpu, workgroups));
            }
        }
    }
}
