//! `shaderlm convert IN.gguf OUT_DIR`: writes a Hugging Face folder (config.json,
//! model.safetensors, tokenizer.json, tokenizer_config.json, generation_config.json) that
//! loads and computes the same logits as the GGUF. Quantized tensors are dequantized to f32
//! (safetensors has no block-quantized types) and Q/K rows are put back in rotate-half order.

use crate::error::{Error, Result};
use crate::model::source::{ModelSource, SourceFormat};
use crate::model::tensor::DType;
use std::borrow::Cow;
use std::path::Path;

/// One tensor, dequantized when the writer asks for its bytes.
struct LazyTensor<'a> {
    source: &'a ModelSource,
    name: String,
    shape: Vec<usize>,
    dtype: DType,
}

impl safetensors::View for LazyTensor<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        match self.dtype {
            DType::F16 => safetensors::Dtype::F16,
            DType::BF16 => safetensors::Dtype::BF16,
            _ => safetensors::Dtype::F32,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self.dtype {
            // Stored as is: the bytes (with Q/K rows restored) are already safetensors' own.
            DType::F32 | DType::F16 | DType::BF16 => match self.source.raw(&self.name) {
                Ok(bytes) => Cow::Owned(bytes.into_owned()),
                Err(_) => Cow::Owned(vec![0; self.data_len()]),
            },
            _ => match self.source.f32(&self.name) {
                Ok(values) => Cow::Owned(bytemuck::cast_slice(&values).to_vec()),
                Err(_) => Cow::Owned(vec![0; self.data_len()]),
            },
        }
    }

    fn data_len(&self) -> usize {
        let elements: usize = self.shape.iter().product();
        match self.dtype {
            DType::F16 | DType::BF16 => elements * 2,
            _ => elements * 4,
        }
    }
}

pub fn convert_gguf_to_hf(input: &Path, output: &Path) -> Result<()> {
    let source = ModelSource::open(input)?;
    if source.format != SourceFormat::Gguf {
        return Err(Error::usage(format!(
            "convert: {} is not a GGUF file",
            input.display()
        )));
    }
    std::fs::create_dir_all(output).map_err(|e| Error::io(output, e))?;
    let write = |name: &str, text: String| -> Result<()> {
        let path = output.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    };
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();

    write("config.json", pretty(&source.config.to_hf_json()))?;
    write("tokenizer.json", source.tokenizer.to_json()?)?;
    let mut tokenizer_config = serde_json::json!({
        "bos_token": source.bos_token,
        "eos_token": source.eos_token,
        "add_bos_token": false,
        "tokenizer_class": "PreTrainedTokenizerFast",
    });
    if let Some(template) = &source.chat_template {
        tokenizer_config["chat_template"] = serde_json::json!(template);
    }
    write("tokenizer_config.json", pretty(&tokenizer_config))?;
    write(
        "generation_config.json",
        pretty(&serde_json::json!({
            "bos_token_id": source.config.bos_token_id,
            "eos_token_id": source.eos_token_ids,
        })),
    )?;

    // Dequantization happens tensor by tensor as the writer streams them out.
    let mut tensors = Vec::new();
    for name in source.tensor_names() {
        let entry = source.entry(name)?;
        tensors.push((
            name.to_string(),
            LazyTensor {
                source: &source,
                name: name.to_string(),
                shape: entry.shape.clone(),
                dtype: entry.dtype,
            },
        ));
    }
    let weights = output.join("model.safetensors");
    let mut info = std::collections::HashMap::new();
    info.insert("format".to_string(), "pt".to_string());
    safetensors::serialize_to_file(tensors, Some(info), &weights)
        .map_err(|e| Error::model(&weights, format!("writing safetensors: {e}")))?;
    Ok(())
}
