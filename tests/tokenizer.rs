//! Streaming detokenization: a character split across byte-level tokens prints whole, once.

mod common;

use common::reference::LlamaShape;
use shaderlm::model::source::ModelSource;
use shaderlm::model::tokenizer::TextStream;

#[test]
fn a_character_split_across_tokens_prints_whole() {
    let shape = LlamaShape {
        hidden: 8,
        intermediate: 16,
        layers: 1,
        heads: 2,
        kv_heads: 1,
        vocab: 260,
        theta: 10_000.0,
        eps: 1e-5,
        tied: true,
        qkv_bias: false,
    };
    let weights = common::tiny_model::random_weights(&shape, &mut common::rng(1));
    let dir = common::tiny_model::temp_dir("utf8");
    let path = dir.join("bytes.gguf");
    std::fs::write(&path, common::tiny_gguf::tiny_gguf(&shape, &weights)).unwrap();
    let tokenizer = ModelSource::open(&path).unwrap().tokenizer;

    // With no merges every byte is a token: the emoji is four, the accented letter two.
    let ids = tokenizer.encode("ok 🙂 é!").unwrap();
    assert_eq!(ids.len(), "ok 🙂 é!".len());
    let mut stream = TextStream::new();
    let mut pieces = Vec::new();
    for &id in &ids {
        pieces.push(stream.push(&tokenizer, id).unwrap());
    }
    let printed: String = pieces.iter().flatten().cloned().collect();
    assert_eq!(printed, "ok 🙂 é!");
    // Nothing is printed until a character is complete.
    let emoji_start = "ok ".len();
    assert_eq!(pieces[emoji_start..emoji_start + 3], [None, None, None]);
    assert_eq!(pieces[emoji_start + 3].as_deref(), Some("🙂"));
    assert!(pieces.iter().flatten().all(|p| !p.contains('\u{FFFD}')));

    // A character cut off at the end is flushed as what the bytes decode to.
    let mut stream = TextStream::new();
    for &id in &ids[..emoji_start + 2] {
        stream.push(&tokenizer, id).unwrap();
    }
    // "ok " went out whole; the two bytes of the emoji are all that is left.
    assert_eq!(
        stream.finish(&tokenizer).unwrap().as_deref(),
        Some("\u{FFFD}")
    );
}
