//! The `shaderlm` command line.

use clap::{Args, Parser, Subcommand};
use shaderlm::generate::{generate, GenerateOptions, Session};
use shaderlm::gpu::{adapter, AdapterChoice, BackendChoice, Gpu, GpuOptions};
use shaderlm::kernels::WeightFormat;
use shaderlm::model::chat::Message;
use shaderlm::model::forward::StepTiming;
use shaderlm::model::{fetch, LoadOptions, Model};
use shaderlm::sampling::{Sampler, SamplingParams};
use shaderlm::{Error, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "shaderlm",
    version,
    about = "LLM inference as WGSL compute shaders through wgpu"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a prompt.
    Generate(GenerateArgs),
    /// List adapters (and describe a model with -m).
    Info(InfoArgs),
    /// Convert a GGUF file into a Hugging Face folder.
    Convert {
        /// The .gguf file to read.
        input: PathBuf,
        /// The folder to write.
        output: PathBuf,
    },
}

#[derive(Args, Clone)]
struct DeviceArgs {
    /// Graphics API: auto, vulkan, metal, dx12 or gl.
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Adapter to use: an index from `shaderlm info`, or part of its name.
    #[arg(long)]
    adapter: Option<String>,
}

impl DeviceArgs {
    fn options(&self, verbose: bool) -> Result<GpuOptions> {
        Ok(GpuOptions {
            backend: self.backend.parse::<BackendChoice>()?,
            adapter: self
                .adapter
                .as_deref()
                .map(str::parse::<AdapterChoice>)
                .transpose()?,
            verbose,
        })
    }
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// A Hugging Face folder or a .gguf file (default: SmolLM2-135M-Instruct, fetched on first use).
    #[arg(short = 'm', long)]
    model: Option<String>,
    /// Context length (default: the model's, at most 4096).
    #[arg(short = 'c', long)]
    ctx: Option<usize>,
    /// Weight format on the GPU: f32, f16, q8_0, q4_0 or q4_1 (default: as stored).
    #[arg(long)]
    dtype: Option<String>,
}

impl ModelArgs {
    fn dtype(&self) -> Result<Option<WeightFormat>> {
        self.dtype
            .as_deref()
            .map(|d| {
                WeightFormat::parse(d).ok_or_else(|| {
                    Error::usage(format!(
                        "--dtype {d}: unknown format (expected f32, f16, q8_0, q4_0 or q4_1)"
                    ))
                })
            })
            .transpose()
    }

    fn resolve(&self) -> Result<PathBuf> {
        match &self.model {
            None => fetch::ensure_default_model(),
            Some(model) => {
                let path = PathBuf::from(model);
                if path.exists() {
                    Ok(path)
                } else if looks_like_repo_id(model) {
                    Err(Error::usage(format!(
                        "--model {model}: no such file or folder; fetching Hugging Face repos needs a build \
                         with the hf-hub feature (cargo build --release --features hf-hub)"
                    )))
                } else {
                    Err(Error::model(&path, "no such file or folder"))
                }
            }
        }
    }
}

fn looks_like_repo_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && !p.starts_with('.'))
}

#[derive(Args)]
struct GenerateArgs {
    /// The prompt (or use -p).
    prompt_text: Option<String>,
    #[arg(short = 'p', long = "prompt", conflicts_with = "prompt_text")]
    prompt: Option<String>,
    #[command(flatten)]
    model: ModelArgs,
    /// Most tokens to generate.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 128)]
    max_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long = "temp", default_value_t = 0.8)]
    temperature: f32,
    #[arg(long = "top-k", default_value_t = 40)]
    top_k: usize,
    #[arg(long = "top-p", default_value_t = 0.95)]
    top_p: f32,
    #[arg(long = "min-p", default_value_t = 0.05)]
    min_p: f32,
    #[arg(long = "repeat-penalty", default_value_t = 1.0)]
    repeat_penalty: f32,
    #[arg(long = "repeat-last-n", default_value_t = 64)]
    repeat_last_n: usize,
    /// Seed for reproducible sampling.
    #[arg(long)]
    seed: Option<u64>,
    /// Wrap the prompt in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// System prompt for --chat.
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Stop when this text is generated (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print where the time of the prefill and of one decode step goes (GPU time per kernel).
    #[arg(long)]
    profile: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Args)]
