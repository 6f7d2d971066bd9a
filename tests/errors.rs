//! Bad input gets a clear error naming the culprit, of the right kind, never a panic:
//! missing and malformed model files, hostile GGUF and safetensors headers, bad tokenizers,
//! and GPU errors. (Command-line cases are in tests/cli.rs.)

mod common;

use common::reference::LlamaShape;
use common::{tiny_gguf, tiny_model};
use shaderlm::error::ErrorKind;
use shaderlm::gpu::Gpu;
use shaderlm::model::gguf::{writer, Value};
use shaderlm::model::source::ModelSource;
use shaderlm::{Error, Result};
use std::path::{Path, PathBuf};

fn shape() -> LlamaShape {
    LlamaShape {
        hidden: 64,
        intermediate: 96,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        vocab: 300,
        theta: 10_000.0,
        eps: 1e-5,
        tied: true,
        qkv_bias: false,
    }
}

/// A fresh tiny model folder.
fn folder(name: &str) -> PathBuf {
    let shape = shape();
    let weights = tiny_model::random_weights(&shape, &mut common::rng(1));
    let dir = tiny_model::temp_dir(name);
    tiny_model::write_folder(&dir, &shape, &weights);
    dir
}

/// A tiny valid GGUF's bytes.
fn gguf_bytes() -> Vec<u8> {
    let shape = shape();
    tiny_gguf::tiny_gguf(
        &shape,
        &tiny_model::random_weights(&shape, &mut common::rng(2)),
    )
}

fn open_gguf(name: &str, bytes: &[u8]) -> Result<ModelSource> {
    let dir = tiny_model::temp_dir(name);
    let path = dir.join("model.gguf");
    std::fs::write(&path, bytes).unwrap();
    ModelSource::open(&path)
}

/// The error of `result`, checked to be of `kind` and to mention every one of `words`.
fn expect_error<T>(result: Result<T>, kind: ErrorKind, words: &[&str]) -> Error {
    let error = match result {
        Ok(_) => panic!("expected a {kind:?} error mentioning {words:?}, got success"),
        Err(e) => e,
    };
    let text = error.to_string();
    assert_eq!(error.kind(), kind, "wrong kind for: {text}");
    for word in words {
        assert!(text.contains(word), "{text:?} does not mention {word:?}");
    }
    error
}

#[test]
fn the_valid_inputs_open() {
    ModelSource::open(&folder("valid")).unwrap();
    open_gguf("valid-gguf", &gguf_bytes()).unwrap();
}

#[test]
fn missing_model_path_and_folder_contents() {
    expect_error(
        ModelSource::open(Path::new("/no/such/model")),
        ErrorKind::Model,
        &["/no/such/model", "no such file"],
    );
    for (file, word) in [
        ("config.json", "config.json"),
        ("model.safetensors", "weights"),
        ("tokenizer.json", "tokenizer.json"),
    ] {
        let dir = folder(&format!("missing-{file}"));
        std::fs::remove_file(dir.join(file)).unwrap();
        expect_error(
            ModelSource::open(&dir),
            ErrorKind::Model,
            &[word, &dir.display().to_string()],
        );
    }
}

#[test]
fn config_json_malformed_incomplete_or_unsupported() {
    let cases = [
        ("{ not json", vec!["config.json", "invalid"]),
        (
            r#"{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_attention_heads":4}"#,
            vec!["intermediate_size"],
        ),
        (
            r#"{"architectures":["MambaForCausalLM"],"hidden_size":64}"#,
            vec!["MambaForCausalLM", "LlamaForCausalLM", "Qwen2ForCausalLM"],
        ),
        (r#"{"hidden_size":64}"#, vec!["architectures"]),
    ];
    for (i, (text, words)) in cases.into_iter().enumerate() {
        let dir = folder(&format!("config-{i}"));
        std::fs::write(dir.join("config.json"), text).unwrap();
        expect_error(ModelSource::open(&dir), ErrorKind::Model, &words);
    }
}

#[test]
fn tensor_shape_disagreeing_with_the_config() {
    let dir = folder("shape");
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        text.replace("\"intermediate_size\":96", "\"intermediate_size\":100"),
    )
    .unwrap();
    expect_error(
        ModelSource::open(&dir),
        ErrorKind::Model,
        &["mlp.gate_proj.weight", "[96, 64]", "[100, 64]"],
    );
}

