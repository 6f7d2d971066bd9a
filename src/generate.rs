//! The autoregressive loop: prefill the prompt, then one token per step, each conditioned on
//! everything before it, until EOS, a stop text, the token limit or a full context.

use crate::error::{Error, Result};
use crate::model::forward::StepTiming;
use crate::model::tokenizer::TextStream;
use crate::model::Model;
use crate::sampling::Sampler;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-sequence (or end-of-turn) token.
    Eos,
    MaxTokens,
    /// The KV cache has no room for another position.
    ContextFull,
    StopText,
    /// The caller asked to stop (Ctrl-C, a closed connection).
    Cancelled,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Eos => "EOS",
            StopReason::MaxTokens => "max tokens",
            StopReason::ContextFull => "context full",
            StopReason::StopText => "stop text",
            StopReason::Cancelled => "interrupted",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    /// Texts that end generation; they are not part of the output.
    pub stop: Vec<String>,
    /// Token ids that end generation besides the model's own EOS ids.
    pub extra_stop_ids: Vec<u32>,
    /// Set from elsewhere (a signal handler) to stop after the current token.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Which tokens one KV-cache sequence slot holds, so a later prompt that starts the same way
/// (the next chat turn, a repeated system prompt) only prefills what is new.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub sequence: usize,
    pub cached: Vec<u32>,
}

