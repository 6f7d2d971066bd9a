"""Drives `shaderlm serve` with the real `openai` Python client (and raw HTTP for malformed
requests). Prints one JSON object with what it saw; tests/server.rs checks it.

usage: python3 tests/server_client.py BASE_URL MODEL_ID
"""
import concurrent.futures
import http.client
import json
import sys
import urllib.parse

from openai import OpenAI

base_url, model_id = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url + "/v1", api_key="not-needed", max_retries=0, timeout=600)
question = "What is the capital of France?"
result = {}


def chat(content, stream=False, max_tokens=40):
    messages = [{"role": "user", "content": content}]
    if not stream:
        response = client.chat.completions.create(
            model=model_id, messages=messages, temperature=0, max_tokens=max_tokens, seed=1
        )
        choice = response.choices[0]
        return {
            "text": choice.message.content,
            "finish_reason": choice.finish_reason,
            "usage": response.usage.model_dump(),
        }
    text, finish, chunks = "", None, 0
    for chunk in client.chat.completions.create(
        model=model_id, messages=messages, temperature=0, max_tokens=max_tokens, stream=True
    ):
        chunks += 1
        delta = chunk.choices[0].delta
        text += delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    return {"text": text, "finish_reason": finish, "chunks": chunks}


def completion(prompt, stream=False):
    if not stream:
        response = client.completions.create(model=model_id, prompt=prompt, temperature=0, max_tokens=20)
        return {"text": response.choices[0].text, "finish_reason": response.choices[0].finish_reason,
                "usage": response.usage.model_dump()}
    text, finish = "", None
    for chunk in client.completions.create(model=model_id, prompt=prompt, temperature=0, max_tokens=20, stream=True):
        text += chunk.choices[0].text
        finish = chunk.choices[0].finish_reason or finish
    return {"text": text, "finish_reason": finish}


def raw(method, path, body=None, content_type="application/json"):
    url = urllib.parse.urlparse(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    connection.request(method, path, body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    data = response.read().decode()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = data
    return {"status": response.status, "body": parsed}


result["models"] = [m.id for m in client.models.list().data]
result["health"] = raw("GET", "/health")
result["chat"] = chat(question)
result["chat_stream"] = chat(question, stream=True)
result["completion"] = completion("Once upon a time")
result["completion_stream"] = completion("Once upon a time", stream=True)

# Eight clients at once: each must get the same answer it gets alone.
prompts = [f"Count to {n}." for n in range(3, 11)]
alone = [chat(p, max_tokens=24)["text"] for p in prompts]
with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
    together = list(pool.map(lambda p: chat(p, max_tokens=24)["text"], prompts))
result["concurrent_match"] = alone == together
result["concurrent"] = together

chat_body = {"model": model_id, "messages": [{"role": "user", "content": "hi"}]}
result["bad"] = {
    "invalid_json": raw("POST", "/v1/chat/completions", body="{not json"),
    "unknown_model": raw("POST", "/v1/chat/completions", body=json.dumps({**chat_body, "model": "gpt-17"})),
    "n_two": raw("POST", "/v1/chat/completions", body=json.dumps({**chat_body, "n": 2})),
    "temperature": raw("POST", "/v1/chat/completions", body=json.dumps({**chat_body, "temperature": 9})),
    "top_p": raw("POST", "/v1/completions", body=json.dumps({"model": model_id, "prompt": "x", "top_p": 0})),
    "empty_messages": raw("POST", "/v1/chat/completions", body=json.dumps({**chat_body, "messages": []})),
    "too_long": raw("POST", "/v1/completions", body=json.dumps({"model": model_id, "prompt": "word " * 5000})),
    "missing_field": raw("POST", "/v1/completions", body=json.dumps({"model": model_id})),
}


def disconnect_mid_stream(max_tokens):
    """Starts a long streamed completion, reads three events and hangs up."""
    url = urllib.parse.urlparse(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    body = {"model": model_id, "prompt": "Once upon a time", "temperature": 0,
            "max_tokens": max_tokens, "stream": True}
    connection.request("POST", "/v1/completions", body=json.dumps(body),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    events = 0
    while events < 3:
        line = response.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            events += 1
    connection.sock.shutdown(2)
    connection.close()
    return {"status": response.status, "events_read": events, "max_tokens": max_tokens}


result["disconnect"] = disconnect_mid_stream(1500)
# Still serving after all that.
result["after"] = chat(question, max_tokens=8)
print(json.dumps(result))
