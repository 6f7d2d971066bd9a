//! A tiny random Llama written as a real Hugging Face folder (config.json, safetensors,
//! tokenizer.json), for end-to-end tests of loading and the forward pass.

use super::reference::LlamaShape;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::HashMap;
use std::path::Path;

/// Random weights for `shape`, by Hugging Face name.
pub fn random_weights(shape: &LlamaShape, rng: &mut StdRng) -> HashMap<String, Vec<f32>> {
    let d = shape.hidden;
    let hd = d / shape.heads;
    let kv = shape.kv_heads * hd;
    let mut w = HashMap::new();
    let mut add = |name: String, n: usize, scale: f32, offset: f32| {
        let v: Vec<f32> = (0..n)
            .map(|_| offset + rng.random_range(-scale..scale))
            .collect();
        w.insert(name, v);
    };
    add(
        "model.embed_tokens.weight".into(),
        shape.vocab * d,
        1.0,
        0.0,
    );
    add("model.norm.weight".into(), d, 0.2, 1.0);
    if !shape.tied {
        add("lm_head.weight".into(), shape.vocab * d, 0.3, 0.0);
    }
    for l in 0..shape.layers {
        let p = |n: &str| format!("model.layers.{l}.{n}");
        add(p("input_layernorm.weight"), d, 0.2, 1.0);
        add(p("post_attention_layernorm.weight"), d, 0.2, 1.0);
        add(p("self_attn.q_proj.weight"), d * d, 0.3, 0.0);
        add(p("self_attn.k_proj.weight"), kv * d, 0.3, 0.0);
        add(p("self_attn.v_proj.weight"), kv * d, 0.3, 0.0);
        add(p("self_attn.o_proj.weight"), d * d, 0.3, 0.0);
        add(p("mlp.gate_proj.weight"), shape.intermediate * d, 0.3, 0.0);
        add(p("mlp.up_proj.weight"), shape.intermediate * d, 0.3, 0.0);
        add(p("mlp.down_proj.weight"), d * shape.intermediate, 0.3, 0.0);
        if shape.qkv_bias {
            add(p("self_attn.q_proj.bias"), d, 0.3, 0.0);
            add(p("self_attn.k_proj.bias"), kv, 0.3, 0.0);
            add(p("self_attn.v_proj.bias"), kv, 0.3, 0.0);
        }
    }
    w
}

/// The tensor's shape in the Hugging Face layout.
pub fn tensor_shape(shape: &LlamaShape, name: &str, len: usize) -> Vec<usize> {
    if name.ends_with("norm.weight") || name.ends_with(".bias") {
        return vec![len];
    }
    let cols = if name.ends_with("down_proj.weight") {
        shape.intermediate
    } else {
        shape.hidden
    };
    vec![len / cols, cols]
}

/// A word-level tokenizer over `vocab` made-up words ("w0", "w1", ...).
pub fn tokenizer_json(vocab: usize) -> String {
    let words: serde_json::Map<String, serde_json::Value> = (0..vocab)
        .map(|i| (format!("w{i}"), serde_json::json!(i)))
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": words, "unk_token": "w0"},
    })
    .to_string()
}

pub fn config_json(shape: &LlamaShape) -> String {
    serde_json::json!({
        "architectures": [if shape.qkv_bias { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }],
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "vocab_size": shape.vocab,
        "max_position_embeddings": 256,
        "rope_theta": shape.theta,
        "rms_norm_eps": shape.eps,
        "tie_word_embeddings": shape.tied,
        "hidden_act": "silu",
        "eos_token_id": 0,
    })
    .to_string()
}

/// Writes the folder: config.json, model.safetensors (f32) and tokenizer.json.
pub fn write_folder(dir: &Path, shape: &LlamaShape, weights: &HashMap<String, Vec<f32>>) {
    write_folder_with(dir, shape, weights, safetensors::Dtype::F32, 1);
}

/// The weights exactly as a `dtype` file stores them (rounded to f16 or bf16).
pub fn rounded(
    weights: &HashMap<String, Vec<f32>>,
    dtype: safetensors::Dtype,
) -> HashMap<String, Vec<f32>> {
    let round = |v: f32| match dtype {
        safetensors::Dtype::F16 => half::f16::from_f32(v).to_f32(),
        safetensors::Dtype::BF16 => half::bf16::from_f32(v).to_f32(),
        _ => v,
    };
    weights
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|&x| round(x)).collect()))
        .collect()
}

/// Writes the folder with the tensors stored as `dtype` (F32, F16 or BF16) in `shards`
/// safetensors files listed by a model.safetensors.index.json (one file: no index).
pub fn write_folder_with(
    dir: &Path,
    shape: &LlamaShape,
    weights: &HashMap<String, Vec<f32>>,
    dtype: safetensors::Dtype,
    shards: usize,
) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config_json(shape)).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json(shape.vocab)).unwrap();
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    let encode = |data: &[f32]| -> Vec<u8> {
        match dtype {
            safetensors::Dtype::F16 => data
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect(),
            safetensors::Dtype::BF16 => data
                .iter()
                .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                .collect(),
            _ => bytemuck::cast_slice(data).to_vec(),
        }
    };
    let mut weight_map = serde_json::Map::new();
    for (i, chunk) in names.chunks(names.len().div_ceil(shards)).enumerate() {
        let file = if shards == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{shards:05}.safetensors", i + 1)
        };
        let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = chunk
            .iter()
            .map(|name| {
                (
                    name.to_string(),
                    tensor_shape(shape, name, weights[*name].len()),
                    encode(&weights[*name]),
                )
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = encoded
            .iter()
            .map(|(name, dims, bytes)| {
                (
                    name.clone(),
                    safetensors::tensor::TensorView::new(dtype, dims.clone(), bytes).unwrap(),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, &dir.join(&file)).unwrap();
        for name in chunk {
            weight_map.insert(name.to_string(), serde_json::json!(file));
        }
    }
    if shards > 1 {
        let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
        std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    }
}

/// A fresh temporary folder under the target directory.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "shaderlm-test-{name}-{}-{}",
        std::process::id(),
        super::seed()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
