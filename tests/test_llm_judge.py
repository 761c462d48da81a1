"""The LLM judge against a local OpenAI-compatible server on 127.0.0.1 (thread, ephemeral port)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest
from typer.testing import CliRunner

from minekit.cli import app
from minekit.clean.llm_judge import JudgeError, LLMJudge, chat_url, parse_answer

runner = CliRunner()


class _Server:
    """Answers 'yes' when the passage mentions a word of `relevant`; fails the first `fail_first` requests with 500."""

    def __init__(self, relevant=("espresso", "tuple"), fail_first=0, reply=None):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                if len(server.requests) > 200:  # bounded: a runaway client gets errors, not answers
                    self.send_error(400)
                    return
                if len(server.requests) <= server.fail_first:
                    self.send_error(500)
                    return
                passage = body["messages"][-1]["content"].split("Passage:")[1]
                answer = "Yes." if any(w in passage for w in relevant) else "no"
                if reply is not None:  # reply(request number, passage) -> an answer text, or an HTTP error code
                    answer = reply(len(server.requests), passage)
                    if isinstance(answer, int):
                        self.send_error(answer)
                        return
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


PAIRS = [("how is espresso brewed", "espresso is brewed by forcing hot water"),
         ("is a python tuple mutable", "a python tuple is an immutable sequence"),
         ("how long is a marathon", "sprinters need explosive power")]


def test_answers_key_and_cache_hit_on_rerun(tmp_path):
    with _Server() as server:
        judge = LLMJudge(server.url, llm_model="m", api_key="sk-test", cache_dir=tmp_path, show_progress=False,
                         concurrency=2)
        assert judge(PAIRS) == [True, True, False]
        assert len(server.requests) == 3
        first = server.requests[0]
        assert first["path"] == "/v1/chat/completions" and first["model"] == "m" and first["temperature"] == 0
        assert first["auth"] == "Bearer sk-test"
        again = LLMJudge(server.url, llm_model="m", cache_dir=tmp_path, show_progress=False)
        assert again(PAIRS) == [True, True, False]
        assert len(server.requests) == 3
        assert again.counts == {"llm_requests": 0, "llm_cache_hits": 3, "llm_failed": 0}
        other = LLMJudge(server.url, llm_model="other", cache_dir=tmp_path, show_progress=False)
        other(PAIRS[:1])
        assert len(server.requests) == 4  # the model is part of the cache key


def test_retries_on_500(tmp_path):
    with _Server(fail_first=2) as server:
        judge = LLMJudge(server.url, llm_model="m", retries=3, backoff=0.01, cache_dir=None, show_progress=False,
                         concurrency=1)
        assert judge(PAIRS[:1]) == [True]
        assert judge.counts["llm_requests"] == 3 and len(server.requests) == 3


def test_gives_up_after_retries_on_500(tmp_path):
    with _Server(fail_first=100) as server:
        judge = LLMJudge(server.url, llm_model="m", retries=1, backoff=0.01, cache_dir=None, show_progress=False,
                         concurrency=1)
        with pytest.raises(JudgeError, match="after 2 attempt.*HTTP 500"):
            judge(PAIRS)
        assert len(server.requests) == 2  # the first final failure stops the rest


def test_unreachable_endpoint_is_a_clear_error_quickly():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = LLMJudge(f"http://127.0.0.1:{port}/v1", llm_model="m", retries=1, backoff=0.01, timeout=2,
                     cache_dir=None, show_progress=False)
    start = time.monotonic()
    with pytest.raises(JudgeError, match=f"cannot get an answer from http://127.0.0.1:{port}/v1/chat/completions"):
        judge(PAIRS)
    assert time.monotonic() - start < 5


def test_helpers():
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"
    assert [parse_answer(a) for a in ("Yes.", " no", "**yes**", "maybe")] == [True, False, True, None]


def test_answers_are_parsed_strictly_and_unusable_ones_never_cached(tmp_path):
    assert [parse_answer(a) for a in ("Yesterday", "Not sure", "yes, but only partly", "nope", '"No"', "YES!")] == [
        None, None, None, None, False, True]
    with _Server(reply=lambda n, passage: "Yesterday" if n == 1 else "yes") as server:
        judge = LLMJudge(server.url, llm_model="m", cache_dir=tmp_path, show_progress=False, concurrency=1)
        assert judge(PAIRS[:1]) == [None]  # "Yesterday" is not a yes
        assert judge(PAIRS[:1]) == [True] and len(server.requests) == 2  # asked again: nothing was cached
        assert judge(PAIRS[:1]) == [True] and len(server.requests) == 2


def test_the_cache_key_holds_the_endpoint(tmp_path):
    with _Server() as one, _Server(relevant=()) as two:
        assert LLMJudge(one.url, llm_model="m", cache_dir=tmp_path, show_progress=False)(PAIRS[:1]) == [True]
        # the same model name on another endpoint is another judge: asked, not read from the cache
        assert LLMJudge(two.url, llm_model="m", cache_dir=tmp_path, show_progress=False)(PAIRS[:1]) == [False]
        assert len(one.requests) == len(two.requests) == 1


def test_one_pair_without_an_answer_does_not_stop_the_run(tmp_path):
    """After the endpoint has answered, a pair that times out on every retry is left unanswered, and kept."""
    def reply(n, passage):
        return 503 if "sprinters" in passage else "yes"

    with _Server(reply=reply) as server:
        judge = LLMJudge(server.url, llm_model="m", retries=1, backoff=0.01, cache_dir=tmp_path,
                         show_progress=False, concurrency=1)
        assert judge(PAIRS) == [True, True, None]
        assert judge.counts["llm_failed"] == 1 and len(server.requests) == 4


def test_a_run_that_stops_keeps_the_answers_it_had(tmp_path):
    with _Server(reply=lambda n, passage: 401 if n > 2 else "no") as server:
        judge = LLMJudge(server.url, llm_model="m", cache_dir=tmp_path, show_progress=False, concurrency=1)
        with pytest.raises(JudgeError, match="HTTP 401"):
            judge(PAIRS)
    # The endpoint is gone now: the two answers it gave come from the cache, only the third pair is asked.
    again = LLMJudge(server.url, llm_model="m", cache_dir=tmp_path, show_progress=False, concurrency=1,
                     retries=0, timeout=2)
    with pytest.raises(JudgeError, match="cannot get an answer"):
        again(PAIRS)
    assert again.counts["llm_cache_hits"] == 2 and again.counts["llm_requests"] == 1


def test_cli_llm_judge_on_grey_zone(tiny_files, tiny_cross_encoder, tmp_path, monkeypatch):
    cands = pl.DataFrame({"query_id": ["q2", "q2", "q3"], "doc_id": ["d05", "d07", "d09"], "source": ["bm25"] * 3,
                          "rank": [1, 2, 1], "score": [3.0, 2.0, 1.0], "positive_score": [5.0] * 3},
                         schema_overrides={"rank": pl.Int32, "score": pl.Float32, "positive_score": pl.Float32})
    path = tmp_path / "c.parquet"
    cands.write_parquet(path)
    monkeypatch.setenv("MY_KEY", "sk-env")
    with _Server(relevant=("coffee",)) as server:
        args = ["denoise", "--candidates", str(path), "--queries", str(tiny_files["queries"]),
                "--positives", str(tiny_files["positives"]), "--corpus", str(tiny_files["corpus"]),
                "--cross-encoder", str(tiny_cross_encoder), "--cache-dir", str(tmp_path / "cache"),
                "--llm-judge", server.url, "--llm-model", "m", "--llm-api-key-env", "MY_KEY",
                "--llm-min-score", "0", "--keep-dropped", "--absolute-margin", "none"]
        result = runner.invoke(app, [*args, "--out", str(tmp_path / "o.parquet")])
        assert result.exit_code == 0, result.output
        out = pl.read_parquet(tmp_path / "o.parquet").sort("doc_id")
        # d05 and d07 mention coffee: judged relevant, dropped; d09 (python lists) kept.
        assert out["drop_reason"].to_list() == ["llm_judge", "llm_judge", None]
        assert len(server.requests) == 3 and server.requests[0]["auth"] == "Bearer sk-env"
        result = runner.invoke(app, [*args, "--out", str(tmp_path / "o2.parquet")])
        assert result.exit_code == 0 and len(server.requests) == 3  # rerun: all answers from the cache
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = [a if a != server.url else f"http://127.0.0.1:{port}/v1" for a in args]
    result = runner.invoke(app, [*down, "--cache-dir", str(tmp_path / "cold"), "--llm-retries", "0",
                                 "--out", str(tmp_path / "o3.parquet")])
    assert result.exit_code == 1 and "cannot get an answer" in result.stderr
    assert not (tmp_path / "o3.parquet").exists()
