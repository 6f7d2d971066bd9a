//! Opening a model: a Hugging Face folder (config.json, safetensors, tokenizer.json) or a
//! GGUF file. Either way the rest of the engine sees the same thing: a config, a tokenizer,
//! a chat template and tensors under Hugging Face names, memory-mapped.

use crate::error::{Error, Result};
use crate::model::chat::ChatTemplate;
use crate::model::config::ModelConfig;
use crate::model::gguf::GgufFile;
use crate::model::tensor::{self, DType};
use crate::model::tokenizer::Tokenizer;
use memmap2::Mmap;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    HuggingFace,
    Gguf,
}

/// Where one tensor's bytes are.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    /// Hugging Face order: [rows, cols] for matrices.
    pub shape: Vec<usize>,
    pub dtype: DType,
    file: usize,
    offset: usize,
    bytes: usize,
    /// GGUF Q and K rows are permuted for llama.cpp's interleaved RoPE; this many heads
    /// must be un-permuted to get the Hugging Face (rotate-half) layout back.
    unpermute_heads: Option<usize>,
}

impl TensorEntry {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

pub struct ModelSource {
    /// The folder or .gguf file given.
    pub path: PathBuf,
    pub format: SourceFormat,
    pub config: ModelConfig,
    pub tokenizer: Tokenizer,
    /// A Jinja chat template, if the model has one.
    pub chat_template: Option<String>,
    /// Token ids that end generation.
    pub eos_token_ids: Vec<u32>,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    /// GGUF metadata, kept for `shaderlm info`.
    pub gguf: Option<GgufFile>,
    files: Vec<(PathBuf, Mmap)>,
    tensors: BTreeMap<String, TensorEntry>,
}

fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the file is opened read-only; like every mmap user we assume nobody truncates
    // it while the model is loaded.
    unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))
}

