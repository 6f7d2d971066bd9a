//! `cargo bench`: every kernel at the shapes of SmolLM2-135M and of a 7B Llama, for decode
//! (one token) and prefill (128 and 512 tokens): time, GB/s or GFLOP/s, and the share of the
//! adapter's ceilings measured at the start of the run.
//!
//! `cargo bench -- WORD...` runs only the cases whose name contains every WORD
//! (e.g. `cargo bench -- matmul q4_1 smollm`).

use shaderlm::bench::ceilings::{self, Ceilings};
use shaderlm::gpu::{Gpu, GpuOptions, ParamArena, Recorder, StorageBuffer, TexelTexture};
use shaderlm::kernels::attention::{
    Attention, AttentionOutput, AttentionShape, AttentionVariant, CacheShape,
};
use shaderlm::kernels::embedding::Embedding;
use shaderlm::kernels::kv_write::{KvWrite, KvWriteInput};
use shaderlm::kernels::matmul::{self, MatMul, MatMulIo, PrefillShape, XReader};
use shaderlm::kernels::rmsnorm::{NormInput, RmsNorm};
use shaderlm::kernels::rope::{default_inv_freq, rope_table};
use shaderlm::kernels::softmax::Softmax;
use shaderlm::kernels::stage::Stage;
use shaderlm::kernels::swiglu::{SwiGlu, SwiGluInput};
use shaderlm::kernels::{
    DecodeVariant, GpuMatrix, PackedMatrix, StageWriter, StagedLayout, WeightFormat,
};
use shaderlm::model::DEFAULT_STEP_TOKENS;
use std::time::Instant;

struct Shape {
    model: &'static str,
    hidden: u32,
    intermediate: u32,
    vocab: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
}

const SHAPES: [Shape; 2] = [
    Shape {
        model: "smollm2-135m",
        hidden: 576,
        intermediate: 1536,
        vocab: 49152,
        heads: 9,
        kv_heads: 3,
        head_dim: 64,
    },
    Shape {
        model: "llama-7b",
        hidden: 4096,
        intermediate: 11008,
        vocab: 32000,
        heads: 32,
        kv_heads: 32,
        head_dim: 128,
    },
];

struct Bench<'a> {
    gpu: &'a Gpu,
    ceilings: Ceilings,
    filters: Vec<String>,
}

