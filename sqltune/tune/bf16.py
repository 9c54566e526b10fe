"""Whether a device computes bf16 natively, so that bf16 autocast speeds training up instead of down.

On a CPU with AVX-512 BF16 or AMX, bf16 autocast trained at 1.95 times the tokens/s of fp32; on an
AVX2-only CPU (no bf16 instructions) bf16 is emulated: a layer's matmuls took 140 times as long as in fp32
(``python benchmarks/bf16_bench.py``), so one training step took 20 minutes. The ``cpu`` preset asks
for bf16 autocast only where :func:`native_bf16` says yes.

>>> native_bf16("meta")
False
>>> isinstance(native_bf16("cpu"), bool)
True
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path


class SlowBf16Warning(UserWarning):
    """bf16 autocast was asked for on a device that emulates bf16."""


@functools.lru_cache(maxsize=None)
def native_bf16(device_type: str = "cpu") -> bool:
    """True where ``device_type`` ("cpu" or "cuda") has bf16 arithmetic in hardware."""
    import torch

    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for benchmark reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
