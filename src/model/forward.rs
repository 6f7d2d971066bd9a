//! The forward pass of a Llama-family transformer, every step recorded into one command
//! encoder and submitted once; only the last position's logits come back.
//!
//! Reading order: [`Transformer::new`] builds the activations and binds every kernel to its
//! buffers once; [`Transformer::forward`] runs tokens through the model; `run_step` holds the
//! textbook loop: embed -> per layer [norm -> QKV -> RoPE -> cache write -> attention ->
//! output projection + residual -> norm -> gate/up -> SwiGLU -> down projection + residual]
//! -> final norm -> LM head on the last position.

use crate::error::{Error, Result};
use crate::gpu::buffer::Readback;
use crate::gpu::profile::KernelTime;
use crate::gpu::{Gpu, GpuProfile, ParamArena, Recorder, StorageBuffer};
use crate::kernels::attention::{Attention, AttentionOutput, AttentionShape, AttentionVariant};
use crate::kernels::embedding::Embedding;
use crate::kernels::kv_write::{KvWrite, KvWriteInput};
use crate::kernels::matmul::{self, MatMul, MatMulIo};
use crate::kernels::rmsnorm::{NormInput, RmsNorm};
use crate::kernels::rope::rope_table;
use crate::kernels::stage::Stage;
use crate::kernels::swiglu::{SwiGlu, SwiGluInput};
use crate::kernels::{GpuMatrix, StageWriter, StagedLayout, Tuner};
use crate::model::config::ModelConfig;
use crate::model::kv_cache::KvCache;
use crate::model::weights::GpuWeights;
use std::sync::Arc;
use std::time::Instant;

/// Choices fixed when the model is loaded.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeOptions {
    /// Positions the KV cache holds per sequence.
    pub ctx: usize,
    /// Tokens one step processes at most; longer prompts go in chunks. Lowered at load to
    /// the context, and where the prefill reads x through a uniform binding (row lanes on a
    /// CPU-type adapter without token lanes) to what it holds (`matmul::max_step_tokens`).
    pub max_batch: usize,
    /// Sequence slots in the KV cache.
    pub sequences: usize,
    /// Pick kernel shapes by measuring them on this adapter (cached per adapter on disk).
    pub tune: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            ctx: 4096,
            max_batch: super::DEFAULT_STEP_TOKENS,
            sequences: 1,
            tune: false,
        }
    }
}

/// A staged matmul input (see kernels/staging.rs) and its layout.
struct Staged {
    buffer: StorageBuffer,
    layout: StagedLayout,
}

impl Staged {
    fn new(gpu: &Gpu, label: &str, w: &GpuMatrix, rows: u32) -> Result<Staged> {
        let layout = StagedLayout::for_matrix(w, rows);
        Ok(Staged {
            buffer: layout.buffer(gpu, label)?,
            layout,
        })
    }

    /// This input multiplied by `w` into `y` (no bias, overwriting y).
    fn times<'a>(&'a self, w: &'a GpuMatrix, y: &'a wgpu::Buffer) -> MatMulIo<'a> {
        MatMulIo {
            w,
            x: &self.buffer,
            layout: self.layout,
            bias: None,
            y,
            accumulate: false,
        }
    }
}

/// Activation buffers, sized for `max_batch` tokens.
struct Activations {
    ids: StorageBuffer,
    /// The residual stream [tokens, hidden].
    x: StorageBuffer,
    /// Fused projections [tokens, q_dim + 2 kv_dim]: queries, keys, values.
    qkv: StorageBuffer,
    /// Attention output [tokens, q_dim].
    attn: StorageBuffer,
    /// [tokens, 2 intermediate]: gate then up.
    gate_up: StorageBuffer,
    logits: StorageBuffer,
    /// Staged inputs of the QKV, output, gate/up, down and LM-head products.
    qkv_in: Staged,
    o_in: Staged,
    gate_up_in: Staged,
    down_in: Staged,
    head_in: Staged,
}