impl Bench<'_> {
    fn wanted(&self, name: &str) -> bool {
        self.filters.iter().all(|f| name.contains(f.as_str()))
    }

    /// Best seconds per call of `record` over timed submissions of `calls` calls each: after
    /// a warm-up, at least five submissions and at least half a second
    /// (`SHADERLM_BENCH_SECONDS` sets another minimum, e.g. to attach a profiler).
    fn time(
        &self,
        arena: &mut ParamArena,
        calls: usize,
        mut record: impl FnMut(&mut Recorder<'_>),
    ) -> f64 {
        let mut best = f64::INFINITY;
        let began = Instant::now();
        let mut attempt = 0;
        let minimum = std::env::var("SHADERLM_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.5);
        while attempt < 6 || began.elapsed().as_secs_f64() < minimum {
            let start = Instant::now();
            let mut rec = Recorder::new(self.gpu, arena, None);
            for _ in 0..calls {
                record(&mut rec);
            }
            rec.submit("benchmark").expect("benchmark run");
            if attempt > 0 {
                best = best.min(start.elapsed().as_secs_f64() / calls as f64);
            }
            attempt += 1;
        }
        best
    }

    fn report(&self, name: &str, seconds: f64, bytes: f64, flops: f64) {
        let gbs = bytes / seconds / 1e9;
        let gflops = flops / seconds / 1e9;
        println!(
            "{name:<48} {:>9.3} ms {:>8.2} GB/s ({:>5.1}% of read) {:>8.2} GFLOP/s ({:>5.1}% of FMA)",
            seconds * 1e3,
            gbs,
            100.0 * bytes / seconds / self.ceilings.read_bytes_per_s(),
            gflops,
            100.0 * flops / seconds / self.ceilings.flops
        );
    }
}

fn random(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| ((i.wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

/// Prompt lengths of the matmul prefill cases.
const PREFILL_LENGTHS: [u32; 2] = [128, 512];

fn bench_matmul(b: &Bench<'_>, shape: &Shape) {
    let (d, i) = (shape.hidden, shape.intermediate);
    let sites = [
        ("qkv", d + 2 * shape.kv_heads * shape.head_dim, d),
        ("gate_up", 2 * i, d),
        ("down", d, i),
        ("lm_head", shape.vocab, d),
    ];
    for format in WeightFormat::ALL {
        for (site, n, k) in sites {
            let prefix = format!("matmul {} {} {site} {n}x{k}", shape.model, format.name());
            // The adapter's prefill shape, and on a CPU-type adapter taking token lanes the
            // row-per-lane shape too, for comparison.
            let default = PrefillShape::for_gpu(b.gpu);
            let mut shapes = vec![default];
            if default == PrefillShape::TokenLanes {
                shapes.push(PrefillShape::RowLanes { workgroup: 8 });
            }
            let cases: Vec<(u32, PrefillShape, String)> = PREFILL_LENGTHS
                .into_iter()
                .flat_map(|tokens| shapes.iter().map(move |&shape| (tokens, shape)))
                .map(|(tokens, shape)| {
                    let label = match shape {
                        PrefillShape::RowLanes { workgroup } => format!("row lanes x{workgroup}"),
                        PrefillShape::TokenLanes => "token lanes".to_string(),
                    };
                    (tokens, shape, format!("{prefix} prefill {tokens} {label}"))
                })
                .collect();
            if !b.wanted(&format!("{prefix} decode"))
                && !cases.iter().any(|(_, _, name)| b.wanted(name))
            {
                continue; // (the matrix takes a while to pack and upload)
            }
            let packed = PackedMatrix::from_f32(&random((n * k) as usize, n), n, k, format);
            let w = GpuMatrix::upload(b.gpu, "w", &packed).expect("upload");
            // Each shape in the steps it takes: at most DEFAULT_STEP_TOKENS, or what its
            // staged input holds (the forward pass takes the least over all its matrices).
            let step_of = |shape: PrefillShape| {
                shape
                    .max_step_tokens(b.gpu, format, k)
                    .min(DEFAULT_STEP_TOKENS as u32)
            };
            let rows = shapes.iter().map(|&s| step_of(s)).max().unwrap_or(1);
            let y = StorageBuffer::new(b.gpu, "y", u64::from(n) * u64::from(rows) * 4).expect("y");
            // Two slots per shard for each of the (at most five) matmuls below.
            let slots = 10 * w.shards.len() as u32;
            let mut arena = ParamArena::new(b.gpu, slots).expect("arena");
            let staged_for = |rows: u32| {
                let layout = StagedLayout::for_matrix(&w, rows);
                (layout, layout.buffer(b.gpu, "x").expect("staged"))
            };
            let decode_input = staged_for(step_of(default));
            let matmul = MatMul::new(b.gpu, &mut arena, plain_io(&w, &decode_input, &y.buffer))
                .expect("matmul");
            // A bound kernel's parameters are written once per submission, so the prefill's
            // last, shorter step takes a kernel of its own (the full steps share one).
            let mut prefill_kernels = Vec::new();
            for &shape in &shapes {
                if cases
                    .iter()
                    .any(|(_, s, name)| *s == shape && b.wanted(name))
                {
                    let reader = XReader::for_gpu(b.gpu);
                    let variant = DecodeVariant::DEFAULT;
                    let input = staged_for(step_of(shape));
                    let mut kernel = || {
                        MatMul::with_variant(
                            b.gpu,
                            &mut arena,
                            plain_io(&w, &input, &y.buffer),
                            variant,
                            reader,
                            shape,
                        )
                        .expect("matmul")
                    };
                    prefill_kernels.push((shape, kernel(), kernel()));
                }
            }
            let bytes = w.bytes() as f64;
            if b.wanted(&format!("{prefix} decode")) {
                let seconds = b.time(&mut arena, 8, |rec| matmul.encode(rec, 1));
                b.report(
                    &format!("{prefix} decode"),
                    seconds,
                    bytes,
                    2.0 * f64::from(n) * f64::from(k),
                );
            }
            for (tokens, shape, name) in &cases {
                let tokens = *tokens;
                if !b.wanted(name) {
                    continue;
                }
                let (_, full, last) = prefill_kernels
                    .iter()
                    .find(|(s, _, _)| s == shape)
                    .expect("a kernel per wanted shape");
                let rows = step_of(*shape);
                let steps: Vec<u32> = (0..tokens)
                    .step_by(rows as usize)
                    .map(|s| (tokens - s).min(rows))
                    .collect();
                let seconds = b.time(&mut arena, 1, |rec| {
                    for &t in &steps {
                        if t == rows { full } else { last }.encode(rec, t);
                    }
                });
                let flops = 2.0 * f64::from(n) * f64::from(k) * f64::from(tokens);
                b.report(name, seconds, bytes * steps.len() as f64, flops);
            }
        }
    }
}

/// y = W x for a staged x, nothing added.
fn plain_io<'a>(
    w: &'a GpuMatrix,
    (layout, staged): &'a (StagedLayout, StorageBuffer),
    y: &'a wgpu::Buffer,
) -> MatMulIo<'a> {
    MatMulIo {
        w,
        x: staged,
        layout: *layout,
        bias: None,
        y,
        accumulate: false,
    }
}

fn bench_attention(b: &Bench<'_>, shape: &Shape) {
    let cache = CacheShape::new(shape.kv_heads, shape.head_dim);
    let q_stride = shape.heads * shape.head_dim;
    let att_shape = AttentionShape {
        n_heads: shape.heads,
        cache,
        q_stride,
        out_stride: q_stride,
    };
    // Decode at a context of N (one query over N keys), and a prefill of N tokens in the
    // steps the forward pass takes, each over every key before it.
    let step = matmul::max_step_tokens(b.gpu, WeightFormat::Q4_1, shape.intermediate)
        .min(DEFAULT_STEP_TOKENS as u32);
    let cases = [
        ("decode at", 256u32),
        ("decode at", 1024),
        ("decode at", 4096),
        ("prefill", 512),
    ];
    for variant in AttentionVariant::available(b.gpu, &att_shape) {
        // Prefill steps of the per-query kernel also write W_o's int8 staged input, as the
        // forward pass has them do (where the kernel can stage).
        let staged_too = variant.query_lanes && Attention::can_stage(variant.reduction, &att_shape);
        let outputs: &[bool] = if staged_too { &[false, true] } else { &[false] };
        let cases = cases
            .iter()
            .flat_map(|&case| outputs.iter().map(move |&staged| (case, staged)))
            .filter(|&((kind, _), staged)| kind == "prefill" || !staged);
        for ((kind, context), staged) in cases {
            let name = format!(
                "attention {} {:?} split {}{} {kind} {context}{}",
                shape.model,
                variant.reduction,
                variant.key_split,
                if variant.query_lanes {
                    " per-query"
                } else {
                    ""
                },
                if staged { " staged int8" } else { "" }
            );
            if !b.wanted(&name) {
                continue;
            }
            let prefill = kind == "prefill";
            let queries = if prefill { step } else { 1 };
            let texels = u64::from(context) * u64::from(cache.row_texels());
            let width = TexelTexture::width(b.gpu);
            let k = TexelTexture::new(b.gpu, "k", texels, width).expect("k");
            let v = TexelTexture::new(b.gpu, "v", texels, width).expect("v");
            let q_len = (queries * q_stride) as usize;
            let q = StorageBuffer::from_slice(b.gpu, "q", &random(q_len, 7)).expect("q");
            let out = StorageBuffer::new(b.gpu, "out", q_len as u64 * 4).expect("out");
            let staged_layout = StagedLayout::for_format(WeightFormat::Q8_0, q_stride, queries);
            let staged_out = staged_layout
                .buffer(b.gpu, "staged out")
                .expect("staged out");
            let table = StorageBuffer::from_slice(
                b.gpu,
                "table",
                &rope_table(context, &default_inv_freq(shape.head_dim, 10_000.0)),
            )
            .expect("table");
            // One kernel per step: a bound kernel's parameters are written once per submission,
            // so steps with parameters of their own need kernels of their own (as the forward
            // pass's layers have).
            let starts: Vec<u32> = (0..context).step_by(queries as usize).collect();
            let kernels = if prefill { starts.len() } else { 1 };
            let mut arena = ParamArena::new(b.gpu, 2 * kernels as u32).expect("arena");
            let attentions = (0..kernels)
                .map(|_| {
                    Attention::new(
                        b.gpu,
                        &mut arena,
                        &q.buffer,
                        &k,
                        &v,
                        &table,
                        if staged {
                            AttentionOutput::Staged(&staged_out, staged_layout)
                        } else {
                            AttentionOutput::Rows(&out.buffer)
                        },
                        att_shape,
                        variant,
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .expect("attention");
            if prefill {
                // Every step reads the keys up to its last query; each query-key pair costs
                // 4 * q_stride flops (scores and the weighted sum of values).
                let seconds = b.time(&mut arena, 1, |rec| {
                    for (attention, &start) in attentions.iter().zip(&starts) {
                        attention.encode(rec, queries.min(context - start), start, 0);
                    }
                });
                let bytes: f64 = starts
                    .iter()
                    .map(|&start| 2.0 * f64::from((start + queries).min(context)) * 16.0)
                    .sum::<f64>()
                    * f64::from(cache.row_texels());
                let pairs = f64::from(context) * f64::from(context + 1) / 2.0;
                b.report(&name, seconds, bytes, 4.0 * pairs * f64::from(q_stride));
            } else {
                let seconds = b.time(&mut arena, 4, |rec| {
                    attentions[0].encode(rec, 1, context - 1, 0)
                });
                let bytes = 2.0 * texels as f64 * 16.0;
                let flops = 4.0 * f64::from(context) * f64::from(q_stride);
                b.report(&name, seconds, bytes, flops);
            }
        }
    }
}

fn bench_elementwise(b: &Bench<'_>, shape: &Shape) {
    let (d, i) = (shape.hidden, shape.intermediate);
    // One token (a decode step) and a prefill step of 128 tokens (a size every shape of
    // these kernels reads through its copy or binding alike).
    for tokens in [1u32, 128] {
        let writers = StageWriter::available(b.gpu);
        let cases = [WeightFormat::F32, WeightFormat::Q8_0]
            .into_iter()
            .flat_map(|format| writers.iter().map(move |&writer| (format, writer)));
        for (format, writer) in cases {
            let layout = StagedLayout::for_format(format, d, tokens);
            let uniform = wgpu::BufferUsages::UNIFORM;
            let x = StorageBuffer::from_slice_with_usage(
                b.gpu,
                "x",
                &random((d * layout.rows) as usize, 1),
                uniform,
            )
            .expect("x");
            let w =
                StorageBuffer::from_slice_with_usage(b.gpu, "w", &random(d as usize, 2), uniform)
                    .expect("w");
            for input in NormInput::available(b.gpu, &x.buffer, &w.buffer) {
                let name = format!(
                    "rmsnorm {} staged {} {writer:?} {input:?} input x{tokens}",
                    shape.model,
                    if format.is_quantized() { "int8" } else { "f32" }
                );
                if !b.wanted(&name) {
                    continue;
                }
                let staged = layout.buffer(b.gpu, "staged").expect("staged");
                let mut arena = ParamArena::new(b.gpu, 2).expect("arena");
                let norm = RmsNorm::new(
                    b.gpu, &mut arena, &x.buffer, &w.buffer, &staged, layout, 1e-5, writer, input,
                )
                .expect("rmsnorm");
                let seconds = b.time(&mut arena, 8, |rec| norm.encode(rec, layout.rows, 0));
                b.report(&name, seconds, f64::from(d * layout.rows) * 4.0, 0.0);
            }
            for input in SwiGluInput::available(i) {
                let name = format!(
                    "swiglu {} staged {} {writer:?} {input:?} input x{tokens}",
                    shape.model,
                    if format.is_quantized() { "int8" } else { "f32" }
                );
                if !b.wanted(&name) {
                    continue;
                }
                let layout = StagedLayout::for_format(format, i, tokens);
                let gate_up = StorageBuffer::from_slice(
                    b.gpu,
                    "gu",
                    &random((2 * i * layout.rows) as usize, 3),
                )
                .expect("gu");
                let staged = layout.buffer(b.gpu, "staged").expect("staged");
                let mut arena = ParamArena::new(b.gpu, 2).expect("arena");
                let op = SwiGlu::new(
                    b.gpu,
                    &mut arena,
                    &gate_up.buffer,
                    &staged,
                    layout,
                    writer,
                    input,
                )
                .expect("swiglu");
                let seconds = b.time(&mut arena, 8, |rec| op.encode(rec, layout.rows));
                b.report(&name, seconds, f64::from(2 * i * layout.rows) * 4.0, 0.0);
            }
        }
    }
}

fn bench_small_kernels(b: &Bench<'_>, shape: &Shape) {
    let (d, heads, kv_heads, hd) = (shape.hidden, shape.heads, shape.kv_heads, shape.head_dim);
    let qkv_dim = (heads + 2 * kv_heads) * hd;
    let cache = CacheShape::new(kv_heads, hd);
    let width = TexelTexture::width(b.gpu);
    let table = StorageBuffer::from_slice(
        b.gpu,
        "table",
        &rope_table(4096, &default_inv_freq(hd, 10_000.0)),
    )
    .expect("table");
    // One token (a decode step) and a prefill step of 128 tokens (a size every shape of
    // these kernels reads through its copy or binding alike).
    for tokens in [1u32, 128] {
        let q_dim = heads * hd;
        let (k_offset, v_offset) = (q_dim, q_dim + kv_heads * hd);
        for input in KvWriteInput::available(cache, qkv_dim, k_offset, v_offset) {
            let name = format!("kv_write {} {input:?} input x{tokens}", shape.model);
            if !b.wanted(&name) {
                continue;
            }
            let src =
                StorageBuffer::from_slice(b.gpu, "qkv", &random((qkv_dim * tokens) as usize, 5))
                    .expect("qkv");
            let texels = 4096 * u64::from(cache.row_texels());
            let k = TexelTexture::new(b.gpu, "k", texels, width).expect("k");
            let v = TexelTexture::new(b.gpu, "v", texels, width).expect("v");
            let mut arena = ParamArena::new(b.gpu, 2).expect("arena");
            let op = KvWrite::new(
                b.gpu,
                &mut arena,
                &src.buffer,
                &k,
                &v,
                &table,
                cache,
                qkv_dim,
                k_offset,
                v_offset,
                input,
            )
            .expect("kv_write");
            let seconds = b.time(&mut arena, 8, |rec| op.encode(rec, tokens, 100, 100));
            b.report(
                &name,
                seconds,
                f64::from(2 * kv_heads * hd * tokens) * 8.0,
                0.0,
            );
        }
        let writers = StageWriter::available(b.gpu);
        let cases = [WeightFormat::F32, WeightFormat::Q8_0]
            .into_iter()
            .flat_map(|format| writers.iter().map(move |&writer| (format, writer)));
        for (format, writer) in cases {
            let name = format!(
                "stage {} {} {writer:?} x{tokens}",
                shape.model,
                if format.is_quantized() { "int8" } else { "f32" }
            );
            if b.wanted(&name) {
                let layout = StagedLayout::for_format(format, d, tokens);
                let src =
                    StorageBuffer::from_slice(b.gpu, "x", &random((d * layout.rows) as usize, 6))
                        .expect("x");
                let staged = layout.buffer(b.gpu, "staged").expect("staged");
                let mut arena = ParamArena::new(b.gpu, 2).expect("arena");
                let op = Stage::new(b.gpu, &mut arena, &src.buffer, &staged, layout, writer)
                    .expect("stage");
                let seconds = b.time(&mut arena, 8, |rec| op.encode(rec, layout.rows));
                b.report(&name, seconds, f64::from(d * layout.rows) * 4.0, 0.0);
            }
        }
        for format in [WeightFormat::F16, WeightFormat::Q8_0] {
            let name = format!("embedding {} {} x{tokens}", shape.model, format.name());
            if b.wanted(&name) {
                let rows = 4096.min(shape.vocab);
                let table = GpuMatrix::upload(
                    b.gpu,
                    "table",
                    &PackedMatrix::from_f32(&random((rows * d) as usize, 7), rows, d, format),
                )
                .expect("table");
                let ids: Vec<u32> = (0..tokens).map(|t| (t * 37) % rows).collect();
                let ids = StorageBuffer::from_slice(b.gpu, "ids", &ids).expect("ids");
                let out = StorageBuffer::new(b.gpu, "out", u64::from(d * tokens) * 4).expect("out");
                let mut arena = ParamArena::new(b.gpu, 2).expect("arena");
                let op = Embedding::new(b.gpu, &mut arena, &table, &ids.buffer, &out.buffer)
                    .expect("embedding");
                let seconds = b.time(&mut arena, 8, |rec| op.encode(rec, tokens));
                b.report(&name, seconds, f64::from(d * tokens) * 4.0, 0.0);
            }
        }
    }
    let name = format!("softmax {} vocabulary row", shape.model);
    if b.wanted(&name) {
        let x = StorageBuffer::from_slice(b.gpu, "x", &random(shape.vocab as usize, 8)).expect("x");
        let y = StorageBuffer::new(b.gpu, "y", u64::from(shape.vocab) * 4).expect("y");
        let mut arena = ParamArena::new(b.gpu, 2).expect("arena");
        let op =
            Softmax::new(b.gpu, &mut arena, &x.buffer, &y.buffer, shape.vocab).expect("softmax");
        let seconds = b.time(&mut arena, 8, |rec| op.encode(rec, 1));
        b.report(&name, seconds, f64::from(shape.vocab) * 8.0, 0.0);
    }
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let gpu = Gpu::new(&GpuOptions::default()).expect("no GPU adapter");
    let ceilings = ceilings::measure(&gpu, 256 << 20).expect("ceilings");
    println!("adapter: {}", shaderlm::gpu::adapter::describe(&gpu.info));
    println!(
        "ceilings: read {:.2} GB/s (texture {:.2}, buffer {:.2}), FMA {:.1} GFLOP/s",
        ceilings.read_bytes_per_s() / 1e9,
        ceilings.texture_read_bytes_per_s / 1e9,
        ceilings.buffer_read_bytes_per_s / 1e9,
        ceilings.flops / 1e9
    );
    let bench = Bench {
        gpu: &gpu,
        ceilings,
        filters,
    };
    for shape in &SHAPES {
        bench_matmul(&bench, shape);
        bench_attention(&bench, shape);
        bench_elementwise(&bench, shape);
        bench_small_kernels(&bench, shape);
    }
}
