//! The model's weights on the GPU, in the layout the kernels want: Q, K and V fused into one
//! matrix (one product instead of three), gate and up fused likewise.

use crate::error::Result;
use crate::gpu::{Gpu, StorageBuffer};
use crate::kernels::GpuMatrix;
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

impl GpuWeights {
    /// Uploads every tensor; `progress(done, total)` is called after each layer.
    pub fn upload(
        gpu: &Gpu,
        source: &ModelSource,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<GpuWeights> {
        let c = &source.config;
        let d = c.hidden_size as u32;
        let matrix = |label: &str, names: &[String], rows: usize, cols: u32| -> Result<GpuMatrix> {
            let mut data = Vec::with_capacity(rows * cols as usize);
            for name in names {
                data.extend(source.f32(name)?);
            }
            GpuMatrix::from_f32(gpu, label, rows as u32, cols, &data)
        };
        let vector = |name: &str| -> Result<StorageBuffer> {
            StorageBuffer::from_slice(gpu, name, &source.f32(name)?)
        };

        let total = c.num_layers + 2;
        let embed_name = "model.embed_tokens.weight".to_string();
        let embed = matrix(
            &embed_name,
            std::slice::from_ref(&embed_name),
            c.vocab_size,
            d,
        )?;
        progress(1, total);
        let mut layers = Vec::with_capacity(c.num_layers);
        for l in 0..c.num_layers {
            let p = |s: &str| format!("model.layers.{l}.{s}");
            let qkv_names = [
                p("self_attn.q_proj.weight"),
                p("self_attn.k_proj.weight"),
                p("self_attn.v_proj.weight"),
            ];
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
                qkv: matrix(&p("qkv"), &qkv_names, c.qkv_dim(), d)?,
                qkv_bias,
                o: matrix(
                    &p("o_proj"),
                    &[p("self_attn.o_proj.weight")],
                    c.hidden_size,
                    c.q_dim() as u32,
                )?,
                ffn_norm: vector(&p("post_attention_layernorm.weight"))?,
                gate_up: matrix(
                    &p("gate_up"),
                    &[p("mlp.gate_proj.weight"), p("mlp.up_proj.weight")],
                    2 * c.intermediate_size,
                    d,
                )?,
                down: matrix(
                    &p("down_proj"),
                    &[p("mlp.down_proj.weight")],
                    c.hidden_size,
                    c.intermediate_size as u32,
                )?,
            });
            progress(l + 2, total);
        }
        let final_norm = vector("model.norm.weight")?;
        let lm_head = if c.tie_embeddings {
            None
        } else {
            let name = "lm_head.weight".to_string();
            Some(matrix(&name, std::slice::from_ref(&name), c.vocab_size, d)?)
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

    /// GPU memory the weights take.
    pub fn bytes(&self) -> u64 {
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| {
                l.attn_norm.bytes
                    + l.qkv.bytes()
                    + l.qkv_bias.as_ref().map_or(0, |b| b.bytes)
                    + l.o.bytes()
                    + l.ffn_norm.bytes
                    + l.gate_up.bytes()
                    + l.down.bytes()
            })
            .sum();
        self.embed.bytes()
            + layers
            + self.final_norm.bytes
            + self.lm_head.as_ref().map_or(0, |m| m.bytes())
    }
}