impl Activations {
    fn new(gpu: &Gpu, c: &ModelConfig, w: &GpuWeights, tokens: usize) -> Result<Activations> {
        let floats = |label: &str, n: usize| StorageBuffer::new(gpu, label, (n * 4) as u64);
        let layer = &w.layers[0];
        let rows = tokens as u32;
        Ok(Activations {
            ids: StorageBuffer::new(gpu, "token ids", (tokens * 4) as u64)?,
            // RMSNorm may read it through a uniform binding (kernels::rmsnorm::NormInput).
            x: StorageBuffer::with_usage(
                gpu,
                "residual",
                (tokens * c.hidden_size * 4) as u64,
                wgpu::BufferUsages::UNIFORM,
            )?,
            qkv: floats("qkv", tokens * c.qkv_dim())?,
            attn: floats("attention out", tokens * c.q_dim())?,
            gate_up: floats("gate_up", tokens * 2 * c.intermediate_size)?,
            logits: floats("logits", c.vocab_size)?,
            qkv_in: Staged::new(gpu, "qkv input", &layer.qkv, rows)?,
            o_in: Staged::new(gpu, "o_proj input", &layer.o, rows)?,
            gate_up_in: Staged::new(gpu, "gate_up input", &layer.gate_up, rows)?,
            down_in: Staged::new(gpu, "down_proj input", &layer.down, rows)?,
            head_in: Staged::new(gpu, "lm_head input", w.lm_head(), 1)?,
        })
    }

    fn bytes(&self) -> u64 {
        let plain = [
            &self.ids,
            &self.x,
            &self.qkv,
            &self.attn,
            &self.gate_up,
            &self.logits,
        ];
        let staged = [
            &self.qkv_in,
            &self.o_in,
            &self.gate_up_in,
            &self.down_in,
            &self.head_in,
        ];
        plain.iter().map(|b| b.bytes).sum::<u64>()
            + staged.iter().map(|s| s.buffer.bytes).sum::<u64>()
    }
}

/// The most tokens one step processes: what the staged inputs of every matmul allow
/// (`matmul::max_step_tokens`).
fn max_step_tokens(gpu: &Gpu, w: &GpuWeights) -> usize {
    w.layers
        .iter()
        .flat_map(|l| [&l.qkv, &l.o, &l.gate_up, &l.down])
        .map(|m| matmul::max_step_tokens(gpu, m.format, m.cols))
        .min()
        .unwrap_or(1) as usize
}

/// One layer's kernels, bound to its weights, its cache and the shared activations.
struct LayerKernels {
    attn_norm: RmsNorm,
    qkv: MatMul,
    kv_write: KvWrite,
    attention: Attention,
    /// Stages the attention output for W_o, unless attention writes it staged itself.
    stage_attn: Option<Stage>,
    o: MatMul,
    ffn_norm: RmsNorm,
    gate_up: MatMul,
    swiglu: SwiGlu,
    down: MatMul,
}

pub struct Transformer {
    pub gpu: Arc<Gpu>,
    pub config: ModelConfig,
    pub options: RuntimeOptions,
    weights: GpuWeights,
    cache: KvCache,
    state: Activations,
    _rope_table: StorageBuffer,
    embed: Embedding,
    layers: Vec<LayerKernels>,
    final_norm: RmsNorm,
    lm_head: MatMul,
    arena: ParamArena,
    logits_readback: Readback,
    /// Timestamps around every dispatch, when profiling.
    profile: Option<GpuProfile>,
    /// Where the time of the last `forward` went.
    pub last_timing: StepTiming,
}

/// Host and GPU time of one call to [`Transformer::forward`].
#[derive(Debug, Clone, Default)]
pub struct StepTiming {
    /// Recording commands and parameters.
    pub encode_seconds: f64,
    /// Submitting and waiting for the GPU to finish.
    pub gpu_wait_seconds: f64,
    /// Mapping and copying the logits back.
    pub readback_seconds: f64,
    /// Per-dispatch GPU times (only when profiling).
    pub kernels: Vec<KernelTime>,
}

