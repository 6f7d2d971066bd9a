//! Text <-> token ids, through the `tokenizers` crate.
//!
//! Hugging Face folders bring their `tokenizer.json`. GGUF files carry the vocabulary and
//! merges in their metadata; [`tokenizer_json_from_gguf`] rebuilds the equivalent
//! `tokenizer.json` (byte-level BPE) so both paths give the same ids.

use crate::error::{Error, Result};
use crate::model::gguf::GgufFile;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The file the tokenizer came from, for error messages.
    source: PathBuf,
}

/// The split regexes of the Llama 3 and Qwen2 pre-tokenizers (applied before byte-level BPE).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl Tokenizer {
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_json_bytes(path, &bytes)
    }

    pub fn from_json_bytes(path: &Path, bytes: &[u8]) -> Result<Tokenizer> {
        let inner = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|e| Error::model(path, format!("invalid tokenizer: {e}")))?;
        Ok(Tokenizer {
            inner,
            source: path.to_path_buf(),
        })
    }

    pub fn from_gguf(gguf: &GgufFile) -> Result<Tokenizer> {
        let json = tokenizer_json_from_gguf(gguf)?;
        Self::from_json_bytes(&gguf.path, json.to_string().as_bytes())
    }

    /// Token ids of `text`, with whatever special tokens the tokenizer's post-processor adds.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::usage(format!("cannot tokenize the prompt: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`; special tokens are kept unless `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| Error::model(&self.source, format!("cannot decode tokens: {e}")))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The tokenizer as `tokenizer.json` text (what `convert` writes).
    pub fn to_json(&self) -> Result<String> {
        self.inner
            .to_string(false)
            .map_err(|e| Error::model(&self.source, format!("cannot serialise the tokenizer: {e}")))
    }
}

/// Decodes a growing list of ids into text pieces that are safe to print: a character split
/// across tokens is held back until it is complete.
pub struct TextStream {
    ids: Vec<u32>,
    /// Ids before `prefix` only give context to the decoder (spaces depend on neighbours).
    prefix: usize,
    /// Ids before `read` have been printed.
    read: usize,
}

impl Default for TextStream {
    fn default() -> Self {
        Self::new()
    }
}

impl TextStream {
    pub fn new() -> TextStream {
        TextStream {
            ids: Vec::new(),
            prefix: 0,
            read: 0,
        }
    }

    /// Adds `id` and returns the text that became printable, if any.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let before = tokenizer.decode(&self.ids[self.prefix..self.read], false)?;
        let after = tokenizer.decode(&self.ids[self.prefix..], false)?;
        if after.len() > before.len()
            && !after.ends_with('\u{FFFD}')
            && after.is_char_boundary(before.len())
        {
            let piece = after[before.len()..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(Some(piece))
        } else {
            Ok(None)
        }
    }

    /// Whatever is still held back (an incomplete character at the end of generation).
    pub fn finish(&mut self, tokenizer: &Tokenizer) -> Result<Option<String>> {
        let before = tokenizer.decode(&self.ids[self.prefix..self.read], false)?;
        let after = tokenizer.decode(&self.ids[self.prefix..], false)?;
        self.prefix = self.ids.len();
        self.read = self.ids.len();
        if after.len() > before.len() && after.is_char_boundary(before.len()) {
            Ok(Some(after[before.len()..].to_string()))
        } else {
            Ok(None)
        }
    }
}

/// Builds a `tokenizer.json` from a GGUF file's `tokenizer.ggml.*` metadata.
pub fn tokenizer_json_from_gguf(gguf: &GgufFile) -> Result<Value> {
    let path = &gguf.path;
    let model = gguf.str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(Error::model(
            path,
            format!(
                "tokenizer.ggml.model \"{model}\" is not supported from GGUF (supported: gpt2, byte-level BPE); \
                 use a Hugging Face folder with tokenizer.json"
            ),
        ));
    }
    let tokens = gguf.strings("tokenizer.ggml.tokens")?;
    let merges = gguf.strings("tokenizer.ggml.merges")?;
    let types: Vec<i64> = match gguf
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.as_array())
    {
        Some(values) => values
            .iter()
            .map(|v| match v {
                crate::model::gguf::Value::I32(t) => Ok(i64::from(*t)),
                other => other.as_u64().map(|t| t as i64).ok_or_else(|| {
                    Error::model(path, "tokenizer.ggml.token_type holds a non-integer")
                }),
            })
            .collect::<Result<_>>()?,
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(Error::model(
            path,
            format!(
                "tokenizer.ggml.token_type has {} entries for {} tokens",
                types.len(),
                tokens.len()
            ),
        ));
    }
    let mut vocab = serde_json::Map::with_capacity(tokens.len());
    let mut added = Vec::new();
    for (id, (token, kind)) in tokens.iter().zip(&types).enumerate() {
        if vocab.insert(token.to_string(), json!(id)).is_some() {
            return Err(Error::model(
                path,
                format!("tokenizer.ggml.tokens lists {token:?} twice"),
            ));
        }
        // 3: control tokens, 4: user-defined ones; both are matched whole in text.
        if *kind == 3 || *kind == 4 {
            added.push(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": *kind == 3,
            }));
        }
    }
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |pattern: &str| json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false});
    let pre = gguf
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let pre_tokenizer = match pre {
        "default" | "gpt2" | "gpt-2" => byte_level(true),
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "llama-bpe" | "llama3" | "llama-v3" => json!({"type": "Sequence", "pretokenizers": [
            split(LLAMA3_SPLIT), byte_level(false)]}),
        "qwen2" => json!({"type": "Sequence", "pretokenizers": [split(QWEN2_SPLIT), byte_level(false)]}),
        other => {
            return Err(Error::model(
                path,
                format!("tokenizer.ggml.pre \"{other}\" is not supported (supported: default, gpt2, smollm, llama-bpe, qwen2)"),
            ))
        }
    };
    let add_bos = gguf
        .get("tokenizer.ggml.add_bos_token")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let bos = gguf
        .get("tokenizer.ggml.bos_token_id")
        .and_then(|v| v.as_u64());
    let post_processor = match (add_bos, bos) {
        (true, Some(bos_id)) => {
            let bos_token = tokens.get(bos_id as usize).ok_or_else(|| {
                Error::model(
                    path,
                    format!("tokenizer.ggml.bos_token_id {bos_id} is outside the vocabulary"),
                )
            })?;
            json!({
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos_token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos_token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos_token.to_string(): {"id": bos_token, "ids": [bos_id], "tokens": [bos_token]}},
            })
        }
        _ => {
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
        }
    };
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges,
        },
    }))
}