struct InfoArgs {
    /// Also describe this model (a folder or .gguf file).
    #[arg(short = 'm', long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => run_generate(args),
        Command::Info(args) => run_info(args),
        Command::Convert { input, output } => run_convert(&input, &output),
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        if let Some(hint) = error.hint() {
            eprintln!("hint: {hint}");
        }
        std::process::exit(error.exit_code());
    }
}

fn run_generate(args: GenerateArgs) -> Result<()> {
    let sampling = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        repeat_last_n: args.repeat_last_n,
        seed: args.seed,
    };
    let mut sampler = Sampler::new(sampling)?;
    let prompt_text = args
        .prompt
        .or(args.prompt_text)
        .ok_or_else(|| Error::usage("no prompt: give it as an argument or with -p"))?;
    let dtype = args.model.dtype()?;
    let model_path = args.model.resolve()?;
    let gpu = Arc::new(Gpu::new(&args.device.options(true)?)?);
    eprintln!("loading {}", model_path.display());
    let load = LoadOptions {
        ctx: args.model.ctx,
        dtype,
        verbose: true,
        ..Default::default()
    };
    let mut model = Model::load(gpu, &model_path, &load)?;
    if args.profile {
        model.transformer.set_profiling(true)?;
    }

    let text = if args.chat {
        let template = model.chat_template.as_ref().ok_or_else(|| {
            Error::model(
                &model.source.path,
                "the model has no chat template (needed by --chat)",
            )
        })?;
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(Message::new("system", system));
        }
        messages.push(Message::new("user", &prompt_text));
        template.render(&messages, true)?
    } else {
        prompt_text
    };
    let prompt = model.source.tokenizer.encode(&text)?;
    if prompt.is_empty() {
        return Err(Error::usage("the prompt tokenizes to zero tokens"));
    }
    let ctx = model.transformer.options.ctx;
    if prompt.len() > ctx {
        return Err(Error::usage(format!(
            "the prompt has {} tokens but the context holds {ctx} (--ctx)",
            prompt.len()
        )));
    }
    let options = GenerateOptions {
        max_tokens: args.max_tokens,
        stop: args.stop,
        extra_stop_ids: Vec::new(),
        cancel: None,
    };
    let mut session = Session::new(0);
    let stdout = std::io::stdout();
    let generation = generate(
        &mut model,
        &mut session,
        &prompt,
        &options,
        &mut sampler,
        |piece| {
            let mut out = stdout.lock();
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        },
    )?;
    println!();
    eprintln!(
        "load {:.2} s | prompt {} tokens, {:.1} tok/s | generated {} tokens, {:.2} tok/s | stop: {}",
        model.load_seconds,
        generation.prompt_tokens,
        generation.prefill_tokens_per_second(),
        generation.tokens.len(),
        generation.decode_tokens_per_second(),
        generation.stop.describe()
    );
    if args.profile {
        print_profile(
            "prefill",
            &generation.prefill_timing,
            generation.prompt_tokens,
        );
        if let Some(timing) = &generation.decode_timing {
            print_profile("decode step", timing, 1);
        }
        eprintln!(
            "sampling: {:.3} ms per token",
            generation.sampling_seconds * 1e3 / generation.tokens.len().max(1) as f64
        );
    }
    Ok(())
}

/// A table of GPU time per kernel kind and host time per phase, on stderr.
fn print_profile(what: &str, timing: &StepTiming, tokens: usize) {
    let mut by_kind: Vec<(&str, f64, usize)> = Vec::new();
    for k in &timing.kernels {
        match by_kind.iter_mut().find(|(name, _, _)| *name == k.name) {
            Some(entry) => {
                entry.1 += k.duration_us;
                entry.2 += 1;
            }
            None => by_kind.push((k.name, k.duration_us, 1)),
        }
    }
    by_kind.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = by_kind.iter().map(|k| k.1).sum();
    eprintln!("{what} ({tokens} tokens): GPU time by kernel");
    eprintln!(
        "  {:<12} {:>10} {:>7} {:>10}",
        "kernel", "ms", "%", "dispatches"
    );
    for (name, us, count) in &by_kind {
        eprintln!(
            "  {name:<12} {:>10.3} {:>6.1}% {count:>10}",
            us / 1e3,
            100.0 * us / total.max(1e-9)
        );
    }
    eprintln!("  {:<12} {:>10.3}", "total GPU", total / 1e3);
    eprintln!(
        "  host: encode {:.3} ms, submit+wait {:.3} ms, readback {:.3} ms",
        timing.encode_seconds * 1e3,
        timing.gpu_wait_seconds * 1e3,
        timing.readback_seconds * 1e3
    );
}