impl Transformer {
    pub fn new(
        gpu: Arc<Gpu>,
        config: ModelConfig,
        weights: GpuWeights,
        mut options: RuntimeOptions,
    ) -> Result<Transformer> {
        if options.ctx == 0 || options.max_batch == 0 || options.sequences == 0 {
            return Err(Error::usage(
                "context, batch and sequence counts must be positive",
            ));
        }
        let g = gpu.as_ref();
        let c = &config;
        options.max_batch = options.max_batch.min(max_step_tokens(g, &weights));
        let cache = KvCache::new(g, c, options.ctx, options.sequences)?;
        let state = Activations::new(g, c, &weights, options.max_batch)?;
        let rope_table = StorageBuffer::from_slice(
            g,
            "rope table",
            &rope_table(options.ctx as u32, &c.rope_inv_freq()),
        )?;

        // Arena slots: two per matmul shard, one per other dispatch.
        let slots = 64 + 32 * c.num_layers as u32 + 4 * weights.lm_head().shards.len() as u32;
        let mut arena = ParamArena::new(g, slots)?;
        let a = &mut arena;
        let eps = c.rms_norm_eps as f32;
        let qkv_dim = c.qkv_dim() as u32;
        let (q_dim, kv_dim) = (c.q_dim() as u32, c.kv_dim() as u32);
        let s = &state;
        let writer = StageWriter::for_gpu(g);
        let mut tuner = if options.tune {
            Tuner::for_gpu(g)
        } else {
            Tuner::disabled()
        };
        let t = &mut tuner;
        let attention_shape = AttentionShape {
            n_heads: c.num_heads as u32,
            cache: cache.shape,
            q_stride: qkv_dim,
            out_stride: q_dim,
        };

        let attention_variant = AttentionVariant::for_gpu(g, &attention_shape);
        // Where it can, attention writes W_o's staged input itself (one pass fewer a layer).
        let attention_stages = Attention::can_stage(attention_variant.reduction, &attention_shape);

        let embed = Embedding::new(g, a, &weights.embed, &s.ids.buffer, &s.x.buffer)?;
        let mut layers = Vec::with_capacity(c.num_layers);
        for (l, w) in weights.layers.iter().enumerate() {
            let (k_cache, v_cache) = (&cache.k[l], &cache.v[l]);
            let bias = w.qkv_bias.as_ref().map(|b| &b.buffer);
            layers.push(LayerKernels {
                attn_norm: RmsNorm::new(
                    g,
                    a,
                    &s.x.buffer,
                    &w.attn_norm.buffer,
                    &s.qkv_in.buffer,
                    s.qkv_in.layout,
                    eps,
                    writer,
                    NormInput::for_buffers(g, &s.x.buffer, &w.attn_norm.buffer),
                )?,
                qkv: MatMul::tuned(
                    g,
                    a,
                    MatMulIo {
                        bias,
                        ..s.qkv_in.times(&w.qkv, &s.qkv.buffer)
                    },
                    t,
                )?,
                kv_write: KvWrite::new(
                    g,
                    a,
                    &s.qkv.buffer,
                    k_cache,
                    v_cache,
                    &rope_table,
                    cache.shape,
                    qkv_dim,
                    q_dim,
                    q_dim + kv_dim,
                    KvWriteInput::for_gpu(g, cache.shape, qkv_dim, q_dim, q_dim + kv_dim),
                )?,
                attention: Attention::new(
                    g,
                    a,
                    &s.qkv.buffer,
                    k_cache,
                    v_cache,
                    &rope_table,
                    if attention_stages {
                        AttentionOutput::Staged(&s.o_in.buffer, s.o_in.layout)
                    } else {
                        AttentionOutput::Rows(&s.attn.buffer)
                    },
                    attention_shape,
                    attention_variant,
                )?,
                stage_attn: if attention_stages {
                    None
                } else {
                    Some(Stage::new(
                        g,
                        a,
                        &s.attn.buffer,
                        &s.o_in.buffer,
                        s.o_in.layout,
                        StageWriter::for_items(g),
                    )?)
                },
                o: MatMul::tuned(
                    g,
                    a,
                    MatMulIo {
                        accumulate: true,
                        ..s.o_in.times(&w.o, &s.x.buffer)
                    },
                    t,
                )?,
                ffn_norm: RmsNorm::new(
                    g,
                    a,
                    &s.x.buffer,
                    &w.ffn_norm.buffer,
                    &s.gate_up_in.buffer,
                    s.gate_up_in.layout,
                    eps,
                    writer,
                    NormInput::for_buffers(g, &s.x.buffer, &w.ffn_norm.buffer),
                )?,
                gate_up: MatMul::tuned(g, a, s.gate_up_in.times(&w.gate_up, &s.gate_up.buffer), t)?,
                swiglu: SwiGlu::new(
                    g,
                    a,
                    &s.gate_up.buffer,
                    &s.down_in.buffer,
                    s.down_in.layout,
                    StageWriter::for_items(g),
                    SwiGluInput::for_gpu(g, c.intermediate_size as u32),
                )?,
                down: MatMul::tuned(
                    g,
                    a,
                    MatMulIo {
                        accumulate: true,
                        ..s.down_in.times(&w.down, &s.x.buffer)
                    },
                    t,
                )?,
            });
        }
        let final_norm = RmsNorm::new(
            g,
            a,
            &s.x.buffer,
            &weights.final_norm.buffer,
            &s.head_in.buffer,
            s.head_in.layout,
            eps,
            writer,
            NormInput::for_buffers(g, &s.x.buffer, &weights.final_norm.buffer),
        )?;
        let lm_head = MatMul::tuned(
            g,
            a,
            s.head_in.times(weights.lm_head(), &s.logits.buffer),
            t,
        )?;
        let logits_readback = Readback::new(g, "logits readback", (c.vocab_size * 4) as u64)?;

        Ok(Transformer {
            config,
            options,
            weights,
            cache,
            state,
            _rope_table: rope_table,
            embed,
            layers,
            final_norm,
            lm_head,
            arena,
            logits_readback,
            profile: None,
            last_timing: StepTiming::default(),
            gpu,
        })
    }

