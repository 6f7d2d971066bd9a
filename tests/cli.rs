//! The command line on bad input: every case exits non-zero with the exit code of its kind
//! (2 usage, 3 model, 4 device, 5 generation), a one-line message naming the culprit, and
//! no panic. Also the clean stops: a full context, and Ctrl-C (exit 130).

mod common;

use common::reference::LlamaShape;
use common::tiny_model;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn shape() -> LlamaShape {
    LlamaShape {
        hidden: 32,
        intermediate: 64,
        layers: 2,
        heads: 2,
        kv_heads: 1,
        vocab: 50,
        theta: 10_000.0,
        eps: 1e-5,
        tied: true,
        qkv_bias: false,
    }
}

/// A tiny model folder that never produces EOS (so generation runs until stopped).
fn model(name: &str, poison: bool) -> PathBuf {
    let shape = shape();
    let mut weights = tiny_model::random_weights(&shape, &mut common::rng(5));
    if poison {
        weights.get_mut("model.norm.weight").unwrap()[3] = f32::NAN;
    }
    let dir = tiny_model::temp_dir(name);
    tiny_model::write_folder(&dir, &shape, &weights);
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        config.replace(",\"eos_token_id\":0", ""),
    )
    .unwrap();
    dir
}

/// The shaderlm binary, with XDG_RUNTIME_DIR set where the environment lacks it: Mesa
/// prints "error: XDG_RUNTIME_DIR is invalid..." otherwise, which the tests below would take
/// for shaderlm's own.
fn shaderlm_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shaderlm"));
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        command.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    command
}

fn shaderlm(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = shaderlm_command();
    command.args(args).stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("running shaderlm")
}

/// Checks the exit code, that stderr names every word, and that nothing panicked.
fn expect(output: &Output, code: i32, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "panicked:\n{stderr}");
    for word in words {
        assert!(
            stderr.contains(word),
            "stderr does not mention {word:?}:\n{stderr}"
        );
    }
    stderr
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn sampling_flags_out_of_range_name_the_flag() {
    for (flag, value) in [
        ("--temp", "-1"),
        ("--top-p", "0"),
        ("--top-p", "1.5"),
        ("--min-p", "2"),
        ("--repeat-penalty", "0"),
    ] {
        let out = shaderlm(&["generate", flag, value, "hello"], &[]);
        expect(&out, 2, &[flag]);
    }
    expect(
        &shaderlm(&["generate", "--dtype", "q9", "hello"], &[]),
        2,
        &["--dtype q9"],
    );
}

#[test]
fn contradictory_flags_are_usage_errors() {
    expect(
        &shaderlm(&["generate", "-p", "one", "two"], &[]),
        2,
        &["cannot be used with"],
    );
    expect(
        &shaderlm(&["generate", "--system", "be brief", "hello"], &[]),
        2,
        &["--chat"],
    );
    expect(
        &shaderlm(&["generate", "--backend", "cuda", "hello"], &[]),
        2,
        &["--backend cuda"],
    );
}

#[test]
fn missing_models_are_named() {
    expect(
        &shaderlm(&["generate", "-m", "/no/such/model.gguf", "hi"], &[]),
        3,
        &["/no/such/model.gguf"],
    );
    expect(
        &shaderlm(&["generate", "-m", "someone/some-model", "hi"], &[]),
        2,
        &["someone/some-model", "hf-hub"],
    );
    let dir = tiny_model::temp_dir("bad-gguf");
    let file = dir.join("broken.gguf");
    std::fs::write(&file, b"GGUF\x03\x00\x00\x00").unwrap();
    expect(
        &shaderlm(&["generate", "-m", path(&file), "hi"], &[]),
        3,
        &["broken.gguf", "truncated"],
    );
}

#[test]
fn no_adapter_says_what_was_tried_and_how_to_get_one() {
    let dir = model("no-adapter", false);
    let out = shaderlm(
        &["generate", "-m", path(&dir), "--backend", "metal", "w1 w2"],
        &[],
    );
    expect(
        &out,
        4,
        &[
            "no GPU adapter found",
            "--backend metal",
            "mesa-vulkan-drivers",
        ],
    );
    let out = shaderlm(
        &["generate", "-m", path(&dir), "--adapter", "9", "w1 w2"],
        &[],
    );
    expect(&out, 2, &["--adapter 9"]);
}

#[test]
fn prompts_that_cannot_run() {
    let dir = model("prompts", false);
    expect(
        &shaderlm(&["generate", "-m", path(&dir), "   "], &[]),
        2,
        &["zero tokens"],
    );
    // Checked before any GPU work: with no adapter at all the prompt is still what fails.
    let long = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10";
    let out = shaderlm(
        &[
            "generate",
            "-m",
            path(&dir),
            "-c",
            "4",
            "--backend",
            "metal",
            long,
        ],
        &[],
    );
    expect(&out, 2, &["10 tokens", "holds 4"]);
    expect(
        &shaderlm(&["generate", "-m", path(&dir), "--ubatch", "0", "hi"], &[]),
        2,
        &["--ubatch", "zero"],
    );
}

