"""Where and in what precision an encoder computes, decided before any model loads.

Device names are checked (and GPUs counted) up front, so a typo fails at once; the compute dtype `auto`
is resolved per device. No numpy here, and torch only inside the checks that need it: the CLI imports
this module for every command.
"""

from __future__ import annotations

import re
from pathlib import Path

from minekit.errors import ConfigError

DTYPES = ("auto", "float32", "bfloat16", "float16")
_DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")


def return_freed_memory(threshold_mb: int = 8) -> bool:
    """Ask glibc to serve allocations above threshold_mb with mmap and give freed memory back at once.

    Encoding allocates large activation buffers of changing sizes; with glibc's adaptive thresholds
    they end up in a fragmented heap that only grows. But an mmap'd buffer is new memory the kernel
    zeroes page by page on first touch, so a low threshold page-faults every batch. Measured with two
    CPU encoding workers (bfloat16, 600 NFCorpus passages): 4 MB cost 20-30% of encoding's CPU time in
    page faults; 8 MB 751 MB peak RSS, sys time 5.3 s; 16 MB 800 MB, 3.5 s; 32 MB 820 MB, 3.4 s (user
    time within noise). One arena, so the workers (threads) share one heap of reused buffers instead
    of one each. Process-wide, so only the CLI calls it; True if applied (glibc), False elsewhere.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    return (bool(mallopt(m_mmap_threshold, threshold_mb << 20)) and bool(mallopt(m_trim_threshold, threshold_mb << 20))
            and bool(mallopt(m_arena_max, 1)))


def cpu_has_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True if the CPU has native bfloat16 units (AMX or AVX512-BF16): there bf16 encodes ~2x faster."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def parse_devices(device: str) -> list[str]:
    """'cpu', 'cuda', 'cuda:1', 'mps' or a comma-separated list ('cuda:0,cuda:1'), checked before any work:
    an unknown name, a missing GPU or a GPU index beyond the machine's is a ConfigError."""
    devices = [d.strip() for d in str(device).split(",")]
    bad = [d for d in devices if not _DEVICE.match(d)]
    if bad:
        raise ConfigError(f"--device: {bad[0]!r} is not a device; use cpu, cuda, cuda:N (several: cuda:0,cuda:1) "
                          "or mps.")
    kinds = {d.split(":")[0] for d in devices}
    if len(kinds) > 1:
        raise ConfigError(f"--device: {device!r} mixes device kinds ({', '.join(sorted(kinds))}); use one kind.")
    kind = kinds.pop()
    if kind in ("cuda", "xpu"):
        import torch

        backend = getattr(torch, kind)
        count = backend.device_count() if backend.is_available() else 0
        if count == 0:
            raise ConfigError(f"--device: {device!r} asks for {kind}, but no {kind} device is visible on this "
                              "machine; use --device cpu.")
        wrong = [d for d in devices if ":" in d and int(d.split(":")[1]) >= count]
        if wrong:
            raise ConfigError(f"--device: {wrong[0]!r} does not exist; this machine has {count} {kind} device(s) "
                              f"({kind}:0 to {kind}:{count - 1}).")
    elif kind == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ConfigError("--device: 'mps' is not available on this machine; use --device cpu.")
    return devices


def resolve_dtype(dtype: str, device: str, *, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The compute dtype `auto` stands for on `device`: float16 on GPUs, bfloat16 on a CPU with native
    bf16 units, float32 otherwise; other values are returned as given (checked)."""
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype: {dtype!r} is not supported; choose one of {', '.join(DTYPES)}.")
    if dtype != "auto":
        return dtype
    kind = str(device).split(",")[0].strip().split(":")[0]
    if kind in ("cuda", "xpu"):
        return "float16"
    if kind == "cpu" and cpu_has_bf16(cpuinfo):
        return "bfloat16"
    return "float32"