    /// Bytes of weights one decode step reads.
    pub fn decode_weight_bytes(&self) -> u64 {
        self.weights.decode_bytes()
    }

    /// Formats of the weight matrices, e.g. "q4_1 (120), q8_0 (1)".
    pub fn weight_formats(&self) -> String {
        self.weights.formats()
    }

    /// GPU memory held by weights, KV cache and activations (with the texel copies some
    /// kernels read activations through, `Gpu::texel_copy`).
    pub fn memory(&self) -> MemoryUse {
        MemoryUse {
            weights: self.weights.bytes(),
            kv_cache: self.cache.bytes(),
            activations: self.state.bytes() + self.gpu.texel_copy_bytes(),
        }
    }

    /// Turns per-dispatch GPU timestamps on or off (needs TIMESTAMP_QUERY).
    pub fn set_profiling(&mut self, on: bool) -> Result<()> {
        self.profile = if on {
            Some(GpuProfile::new(
                &self.gpu,
                64 + 16 * self.layers.len() as u32,
            )?)
        } else {
            None
        };
        Ok(())
    }

    /// Runs `tokens` of `sequence`, the first at position `start_pos`, and returns the logits
    /// of the last token. Cache positions 0..start_pos must hold the tokens before.
    pub fn forward(
        &mut self,
        sequence: usize,
        tokens: &[u32],
        start_pos: usize,
    ) -> Result<Vec<f32>> {
        self.check_step(sequence, tokens, start_pos)?;
        self.last_timing = StepTiming::default();
        let chunks = tokens.len().div_ceil(self.options.max_batch);
        let mut position = start_pos;
        for (index, chunk) in tokens.chunks(self.options.max_batch).enumerate() {
            let last = index + 1 == chunks;
            self.run_step(
                sequence,
                chunk,
                position,
                if last {
                    Output::Logits
                } else {
                    Output::Nothing
                },
            )?;
            position += chunk.len();
        }
        let start = Instant::now();
        let logits = self
            .logits_readback
            .read_f32(&self.gpu, "reading the logits")?;
        self.last_timing.readback_seconds = start.elapsed().as_secs_f64();
        Ok(logits)
    }

