//! The `shaderlm` command line.

use clap::{Args, Parser, Subcommand};
use shaderlm::bench::report;
use shaderlm::conversation::Conversation;
use shaderlm::generate::{generate, GenerateOptions, Session, StopReason};
use shaderlm::gpu::{adapter, AdapterChoice, BackendChoice, Gpu, GpuOptions};
use shaderlm::kernels::WeightFormat;
use shaderlm::model::chat::Message;
use shaderlm::model::forward::StepTiming;
use shaderlm::model::source::ModelSource;
use shaderlm::model::{fetch, LoadOptions, Model};
use shaderlm::sampling::{Sampler, SamplingParams};
use shaderlm::{Error, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

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
    /// Talk with a chat model in the terminal.
    Chat(ChatArgs),
    /// Serve an OpenAI-compatible API (needs a build with --features server).
    Serve(ServeArgs),
    /// List adapters (and describe a model with -m).
    Info(InfoArgs),
    /// Measure prefill and decode throughput (llama-bench style) against the adapter's ceilings.
    Bench(BenchArgs),
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
    /// Most prompt tokens one prefill step processes (default: 512, or what the kernels allow).
    #[arg(long)]
    ubatch: Option<std::num::NonZeroUsize>,
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
                    fetch_repo(model)
                } else {
                    Err(Error::model(&path, "no such file or folder"))
                }
            }
        }
    }
}

/// Writes a piece of generated text to stdout at once (streaming).
fn print_piece(piece: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(piece.as_bytes());
    let _ = out.flush();
}

#[cfg(feature = "hf-hub")]
fn fetch_repo(repo_id: &str) -> Result<PathBuf> {
    eprintln!("fetching {repo_id} from the Hugging Face hub (or its cache)");
    fetch::fetch_hf_repo(repo_id)
}

#[cfg(not(feature = "hf-hub"))]
fn fetch_repo(repo_id: &str) -> Result<PathBuf> {
    Err(Error::usage(format!(
        "--model {repo_id}: no such file or folder; fetching Hugging Face repos needs a build \
         with the hf-hub feature (cargo build --release --features hf-hub)"
    )))
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
    #[command(flatten)]
    sampling: SamplingArgs,
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
    /// Write the profiled prefill and decode step as a Chrome trace (implies --profile).
    #[arg(long)]
    trace: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

/// The sampling flags `generate` and `chat` share (llama.cpp's names and defaults).
#[derive(Args, Clone)]
struct SamplingArgs {
    /// Sampling temperature; 0 is greedy.
    #[arg(long = "temp", default_value_t = 0.8, allow_negative_numbers = true)]
    temperature: f32,
    #[arg(long = "top-k", default_value_t = 40)]
    top_k: usize,
    #[arg(long = "top-p", default_value_t = 0.95, allow_negative_numbers = true)]
    top_p: f32,
    #[arg(long = "min-p", default_value_t = 0.05, allow_negative_numbers = true)]
    min_p: f32,
    #[arg(
        long = "repeat-penalty",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    repeat_penalty: f32,
    #[arg(long = "repeat-last-n", default_value_t = 64)]
    repeat_last_n: usize,
    /// Seed for reproducible sampling.
    #[arg(long)]
    seed: Option<u64>,
}

impl SamplingArgs {
    fn params(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            seed: self.seed,
        }
    }
}

#[derive(Args)]
struct ChatArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// System prompt (default: the template's own, if it has one).
    #[arg(long)]
    system: Option<String>,
    /// Most tokens per answer.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 512)]
    max_tokens: usize,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The model name clients use (default: the model file or folder name).
    #[arg(long)]
    model_id: Option<String>,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt lengths to prefill (ppN rows), comma-separated.
    #[arg(
        short = 'p',
        long = "n-prompt",
        default_value = "512",
        value_delimiter = ','
    )]
    prompt: Vec<usize>,
    /// Tokens to generate (tgN rows), comma-separated.
    #[arg(
        short = 'n',
        long = "n-gen",
        default_value = "128",
        value_delimiter = ','
    )]
    gen: Vec<usize>,
    /// Repetitions per test (after one warm-up).
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    repetitions: usize,
    /// JSON lines instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Also break one prefill and one decode step down by kernel (needs TIMESTAMP_QUERY).
    #[arg(long)]
    profile: bool,
    /// Write the profiled steps as a Chrome trace (implies --profile).
    #[arg(long)]
    trace: Option<PathBuf>,
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

