//! A chat conversation: the messages so far, rendered with the model's chat template into
//! the prompt of the next answer, dropping the oldest turns (never the system prompt) when
//! the context cannot hold it.

use crate::error::{Error, Result};
use crate::model::chat::{ChatTemplate, Message};
use crate::model::tokenizer::Tokenizer;

#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub system: Option<String>,
    pub messages: Vec<Message>,
}

/// The prompt of the next answer.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub tokens: Vec<u32>,
    /// Messages left out (oldest first) to fit the context.
    pub dropped: usize,
}

impl Conversation {
    pub fn new(system: Option<String>) -> Conversation {
        Conversation {
            system,
            messages: Vec::new(),
        }
    }

    /// Forgets every message but the system prompt.
    pub fn reset(&mut self) {
        self.messages.clear();
    }

    pub fn push(&mut self, role: &str, content: &str) {
        self.messages.push(Message::new(role, content));
    }

    fn rendered(&self, skip: usize, template: &ChatTemplate) -> Result<String> {
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        if let Some(system) = &self.system {
            messages.push(Message::new("system", system));
        }
        messages.extend(self.messages[skip..].iter().cloned());
        template.render(&messages, true)
    }

    /// The prompt for the assistant's next answer, leaving `reserve` positions of `ctx` for
    /// it. When the whole conversation does not fit, whole turns are dropped from the start
    /// (the first kept message is always a user message); the messages themselves are kept.
    pub fn prompt(
        &self,
        tokenizer: &Tokenizer,
        template: &ChatTemplate,
        ctx: usize,
        reserve: usize,
    ) -> Result<Prompt> {
        let budget = ctx.saturating_sub(reserve).max(1);
        let mut skip = 0;
        loop {
            let tokens = tokenizer.encode(&self.rendered(skip, template)?)?;
            if tokens.len() <= budget {
                return Ok(Prompt {
                    tokens,
                    dropped: skip,
                });
            }
            // Start at the next user message after the current start, if there is one.
            let next = self
                .messages
                .iter()
                .enumerate()
                .skip(skip + 1)
                .find(|(_, m)| m.role == "user");
            match next {
                Some((i, _)) => skip = i,
                None => {
                    return Err(Error::usage(format!(
                        "the conversation needs {} tokens even with older turns dropped, but the context holds \
                         {ctx} with {reserve} kept for the answer (--ctx, -n)",
                        tokens.len()
                    )))
                }
            }
        }
    }
}
