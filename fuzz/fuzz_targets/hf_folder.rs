//! The Hugging Face folder path: config.json and model.safetensors from the input (split at
//! the first 0xFF byte), a fixed valid tokenizer.json, then the whole open: config parsing,
//! safetensors header checks, dtype mapping and shape checks against the config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shaderlm::model::source::ModelSource;
use std::path::PathBuf;
use std::sync::OnceLock;

const TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
"normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
"model":{"type":"WordLevel","vocab":{"a":0,"b":1},"unk_token":"a"}}"#;

fn folder() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").exists() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("shaderlm-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tokenizer.json"), TOKENIZER).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0xFF).unwrap_or(data.len());
    let (config, weights) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let dir = folder();
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(dir.join("model.safetensors"), weights).unwrap();
    if let Ok(source) = ModelSource::open(dir) {
        for name in source.tensor_names().map(str::to_string).collect::<Vec<_>>() {
            let _ = source.f32(&name);
        }
    }
});
