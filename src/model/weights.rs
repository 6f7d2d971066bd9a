//! The model's weights on the GPU, in the layout the kernels want: Q, K and V fused into one
//! matrix (one product instead of three), gate and up fused likewise. Matrices keep the
//! format they are stored in (GGUF blocks are uploaded as they are) unless `--dtype` asks
//! for another.

use crate::error::Result;
use crate::gpu::{Gpu, StorageBuffer};
use crate::kernels::{GpuMatrix, PackedMatrix, WeightFormat};
use crate::model::source::ModelSource;

pub struct LayerWeights {
    pub attn_norm: StorageBuffer,
    /// Rows: the query projection, then key, then value ([qkv_dim, hidden]).
    pub qkv: GpuMatrix,
    pub qkv_bias: Option<StorageBuffer>,
    pub o: GpuMatrix,
    pub ffn_norm: StorageBuffer,
    /// Rows: the gate projection, then up ([2 * intermediate, hidden]).
    pub gate_up: GpuMatrix,
    pub down: GpuMatrix,
}

pub struct GpuWeights {
    pub embed: GpuMatrix,
    pub layers: Vec<LayerWeights>,
    pub final_norm: StorageBuffer,
    /// None when the output matrix is tied to the embedding.
    lm_head: Option<GpuMatrix>,
}

/// The format stacked tensors are stored in on the GPU: `format`, or the type they share
/// (stacked tensors of different types are kept at f16 precision).
pub fn stacked_format(
    source: &ModelSource,
    names: &[String],
    format: Option<WeightFormat>,
) -> Result<WeightFormat> {
    let first = source.entry(&names[0])?.dtype;
    let mut shared = true;
    for name in names {
        shared &= source.entry(name)?.dtype == first;
    }
    Ok(format.unwrap_or(if shared {
        WeightFormat::of_dtype(first)
    } else {
        WeightFormat::F16
    }))
}

/// Packs the tensors `names` (each [rows_i, cols]) stacked into one matrix in `format`, or
/// in the format they share when `format` is None.
pub fn pack_stacked(
    source: &ModelSource,
    names: &[String],
    format: Option<WeightFormat>,
) -> Result<PackedMatrix> {
    let entries = names
        .iter()
        .map(|n| source.entry(n))
        .collect::<Result<Vec<_>>>()?;
    let cols = entries[0].shape[1] as u32;
    let rows: u32 = entries.iter().map(|e| e.shape[0] as u32).sum();
    let dtype = entries[0].dtype;
    let target = stacked_format(source, names, format)?;
    let label = names.join(" + ");
    if entries.iter().all(|e| e.dtype == dtype) && WeightFormat::of_dtype(dtype) == target {
        let mut bytes = Vec::new();
        for name in names {
            bytes.extend_from_slice(&source.raw(name)?);
        }
        return PackedMatrix::from_raw(&label, dtype, &bytes, rows, cols, target);
    }
    target.check_cols(&label, cols)?;
    let mut values = Vec::with_capacity(rows as usize * cols as usize);
    for name in names {
        values.extend(source.f32(name)?);
    }
    Ok(PackedMatrix::from_f32(&values, rows, cols, target))
}

/// One weight matrix as the GPU holds it: which tensors are stacked into it, its shape and format.
pub struct MatrixPlan {
    pub label: String,
    pub names: Vec<String>,
    pub rows: u32,
    pub cols: u32,
    pub format: WeightFormat,
}

/// Every weight matrix of the model, in upload order: the embedding, then per layer QKV,
/// output, gate/up and down, then the LM head when it is not tied.
pub fn matrix_plan(source: &ModelSource, format: Option<WeightFormat>) -> Result<Vec<MatrixPlan>> {
    let c = &source.config;
    let mut plan = Vec::new();
    let mut add = |label: String, names: Vec<String>| -> Result<()> {
        let rows = names
            .iter()
            .map(|n| source.entry(n).map(|e| e.shape[0] as u32))
            .sum::<Result<u32>>()?;
        let cols = source.entry(&names[0])?.shape[1] as u32;
        let format = stacked_format(source, &names, format)?;
        format.check_cols(&label, cols)?;
        plan.push(MatrixPlan {
            label,
            names,
            rows,
            cols,
            format,
        });
        Ok(())
    };
    add("embedding".into(), vec!["model.embed_tokens.weight".into()])?;
    for l in 0..c.num_layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        add(
            p("qkv"),
            vec![
                p("self_attn.q_proj.weight"),
                p("self_attn.k_proj.weight"),
                p("self_attn.v_proj.weight"),
            ],
        )?;
        add(p("o_proj"), vec![p("self_attn.o_proj.weight")])?;
        add(
            p("gate_up"),
            vec![p("mlp.gate_proj.weight"), p("mlp.up_proj.weight")],
        )?;
        add(p("down_proj"), vec![p("mlp.down_proj.weight")])?;
    }
    if !c.tie_embeddings {
        add("lm_head".into(), vec!["lm_head.weight".into()])?;
    }
    Ok(plan)
}