impl ModelSource {
    /// Opens a Hugging Face folder or a .gguf file.
    pub fn open(path: &Path) -> Result<ModelSource> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::model(path, "no such file or folder"),
            _ => Error::io(path, e),
        })?;
        let source = if meta.is_dir() {
            Self::open_hf_folder(path)?
        } else {
            Self::open_gguf(path)?
        };
        source.check_tensors()?;
        Ok(source)
    }

    /// The model's chat template, compiled, if it has one.
    pub fn compile_chat_template(&self) -> Result<Option<ChatTemplate>> {
        self.chat_template
            .as_deref()
            .map(|text| {
                ChatTemplate::new(
                    &self.path,
                    text,
                    self.bos_token.as_deref(),
                    self.eos_token.as_deref(),
                )
            })
            .transpose()
    }

    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn entry(&self, name: &str) -> Result<&TensorEntry> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::model(&self.path, format!("tensor {name} is missing")))
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The file a tensor lives in.
    pub fn file_of(&self, name: &str) -> &Path {
        self.tensors
            .get(name)
            .map(|t| self.files[t.file].0.as_path())
            .unwrap_or(&self.path)
    }

    /// The tensor's bytes in its stored dtype, rows in Hugging Face order.
    pub fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        let entry = self.entry(name)?;
        let bytes = &self.files[entry.file].1[entry.offset..entry.offset + entry.bytes];
        Ok(match entry.unpermute_heads {
            None => Cow::Borrowed(bytes),
            Some(heads) => Cow::Owned(unpermute_rows(bytes, entry.shape[0], heads)),
        })
    }

    /// The tensor as f32 (dequantized), rows in Hugging Face order.
    pub fn f32(&self, name: &str) -> Result<Vec<f32>> {
        let entry = self.entry(name)?;
        Ok(tensor::dequantize(
            entry.dtype,
            &self.raw(name)?,
            entry.elements(),
        ))
    }

    /// The tensors the forward pass needs, with their expected shapes.
    pub fn expected_tensors(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
        let (d, i, v) = (
            config.hidden_size,
            config.intermediate_size,
            config.vocab_size,
        );
        let mut list = vec![
            ("model.embed_tokens.weight".to_string(), vec![v, d]),
            ("model.norm.weight".to_string(), vec![d]),
        ];
        if !config.tie_embeddings {
            list.push(("lm_head.weight".to_string(), vec![v, d]));
        }
        for l in 0..config.num_layers {
            let p = |s: &str| format!("model.layers.{l}.{s}");
            list.push((p("input_layernorm.weight"), vec![d]));
            list.push((p("post_attention_layernorm.weight"), vec![d]));
            list.push((p("self_attn.q_proj.weight"), vec![config.q_dim(), d]));
            list.push((p("self_attn.k_proj.weight"), vec![config.kv_dim(), d]));
            list.push((p("self_attn.v_proj.weight"), vec![config.kv_dim(), d]));
            list.push((p("self_attn.o_proj.weight"), vec![d, config.q_dim()]));
            list.push((p("mlp.gate_proj.weight"), vec![i, d]));
            list.push((p("mlp.up_proj.weight"), vec![i, d]));
            list.push((p("mlp.down_proj.weight"), vec![d, i]));
            if config.qkv_bias {
                list.push((p("self_attn.q_proj.bias"), vec![config.q_dim()]));
                list.push((p("self_attn.k_proj.bias"), vec![config.kv_dim()]));
                list.push((p("self_attn.v_proj.bias"), vec![config.kv_dim()]));
            }
        }
        list
    }

    /// Every tensor the forward pass needs is present with the shape the config implies.
    fn check_tensors(&self) -> Result<()> {
        for (name, shape) in Self::expected_tensors(&self.config) {
            let entry = self
                .tensors
                .get(&name)
                .ok_or_else(|| Error::model(&self.path, format!("tensor {name} is missing")))?;
            if entry.shape != shape {
                return Err(Error::model(
                    self.file_of(&name),
                    format!(
                        "tensor {name} has shape {:?}, but config implies {shape:?}",
                        entry.shape
                    ),
                ));
            }
        }
        Ok(())
    }

    fn open_hf_folder(dir: &Path) -> Result<ModelSource> {
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::model(dir, "no config.json in the model folder"),
            _ => Error::io(&config_path, e),
        })?;
        let config = ModelConfig::from_hf_json(&config_path, &config_text)?;

        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.exists() {
            return Err(Error::model(dir, "no tokenizer.json in the model folder"));
        }
        let tokenizer = Tokenizer::from_file(&tokenizer_path)?;

        let weight_files = Self::hf_weight_files(dir)?;
        let mut files = Vec::new();
        let mut tensors = BTreeMap::new();
        for path in weight_files {
            let mmap = map_file(&path)?;
            let parsed = safetensors::SafeTensors::deserialize(&mmap)
                .map_err(|e| Error::model(&path, format!("invalid safetensors file: {e}")))?;
            let base = mmap.as_ptr() as usize;
            for (name, view) in parsed.tensors() {
                let dtype = match view.dtype() {
                    safetensors::Dtype::F32 => DType::F32,
                    safetensors::Dtype::F16 => DType::F16,
                    safetensors::Dtype::BF16 => DType::BF16,
                    other => {
                        return Err(Error::model(
                            &path,
                            format!("tensor {name}: dtype {other:?} is not supported (supported: F32, F16, BF16)"),
                        ))
                    }
                };
                let data = view.data();
                let entry = TensorEntry {
                    shape: view.shape().to_vec(),
                    dtype,
                    file: files.len(),
                    offset: data.as_ptr() as usize - base,
                    bytes: data.len(),
                    unpermute_heads: None,
                };
                if tensors.insert(name.clone(), entry).is_some() {
                    return Err(Error::model(
                        &path,
                        format!("tensor {name} appears in more than one file"),
                    ));
                }
            }
            files.push((path, mmap));
        }

        let tokenizer_config = read_json_if_present(&dir.join("tokenizer_config.json"))?;
        let generation_config = read_json_if_present(&dir.join("generation_config.json"))?;
        let token_text = |key: &str| -> Option<String> {
            let value = tokenizer_config.as_ref()?.get(key)?;
            value
                .as_str()
                .or_else(|| value.get("content").and_then(|c| c.as_str()))
                .map(str::to_string)
        };
        let chat_template = tokenizer_config
            .as_ref()
            .and_then(|c| c.get("chat_template"))
            .and_then(|t| match t {
                serde_json::Value::String(s) => Some(s.clone()),
                // A list of named templates: take the default one.
                serde_json::Value::Array(list) => list
                    .iter()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                    .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
                _ => None,
            });
        let bos_token = token_text("bos_token");
        let eos_token = token_text("eos_token");
        let mut eos: BTreeSet<u32> = config.eos_token_ids.iter().copied().collect();
        if let Some(ids) = generation_config
            .as_ref()
            .and_then(|g| g.get("eos_token_id"))
        {
            match ids {
                serde_json::Value::Number(n) => eos.extend(n.as_u64().map(|v| v as u32)),
                serde_json::Value::Array(list) => {
                    eos.extend(list.iter().filter_map(|v| v.as_u64()).map(|v| v as u32))
                }
                _ => {}
            }
        }
        if let Some(id) = eos_token.as_deref().and_then(|t| tokenizer.token_to_id(t)) {
            eos.insert(id);
        }
        Ok(ModelSource {
            path: dir.to_path_buf(),
            format: SourceFormat::HuggingFace,
            config,
            tokenizer,
            chat_template,
            eos_token_ids: eos.into_iter().collect(),
            bos_token,
            eos_token,
            gguf: None,
            files,
            tensors,
        })
    }

    /// model.safetensors, or the shards model.safetensors.index.json names.
    fn hf_weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
        let single = dir.join("model.safetensors");
        if single.exists() {
            return Ok(vec![single]);
        }
        let index_path = dir.join("model.safetensors.index.json");
        let Some(index) = read_json_if_present(&index_path)? else {
            return Err(Error::model(
                dir,
                "no weights in the model folder (model.safetensors or model.safetensors.index.json)",
            ));
        };
        let files: Vec<PathBuf> = shard_names(&index, &index_path)?
            .into_iter()
            .map(|n| dir.join(n))
            .collect();
        for file in &files {
            if !file.exists() {
                return Err(Error::model(
                    file,
                    "listed in model.safetensors.index.json but missing",
                ));
            }
        }
        Ok(files)
    }

    fn open_gguf(path: &Path) -> Result<ModelSource> {
        let mmap = map_file(path)?;
        let gguf = GgufFile::parse(path, &mmap)?;
        let config = ModelConfig::from_gguf(&gguf)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let mut tensors = BTreeMap::new();
        for t in &gguf.tensors {
            let Some(name) = hf_name(&t.name) else {
                continue; // tensors the forward pass does not use (e.g. rope_freqs)
            };
            let shape: Vec<usize> = t.dims.iter().rev().map(|&d| d as usize).collect();
            let unpermute_heads = if name.ends_with("self_attn.q_proj.weight") {
                Some(config.num_heads)
            } else if name.ends_with("self_attn.k_proj.weight") {
                Some(config.num_kv_heads)
            } else {
                None
            };
            if let Some(heads) = unpermute_heads {
                if shape.len() != 2 || !shape[0].is_multiple_of(2 * heads) {
                    return Err(Error::model(
                        path,
                        format!(
                            "tensor {}: shape {shape:?} cannot be split into {heads} heads",
                            t.name
                        ),
                    ));
                }
            }
            let entry = TensorEntry {
                shape,
                dtype: t.dtype,
                file: 0,
                offset: t.offset as usize,
                bytes: t.bytes as usize,
                unpermute_heads,
            };
            if tensors.insert(name.clone(), entry).is_some() {
                return Err(Error::model(
                    path,
                    format!("tensor {} appears twice", t.name),
                ));
            }
        }
        let token = |key: &str| -> Option<String> {
            let id = gguf.get(key)?.as_u64()?;
            tokenizer.id_to_token(id as u32)
        };
        let chat_template = gguf
            .get("tokenizer.chat_template")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let bos_token = token("tokenizer.ggml.bos_token_id");
        let eos_token = token("tokenizer.ggml.eos_token_id");
        let mut eos: BTreeSet<u32> = config.eos_token_ids.iter().copied().collect();
        if let Some(id) = gguf
            .get("tokenizer.ggml.eot_token_id")
            .and_then(|v| v.as_u64())
        {
            eos.insert(id as u32);
        }
        Ok(ModelSource {
            path: path.to_path_buf(),
            format: SourceFormat::Gguf,
            config,
            tokenizer,
            chat_template,
            eos_token_ids: eos.into_iter().collect(),
            bos_token,
            eos_token,
            gguf: Some(gguf),
            files: vec![(path.to_path_buf(), mmap)],
            tensors,
        })
    }
}

