//! `shaderlm serve`: an OpenAI-compatible HTTP server (axum) on the same engine.
//!
//! Requests are checked and tokenized on arrival (a bad one gets an OpenAI-shaped 400 at
//! once), then queue for the one GPU in arrival order: a single worker thread owns the
//! model and serves them one by one, keeping the KV cache of the last conversation so a
//! request that starts the same way (the next chat turn, a shared system prompt) prefills
//! only what is new. Streaming answers are server-sent events in OpenAI's chunk format,
//! ending with `data: [DONE]`; a client that goes away stops its generation.

use crate::error::{Error, Result};
use crate::generate::{generate, GenerateOptions, Session, StopReason};
use crate::model::chat::{ChatTemplate, Message};
use crate::model::tokenizer::Tokenizer;
use crate::model::Model;
use crate::sampling::{Sampler, SamplingParams};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// What the worker sends back while it serves a request.
enum Progress {
    Text(String),
    Done {
        stop: StopReason,
        prompt_tokens: usize,
        completion_tokens: usize,
    },
    Failed(String),
}

/// One request, checked and tokenized, waiting for the GPU.
struct Job {
    prompt: Vec<u32>,
    sampling: SamplingParams,
    max_tokens: usize,
    stop: Vec<String>,
    events: UnboundedSender<Progress>,
}

struct AppState {
    model_id: String,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    ctx: usize,
    jobs: mpsc::Sender<Job>,
    next_id: AtomicU64,
}

/// An OpenAI-shaped error response.
struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

impl ApiError {
    fn bad_request(
        message: impl Into<String>,
        param: Option<&'static str>,
        code: Option<&'static str>,
    ) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code,
        }
    }

    fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// A string or a list of strings (OpenAI's `stop` and `prompt`).
#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Message content: a string, or a list of parts of which the text ones count.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Deserialize)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    content: Content,
}

/// Fields both endpoints share.
#[derive(Deserialize)]
struct Common {
    model: Option<String>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<u64>,
    stop: Option<OneOrMany>,
    #[serde(default)]
    stream: bool,
    n: Option<u64>,
}

#[derive(Deserialize)]
struct ChatRequest {
    messages: Vec<ChatMessage>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct CompletionRequest {
    prompt: OneOrMany,
    #[serde(flatten)]
    common: Common,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens | StopReason::ContextFull => "length",
        _ => "stop",
    }
}

impl AppState {
    /// Checks the shared fields; returns the sampling parameters, token limit and stops.
    fn check(
        &self,
        c: &Common,
        prompt_tokens: usize,
        prompt_field: &'static str,
        default_max: Option<usize>,
    ) -> std::result::Result<(SamplingParams, usize, Vec<String>), ApiError> {
        if let Some(model) = &c.model {
            if model != &self.model_id {
                return Err(ApiError::bad_request(
                    format!(
                        "the model `{model}` does not exist; this server serves `{}`",
                        self.model_id
                    ),
                    Some("model"),
                    Some("model_not_found"),
                ));
            }
        }
        if c.n.is_some_and(|n| n != 1) {
            return Err(ApiError::bad_request(
                "only n = 1 is supported",
                Some("n"),
                None,
            ));
        }
        let temperature = c.temperature.unwrap_or(1.0);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::bad_request(
                format!("temperature {temperature} is outside [0, 2]"),
                Some("temperature"),
                None,
            ));
        }
        let top_p = c.top_p.unwrap_or(1.0);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(ApiError::bad_request(
                format!("top_p {top_p} is outside (0, 1]"),
                Some("top_p"),
                None,
            ));
        }
        if prompt_tokens >= self.ctx {
            return Err(ApiError::bad_request(
                format!(
                    "the prompt has {prompt_tokens} tokens but the context holds {}",
                    self.ctx
                ),
                Some(prompt_field),
                Some("context_length_exceeded"),
            ));
        }
        let room = self.ctx - prompt_tokens;
        let max_tokens = match c.max_completion_tokens.or(c.max_tokens) {
            Some(0) => {
                return Err(ApiError::bad_request(
                    "max_tokens must be at least 1",
                    Some("max_tokens"),
                    None,
                ))
            }
            Some(n) => (n.min(usize::MAX as u64) as usize).min(room),
            None => default_max.unwrap_or(room).min(room),
        };
        let stop = c.stop.clone().map(OneOrMany::into_vec).unwrap_or_default();
        if stop.len() > 4 {
            return Err(ApiError::bad_request(
                "at most 4 stop sequences",
                Some("stop"),
                None,
            ));
        }
        let sampling = SamplingParams {
            temperature,
            top_k: 0,
            top_p,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 0,
            seed: c.seed,
        };
        Ok((sampling, max_tokens, stop))
    }

    fn queue(
        &self,
        prompt: Vec<u32>,
        sampling: SamplingParams,
        max_tokens: usize,
        stop: Vec<String>,
    ) -> std::result::Result<UnboundedReceiver<Progress>, ApiError> {
        let (events, receiver) = unbounded_channel();
        let job = Job {
            prompt,
            sampling,
            max_tokens,
            stop,
            events,
        };
        if self.jobs.send(job).is_err() {
            return Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "the model worker has stopped".into(),
                kind: "server_error",
                param: None,
                code: None,
            });
        }
        Ok(receiver)
    }

    fn id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