    /// The residual stream after the first `layers` layers for `tokens` at positions 0..,
    /// [tokens, hidden] (for locating where a forward pass departs from a reference).
    pub fn residual_after(&mut self, tokens: &[u32], layers: usize) -> Result<Vec<f32>> {
        self.check_step(0, tokens, 0)?;
        if tokens.len() > self.options.max_batch || layers > self.config.num_layers {
            return Err(Error::usage("residual_after: too many tokens or layers"));
        }
        self.run_step(0, tokens, 0, Output::Residual { layers })?;
        let floats = tokens.len() * self.config.hidden_size;
        let bytes =
            crate::gpu::read_buffer(&self.gpu, &self.state.x.buffer, 0, (floats * 4) as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    fn check_step(&self, sequence: usize, tokens: &[u32], start_pos: usize) -> Result<()> {
        if tokens.is_empty() {
            return Err(Error::usage("no tokens to run"));
        }
        if sequence >= self.options.sequences {
            return Err(Error::usage(format!(
                "sequence {sequence} is outside the KV cache's {} slot(s)",
                self.options.sequences
            )));
        }
        let end = start_pos + tokens.len();
        if end > self.options.ctx {
            return Err(Error::usage(format!(
                "{end} positions exceed the context of {} (--ctx)",
                self.options.ctx
            )));
        }
        if let Some(bad) = tokens
            .iter()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(Error::usage(format!(
                "token id {bad} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    /// Records and submits one step of at most `max_batch` tokens.
    fn run_step(
        &mut self,
        sequence: usize,
        tokens: &[u32],
        start_pos: usize,
        output: Output,
    ) -> Result<()> {
        let encode_start = Instant::now();
        self.state.ids.write(&self.gpu, tokens);
        let gpu = self.gpu.clone();
        let mut rec = Recorder::new(&gpu, &mut self.arena, self.profile.as_mut());
        let n = tokens.len() as u32;
        let cache_row = self.cache.first_row(sequence);
        let layers = match output {
            Output::Residual { layers } => layers,
            _ => self.layers.len(),
        };
        let start = start_pos as u32;

        // The forward pass, top to bottom.
        self.embed.encode(&mut rec, n);
        for layer in &self.layers[..layers] {
            // Attention block: x += W_o attention(rope(W_qkv rmsnorm(x))); the cache write
            // rotates the keys it stores and attention the queries it loads.
            layer.attn_norm.encode(&mut rec, n, 0);
            layer.qkv.encode(&mut rec, n);
            layer.kv_write.encode(&mut rec, n, start, cache_row + start);
            layer.attention.encode(&mut rec, n, start, cache_row);
            if let Some(stage) = &layer.stage_attn {
                stage.encode(&mut rec, n);
            }
            layer.o.encode(&mut rec, n);
            // MLP block: x += W_down (silu(W_gate h) * W_up h), h = rmsnorm(x)
            layer.ffn_norm.encode(&mut rec, n, 0);
            layer.gate_up.encode(&mut rec, n);
            layer.swiglu.encode(&mut rec, n);
            layer.down.encode(&mut rec, n);
        }
        if let Output::Logits = output {
            // Only the last position's logits are needed: normalise that row alone.
            self.final_norm.encode(&mut rec, 1, n - 1);
            self.lm_head.encode(&mut rec, 1);
            self.logits_readback
                .record_copy(rec.encoder(), &self.state.logits.buffer, 0);
        }
        self.last_timing.encode_seconds += encode_start.elapsed().as_secs_f64();

        let wait_start = Instant::now();
        rec.submit("running the forward pass")?;
        self.last_timing.gpu_wait_seconds += wait_start.elapsed().as_secs_f64();
        if let Some(profile) = self.profile.as_mut() {
            self.last_timing.kernels.extend(profile.take(&gpu)?);
        }
        Ok(())
    }
}

/// What a step produces besides filling the KV cache.
#[derive(Debug, Clone, Copy)]
enum Output {
    Nothing,
    Logits,
    /// Stop after this many layers, leaving the residual stream in place.
    Residual {
        layers: usize,
    },
}

/// GPU memory of a loaded model, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct MemoryUse {
    pub weights: u64,
    pub kv_cache: u64,
    pub activations: u64,
}
