//! Models: reading files (GGUF, safetensors), the tokenizer and chat template, the weights
//! on the GPU, the KV cache and the forward pass.

pub mod chat;
pub mod config;
pub mod convert;
pub mod fetch;
pub mod forward;
pub mod gguf;
pub mod kv_cache;
pub mod plan;
pub mod source;
pub mod tensor;
pub mod tokenizer;
pub mod weights;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::WeightFormat;
use chat::ChatTemplate;
use forward::{RuntimeOptions, Transformer};
use plan::MemoryPlan;
use source::ModelSource;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use weights::GpuWeights;

/// Tokens per prefill step unless set: on lavapipe steps of 128, 256 and 512 tokens
/// prefill 512 tokens equally fast (and ~18% faster than steps of 24: fewer dispatches, each
/// with its fixed cost), and a GPU keeps more of its cores busy the wider the products.
pub const DEFAULT_STEP_TOKENS: usize = 512;

/// What to load and how big to make the runtime buffers.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Context length; None takes min(model maximum, 4096).
    pub ctx: Option<usize>,
    /// Most tokens in one prefill step; None takes [`DEFAULT_STEP_TOKENS`] (or what the
    /// kernels allow, if less).
    pub max_batch: Option<usize>,
    /// Sequence slots in the KV cache.
    pub sequences: Option<usize>,
    /// Format of the weight matrices on the GPU; None keeps each as stored.
    pub dtype: Option<WeightFormat>,
    /// Pick kernel shapes by measuring them on this adapter at first use (cached on disk).
    pub tune: bool,
    /// Print loading progress on stderr.
    pub verbose: bool,
}

/// A loaded model: its files, tokenizer and template on the host, its weights on the GPU.
pub struct Model {
    pub source: ModelSource,
    pub transformer: Transformer,
    pub chat_template: Option<ChatTemplate>,
    pub load_seconds: f64,
}

impl LoadOptions {
    /// The context length these options give `config`: --ctx, else min(model maximum, 4096).
    pub fn context(&self, config: &config::ModelConfig) -> Result<usize> {
        let ctx = self.ctx.unwrap_or(config.max_position.min(4096));
        if ctx == 0 {
            return Err(Error::usage("--ctx must be positive"));
        }
        Ok(ctx)
    }
}

impl Model {
    pub fn load(gpu: Arc<Gpu>, path: &Path, options: &LoadOptions) -> Result<Model> {
        let start = Instant::now();
        let source = ModelSource::open(path)?;
        Self::from_source(gpu, source, options, start)
    }

    /// Uploads an opened model: first works out what it needs and checks the adapter can
    /// hold it, then allocates. `start` is when loading began (for the reported load time).
    pub fn from_source(
        gpu: Arc<Gpu>,
        source: ModelSource,
        options: &LoadOptions,
        start: Instant,
    ) -> Result<Model> {
        let config = source.config.clone();
        let ctx = options.context(&config)?;
        if options.max_batch == Some(0) {
            return Err(Error::usage("--ubatch must be positive"));
        }
        if ctx > config.max_position && options.verbose {
            eprintln!(
                "warning: --ctx {ctx} exceeds the {} positions the model was trained for",
                config.max_position
            );
        }
        let runtime = RuntimeOptions {
            ctx,
            max_batch: options.max_batch.unwrap_or(DEFAULT_STEP_TOKENS).min(ctx),
            sequences: options.sequences.unwrap_or(1),
            tune: options.tune,
        };
        let plan = MemoryPlan::new(
            &gpu,
            &source,
            options.dtype,
            ctx,
            runtime.sequences,
            runtime.max_batch,
        )?;
        plan.check(&gpu, ctx)?;
        let chat_template = source.compile_chat_template()?;
        let verbose = options.verbose;
        let terminal = std::io::stderr().is_terminal();
        let weights = GpuWeights::upload(&gpu, &source, options.dtype, |done, total| {
            // A live counter on a terminal; one line when stderr is a file or pipe.
            if verbose && terminal {
                eprint!("\ruploading weights: {done}/{total}");
                if done == total {
                    eprintln!();
                }
            } else if verbose && done == total {
                eprintln!("uploaded weights ({total} groups)");
            }
        })?;
        let transformer = Transformer::new(gpu, config, weights, runtime)?;
        let load_seconds = start.elapsed().as_secs_f64();
        if verbose {
            let m = transformer.memory();
            eprintln!(
                "GPU memory: weights {:.1} MB ({}), KV cache {:.1} MB ({} positions), activations {:.1} MB (prefill steps of up to {} tokens)",
                m.weights as f64 / 1e6,
                transformer.weight_formats(),
                m.kv_cache as f64 / 1e6,
                ctx,
                m.activations as f64 / 1e6,
                transformer.options.max_batch
            );
        }
        Ok(Model {
            source,
            transformer,
            chat_template,
            load_seconds,
        })
    }

    pub fn config(&self) -> &config::ModelConfig {
        &self.source.config
    }

    /// A display name: the file or folder name.
    pub fn name(&self) -> String {
        self.source
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.source.path.display().to_string())
    }
}
