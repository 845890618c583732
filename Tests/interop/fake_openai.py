"""A small OpenAI-compatible server on loopback, so the agent stacks run for real without a
model provider (Tests/CollectorTests/AgentStackTests.swift).

  fake_openai.py PORT_FILE

Binds 127.0.0.1 on a free port and writes the port to PORT_FILE. Serves POST
/v1/chat/completions and /v1/responses (not streamed): a conversation without a tool result
gets a get_weather({"city": "Paris"}) tool call with usage 100 input / 20 output tokens; once
the request holds the tool's result, the answer "It is sunny in Paris." with 150 / 30. A request
for gpt-4o is answered as gpt-4o-2024-08-06, as OpenAI does. Standard library only.
"""
import json
import os
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "It is sunny in Paris."
TOOL_ARGUMENTS = json.dumps({"city": "Paris"})
FIRST_USAGE = (100, 20)
FINAL_USAGE = (150, 30)
# The final call repeats the first call's prompt: the provider serves that part from its cache.
FINAL_CACHED = 100


def dated(model):
    return {"gpt-4o": "gpt-4o-2024-08-06"}.get(model or "gpt-4o", model)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        path = self.path.split("?")[0].removeprefix("/v1")
        if body.get("stream"):
            return self.answer(400, {"error": {"message": "this fake does not stream"}})
        if path == "/chat/completions":
            return self.chat(body)
        if path == "/responses":
            return self.respond(body)
        self.answer(404, {"error": {"message": "no route " + self.path}})

    def chat(self, body):
        final = any(isinstance(m, dict) and m.get("role") == "tool" for m in body.get("messages", []))
        if final:
            message, finish = {"role": "assistant", "content": ANSWER}, "stop"
        else:
            call = {"id": "call_" + uuid.uuid4().hex[:12], "type": "function", "function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS}}
            message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        prompt, completion = FINAL_USAGE if final else FIRST_USAGE
        cached = FINAL_CACHED if final else 0
        self.answer(200, {
            "id": "chatcmpl-" + uuid.uuid4().hex[:20], "object": "chat.completion", "created": 1764590000, "model": dated(body.get("model")),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0}}})

    def respond(self, body):
        items = body.get("input") if isinstance(body.get("input"), list) else []
        final = any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items)
        if final:
            output = [{"type": "message", "id": "msg_" + uuid.uuid4().hex[:12], "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": ANSWER, "annotations": []}]}]
        else:
            output = [{"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:12], "call_id": "call_" + uuid.uuid4().hex[:12],
                       "name": "get_weather", "arguments": TOOL_ARGUMENTS, "status": "completed"}]
        prompt, completion = FINAL_USAGE if final else FIRST_USAGE
        cached = FINAL_CACHED if final else 0
        self.answer(200, {
            "id": "resp_" + uuid.uuid4().hex[:20], "object": "response", "created_at": 1764590000, "status": "completed", "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"), "model": dated(body.get("model")), "output": output,
            "parallel_tool_calls": True, "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools", []), "metadata": {},
            "text": {"format": {"type": "text"}}, "truncation": "disabled", "temperature": 1.0, "top_p": 1.0,
            "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": completion,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": prompt + completion}})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
# Renamed, so the port file appears whole.
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
