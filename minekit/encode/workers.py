"""Encoding the texts a cache lacks: longest-first batches under a token budget, in chunks that workers
(one per device, or one per core on a lone CPU) pull until none is left.

Each encoded chunk is committed to the cache as soon as it is done, and Ctrl-C commits the part of the
chunk already encoded, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from minekit.encode.cache import normalize, quantize
from minekit.encode.models import model_dim

logger = logging.getLogger(__name__)

# Texts per committed shard: the unit of progress a SIGKILL keeps (Ctrl-C keeps every finished batch).
CHUNK = 2048
# Estimated tokens (characters / 4, capped at the model's max_seq_length) per encoding batch, for the
# default batch_size 64 (scaled with larger batch sizes). Measured on 542 NFCorpus passages with MiniLM
# (`mine dense`, 2 shared cores), bfloat16: a budget of 4096 cost 43 CPU-s and 762 MB peak RSS, 8192
# 28 CPU-s and 798 MB, 16384 25 CPU-s and 872 MB (many small batches, each of a new shape, are slow;
# AMX units want large matrices); float32: 1024 cost 145 CPU-s, 8192 42 CPU-s and 849 MB.
TOKEN_BUDGET = 8192


def cpu_workers(devices: list[str]) -> int:
    """Threads that encode at once on a lone CPU device: torch's intra-op thread count (the cores it
    would use), each thread then running its batches on one core. 1 for other devices.

    Why: with one model running each op on all cores, every op ends at a barrier, and on a machine
    shared with other jobs a core taken away stalls the other (measured on 2 shared cores, MiniLM
    bfloat16: 12 CPU-s for what two one-core workers did in 5-6 CPU-s); independent workers do not
    wait for each other. GPUs and several devices keep one worker per device.
    """
    if devices != ["cpu"]:
        return 1
    import torch

    return max(1, torch.get_num_threads())


def _batches(lengths: list[int], batch_size: int, max_tokens: int, max_length: int) -> list[tuple[int, int]]:
    """[a, b) batches of longest-first texts (character lengths): at most batch_size texts and about
    max_tokens tokens each, a text counting characters / 4 tokens, at most max_length."""
    bounds, a = [], 0
    while a < len(lengths):
        # The first text of a batch is its longest; rounded up to 32 tokens, so batch sizes (and shapes)
        # repeat from batch to batch.
        longest = max(1, min(max_length, -(-(lengths[a] // 4 + 2) // 32) * 32))
        b = min(len(lengths), a + max(1, min(batch_size, max_tokens // longest)))
        bounds.append((a, b))
        a = b
    return bounds


def _interleaved_chunks(order: np.ndarray, workers: int, chunk: int) -> list[np.ndarray]:
    """`order` cut into chunks of at most `chunk` texts, `workers` chunks at a time taking every
    workers-th text of the next stretch: length-sorted texts give each worker the same lengths."""
    size = min(chunk, -(-len(order) // workers))
    chunks = []
    for a in range(0, len(order), size * workers):
        stretch = order[a:a + size * workers]
        chunks += [part for w in range(workers) if len(part := stretch[w::workers])]
    return chunks


def encode_chunk(model, texts: list[str], prompt: str | None, bar, stop: threading.Event | None, *,
                 batch_size: int, device: str, cpu_workers: int = 1) -> tuple[np.ndarray, int]:
    """Embeddings of one chunk, batch by batch; stops early (returning how many rows are done) on
    Ctrl-C in this thread or when `stop` is set by another. `cpu_workers`: how many CPU workers
    encode at once (they share the token budget)."""
    vectors = np.zeros((len(texts), model_dim(model)), dtype=np.float32)
    max_length = int(getattr(model, "max_seq_length", None) or 512)
    # The token budget bounds CPU memory at no cost in speed there (split between the CPU
    # workers, so their batches together hold what one would); a GPU wants full batches.
    budget = TOKEN_BUDGET * max(1, batch_size // 64) // cpu_workers
    max_tokens = batch_size * max_length if device.startswith("cuda") else budget
    done = 0
    try:
        for a, b in _batches([len(t) for t in texts], batch_size, max_tokens, max_length):
            if stop is not None and stop.is_set():
                break
            encoded = model.encode(texts[a:b], prompt=prompt or "", batch_size=b - a, show_progress_bar=False,
                                   convert_to_tensor=True, normalize_embeddings=True)
            vectors[a:b] = encoded.float().cpu().numpy()
            done = b
            bar.update(b - a)
    except KeyboardInterrupt:
        return vectors, -done - 1  # negative: interrupted after `done` rows
    return vectors, done


def encode_missing(models: list, texts: list[str], prompt: str | None, sink, out: np.ndarray, targets: np.ndarray,
                   *, batch_size: int, device: str, precision: str, cpu_workers: int, show_progress: bool,
                   desc: str) -> None:
    """Encode `texts` longest-first into out[targets], in chunks each committed to `sink` (cache, keys) when
    done; with several models (one per device, or one per CPU worker), each pulls the next chunk."""
    from tqdm.auto import tqdm

    # Length-sorted: batches of similar length waste no padding. Long texts go in smaller batches
    # (a token budget), which bounds the activations' memory (attention is batch x heads x
    # length^2) at no cost in speed on CPU. The workers' chunks interleave the sorted order, so
    # each gets the same mix of lengths (and they finish together).
    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunks = _interleaved_chunks(order, len(models), CHUNK)
    with tqdm(total=len(texts), desc=desc, unit="text", disable=not show_progress) as bar:
        job = _Job(texts, prompt, sink, out, targets, chunks, bar, batch_size=batch_size, device=device,
                   precision=precision, cpu_workers=cpu_workers)
        if len(models) == 1:
            job.work(models[0])
        else:
            job.run_parallel(models)


class _Job:
    """Chunks of one encode call, handed out to one worker per device (or per core on CPU, see
    cpu_workers); each chunk (or the finished part of it, on Ctrl-C) goes to the cache and to `out`
    as soon as it is encoded."""

    def __init__(self, texts, prompt, sink, out, targets, chunks, bar, *, batch_size: int, device: str,
                 precision: str, cpu_workers: int = 1) -> None:
        self.texts, self.prompt, self.sink = texts, prompt, sink
        self.out, self.targets, self.bar = out, targets, bar
        self.batch_size, self.device, self.precision = batch_size, device, precision
        self.cpu_workers = cpu_workers  # > 1: threads sharing one CPU model, one core each
        self.chunks = list(reversed(chunks))
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _next(self):
        with self.lock:
            return self.chunks.pop() if self.chunks and not self.stop.is_set() else None

    def _commit(self, idx: np.ndarray, vectors: np.ndarray) -> None:
        if len(idx) == 0:
            return
        if self.sink is not None:
            cache, keys = self.sink
            cache.add(keys[idx], vectors)
        # What comes back is what the cache holds (with or without a cache), so a warm run gives the
        # same numbers as a cold one.
        stored, scale = quantize(vectors, self.precision)
        self.out[self.targets[idx]] = normalize(stored.astype(np.float32) * (scale[:, None] if scale is not None
                                                                             else 1.0))

    def work(self, model) -> None:
        while (idx := self._next()) is not None:
            vectors, done = encode_chunk(model, [self.texts[i] for i in idx], self.prompt, self.bar, self.stop,
                                         batch_size=self.batch_size, device=self.device,
                                         cpu_workers=self.cpu_workers)
            interrupted = done < 0
            done = -done - 1 if interrupted else done
            self._commit(idx[:done], vectors[:done])
            if interrupted:
                logger.warning("interrupted: the texts encoded so far are kept in the cache")
                raise KeyboardInterrupt
            if done < len(idx):  # stopped by another worker's failure or Ctrl-C
                return

    def run_parallel(self, models) -> None:
        import torch

        errors: list[BaseException] = []
        threads_before = torch.get_num_threads()

        def run(model) -> None:
            try:
                if self.cpu_workers > 1:
                    torch.set_num_threads(1)  # this thread's ops on one core
                self.work(model)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                errors.append(exc)
                self.stop.set()

        threads = [threading.Thread(target=run, args=(m,), daemon=True) for m in models]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            self.stop.set()  # workers commit what they finished and return
            for t in threads:
                t.join()
            logger.warning("interrupted: the texts encoded so far are kept in the cache")
            raise
        finally:
            if self.cpu_workers > 1:  # some BLAS thread settings are process-wide: put them back
                torch.set_num_threads(threads_before)
        if errors:
            raise errors[0]