/// The shard files a safetensors index (model.safetensors.index.json at `index_path`)
/// names, each a plain file name in the index's own folder.
pub(crate) fn shard_names(
    index: &serde_json::Value,
    index_path: &Path,
) -> Result<BTreeSet<String>> {
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::model(index_path, "no \"weight_map\" object"))?;
    let mut names = BTreeSet::new();
    for file in map.values() {
        let file = file
            .as_str()
            .ok_or_else(|| Error::model(index_path, "weight_map holds a non-string file name"))?;
        if file.contains('/') || file.contains('\\') || file.starts_with("..") {
            return Err(Error::model(
                index_path,
                format!("weight_map names a file outside the folder: {file}"),
            ));
        }
        names.insert(file.to_string());
    }
    Ok(names)
}

fn read_json_if_present(path: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::model(path, format!("invalid JSON: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Tensor names shared by every model: (GGUF, Hugging Face).
const MODEL_NAMES: [(&str, &str); 3] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
];

/// Per-layer tensor names: (GGUF after `blk.N.`, Hugging Face after `model.layers.N.`).
const LAYER_NAMES: [(&str, &str); 12] = [
    ("attn_norm.weight", "input_layernorm.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("attn_q.bias", "self_attn.q_proj.bias"),
    ("attn_k.bias", "self_attn.k_proj.bias"),
    ("attn_v.bias", "self_attn.v_proj.bias"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// Maps a name between the two conventions: `forward` goes GGUF -> Hugging Face.
fn map_name(name: &str, forward: bool) -> Option<String> {
    let pick = |pair: &(&'static str, &'static str)| {
        if forward {
            (pair.0, pair.1)
        } else {
            (pair.1, pair.0)
        }
    };
    if let Some((_, to)) = MODEL_NAMES.iter().map(pick).find(|(from, _)| *from == name) {
        return Some(to.to_string());
    }
    let (from_prefix, to_prefix) = if forward {
        ("blk.", "model.layers.")
    } else {
        ("model.layers.", "blk.")
    };
    let (layer, suffix) = name.strip_prefix(from_prefix)?.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (_, to) = LAYER_NAMES
        .iter()
        .map(pick)
        .find(|(from, _)| *from == suffix)?;
    Some(format!("{to_prefix}{layer}.{to}"))
}

/// The Hugging Face name of a GGUF (llama.cpp) tensor name, for tensors the engine uses.
pub fn hf_name(gguf_name: &str) -> Option<String> {
    map_name(gguf_name, true)
}

/// The GGUF name of a Hugging Face tensor name (the inverse of [`hf_name`]).
pub fn gguf_name(hf: &str) -> Option<String> {
    map_name(hf, false)
}

/// llama.cpp's Q/K row permutation for interleaved RoPE, or its inverse. Rows come in blocks
/// of `head_dim` per head; within a head, GGUF row 2i + j holds Hugging Face row
/// j * head_dim/2 + i.
fn reorder_rows(bytes: &[u8], rows: usize, heads: usize, to_gguf: bool) -> Vec<u8> {
    let row_bytes = bytes.len() / rows;
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![0u8; bytes.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let gguf = h * head_dim + 2 * i + j;
                let hf = h * head_dim + j * half + i;
                let (src, dst) = if to_gguf { (hf, gguf) } else { (gguf, hf) };
                out[dst * row_bytes..(dst + 1) * row_bytes]
                    .copy_from_slice(&bytes[src * row_bytes..(src + 1) * row_bytes]);
            }
        }
    }
    out
}

/// Undoes llama.cpp's Q/K row permutation (GGUF rows to Hugging Face order).
pub fn unpermute_rows(bytes: &[u8], rows: usize, heads: usize) -> Vec<u8> {
    reorder_rows(bytes, rows, heads, false)
}

/// Applies llama.cpp's Q/K row permutation (the inverse of [`unpermute_rows`]).
pub fn permute_rows(bytes: &[u8], rows: usize, heads: usize) -> Vec<u8> {
    reorder_rows(bytes, rows, heads, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_round_trips_and_matches_llama_cpp() {
        // 2 heads of head_dim 4, one byte per row: HF rows [0 1 2 3 | 4 5 6 7].
        let hf: Vec<u8> = (0..8).collect();
        let gguf = permute_rows(&hf, 8, 2);
        // llama.cpp: reshape(n_head, 2, hd/2).swapaxes(1, 2) -> rows 0 2 1 3 | 4 6 5 7.
        assert_eq!(gguf, vec![0, 2, 1, 3, 4, 6, 5, 7]);
        assert_eq!(unpermute_rows(&gguf, 8, 2), hf);
    }

    #[test]
    fn names_map_both_ways() {
        for hf in [
            "model.embed_tokens.weight",
            "model.layers.17.mlp.down_proj.weight",
            "lm_head.weight",
        ] {
            assert_eq!(hf_name(&gguf_name(hf).unwrap()).unwrap(), hf);
        }
        assert_eq!(hf_name("rope_freqs.weight"), None);
    }
}