/// The exit code of a generation stopped by Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: i32 = 130;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => run_generate(args),
        Command::Chat(args) => run_chat(args),
        Command::Serve(args) => run_serve(args),
        Command::Info(args) => run_info(args),
        Command::Bench(args) => run_bench(args),
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
    let mut sampler = Sampler::new(args.sampling.params())?;
    let prompt_text = args
        .prompt
        .or(args.prompt_text)
        .ok_or_else(|| Error::usage("no prompt: give it as an argument or with -p"))?;
    let dtype = args.model.dtype()?;
    let device = args.device.options(true)?;
    let model_path = args.model.resolve()?;
    let start = Instant::now();
    eprintln!("loading {}", model_path.display());
    let source = ModelSource::open(&model_path)?;
    let load = LoadOptions {
        ctx: args.model.ctx,
        max_batch: args.model.ubatch.map(std::num::NonZeroUsize::get),
        dtype,
        verbose: true,
        tune: true,
        ..Default::default()
    };
    // Everything about the prompt is checked before any GPU work.
    let ctx = load.context(&source.config)?;
    let text = if args.chat {
        let template = source.compile_chat_template()?.ok_or_else(|| {
            Error::model(
                &source.path,
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
    let prompt = source.tokenizer.encode(&text)?;
    if prompt.is_empty() {
        return Err(Error::usage("the prompt tokenizes to zero tokens"));
    }
    if prompt.len() > ctx {
        return Err(Error::usage(format!(
            "the prompt has {} tokens but the context holds {ctx} (--ctx)",
            prompt.len()
        )));
    }

    let gpu = Arc::new(Gpu::new(&device)?);
    let mut model = Model::from_source(gpu, source, &load, start)?;
    let profile = args.profile || args.trace.is_some();
    if profile {
        model.transformer.set_profiling(true)?;
    }
    // Ctrl-C stops after the current token; a second one exits at once.
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(INTERRUPTED);
        }
    });
    let options = GenerateOptions {
        max_tokens: args.max_tokens,
        stop: args.stop,
        extra_stop_ids: Vec::new(),
        cancel: Some(cancel),
    };
    let mut session = Session::new(0);
    let generation = generate(
        &mut model,
        &mut session,
        &prompt,
        &options,
        &mut sampler,
        print_piece,
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
    if generation.stop == StopReason::Cancelled {
        std::process::exit(INTERRUPTED);
    }
    if profile {
        let sampling = generation.sampling_seconds / generation.tokens.len().max(1) as f64;
        eprint!(
            "{}",
            report::profile_table(
                "prefill",
                &generation.prefill_timing,
                generation.prompt_tokens,
                None
            )
        );
        let mut steps = vec![("prefill", &generation.prefill_timing)];
        if let Some(timing) = &generation.decode_timing {
            eprint!(
                "{}",
                report::profile_table("decode step", timing, 1, Some(sampling))
            );
            steps.push(("decode step", timing));
        }
        if let Some(path) = &args.trace {
            write_trace(path, &steps)?;
        }
    }
    Ok(())
}

fn write_trace(path: &std::path::Path, steps: &[(&str, &StepTiming)]) -> Result<()> {
    let text = report::chrome_trace(steps).to_string();
    std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
    eprintln!("wrote trace {}", path.display());
    Ok(())
}

/// Opens the adapter and loads the model the flags name, reporting progress on stderr.
fn load_model(
    model: &ModelArgs,
    device: &DeviceArgs,
    ctx: Option<usize>,
) -> Result<(Arc<Gpu>, Model)> {
    let dtype = model.dtype()?;
    let options = device.options(true)?;
    let path = model.resolve()?;
    let gpu = Arc::new(Gpu::new(&options)?);
    eprintln!("loading {}", path.display());
    let load = LoadOptions {
        ctx: model.ctx.or(ctx),
        max_batch: model.ubatch.map(std::num::NonZeroUsize::get),
        dtype,
        verbose: true,
        tune: true,
        ..Default::default()
    };
    let loaded = Model::load(gpu.clone(), &path, &load)?;
    Ok((gpu, loaded))
}

fn run_chat(args: ChatArgs) -> Result<()> {
    let mut sampler = Sampler::new(args.sampling.params())?;
    let (_gpu, mut model) = load_model(&args.model, &args.device, None)?;
    let template = model.chat_template.clone().ok_or_else(|| {
        Error::model(
            &model.source.path,
            "the model has no chat template (needed by chat)",
        )
    })?;
    let tokenizer = model.source.tokenizer.clone();
    let ctx = model.transformer.options.ctx;
    let mut conversation = Conversation::new(args.system.clone());
    let mut session = Session::new(0);
    // Ctrl-C ends the answer being written; a second one, with no answer to stop, exits.
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(INTERRUPTED);
        }
    });
    eprintln!(
        "chat with {} (context {ctx}); /reset starts over, /exit leaves",
        model.name()
    );
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin
            .read_line(&mut line)
            .map_err(|e| Error::io("stdin", e))?
            == 0
        {
            break;
        }
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                conversation.reset();
                session = Session::new(0);
                eprintln!("(conversation reset)");
                continue;
            }
            _ => {}
        }
        conversation.push("user", line);
        let reserve = args.max_tokens.min(ctx / 2);
        let prompt = match conversation.prompt(&tokenizer, &template, ctx, reserve) {
            Ok(prompt) => prompt,
            Err(error) => {
                eprintln!("error: {error}");
                conversation.messages.pop();
                continue;
            }
        };
        if prompt.dropped > 0 {
            eprintln!(
                "(context full: the {} oldest message(s) are left out and the rest is prefilled again)",
                prompt.dropped
            );
        }
        cancel.store(false, Ordering::SeqCst);
        let options = GenerateOptions {
            max_tokens: args.max_tokens,
            stop: Vec::new(),
            extra_stop_ids: Vec::new(),
            cancel: Some(cancel.clone()),
        };
        let generation = generate(
            &mut model,
            &mut session,
            &prompt.tokens,
            &options,
            &mut sampler,
            print_piece,
        )?;
        cancel.store(false, Ordering::SeqCst);
        println!();
        eprintln!(
            "[prefill {} new of {} prompt tokens, {:.1} tok/s | {} tokens, {:.2} tok/s | stop: {}]",
            generation.prompt_tokens - generation.reused_tokens,
            generation.prompt_tokens,
            generation.prefill_tokens_per_second(),
            generation.tokens.len(),
            generation.decode_tokens_per_second(),
            generation.stop.describe()
        );
        conversation.push("assistant", &generation.text);
    }
    Ok(())
}