fn run_info(args: InfoArgs) -> Result<()> {
    let options = args.device.options(false)?;
    let adapters = shaderlm::gpu::enumerate_adapters(options.backend);
    let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
    println!("adapters ({} backend):", options.backend);
    let chosen = adapter::choose_adapter(&infos, options.adapter.as_ref()).ok();
    for (i, info) in infos.iter().enumerate() {
        let mark = if Some(i) == chosen { "*" } else { " " };
        println!("{mark} {i}: {}", adapter::describe(info));
    }
    let gpu = Gpu::new(&options)?;
    let l = &gpu.limits;
    println!("chosen: {}", gpu.info.name);
    println!(
        "  max storage binding   {} bytes ({} MiB)",
        l.max_storage_buffer_binding_size,
        l.max_storage_buffer_binding_size >> 20
    );
    println!(
        "  max buffer            {} bytes ({} MiB)",
        l.max_buffer_size,
        l.max_buffer_size >> 20
    );
    println!(
        "  storage buffers/stage {}",
        l.max_storage_buffers_per_shader_stage
    );
    println!(
        "  workgroup memory      {} bytes",
        l.max_compute_workgroup_storage_size
    );
    println!(
        "  invocations/workgroup {}",
        l.max_compute_invocations_per_workgroup
    );
    println!(
        "  workgroups/dimension  {}",
        l.max_compute_workgroups_per_dimension
    );
    let feature = |f: wgpu::Features| {
        if gpu.features.contains(f) {
            "yes"
        } else {
            "no"
        }
    };
    println!(
        "  SHADER_F16            {}",
        feature(wgpu::Features::SHADER_F16)
    );
    println!(
        "  SUBGROUP              {} (sizes {}..{})",
        feature(wgpu::Features::SUBGROUP),
        gpu.info.subgroup_min_size,
        gpu.info.subgroup_max_size
    );
    println!(
        "  TIMESTAMP_QUERY       {}",
        feature(wgpu::Features::TIMESTAMP_QUERY)
    );
    if let Some(path) = args.model {
        let source = shaderlm::model::source::ModelSource::open(&path)?;
        let c = &source.config;
        println!("model: {}", path.display());
        println!(
            "  {:?}: {} layers, hidden {}, intermediate {}, heads {}/{} (head_dim {}), vocab {}, context {}",
            c.architecture,
            c.num_layers,
            c.hidden_size,
            c.intermediate_size,
            c.num_heads,
            c.num_kv_heads,
            c.head_dim,
            c.vocab_size,
            c.max_position
        );
        println!(
            "  {} parameters, rope_theta {}, rms_norm_eps {}, tied embeddings: {}",
            c.parameter_count(),
            c.rope_theta,
            c.rms_norm_eps,
            c.tie_embeddings
        );
        let mut counts = std::collections::BTreeMap::new();
        for name in source.tensor_names() {
            *counts
                .entry(source.entry(name)?.dtype.name())
                .or_insert(0usize) += 1;
        }
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!("  tensors: {}", summary.join(", "));
        println!(
            "  EOS ids: {:?}; chat template: {}",
            source.eos_token_ids,
            source.chat_template.is_some()
        );
    }
    Ok(())
}

fn run_convert(input: &std::path::Path, output: &std::path::Path) -> Result<()> {
    eprintln!("converting {} into {}", input.display(), output.display());
    shaderlm::model::convert::convert_gguf_to_hf(input, output)?;
    eprintln!("wrote {}", output.display());
    Ok(())
}
