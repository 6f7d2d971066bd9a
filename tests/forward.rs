//! The whole forward pass on the GPU against a plain CPU reference, on tiny random Llama
//! models written as real Hugging Face folders: prefill logits and every decode step's
//! logits (which checks the KV cache), GQA and plain multi-head attention, tied and untied
//! output heads, Q/K/V biases, and dimensions that are multiples of no tile.

mod common;

use common::reference::{llama_forward, LlamaShape};
use common::tiny_model;
use rand::Rng;
use shaderlm::model::{LoadOptions, Model};
use std::sync::Arc;

/// Relative error allowed for logits (f32 GPU against the f64 reference).
const TOLERANCE: f64 = 1e-4;

fn check_model(
    name: &str,
    shape: LlamaShape,
    prompt_len: usize,
    decode_steps: usize,
    max_batch: Option<usize>,
) {
    let seed = common::seed();
    let mut rng = common::rng(seed);
    let weights = tiny_model::random_weights(&shape, &mut rng);
    let dir = tiny_model::temp_dir(name);
    tiny_model::write_folder(&dir, &shape, &weights);

    let total = prompt_len + decode_steps;
    let tokens: Vec<u32> = (0..total)
        .map(|_| rng.random_range(0..shape.vocab as u32))
        .collect();
    let expected = llama_forward(&shape, &weights, &tokens);

    let gpu = Arc::new(shaderlm::gpu::Gpu::new(&Default::default()).unwrap());
    let options = LoadOptions {
        ctx: Some(64),
        max_batch,
        ..Default::default()
    };
    let mut model = Model::load(gpu, &dir, &options).unwrap();
    let t = &mut model.transformer;

    let logits = t.forward(0, &tokens[..prompt_len], 0).unwrap();
    common::assert_close(
        &logits,
        &expected[prompt_len - 1],
        TOLERANCE,
        seed,
        &format!("{name}: prefill of {prompt_len}"),
    );
    for step in 0..decode_steps {
        let pos = prompt_len + step;
        let logits = t.forward(0, &tokens[pos..pos + 1], pos).unwrap();
        common::assert_close(
            &logits,
            &expected[pos],
            TOLERANCE,
            seed,
            &format!("{name}: decode at position {pos}"),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tiny_llama_gqa_tied_matches_reference() {
    // head_dim 10, 3 query heads per KV head, intermediate 86 (not a multiple of 4).
    let shape = LlamaShape {
        hidden: 60,
        intermediate: 86,
        layers: 3,
        heads: 6,
        kv_heads: 2,
        vocab: 103,
        theta: 10_000.0,
        eps: 1e-5,
        tied: true,
        qkv_bias: false,
    };
    check_model("gqa-tied", shape, 7, 5, None);
}

#[test]
fn tiny_qwen2_untied_with_biases_matches_reference() {
    // hidden 34 is not a multiple of 4: every matrix takes the scalar path.
    let shape = LlamaShape {
        hidden: 34,
        intermediate: 50,
        layers: 2,
        heads: 1,
        kv_heads: 1,
        vocab: 71,
        theta: 500_000.0,
        eps: 1e-6,
        tied: false,
        qkv_bias: true,
    };
    check_model("qwen2-untied", shape, 5, 4, None);
}

#[test]
fn prompt_longer_than_one_batch_is_prefilled_in_chunks() {
    let shape = LlamaShape {
        hidden: 48,
        intermediate: 64,
        layers: 2,
        heads: 4,
        kv_heads: 4,
        vocab: 50,
        theta: 10_000.0,
        eps: 1e-5,
        tied: true,
        qkv_bias: false,
    };
    // 19 prompt tokens in chunks of 8: 8 + 8 + 3.
    check_model("chunked", shape, 19, 3, Some(8));
}
