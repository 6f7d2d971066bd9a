//! The GGUF header reader on arbitrary bytes: an error or a parsed header, never a panic,
//! a hang or an allocation the input does not pay for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shaderlm::model::config::ModelConfig;
use shaderlm::model::gguf::GgufFile;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(gguf) = GgufFile::parse(Path::new("fuzz.gguf"), data) {
        let _ = ModelConfig::from_gguf(&gguf);
    }
});
