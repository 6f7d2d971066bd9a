//! shaderlm: LLM inference with the whole forward pass as WGSL compute shaders through wgpu.
//!
//! Data flows one way: model file -> weights on the GPU -> forward pass (kernels) -> the last
//! position's logits -> host-side sampler -> next token -> back into the forward pass.
//!
//! - [`gpu`]: adapter choice, device, buffers, pipelines (knows nothing of models)
//! - [`kernels`]: one Rust owner per WGSL shader
//! - [`model`]: config, weights (safetensors, GGUF), tokenizer, KV cache, forward pass
//! - [`sampling`]: host-side sampling
//! - [`generate`]: the autoregressive loop
//! - [`bench`]: throughput, ceilings and profiles
//! - [`conversation`]: chat turns rendered into prompts
//! - `server` (feature `server`): the OpenAI-compatible HTTP server

pub mod bench;
pub mod conversation;
pub mod error;
pub mod generate;
pub mod gpu;
pub mod kernels;
pub mod model;
pub mod sampling;
#[cfg(feature = "server")]
pub mod server;

pub use error::{Error, ErrorKind, Result};