/// Writes a safetensors file from a raw header and data.
fn safetensors_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn safetensors_truncated_lying_overlapping_or_of_unsupported_dtype() {
    let dir = folder("safetensors");
    let weights = dir.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            vec!["model.safetensors", "safetensors"],
        ),
        (
            "header past the end",
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
                b
            },
            vec!["model.safetensors", "safetensors"],
        ),
        (
            "overlapping",
            safetensors_file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                &[0; 12],
            ),
            vec!["model.safetensors", "safetensors"],
        ),
        (
            "out of range",
            safetensors_file(
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                &[0; 8],
            ),
            vec!["model.safetensors", "safetensors"],
        ),
        (
            "I8",
            safetensors_file(
                r#"{"model.norm.weight":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            vec!["model.norm.weight", "I8", "F32, F16, BF16"],
        ),
    ];
    for (what, bytes, words) in cases {
        std::fs::write(&weights, &bytes).unwrap();
        let error = expect_error(ModelSource::open(&dir), ErrorKind::Model, &words);
        eprintln!("{what}: {error}");
    }
}

#[test]
fn tokenizer_json_invalid() {
    let dir = folder("tokenizer");
    std::fs::write(dir.join("tokenizer.json"), "{\"model\": 42}").unwrap();
    expect_error(
        ModelSource::open(&dir),
        ErrorKind::Model,
        &["tokenizer.json", "invalid tokenizer"],
    );
}

#[test]
fn gguf_wrong_magic_and_unsupported_version() {
    let mut bytes = gguf_bytes();
    bytes[..4].copy_from_slice(b"GGML");
    expect_error(
        open_gguf("magic", &bytes),
        ErrorKind::Model,
        &["model.gguf", "not a GGUF file"],
    );
    let mut bytes = gguf_bytes();
    bytes[4..8].copy_from_slice(&7u32.to_le_bytes());
    expect_error(
        open_gguf("version", &bytes),
        ErrorKind::Model,
        &["GGUF version 7", "2 and 3"],
    );
}

#[test]
fn gguf_truncated_anywhere() {
    let bytes = gguf_bytes();
    // Cut inside the metadata, inside the tensor records, and inside the tensor data.
    for cut in [10, 40, 200, 3000, bytes.len() / 2, bytes.len() - 1] {
        let error = expect_error(
            open_gguf(&format!("cut-{cut}"), &bytes[..cut]),
            ErrorKind::Model,
            &["model.gguf"],
        );
        let text = error.to_string();
        assert!(
            text.contains("truncated") || text.contains("past the end"),
            "cut at {cut}: {text}"
        );
    }
}

#[test]
fn gguf_lengths_that_would_run_past_the_end_or_ask_for_absurd_memory() {
    let string_too_long = writer::write(&[("general.name", Value::String("x".into()))], &[]);
    let mut bytes = string_too_long.clone();
    // The key's length field sits after magic, version and the two counts (24 bytes).
    bytes[24..32].copy_from_slice(&(1u64 << 60).to_le_bytes());
    expect_error(
        open_gguf("string", &bytes),
        ErrorKind::Model,
        &["past the end"],
    );

    let array = writer::write(
        &[("a", Value::Array(vec![Value::U32(1), Value::U32(2)]))],
        &[],
    );
    let mut bytes = array.clone();
    // key length (8) + "a" (1) + value type (4) + item type (4), then the array length.
    let at = 24 + 8 + 1 + 4 + 4;
    bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_error(
        open_gguf("array", &bytes),
        ErrorKind::Model,
        &["past the end"],
    );

    let mut bytes = array;
    bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_error(
        open_gguf("kv-count", &bytes),
        ErrorKind::Model,
        &["truncated"],
    );
}

#[test]
fn gguf_unsupported_tensor_type_and_data_out_of_range() {
    let data = [0u8; 64];
    let q5k = writer::write(
        &[],
        &[writer::TensorData {
            name: "w",
            dims: vec![256],
            ggml_type: 13,
            data: &data,
        }],
    );
    expect_error(
        open_gguf("q5k", &q5k),
        ErrorKind::Model,
        &["tensor w", "Q5_K", "F32, F16, BF16, Q8_0, Q4_0, Q4_1"],
    );

    let mut bytes = writer::write(
        &[],
        &[writer::TensorData {
            name: "w",
            dims: vec![4],
            ggml_type: 0,
            data: &data[..16],
        }],
    );
    // The tensor's data offset is the record's last 8 bytes, before the aligned data.
    let record_end = 24 + 8 + 1 + 4 + 8 + 4 + 8;
    bytes[record_end - 8..record_end].copy_from_slice(&(1u64 << 40).to_le_bytes());
    expect_error(
        open_gguf("offset", &bytes),
        ErrorKind::Model,
        &["tensor w", "past the end"],
    );
}

