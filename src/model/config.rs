//! The model's hyper-parameters, read from a Hugging Face `config.json` or GGUF metadata.

use crate::error::{Error, Result};
use crate::model::gguf::GgufFile;
use serde::Deserialize;
use std::path::Path;

/// The architectures this engine runs: Llama and its close relatives.
pub const SUPPORTED_ARCHITECTURES: &str = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Mistral,
    /// Llama with biases on the Q, K and V projections.
    Qwen2,
}

/// How RoPE frequencies are scaled for long contexts.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Positions divided by `factor`.
    Linear { factor: f64 },
    /// Llama 3.1's frequency-dependent scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub max_position: usize,
    pub rope_theta: f64,
    pub rope_scaling: Option<RopeScaling>,
    pub rms_norm_eps: f64,
    pub tie_embeddings: bool,
    /// Q, K and V projections carry biases (Qwen2).
    pub qkv_bias: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

impl ModelConfig {
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Width of the fused QKV projection: queries, then keys, then values.
    pub fn qkv_dim(&self) -> usize {
        self.q_dim() + 2 * self.kv_dim()
    }

    /// Parameters of the Llama-style model this config describes.
    pub fn parameter_count(&self) -> u64 {
        let (d, i, v) = (
            self.hidden_size as u64,
            self.intermediate_size as u64,
            self.vocab_size as u64,
        );
        let attention = d * self.qkv_dim() as u64 + self.q_dim() as u64 * d;
        let bias = if self.qkv_bias {
            self.qkv_dim() as u64
        } else {
            0
        };
        let layer = attention + bias + 3 * d * i + 2 * d;
        let head = if self.tie_embeddings { 0 } else { v * d };
        v * d + self.num_layers as u64 * layer + d + head
    }