#[test]
fn generation_reaching_the_context_stops_cleanly() {
    let dir = model("ctx-full", false);
    let out = shaderlm(
        &[
            "generate",
            "-m",
            path(&dir),
            "-c",
            "8",
            "--ubatch",
            "2",
            "-n",
            "100",
            "--temp",
            "0",
            "w1 w2 w3",
        ],
        &[],
    );
    // The step size taken is printed (a 3-token prompt in steps of 2).
    let stderr = expect(
        &out,
        0,
        &["stop: context full", "prefill steps of up to 2 tokens"],
    );
    assert!(stderr.contains("generated 6 tokens"), "{stderr}");
}

#[test]
fn models_too_large_for_the_adapter_are_refused_before_allocating() {
    let dir = model("too-large", false);
    let out = shaderlm(
        &["generate", "-m", path(&dir), "w1"],
        &[("SHADERLM_GPU_MEMORY", "256K")],
    );
    expect(&out, 4, &["needs", "weights", "KV cache", "has 0.3 MB"]);
    let out = shaderlm(
        &["generate", "-m", path(&dir), "-c", "500000000", "w1"],
        &[],
    );
    expect(&out, 2, &["--ctx 500000000", "texels", "or less"]);
    let out = shaderlm(
        &["generate", "-m", path(&dir), "w1"],
        &[("SHADERLM_GPU_MEMORY", "lots")],
    );
    expect(&out, 2, &["SHADERLM_GPU_MEMORY=lots"]);
}

#[test]
fn non_finite_logits_are_reported_not_sampled() {
    let dir = model("nan", true);
    let out = shaderlm(&["generate", "-m", path(&dir), "--temp", "0", "w1 w2"], &[]);
    expect(&out, 5, &["NaN", "non-finite"]);
}

#[test]
fn ctrl_c_stops_after_the_current_token() {
    let dir = model("ctrl-c", false);
    let mut child = shaderlm_command()
        .args([
            "generate",
            "-m",
            path(&dir),
            "-c",
            "4096",
            "-n",
            "4000",
            "--temp",
            "0",
            "w1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first generated text, then interrupt.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = expect(&out, 130, &["stop: interrupted", "generated"]);
    assert!(!stderr.contains("generated 4000 tokens"), "{stderr}");
}

/// `shaderlm chat` (greedy, plus `args`) on a tiny model with a simple chat template, fed
/// `input` on stdin.
fn chat(name: &str, args: &[&str], input: &[u8]) -> Output {
    let dir = model(name, false);
    let template = "{% for m in messages %}w1 {{ m.content }} w2 {% endfor %}{% if add_generation_prompt %}w3{% endif %}";
    std::fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::json!({ "chat_template": template }).to_string(),
    )
    .unwrap();
    let mut child = shaderlm_command()
        .args(["chat", "-m", path(&dir), "--temp", "0"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn chat_keeps_the_cache_between_turns_and_resets() {
    let out = chat("chat", &["-n", "5"], b"w5 w6\nw7\n/reset\nw8\n/exit\n");
    let stderr = expect(&out, 0, &["(conversation reset)"]);
    // "[prefill N new of M prompt tokens, ..."
    let turns: Vec<(usize, usize)> = stderr
        .lines()
        .filter_map(|l| l.split_once("[prefill ").map(|(_, rest)| rest))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[0].parse().unwrap(), words[3].parse().unwrap())
        })
        .collect();
    assert_eq!(turns.len(), 3, "{stderr}");
    assert_eq!(turns[0].0, turns[0].1, "the first turn prefills everything");
    assert!(
        turns[1].0 < turns[1].1,
        "the second turn reuses the cache: {turns:?}"
    );
    assert_eq!(
        turns[2].0, turns[2].1,
        "after /reset everything is new again"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        3,
        "three answers"
    );
}

/// When the conversation outgrows the context, the oldest turns are left out and the rest
/// prefilled again; the chat goes on.
#[test]
fn chat_drops_the_oldest_turns_when_the_context_fills() {
    let out = chat(
        "chat-full",
        &["-c", "32", "-n", "3"],
        b"w5 w6 w7\nw8 w9 w5\nw6 w7 w8\nw9 w5 w6\nw7 w8 w9\nw5 w6 w7\n/exit\n",
    );
    let stderr = expect(
        &out,
        0,
        &["(context full: the ", "oldest message(s) are left out"],
    );
    assert!(!stderr.contains("error"), "{stderr}");
    let prefills = stderr.matches("[prefill ").count();
    assert_eq!(prefills, 6, "every turn answered:\n{stderr}");
}

#[test]
fn bench_reports_sane_figures() {
    let dir = model("bench", false);
    let out = shaderlm(
        &[
            "bench",
            "-m",
            path(&dir),
            "-p",
            "8,16",
            "-n",
            "4",
            "-r",
            "2",
            "--json",
        ],
        &[],
    );
    expect(&out, 0, &["ceilings"]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tests: Vec<&str> = rows.iter().map(|r| r["test"].as_str().unwrap()).collect();
    assert_eq!(tests, ["pp8", "pp16", "tg4"]);
    for row in &rows {
        for key in ["avg_ts", "roofline_ts", "roofline_pct"] {
            let v = row[key].as_f64().unwrap();
            assert!(v.is_finite() && v > 0.0, "{key} = {v} in {row}");
        }
        assert_eq!(row["samples_ts"].as_array().unwrap().len(), 2);
        assert!(row["adapter"].as_str().is_some_and(|a| !a.is_empty()));
    }
}