#[test]
fn gguf_tokenizer_metadata_problems_are_named() {
    let shape = shape();
    let weights = tiny_model::random_weights(&shape, &mut common::rng(3));
    let good = tiny_gguf::tiny_gguf(&shape, &weights);
    let text = String::from_utf8_lossy(&good).to_string();
    assert!(text.contains("tokenizer.ggml.model"));
    // A sentencepiece model is named as unsupported (same length keeps the file valid).
    let swapped = replace_bytes(
        &good,
        b"\x04\x00\x00\x00\x00\x00\x00\x00gpt2",
        b"\x04\x00\x00\x00\x00\x00\x00\x00bert",
    );
    expect_error(
        open_gguf("spm", &swapped),
        ErrorKind::Model,
        &["tokenizer.ggml.model", "bert", "gpt2"],
    );
}

fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = haystack.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn gpu_validation_errors_become_errors() {
    let gpu = Gpu::new(&Default::default()).unwrap();
    let too_big = gpu.limits.max_buffer_size.saturating_add(4);
    let result = gpu.scoped("allocating an impossible buffer", || {
        gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("impossible"),
            size: too_big,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    });
    expect_error(
        result,
        ErrorKind::Device,
        &["allocating an impossible buffer"],
    );
    // An over-large storage buffer is refused before wgpu sees it, naming the limit.
    let error = shaderlm::gpu::StorageBuffer::new(&gpu, "huge", gpu.max_binding_bytes() + 1);
    expect_error(
        error,
        ErrorKind::Device,
        &["huge", "largest storage binding"],
    );
}

#[test]
fn a_gpu_wait_that_times_out_names_the_operation() {
    let mut gpu = Gpu::new(&Default::default()).unwrap();
    gpu.set_timeout(std::time::Duration::from_nanos(1));
    // Plenty of work for a nanosecond: a long loop in each of many invocations.
    const BUSY: &str = "struct P { n: u32 }
        @group(0) @binding(0) var<uniform> p: P;
        @group(0) @binding(1) var<storage, read_write> out: array<f32>;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) id: vec3<u32>) {
            var a = f32(id.x);
            for (var i = 0u; i < p.n; i++) { a = fma(a, 0.999, 1.0); }
            out[id.x] = a;
        }";
    let source = shaderlm::gpu::ShaderSource {
        name: "busy",
        wgsl: BUSY,
    };
    let pipeline = gpu.pipeline(&source, "", "main").unwrap();
    let out = shaderlm::gpu::StorageBuffer::new(&gpu, "out", 4 * 64 * 64).unwrap();
    let mut arena = shaderlm::gpu::ParamArena::new(&gpu, 1).unwrap();
    let bound = shaderlm::gpu::Bound::new(
        &gpu,
        &mut arena,
        &pipeline,
        "busy",
        4,
        &[(1, out.binding())],
    )
    .unwrap();
    let result = shaderlm::kernels::run(&gpu, &mut arena, "a long computation", |rec| {
        rec.dispatch(&bound, &200_000u32, [64, 1, 1])
    });
    expect_error(
        result,
        ErrorKind::Device,
        &[
            "a long computation",
            "did not finish",
            "SHADERLM_GPU_TIMEOUT",
        ],
    );
    gpu.set_timeout(std::time::Duration::from_secs(300));
    gpu.wait(None, "letting the work finish").unwrap();
}

/// Writes the fuzzing seed corpus (fuzz/seeds): a tiny valid GGUF for the GGUF targets, and
/// a tiny config.json + 0xFF + model.safetensors for the folder target. Run by hand with
/// `cargo test --release --test errors -- --ignored` after changing the formats.
#[test]
#[ignore]
fn write_fuzz_seed_corpus() {
    let shape = LlamaShape {
        hidden: 8,
        intermediate: 16,
        layers: 1,
        heads: 2,
        kv_heads: 1,
        vocab: 260,
        theta: 10_000.0,
        eps: 1e-5,
        tied: true,
        qkv_bias: false,
    };
    let weights = tiny_model::random_weights(&shape, &mut common::rng(9));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let gguf = tiny_gguf::tiny_gguf(&shape, &weights);
    for target in ["gguf_parse", "gguf_tokenizer"] {
        std::fs::create_dir_all(root.join(target)).unwrap();
        std::fs::write(root.join(target).join("tiny.gguf"), &gguf).unwrap();
        std::fs::write(
            root.join(target).join("truncated.gguf"),
            &gguf[..gguf.len() / 3],
        )
        .unwrap();
    }
    let dir = tiny_model::temp_dir("seed");
    tiny_model::write_folder(&dir, &shape, &weights);
    let mut folder = std::fs::read(dir.join("config.json")).unwrap();
    folder.push(0xFF);
    folder.extend(std::fs::read(dir.join("model.safetensors")).unwrap());
    std::fs::create_dir_all(root.join("hf_folder")).unwrap();
    std::fs::write(root.join("hf_folder").join("tiny-folder"), folder).unwrap();
}
