//! A tiny valid GGUF (llama architecture, byte-level BPE tokenizer) for tests and the fuzz
//! seed corpus: the tiny random Llama of tiny_model.rs in GGUF form.
#![allow(dead_code)]

use super::reference::LlamaShape;
use shaderlm::kernels::matrix::quantize;
use shaderlm::model::gguf::{writer, Value};
use shaderlm::model::source::{gguf_name, permute_rows};
use shaderlm::model::tensor::DType;
use std::collections::HashMap;

/// GPT-2's byte-to-character map: printable bytes stand for themselves, the rest are
/// shifted above 255.
pub fn byte_token(b: u8) -> String {
    let printable =
        (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    if printable {
        char::from(b).to_string()
    } else {
        let mut n = 0u32;
        for c in 0..=255u8 {
            let p = (b'!'..=b'~').contains(&c)
                || (0xA1..=0xAC).contains(&c)
                || (0xAE..=0xFF).contains(&c);
            if !p {
                if c == b {
                    break;
                }
                n += 1;
            }
        }
        char::from_u32(256 + n)
            .map(|c| c.to_string())
            .unwrap_or_default()
    }
}

/// The GGUF bytes of `shape` with `weights` (f32 tensors; Q/K rows permuted as llama.cpp
/// stores them). The vocabulary is 3 special tokens then the 256 byte tokens, padded with
/// made-up tokens to `shape.vocab`; one merge ("a b").
pub fn tiny_gguf(shape: &LlamaShape, weights: &HashMap<String, Vec<f32>>) -> Vec<u8> {
    tiny_gguf_typed(shape, weights, DType::F32)
}

/// Like [`tiny_gguf`] with the matrices stored as `dtype` (norms stay F32, as llama.cpp does).
pub fn tiny_gguf_typed(
    shape: &LlamaShape,
    weights: &HashMap<String, Vec<f32>>,
    dtype: DType,
) -> Vec<u8> {
    let mut tokens = vec!["<s>".to_string(), "</s>".to_string(), "<unk>".to_string()];
    tokens.extend((0..=255u8).map(byte_token));
    tokens.push("ab".to_string());
    while tokens.len() < shape.vocab {
        tokens.push(format!("tok{}", tokens.len()));
    }
    tokens.truncate(shape.vocab.max(3));
    let types: Vec<Value> = (0..tokens.len())
        .map(|i| Value::I32(if i < 3 { 3 } else { 1 }))
        .collect();
    let metadata = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(shape.layers as u32)),
        ("llama.context_length", Value::U32(256)),
        ("llama.embedding_length", Value::U32(shape.hidden as u32)),
        (
            "llama.feed_forward_length",
            Value::U32(shape.intermediate as u32),
        ),
        ("llama.attention.head_count", Value::U32(shape.heads as u32)),
        (
            "llama.attention.head_count_kv",
            Value::U32(shape.kv_heads as u32),
        ),
        ("llama.rope.freq_base", Value::F32(shape.theta as f32)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(shape.eps as f32),
        ),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("default".into())),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| Value::String(t.clone())).collect()),
        ),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        (
            "tokenizer.ggml.merges",
            Value::Array(vec![Value::String("a b".into())]),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(0)),
        ("tokenizer.ggml.eos_token_id", Value::U32(1)),
    ];
    let hd = shape.hidden / shape.heads;
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    let mut blobs: Vec<(String, Vec<u64>, Vec<u8>, DType)> = Vec::new();
    for name in names {
        let data = &weights[name];
        let vector = name.ends_with("norm.weight") || name.ends_with(".bias");
        let ty = if vector { DType::F32 } else { dtype };
        let bytes: Vec<u8> = match ty {
            DType::F32 => bytemuck::cast_slice(data).to_vec(),
            DType::F16 => data
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
            DType::BF16 => data
                .iter()
                .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                .collect(),
            quantized => quantize(quantized, data),
        };
        let dims: Vec<u64> = if vector {
            vec![data.len() as u64]
        } else {
            let cols = if name.ends_with("down_proj.weight") {
                shape.intermediate
            } else {
                shape.hidden
            };
            vec![cols as u64, (data.len() / cols) as u64]
        };
        let bytes = if name.ends_with("q_proj.weight") {
            permute_rows(&bytes, shape.heads * hd, shape.heads)
        } else if name.ends_with("k_proj.weight") {
            permute_rows(&bytes, shape.kv_heads * hd, shape.kv_heads)
        } else {
            bytes
        };
        blobs.push((gguf_name(name).expect("a llama tensor"), dims, bytes, ty));
    }
    let tensors: Vec<writer::TensorData<'_>> = blobs
        .iter()
        .map(|(name, dims, bytes, ty)| writer::TensorData {
            name,
            dims: dims.clone(),
            ggml_type: ty.ggml_id(),
            data: bytes,
        })
        .collect();
    writer::write(&metadata, &tensors)
}