#[cfg(feature = "server")]
fn run_serve(args: ServeArgs) -> Result<()> {
    let (_gpu, model) = load_model(&args.model, &args.device, None)?;
    let model_id = args.model_id.clone().unwrap_or_else(|| model.name());
    shaderlm::server::serve(model, model_id, &args.host, args.port)
}

#[cfg(not(feature = "server"))]
fn run_serve(_args: ServeArgs) -> Result<()> {
    Err(Error::usage(
        "this build has no server: build it with `cargo build --release --features server`",
    ))
}

fn run_bench(args: BenchArgs) -> Result<()> {
    let largest = args
        .prompt
        .iter()
        .chain(&args.gen)
        .copied()
        .max()
        .unwrap_or(1);
    let (gpu, mut model) = load_model(&args.model, &args.device, Some(largest.max(256)))?;
    eprintln!("measuring the adapter's ceilings");
    let ceilings = shaderlm::bench::ceilings::measure(&gpu, 256 << 20)?;
    eprintln!(
        "ceilings: read {:.2} GB/s (texture {:.2}, buffer {:.2}), arithmetic {:.1} GFLOP/s",
        ceilings.read_bytes_per_s() / 1e9,
        ceilings.texture_read_bytes_per_s / 1e9,
        ceilings.buffer_read_bytes_per_s / 1e9,
        ceilings.flops / 1e9
    );
    let options = shaderlm::bench::BenchOptions {
        prompt_lengths: args.prompt.clone(),
        gen_lengths: args.gen.clone(),
        repetitions: args.repetitions,
    };
    let rows = shaderlm::bench::run(&mut model, &options, &ceilings, |what| {
        eprintln!("  {what}")
    })?;

    let name = model.name();
    let formats = model.transformer.weight_formats();
    let weights = model.transformer.memory().weights;
    let params = model.config().parameter_count();
    let backend = format!("{:?}", gpu.info.backend);
    let adapter = gpu.info.name.clone();
    if args.json {
        for r in &rows {
            let line = serde_json::json!({
                "model": name, "formats": formats, "weights_bytes": weights, "params": params,
                "backend": backend, "adapter": adapter, "test": r.test, "avg_ts": r.avg_ts,
                "stddev_ts": r.stddev_ts, "samples_ts": r.samples_ts, "roofline_ts": r.roofline_ts,
                "roofline_pct": r.roofline_pct, "ceilings": ceilings,
            });
            println!("{line}");
        }
    } else {
        println!("| model | size | params | backend | adapter | test | t/s | roofline t/s | % of roofline |");
        println!("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |");
        for r in &rows {
            println!(
                "| {name} ({formats}) | {:.2} MiB | {:.2} M | {backend} | {adapter} | {} | {:.2} ± {:.2} | {:.1} | {:.1}% |",
                weights as f64 / (1u64 << 20) as f64,
                params as f64 / 1e6,
                r.test,
                r.avg_ts,
                r.stddev_ts,
                r.roofline_ts,
                r.roofline_pct
            );
        }
    }
    if args.profile || args.trace.is_some() {
        let prompt = args.prompt.first().copied().unwrap_or(128);
        let position = args.gen.first().copied().unwrap_or(128) / 2;
        let (prefill, decode) = shaderlm::bench::profile(&mut model, prompt, position)?;
        eprint!(
            "{}",
            report::profile_table("prefill", &prefill, prompt, None)
        );
        eprint!(
            "{}",
            report::profile_table(
                &format!("decode step at position {position}"),
                &decode,
                1,
                None
            )
        );
        if let Some(path) = &args.trace {
            write_trace(path, &[("prefill", &prefill), ("decode step", &decode)])?;
        }
    }
    Ok(())
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
        "  max uniform binding   {} bytes ({} KiB)",
        l.max_uniform_buffer_binding_size,
        l.max_uniform_buffer_binding_size >> 10
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
