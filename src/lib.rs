//! shaderlm: LLM inference with the whole forward pass as WGSL compute shaders through wgpu.
//!
//! Data flows one way: model file -> weights on the GPU -> forward pass (kernels) -> the last
//! position's logits -> host-side sampler -> next token -> back into the forward pass.

pub mod error;
pub mod gpu;
pub mod kernels;

pub use error::{Error, ErrorKind, Result};
