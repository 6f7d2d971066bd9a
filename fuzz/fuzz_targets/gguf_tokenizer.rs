//! GGUF tokenizer metadata to a tokenizer: arbitrary GGUF bytes are parsed, turned into a
//! tokenizer.json and loaded; if that works, encoding and decoding a few strings must not
//! panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shaderlm::model::gguf::GgufFile;
use shaderlm::model::tokenizer::Tokenizer;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(gguf) = GgufFile::parse(Path::new("fuzz.gguf"), data) else { return };
    let Ok(tokenizer) = Tokenizer::from_gguf(&gguf) else { return };
    for text in ["hello world", "12345 naïve", "<|im_start|>", ""] {
        if let Ok(ids) = tokenizer.encode(text) {
            let _ = tokenizer.decode(&ids, false);
        }
    }
});