    /// RoPE frequency of each pair of a head, with scaling applied.
    pub fn rope_inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim as f64;
        let base: Vec<f64> = (0..self.head_dim / 2)
            .map(|j| self.rope_theta.powf(-2.0 * j as f64 / d))
            .collect();
        match &self.rope_scaling {
            None => base,
            Some(RopeScaling::Linear { factor }) => base.iter().map(|f| f / factor).collect(),
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position,
            }) => {
                let low_wavelen = original_max_position / low_freq_factor;
                let high_wavelen = original_max_position / high_freq_factor;
                base.iter()
                    .map(|&freq| {
                        let wavelen = 2.0 * std::f64::consts::PI / freq;
                        if wavelen < high_wavelen {
                            freq
                        } else if wavelen > low_wavelen {
                            freq / factor
                        } else {
                            let smooth = (original_max_position / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * freq / factor + smooth * freq
                        }
                    })
                    .collect()
            }
        }
    }

    /// Checks the numbers fit together; `path` names the file they came from.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let fail = |message: String| Err(Error::model(path, message));
        let positive = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position),
        ];
        for (name, value) in positive {
            if value == 0 {
                return fail(format!("{name} must be positive"));
            }
            if value > 1 << 24 {
                return fail(format!("{name} {value} is implausibly large"));
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return fail(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2)
            || self.head_dim > crate::kernels::attention::MAX_HEAD_DIM as usize
        {
            return fail(format!(
                "head_dim {} is not supported (even, at most {})",
                self.head_dim,
                crate::kernels::attention::MAX_HEAD_DIM
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return fail(format!(
                "rope_theta {} must be a positive number",
                self.rope_theta
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps >= 0.0) {
            return fail(format!(
                "rms_norm_eps {} must be a non-negative number",
                self.rms_norm_eps
            ));
        }
        Ok(())
    }

    /// Reads a Hugging Face `config.json`.
    pub fn from_hf_json(path: &Path, text: &str) -> Result<ModelConfig> {
        let raw: HfConfig = serde_json::from_str(text)
            .map_err(|e| Error::model(path, format!("invalid config.json: {e}")))?;
        let architecture = match raw.architectures.as_deref() {
            Some([name, ..]) => match name.as_str() {
                "LlamaForCausalLM" => Architecture::Llama,
                "MistralForCausalLM" => Architecture::Mistral,
                "Qwen2ForCausalLM" => Architecture::Qwen2,
                other => {
                    return Err(Error::model(
                        path,
                        format!("architecture {other} is not supported (supported: {SUPPORTED_ARCHITECTURES})"),
                    ))
                }
            },
            _ => {
                return Err(Error::model(
                    path,
                    format!("config.json has no \"architectures\" (supported: {SUPPORTED_ARCHITECTURES})"),
                ))
            }
        };
        let missing = |field: &str| {
            Error::model(
                path,
                format!("config.json is missing the required field \"{field}\""),
            )
        };
        let hidden_size = raw.hidden_size.ok_or_else(|| missing("hidden_size"))?;
        let num_heads = raw
            .num_attention_heads
            .ok_or_else(|| missing("num_attention_heads"))?;
        if num_heads == 0 {
            return Err(Error::model(path, "num_attention_heads must be positive"));
        }
        if let Some(act) = &raw.hidden_act {
            if act != "silu" {
                return Err(Error::model(
                    path,
                    format!("hidden_act \"{act}\" is not supported (only silu)"),
                ));
            }
        }
        if let Some(window) = raw.sliding_window {
            let used = raw
                .use_sliding_window
                .unwrap_or(architecture == Architecture::Mistral);
            if used && window < raw.max_position_embeddings.unwrap_or(usize::MAX) {
                eprintln!(
                    "warning: {}: sliding_window {window} is ignored; attention sees the whole context",
                    path.display()
                );
            }
        }
        let rope_scaling = match &raw.rope_scaling {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => Some(parse_rope_scaling(path, value)?),
        };
        let config = ModelConfig {
            architecture,
            hidden_size,
            intermediate_size: raw
                .intermediate_size
                .ok_or_else(|| missing("intermediate_size"))?,
            num_layers: raw
                .num_hidden_layers
                .ok_or_else(|| missing("num_hidden_layers"))?,
            num_heads,
            num_kv_heads: raw.num_key_value_heads.unwrap_or(num_heads),
            head_dim: raw.head_dim.unwrap_or(hidden_size / num_heads),
            vocab_size: raw.vocab_size.ok_or_else(|| missing("vocab_size"))?,
            max_position: raw.max_position_embeddings.unwrap_or(2048),
            rope_theta: raw.rope_theta.unwrap_or(10_000.0),
            rope_scaling,
            rms_norm_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            tie_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            qkv_bias: architecture == Architecture::Qwen2 || raw.attention_bias.unwrap_or(false),
            bos_token_id: raw.bos_token_id,
            eos_token_ids: match raw.eos_token_id {
                None => Vec::new(),
                Some(OneOrMany::One(id)) => vec![id],
                Some(OneOrMany::Many(ids)) => ids,
            },
        };
        config.validate(path)?;
        Ok(config)
    }

    /// Reads the `llama.*` metadata of a GGUF file.
    pub fn from_gguf(gguf: &GgufFile) -> Result<ModelConfig> {
        let path = &gguf.path;
        let arch = gguf.str("general.architecture")?;
        let architecture = match arch {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            other => {
                return Err(Error::model(
                    path,
                    format!(
                        "GGUF architecture \"{other}\" is not supported (supported: llama, qwen2)"
                    ),
                ))
            }
        };
        let key = |k: &str| format!("{arch}.{k}");
        let int = |k: &str| -> Result<usize> {
            let v = gguf.u64(&key(k))?;
            usize::try_from(v)
                .map_err(|_| Error::model(path, format!("{} = {v} is too large", key(k))))
        };
        let hidden_size = int("embedding_length")?;
        let num_heads = int("attention.head_count")?;
        if num_heads == 0 {
            return Err(Error::model(
                path,
                format!("{} must be positive", key("attention.head_count")),
            ));
        }
        let num_kv_heads = match gguf.get(&key("attention.head_count_kv")) {
            Some(v) => v.as_u64().map(|v| v as usize).ok_or_else(|| {
                Error::model(
                    path,
                    format!("{} is not an integer", key("attention.head_count_kv")),
                )
            })?,
            None => num_heads,
        };
        let head_dim = match gguf
            .get(&key("attention.key_length"))
            .and_then(|v| v.as_u64())
        {
            Some(v) => v as usize,
            None => hidden_size / num_heads,
        };
        let vocab_size = match gguf.get(&key("vocab_size")).and_then(|v| v.as_u64()) {
            Some(v) => v as usize,
            None => gguf
                .get("tokenizer.ggml.tokens")
                .and_then(|v| v.as_array())
                .map(|a| a.len())
                .unwrap_or(0),
        };
        let rope_scaling = match gguf.get(&key("rope.scaling.type")).and_then(|v| v.as_str()) {
            None | Some("none") => None,
            Some("linear") => Some(RopeScaling::Linear {
                factor: gguf.f64(&key("rope.scaling.factor"))?,
            }),
            Some(other) => {
                return Err(Error::model(
                    path,
                    format!("rope scaling \"{other}\" is not supported (none, linear)"),
                ))
            }
        };
        let has_output = gguf.tensors.iter().any(|t| t.name == "output.weight");
        let token_id = |k: &str| gguf.get(k).and_then(|v| v.as_u64()).map(|v| v as u32);
        let config = ModelConfig {
            architecture,
            hidden_size,
            intermediate_size: int("feed_forward_length")?,
            num_layers: int("block_count")?,
            num_heads,
            num_kv_heads,
            head_dim,
            vocab_size,
            max_position: int("context_length")?,
            rope_theta: gguf
                .get(&key("rope.freq_base"))
                .and_then(|v| v.as_f64())
                .unwrap_or(10_000.0),
            rope_scaling,
            rms_norm_eps: gguf.f64(&key("attention.layer_norm_rms_epsilon"))?,
            tie_embeddings: !has_output,
            qkv_bias: architecture == Architecture::Qwen2,
            bos_token_id: token_id("tokenizer.ggml.bos_token_id"),
            eos_token_ids: token_id("tokenizer.ggml.eos_token_id")
                .into_iter()
                .collect(),
        };
        config.validate(path)?;
        Ok(config)
    }

    /// The `config.json` that [`Self::from_hf_json`] reads back to this config.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let architecture = match self.architecture {
            Architecture::Llama => "LlamaForCausalLM",
            Architecture::Mistral => "MistralForCausalLM",
            Architecture::Qwen2 => "Qwen2ForCausalLM",
        };
        let model_type = match self.architecture {
            Architecture::Llama => "llama",
            Architecture::Mistral => "mistral",
            Architecture::Qwen2 => "qwen2",
        };
        let rope_scaling = match &self.rope_scaling {
            None => serde_json::Value::Null,
            Some(RopeScaling::Linear { factor }) => {
                serde_json::json!({"rope_type": "linear", "factor": factor})
            }
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position,
            }) => {
                serde_json::json!({
                    "rope_type": "llama3",
                    "factor": factor,
                    "low_freq_factor": low_freq_factor,
                    "high_freq_factor": high_freq_factor,
                    "original_max_position_embeddings": original_max_position,
                })
            }
        };
        let eos = match self.eos_token_ids.as_slice() {
            [one] => serde_json::json!(one),
            many => serde_json::json!(many),
        };
        serde_json::json!({
            "architectures": [architecture],
            "model_type": model_type,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self.max_position,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling,
            "rms_norm_eps": self.rms_norm_eps,
            "tie_word_embeddings": self.tie_embeddings,
            "attention_bias": self.qkv_bias && self.architecture != Architecture::Qwen2,
            "hidden_act": "silu",
            "bos_token_id": self.bos_token_id,
            "eos_token_id": eos,
            "torch_dtype": "float32",
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// The fields of a Hugging Face config.json this engine reads.
#[derive(Deserialize)]
struct HfConfig {
    architectures: Option<Vec<String>>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    vocab_size: Option<usize>,
    max_position_embeddings: Option<usize>,
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Value>,
    rms_norm_eps: Option<f64>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    hidden_act: Option<String>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<OneOrMany>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
}

fn parse_rope_scaling(path: &Path, value: &serde_json::Value) -> Result<RopeScaling> {
    let kind = value
        .get("rope_type")
        .or_else(|| value.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let number = |key: &str| {
        value.get(key).and_then(|v| v.as_f64()).ok_or_else(|| {
            Error::model(
                path,
                format!("rope_scaling.{key} is missing or not a number"),
            )
        })
    };
    match kind {
        "linear" => Ok(RopeScaling::Linear {
            factor: number("factor")?,
        }),
        "llama3" => Ok(RopeScaling::Llama3 {
            factor: number("factor")?,
            low_freq_factor: number("low_freq_factor")?,
            high_freq_factor: number("high_freq_factor")?,
            original_max_position: number("original_max_position_embeddings")?,
        }),
        "default" => Err(Error::model(
            path,
            "rope_scaling of type \"default\" should be null",
        )),
        other => Err(Error::model(
            path,
            format!("rope_scaling type \"{other}\" is not supported (supported: linear, llama3)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOL: &str = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":576,"intermediate_size":1536,
        "num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,"vocab_size":49152,
        "max_position_embeddings":8192,"rope_theta":100000.0,"rms_norm_eps":1e-05,"tie_word_embeddings":true,
        "bos_token_id":1,"eos_token_id":2}"#;

    #[test]
    fn reads_smollm2_config_and_counts_parameters() {
        let config = ModelConfig::from_hf_json(Path::new("config.json"), SMOL).unwrap();
        assert_eq!(config.head_dim, 64);
        assert_eq!(config.qkv_dim(), 576 + 2 * 192);
        assert_eq!(config.parameter_count(), 134_515_008);
        let back =
            ModelConfig::from_hf_json(Path::new("c"), &config.to_hf_json().to_string()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn names_unsupported_architectures_and_missing_fields() {
        let mamba = r#"{"architectures":["MambaForCausalLM"]}"#;
        let err = ModelConfig::from_hf_json(Path::new("m/config.json"), mamba)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MambaForCausalLM") && err.contains("LlamaForCausalLM"),
            "{err}"
        );
        let no_vocab = SMOL.replace("\"vocab_size\":49152,", "");
        let err = ModelConfig::from_hf_json(Path::new("c"), &no_vocab)
            .unwrap_err()
            .to_string();
        assert!(err.contains("vocab_size"), "{err}");
        let bad_heads = SMOL.replace("\"num_key_value_heads\":3", "\"num_key_value_heads\":4");
        let err = ModelConfig::from_hf_json(Path::new("c"), &bad_heads)
            .unwrap_err()
            .to_string();
        assert!(err.contains("num_key_value_heads"), "{err}");
    }

    #[test]
    fn llama3_scaling_keeps_high_frequencies() {
        let mut config = ModelConfig::from_hf_json(Path::new("c"), SMOL).unwrap();
        let plain = config.rope_inv_freq();
        config.rope_scaling = Some(RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position: 8192.0,
        });
        let scaled = config.rope_inv_freq();
        assert_eq!(scaled[0], plain[0]);
        let last = plain.len() - 1;
        assert!((scaled[last] - plain[last] / 8.0).abs() < 1e-12);
    }
}