/// The body of a request, or the OpenAI-shaped 400 for JSON that does not parse.
fn body<T>(
    payload: std::result::Result<Json<T>, JsonRejection>,
) -> std::result::Result<T, ApiError> {
    payload.map(|Json(t)| t).map_err(|e| {
        ApiError::bad_request(
            format!("invalid request body: {}", e.body_text()),
            None,
            None,
        )
    })
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    payload: std::result::Result<Json<ChatRequest>, JsonRejection>,
) -> Response {
    match chat_inner(state, payload).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn chat_inner(
    state: Arc<AppState>,
    payload: std::result::Result<Json<ChatRequest>, JsonRejection>,
) -> std::result::Result<Response, ApiError> {
    let request = body(payload)?;
    let template = state.template.as_ref().ok_or_else(|| {
        ApiError::bad_request(
            "the model has no chat template; use /v1/completions",
            None,
            None,
        )
    })?;
    if request.messages.is_empty() {
        return Err(ApiError::bad_request(
            "messages must not be empty",
            Some("messages"),
            None,
        ));
    }
    let mut messages = Vec::with_capacity(request.messages.len());
    for m in &request.messages {
        if !matches!(
            m.role.as_str(),
            "system" | "user" | "assistant" | "developer"
        ) {
            return Err(ApiError::bad_request(
                format!("unknown role `{}`", m.role),
                Some("messages"),
                None,
            ));
        }
        let text = match &m.content {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .map(|p| p.text.as_str())
                .collect(),
        };
        let role = if m.role == "developer" {
            "system"
        } else {
            m.role.as_str()
        };
        messages.push(Message::new(role, &text));
    }
    let text = template
        .render(&messages, true)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some("messages"), None))?;
    let prompt = state
        .tokenizer
        .encode(&text)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some("messages"), None))?;
    let (sampling, max_tokens, stop) =
        state.check(&request.common, prompt.len(), "messages", None)?;
    let events = state.queue(prompt, sampling, max_tokens, stop)?;
    let id = state.id("chatcmpl");
    let model = state.model_id.clone();
    if request.common.stream {
        let first = json!({"id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
        let chunk = move |progress: Progress| -> Value {
            match progress {
                Progress::Text(text) => {
                    json!({"id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
                    "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
                }
                Progress::Done { stop, .. } => {
                    json!({"id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason(stop)}]})
                }
                Progress::Failed(message) => {
                    json!({"error": {"message": message, "type": "server_error"}})
                }
            }
        };
        return Ok(stream(Some(first), events, chunk));
    }
    let (text, stop, prompt_tokens, completion_tokens) = collect(events).await?;
    Ok(Json(json!({
        "id": id, "object": "chat.completion", "created": now(), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason(stop)}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }))
    .into_response())
}

async fn completions(
    State(state): State<Arc<AppState>>,
    payload: std::result::Result<Json<CompletionRequest>, JsonRejection>,
) -> Response {
    match completions_inner(state, payload).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn completions_inner(
    state: Arc<AppState>,
    payload: std::result::Result<Json<CompletionRequest>, JsonRejection>,
) -> std::result::Result<Response, ApiError> {
    let request = body(payload)?;
    let prompts = request.prompt.into_vec();
    let [text] = prompts.as_slice() else {
        return Err(ApiError::bad_request(
            "exactly one prompt is supported",
            Some("prompt"),
            None,
        ));
    };
    let prompt = state
        .tokenizer
        .encode(text)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some("prompt"), None))?;
    if prompt.is_empty() {
        return Err(ApiError::bad_request(
            "the prompt tokenizes to zero tokens",
            Some("prompt"),
            None,
        ));
    }
    // OpenAI's legacy completions default to 16 tokens.
    let (sampling, max_tokens, stop) =
        state.check(&request.common, prompt.len(), "prompt", Some(16))?;
    let events = state.queue(prompt, sampling, max_tokens, stop)?;
    let id = state.id("cmpl");
    let model = state.model_id.clone();
    if request.common.stream {
        let chunk = move |progress: Progress| -> Value {
            match progress {
                Progress::Text(text) => {
                    json!({"id": id, "object": "text_completion", "created": now(), "model": model,
                    "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": null}]})
                }
                Progress::Done { stop, .. } => {
                    json!({"id": id, "object": "text_completion", "created": now(), "model": model,
                    "choices": [{"index": 0, "text": "", "logprobs": null, "finish_reason": finish_reason(stop)}]})
                }
                Progress::Failed(message) => {
                    json!({"error": {"message": message, "type": "server_error"}})
                }
            }
        };
        return Ok(stream(None, events, chunk));
    }
    let (text, stop, prompt_tokens, completion_tokens) = collect(events).await?;
    Ok(Json(json!({
        "id": id, "object": "text_completion", "created": now(), "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish_reason(stop)}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }))
    .into_response())
}

/// Waits for the whole answer.
async fn collect(
    mut events: UnboundedReceiver<Progress>,
) -> std::result::Result<(String, StopReason, usize, usize), ApiError> {
    let mut text = String::new();
    while let Some(progress) = events.recv().await {
        match progress {
            Progress::Text(piece) => text.push_str(&piece),
            Progress::Done {
                stop,
                prompt_tokens,
                completion_tokens,
            } => return Ok((text, stop, prompt_tokens, completion_tokens)),
            Progress::Failed(message) => {
                return Err(ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message,
                    kind: "server_error",
                    param: None,
                    code: None,
                })
            }
        }
    }
    Err(ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: "the generation ended early".into(),
        kind: "server_error",
        param: None,
        code: None,
    })
}

/// Where a streamed answer stands.
enum Phase {
    Streaming,
    SendDone,
    Finished,
}

/// Server-sent events: an optional first chunk, one chunk per piece and a closing chunk,
/// then `data: [DONE]`. The stream ends early, dropping `events`, when the client leaves.
fn stream(
    first: Option<Value>,
    events: UnboundedReceiver<Progress>,
    chunk: impl Fn(Progress) -> Value + Send + 'static,
) -> Response {
    use futures_util::StreamExt;
    type Item = std::result::Result<Event, std::convert::Infallible>;
    let opening = futures_util::stream::iter(
        first.map(|v| -> Item { Ok(Event::default().data(v.to_string())) }),
    );
    let body = futures_util::stream::unfold(
        (events, chunk, Phase::Streaming),
        |(mut events, chunk, phase)| async move {
            match phase {
                Phase::Finished => None,
                Phase::SendDone => Some((
                    Ok(Event::default().data("[DONE]")),
                    (events, chunk, Phase::Finished),
                )),
                Phase::Streaming => {
                    let progress = events.recv().await?;
                    let next = if matches!(progress, Progress::Text(_)) {
                        Phase::Streaming
                    } else {
                        Phase::SendDone
                    };
                    let item: Item = Ok(Event::default().data(chunk(progress).to_string()));
                    Some((item, (events, chunk, next)))
                }
            }
        },
    );
    Sse::new(opening.chain(body)).into_response()
}

async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": state.model_id, "object": "model", "created": 0, "owned_by": "shaderlm"}]}),
    )
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Serves jobs one at a time, in arrival order, keeping the KV cache between them. Once
/// `shutdown` is set, the job in progress stops after its current token and queued ones
/// are dropped.
fn worker(mut model: Model, jobs: mpsc::Receiver<Job>, shutdown: Arc<AtomicBool>) {
    let mut session = Session::new(0);
    for job in jobs {
        let events = job.events;
        // A client that left while queued costs nothing.
        if events.is_closed() || shutdown.load(Ordering::Relaxed) {
            continue;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let options = GenerateOptions {
            max_tokens: job.max_tokens,
            stop: job.stop,
            extra_stop_ids: Vec::new(),
            cancel: Some(cancel.clone()),
        };
        let result = Sampler::new(job.sampling).and_then(|mut sampler| {
            generate(
                &mut model,
                &mut session,
                &job.prompt,
                &options,
                &mut sampler,
                |piece| {
                    // A closed channel means the client went away: stop after this token.
                    if events.send(Progress::Text(piece.to_string())).is_err()
                        || shutdown.load(Ordering::Relaxed)
                    {
                        cancel.store(true, Ordering::Relaxed);
                    }
                },
            )
        });
        // One line per request on stderr, so an operator sees what the GPU did.
        match &result {
            Ok(g) if g.stop == StopReason::Cancelled => eprintln!(
                "request: {} prompt tokens, {} generated, stopped: {}",
                g.prompt_tokens,
                g.tokens.len(),
                if shutdown.load(Ordering::Relaxed) {
                    "server shutting down"
                } else {
                    "client disconnected"
                }
            ),
            Ok(g) => eprintln!(
                "request: {} prompt tokens, {} generated, stopped: {}",
                g.prompt_tokens,
                g.tokens.len(),
                g.stop.describe()
            ),
            Err(e) => eprintln!("request failed: {e}"),
        }
        let _ = events.send(match result {
            Ok(g) => Progress::Done {
                stop: g.stop,
                prompt_tokens: g.prompt_tokens,
                completion_tokens: g.tokens.len(),
            },
            Err(e) => {
                // The cache may no longer match what the session believes it holds.
                session = Session::new(0);
                Progress::Failed(e.to_string())
            }
        });
    }
}

/// Runs the server until Ctrl-C. `model_id` is the name clients use.
pub fn serve(model: Model, model_id: String, host: &str, port: u16) -> Result<()> {
    let (jobs, queue) = mpsc::channel();
    let shutdown = Arc::new(AtomicBool::new(false));
    let state = Arc::new(AppState {
        model_id,
        tokenizer: model.source.tokenizer.clone(),
        template: model.chat_template.clone(),
        ctx: model.transformer.options.ctx,
        jobs,
        next_id: AtomicU64::new(1),
    });
    std::thread::Builder::new()
        .name("shaderlm-worker".into())
        .spawn({
            let shutdown = shutdown.clone();
            move || worker(model, queue, shutdown)
        })
        .map_err(|e| Error::device(format!("starting the model worker: {e}")))?;

    let app = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .with_state(state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::device(format!("starting the HTTP runtime: {e}")))?;
    runtime.block_on(async move {
        let address = format!("{host}:{port}");
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|e| Error::usage(format!("--host {host} --port {port}: cannot listen: {e}")))?;
        let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or(address);
        eprintln!("listening on http://{bound} (OpenAI-compatible: /v1/chat/completions, /v1/completions, /v1/models)");
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = tokio::signal::ctrl_c().await;
                eprintln!("shutting down: stopping the generation in progress");
                shutdown.store(true, Ordering::Relaxed);
            })
            .await
            .map_err(|e| Error::device(format!("the HTTP server stopped: {e}")))
    })
}
