//! `shaderlm serve` driven over HTTP on 127.0.0.1 by the real `openai` Python client
//! (tests/server_client.py): chat and completions, streaming and not, greedy answers equal
//! to `shaderlm generate --chat`, eight concurrent clients, and malformed requests answered
//! with OpenAI-shaped 400s while the server keeps serving.
//!
//! Needs the default model and Python's `openai` package: outside CI the test skips with a
//! printed reason when either is missing; with CI=true it fails instead.
#![cfg(feature = "server")]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip(reason: &str) {
    if in_ci() {
        panic!("CI=true and {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn model() -> Option<PathBuf> {
    match shaderlm::model::fetch::ensure_default_model() {
        Ok(path) => Some(path),
        Err(e) => {
            skip(&format!("the default model is unavailable ({e})"));
            None
        }
    }
}

#[test]
fn openai_client_against_the_server() {
    let Some(model) = model() else { return };
    let python = Command::new("python3")
        .args(["-c", "import openai"])
        .output();
    if !python.is_ok_and(|o| o.status.success()) {
        return skip("Python's openai package is not installed (python3 -m pip install openai)");
    }
    let model_path = model.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shaderlm"))
        .args([
            "serve",
            "-m",
            model_path,
            "--port",
            "0",
            "--model-id",
            "smollm2",
            "-c",
            "2048",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    // Every stderr line the server prints, read on a thread so the pipe never fills.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            eprintln!("server: {line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let address = lines
        .iter()
        .find_map(|line| {
            line.strip_prefix("listening on ")
                .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
        })
        .expect("the server printed its address");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server_client.py");
    let output = Command::new("python3")
        .args([script, &address, "smollm2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    drop(server);
    let log: Vec<String> = lines.iter().collect();

    // A client that hangs up mid-stream stops its generation long before max_tokens: the
    // worker logs the request as cancelled after a handful of tokens.
    assert_eq!(seen["disconnect"]["status"], 200);
    assert_eq!(seen["disconnect"]["events_read"], 3);
    let cancelled: Vec<&String> = log
        .iter()
        .filter(|l| l.ends_with("stopped: client disconnected"))
        .collect();
    assert_eq!(cancelled.len(), 1, "one cancelled request in {log:#?}");
    let generated: usize = cancelled[0]
        .split(", ")
        .find_map(|part| part.strip_suffix(" generated"))
        .and_then(|n| n.parse().ok())
        .expect("the log line gives the tokens generated");
    assert!(
        generated < 100,
        "generation went on for {generated} tokens after the client left"
    );

    // The same greedy answer as the command line gives.
    let question = "What is the capital of France?";
    let cli = Command::new(env!("CARGO_BIN_EXE_shaderlm"))
        .args([
            "generate", "-m", model_path, "--chat", "--temp", "0", "-n", "40", question,
        ])
        .output()
        .unwrap();
    assert!(cli.status.success());
    let expected = String::from_utf8_lossy(&cli.stdout).trim_end().to_string();
    eprintln!("generate --chat: {expected:?}");
    assert_eq!(
        seen["chat"]["text"].as_str().unwrap(),
        expected,
        "chat completion"
    );
    assert_eq!(
        seen["chat_stream"]["text"].as_str().unwrap(),
        expected,
        "streamed chat completion"
    );
    assert!(
        seen["chat_stream"]["chunks"].as_u64().unwrap() > 2,
        "streamed in pieces"
    );
    assert_eq!(seen["chat"]["finish_reason"], "stop");
    let usage = &seen["chat"]["usage"];
    assert_eq!(
        usage["total_tokens"],
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );

    let completion = seen["completion"]["text"].as_str().unwrap();
    assert_eq!(
        seen["completion_stream"]["text"].as_str().unwrap(),
        completion
    );
    assert_eq!(seen["completion"]["finish_reason"], "length");
    assert_eq!(seen["completion"]["usage"]["completion_tokens"], 20);
    let cli = Command::new(env!("CARGO_BIN_EXE_shaderlm"))
        .args([
            "generate",
            "-m",
            model_path,
            "--temp",
            "0",
            "-n",
            "20",
            "Once upon a time",
        ])
        .output()
        .unwrap();
    assert_eq!(
        completion,
        String::from_utf8_lossy(&cli.stdout).trim_end_matches('\n'),
        "completion"
    );

    assert_eq!(seen["models"], serde_json::json!(["smollm2"]));
    assert_eq!(seen["health"]["status"], 200);
    assert_eq!(
        seen["concurrent_match"], true,
        "concurrent answers: {}",
        seen["concurrent"]
    );
    for (case, response) in seen["bad"].as_object().unwrap() {
        assert_eq!(response["status"], 400, "{case}: {response}");
        let error = &response["body"]["error"];
        assert_eq!(error["type"], "invalid_request_error", "{case}: {response}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}: {response}"
        );
    }
    assert_eq!(
        seen["bad"]["unknown_model"]["body"]["error"]["code"],
        "model_not_found"
    );
    assert_eq!(
        seen["bad"]["too_long"]["body"]["error"]["code"],
        "context_length_exceeded"
    );
    assert!(
        !seen["after"]["text"].as_str().unwrap().is_empty(),
        "still serving"
    );
}