impl GpuWeights {
    /// Uploads every tensor, matrices in `format` (None: as stored); `progress(done, total)`
    /// is called after each layer.
    pub fn upload(
        gpu: &Gpu,
        source: &ModelSource,
        format: Option<WeightFormat>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<GpuWeights> {
        let c = &source.config;
        // Norm weights may be read through uniform bindings (kernels::rmsnorm::NormInput).
        let vector = |name: &str| -> Result<StorageBuffer> {
            StorageBuffer::from_slice_with_usage(
                gpu,
                name,
                &source.f32(name)?,
                wgpu::BufferUsages::UNIFORM,
            )
        };
        let mut matrices = matrix_plan(source, format)?
            .into_iter()
            .map(|m| -> Result<GpuMatrix> {
                GpuMatrix::upload(
                    gpu,
                    &m.label,
                    &pack_stacked(source, &m.names, Some(m.format))?,
                )
            });
        let mut next = || {
            matrices
                .next()
                .unwrap_or_else(|| Err(crate::Error::model(&source.path, "missing matrices")))
        };

        let total = c.num_layers + 2;
        let embed = next()?;
        progress(1, total);
        let mut layers = Vec::with_capacity(c.num_layers);
        for l in 0..c.num_layers {
            let p = |s: &str| format!("model.layers.{l}.{s}");
            let qkv_bias = if c.qkv_bias {
                let mut bias = source.f32(&p("self_attn.q_proj.bias"))?;
                bias.extend(source.f32(&p("self_attn.k_proj.bias"))?);
                bias.extend(source.f32(&p("self_attn.v_proj.bias"))?);
                Some(StorageBuffer::from_slice(gpu, &p("qkv bias"), &bias)?)
            } else {
                None
            };
            layers.push(LayerWeights {
                attn_norm: vector(&p("input_layernorm.weight"))?,
                qkv: next()?,
                qkv_bias,
                o: next()?,
                ffn_norm: vector(&p("post_attention_layernorm.weight"))?,
                gate_up: next()?,
                down: next()?,
            });
            progress(l + 2, total);
        }
        let final_norm = vector("model.norm.weight")?;
        let lm_head = if c.tie_embeddings {
            None
        } else {
            Some(next()?)
        };
        progress(total, total);
        Ok(GpuWeights {
            embed,
            layers,
            final_norm,
            lm_head,
        })
    }

    /// The output projection (the embedding itself when tied).
    pub fn lm_head(&self) -> &GpuMatrix {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

    /// Every weight matrix, for sizing and reporting.
    pub fn matrices(&self) -> impl Iterator<Item = &GpuMatrix> {
        std::iter::once(&self.embed)
            .chain(self.lm_head.as_ref())
            .chain(
                self.layers
                    .iter()
                    .flat_map(|l| [&l.qkv, &l.o, &l.gate_up, &l.down]),
            )
    }

    /// Bytes of weights a decode step reads: every layer matrix and the output projection.
    pub fn decode_bytes(&self) -> u64 {
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| l.qkv.bytes() + l.o.bytes() + l.gate_up.bytes() + l.down.bytes())
            .sum();
        layers + self.lm_head().bytes()
    }

    /// GPU memory the weights take.
    pub fn bytes(&self) -> u64 {
        let vectors: u64 = self
            .layers
            .iter()
            .map(|l| {
                l.attn_norm.bytes + l.ffn_norm.bytes + l.qkv_bias.as_ref().map_or(0, |b| b.bytes)
            })
            .sum();
        self.matrices().map(GpuMatrix::bytes).sum::<u64>() + vectors + self.final_norm.bytes
    }

    /// A short description of the formats, e.g. "q4_1 (210), q8_0 (1)".
    pub fn formats(&self) -> String {
        let mut counts: Vec<(WeightFormat, usize)> = Vec::new();
        for m in self.matrices() {
            match counts.iter_mut().find(|(f, _)| *f == m.format) {
                Some(entry) => entry.1 += 1,
                None => counts.push((m.format, 1)),
            }
        }
        counts
            .iter()
            .map(|(f, n)| format!("{} ({n})", f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