impl Session {
    pub fn new(sequence: usize) -> Session {
        Session {
            sequence,
            cached: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<u32>,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    /// Prompt tokens found already in the KV cache and not prefilled again.
    pub reused_tokens: usize,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    /// Where the time of the prefill went, and of the last decode step.
    pub prefill_timing: StepTiming,
    pub decode_timing: Option<StepTiming>,
    /// Host time spent sampling, over all tokens.
    pub sampling_seconds: f64,
}

impl Generation {
    pub fn prefill_tokens_per_second(&self) -> f64 {
        let processed = (self.prompt_tokens - self.reused_tokens) as f64;
        if self.prefill_seconds > 0.0 {
            processed / self.prefill_seconds
        } else {
            0.0
        }
    }

    /// Decode steps (every generated token after the first) per second.
    pub fn decode_tokens_per_second(&self) -> f64 {
        let steps = self.tokens.len().saturating_sub(1) as f64;
        if self.decode_seconds > 0.0 {
            steps / self.decode_seconds
        } else {
            0.0
        }
    }
}

/// Holds back generated text that might be the start of a stop text.
struct StopFilter {
    stops: Vec<String>,
    text: String,
    emitted: usize,
}

impl StopFilter {
    /// Adds `piece`; returns (text now safe to emit, whether a stop text was found).
    fn push(&mut self, piece: &str) -> (String, bool) {
        // A stop text not found before must end in the new piece: search only the tail that
        // could hold it, so each token costs the same however long the answer grows.
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let mut start = self.text.len().saturating_sub(longest.saturating_sub(1));
        self.text.push_str(piece);
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let tail = &self.text[start..];
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| tail.find(s.as_str()).map(|i| start + i))
            .min()
        {
            self.text.truncate(at);
            let out = self.text.get(self.emitted..).unwrap_or("").to_string();
            self.emitted = self.text.len();
            return (out, true);
        }
        // Keep back the longest tail that is a prefix of some stop text.
        let mut safe = self.text.len();
        for stop in &self.stops {
            for len in (1..stop.len().min(self.text.len() + 1)).rev() {
                if stop.is_char_boundary(len) && self.text.ends_with(&stop[..len]) {
                    safe = safe.min(self.text.len() - len);
                    break;
                }
            }
        }
        let safe = safe.max(self.emitted);
        let out = self.text[self.emitted..safe].to_string();
        self.emitted = safe;
        (out, false)
    }

    fn flush(&mut self) -> String {
        let out = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        out
    }
}

/// Generates a continuation of `prompt` in `session`'s sequence slot, calling `on_text` with
/// each printable piece as soon as it is known.
pub fn generate(
    model: &mut Model,
    session: &mut Session,
    prompt: &[u32],
    options: &GenerateOptions,
    sampler: &mut Sampler,
    mut on_text: impl FnMut(&str),
) -> Result<Generation> {
    let ctx = model.transformer.options.ctx;
    if prompt.is_empty() {
        return Err(Error::usage(
            "the prompt is empty: it tokenizes to zero tokens",
        ));
    }
    if prompt.len() > ctx {
        return Err(Error::usage(format!(
            "the prompt has {} tokens but the context holds {ctx} (--ctx)",
            prompt.len()
        )));
    }
    let mut stop_ids = model.source.eos_token_ids.clone();
    stop_ids.extend(&options.extra_stop_ids);

    // Reuse the cached prefix; the last prompt token always runs again for its logits.
    let common = session
        .cached
        .iter()
        .zip(prompt)
        .take_while(|(a, b)| a == b)
        .count();
    let reused = common.min(prompt.len() - 1);
    let prefill_start = Instant::now();
    let mut logits = model
        .transformer
        .forward(session.sequence, &prompt[reused..], reused)?;
    session.cached = prompt.to_vec();
    let prefill_seconds = prefill_start.elapsed().as_secs_f64();
    let prefill_timing = model.transformer.last_timing.clone();
    let mut decode_timing = None;
    let mut sampling_seconds = 0.0;

    let decode_start = Instant::now();
    let tokenizer = &model.source.tokenizer;
    let mut stream = TextStream::new();
    let mut filter = StopFilter {
        stops: options
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        text: String::new(),
        emitted: 0,
    };
    let mut history = prompt.to_vec();
    let mut tokens = Vec::new();
    let stop = loop {
        if options.max_tokens == 0 || tokens.len() >= options.max_tokens {
            break StopReason::MaxTokens;
        }
        if options
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            break StopReason::Cancelled;
        }
        let sample_start = Instant::now();
        let token = sampler.sample(&logits, &history)?;
        sampling_seconds += sample_start.elapsed().as_secs_f64();
        if stop_ids.contains(&token) {
            break StopReason::Eos;
        }
        tokens.push(token);
        history.push(token);
        if let Some(piece) = stream.push(tokenizer, token)? {
            let (text, stopped) = filter.push(&piece);
            if !text.is_empty() {
                on_text(&text);
            }
            if stopped {
                break StopReason::StopText;
            }
        }
        if tokens.len() >= options.max_tokens {
            break StopReason::MaxTokens;
        }
        let position = session.cached.len();
        if position >= ctx {
            break StopReason::ContextFull;
        }
        logits = model
            .transformer
            .forward(session.sequence, &[token], position)?;
        session.cached.push(token);
        decode_timing = Some(model.transformer.last_timing.clone());
    };
    if stop != StopReason::StopText {
        if let Some(piece) = stream.finish(tokenizer)? {
            filter.push(&piece);
        }
        let rest = filter.flush();
        if !rest.is_empty() {
            on_text(&rest);
        }
    }
    Ok(Generation {
        text: filter.text,
        tokens,
        stop,
        prompt_tokens: prompt.len(),
        reused_tokens: reused,
        prefill_seconds,
        decode_seconds: decode_start.elapsed().as_secs_f64(),
        prefill_timing,
        decode_timing,
        sampling_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_filter_holds_back_partial_stop_texts() {
        let mut f = StopFilter {
            stops: vec!["\nUser:".into()],
            text: String::new(),
            emitted: 0,
        };
        assert_eq!(f.push("Hello"), ("Hello".to_string(), false));
        assert_eq!(f.push(" world\nUs"), (" world".to_string(), false));
        assert_eq!(f.push("er: hi"), (String::new(), true));
        assert_eq!(f.text, "Hello world");

        let mut g = StopFilter {
            stops: vec!["\nUser:".into()],
            text: String::new(),
            emitted: 0,
        };
        assert_eq!(g.push("a\nUs"), ("a".to_string(), false));
        assert_eq!(g.push("eful"), ("\nUseful".to_string(), false));
        assert_eq!(g.flush(), "");

        // A multi-byte stop text arriving one character per token, after a long answer.
        let mut h = StopFilter {
            stops: vec!["ééx".into()],
            text: String::new(),
            emitted: 0,
        };
        assert_eq!(h.push(&"ab".repeat(500)), ("ab".repeat(500), false));
        assert_eq!(h.push("é"), (String::new(), false));
        assert_eq!(h.push("é"), (String::new(), false));
        assert_eq!(h.push("x"), (String::new(), true));
        assert_eq!(h.text, "ab".repeat(500));
    }
}
