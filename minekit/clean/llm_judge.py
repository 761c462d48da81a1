"""Ask an OpenAI-compatible chat endpoint whether a passage answers a query (stdlib urllib only).

Requests run in a thread pool; a failed request (connection error, timeout, HTTP 429 or 5xx) is
retried with exponential backoff. A pair that still has no answer after the retries is left unanswered
(None: kept, counted as llm_failed) once the endpoint has answered in this run; when it has never
answered (down, wrong URL) or refuses the request (HTTP 4xx), the run stops with JudgeError. An answer
counts only in the strict format "yes" or "no" (case, surrounding quotes, asterisks and a final period
aside); anything else is unanswered. Usable answers are cached on disk (minekit.clean.score_cache) as
soon as they arrive, by (endpoint URL, model, prompt version, query sha256, passage sha256), so a rerun,
even after a run that stopped, asks nothing it asked before; unusable answers are never cached. The API
key is passed in: only the CLI reads the environment.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from minekit.clean.score_cache import JUDGE_ANSWERS, ScoreCache, text_sha256
from minekit.errors import ConfigError, MinekitError

logger = logging.getLogger(__name__)

PROMPT_VERSION = "v2"
SYSTEM_PROMPT = ("You judge search results. Given a query and a passage, answer 'yes' if the passage answers "
                 "the query or is clearly relevant to it, and 'no' otherwise. Answer with exactly one word, "
                 "yes or no, and nothing else.")
_ANSWER = re.compile(r"""^[\s"'*`]*(yes|no)[\s"'*`.!]*$""", re.IGNORECASE)
CACHE_FILE = JUDGE_ANSWERS.file
_RETRYABLE_HTTP = {408, 409, 425, 429, 500, 502, 503, 504}


class JudgeError(MinekitError):
    """The endpoint could not give an answer after all retries (exit code 1)."""


def chat_url(url: str) -> str:
    """The chat-completions address for a base URL (http://host:port/v1) or the full address itself."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"llm_judge: {url!r} is not an http(s) URL; give e.g. http://127.0.0.1:8000/v1.",
                          param="llm_judge")
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


def parse_answer(text: str) -> bool | None:
    """'yes' -> True, 'no' -> False (any case, with quotes, asterisks or a final period around them);
    anything else ('Yesterday', 'Not sure', 'yes, but ...') -> None: no usable answer."""
    match = _ANSWER.match(text or "")
    return None if match is None else match.group(1).lower() == "yes"


class LLMJudge:
    """Callable judge: judge([(query, passage), ...]) -> [True | False | None, ...], in order.

    counts after a call: llm_requests (HTTP requests sent, retries included), llm_cache_hits,
    llm_failed (pairs left unanswered after every retry).
    """

    def __init__(self, url: str, *, llm_model: str, api_key: str | None = None, concurrency: int = 4,
                 retries: int = 3, backoff: float = 1.0, timeout: float = 60.0,
                 cache_dir: str | Path | None = ".minekit-cache", max_passage_chars: int = 4000,
                 show_progress: bool = True) -> None:
        if concurrency < 1:
            raise ConfigError(f"llm_concurrency: must be at least 1, got {concurrency}.",
                              param="llm_concurrency")
        if retries < 0:
            raise ConfigError(f"llm_retries: must be 0 or more, got {retries}.", param="llm_retries")
        self.url = chat_url(url)
        self.llm_model, self.api_key = llm_model, api_key
        self.concurrency, self.retries, self.backoff, self.timeout = concurrency, retries, backoff, timeout
        self.cache_dir, self.max_passage_chars, self.show_progress = cache_dir, max_passage_chars, show_progress
        self.counts = {"llm_requests": 0, "llm_cache_hits": 0, "llm_failed": 0}
        self._lock = threading.Lock()
        self._failed: JudgeError | None = None  # the run stops: the other workers stop asking
        self._answered = 0  # answers the endpoint gave in this run

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[bool | None]:
        from tqdm.auto import tqdm

        cache = ScoreCache(self.cache_dir, JUDGE_ANSWERS) if self.cache_dir is not None else None
        self._failed, self._answered = None, 0
        try:
            with ThreadPoolExecutor(self.concurrency) as pool, \
                    tqdm(total=len(pairs), desc="llm judge", unit="pair", disable=not self.show_progress) as bar:
                def one(pair: tuple[str, str]) -> bool | None:
                    answer = self._answer(pair, cache)
                    bar.update(1)
                    return None if answer is None else parse_answer(answer)

                return list(pool.map(one, pairs))
        finally:
            if cache:
                cache.close()

    def _key(self, query: str, passage: str) -> str:
        return f"{self.url}|{self.llm_model}|{PROMPT_VERSION}|{text_sha256(query)}|{text_sha256(passage)}"

    def _answer(self, pair: tuple[str, str], cache: ScoreCache | None) -> str | None:
        """The endpoint's answer (cached when usable), or None when it gave none after every retry."""
        key = (self._key(*pair),)
        if cache is not None and (hit := cache.get([key]).get(key)) is not None:
            with self._lock:
                self.counts["llm_cache_hits"] += 1
            return hit
        if self._failed is not None:
            raise self._failed
        try:
            answer = self._ask(*pair)
        except _NoAnswer as exc:
            with self._lock:
                if self._answered:  # the endpoint works: this pair stays unanswered, the run goes on
                    self.counts["llm_failed"] += 1
                    logger.warning("llm judge: no answer for one pair after all retries (%s); it is kept", exc)
                    return None
                self._failed = JudgeError(str(exc))
            raise self._failed from exc
        except JudgeError as exc:
            self._failed = exc
            raise
        with self._lock:
            self._answered += 1
        if cache is not None and parse_answer(answer) is not None:
            cache.put([(key, answer)])  # at once: a run that stops later keeps what it was told
        return answer

    def _ask(self, query: str, passage: str) -> str:
        body = json.dumps({
            "model": self.llm_model,
            "temperature": 0,
            "max_tokens": 3,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": f"Query: {query}\n\nPassage: {passage[:self.max_passage_chars]}"
                                                     "\n\nDoes the passage answer the query? yes or no."}],
        }).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            with self._lock:
                self.counts["llm_requests"] += 1
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    reply = json.loads(response.read())
                return str(reply["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} {exc.reason}"
                if exc.code not in _RETRYABLE_HTTP:
                    raise JudgeError(f"llm_judge: {self.url} answered {last}; check --llm-judge, --llm-model "
                                     "and the API key variable.") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise JudgeError(f"llm_judge: {self.url} did not answer like an OpenAI-compatible chat endpoint "
                                 f"({type(exc).__name__}: {exc}).") from exc
            logger.debug("llm judge attempt %d failed: %s", attempt + 1, last)
        raise _NoAnswer(f"llm_judge: cannot get an answer from {self.url} after {self.retries + 1} attempt(s) "
                        f"({last}). Is the server running and the URL right?")


class _NoAnswer(Exception):
    """Every attempt at one request failed in a way a retry could mend (timeout, connection, 429, 5xx)."""
