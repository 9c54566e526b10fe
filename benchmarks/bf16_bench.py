"""Benchmark: bf16 against fp32 matmuls at the default model's shapes, on this machine's CPU.

Measures, in one run, the forward matmuls of one Qwen2.5-Coder-0.5B layer (hidden 896, MLP 4864) on a
batch of 1,024 tokens: fp32 (the baseline), bf16 autocast (what ``bf16_autocast`` trains with), and
the ratio. Where the CPU has bf16 instructions (AVX-512 BF16, AMX) autocast is faster; on an AVX2-only
CPU bf16 is emulated and many times slower, which is why the ``cpu`` preset asks
:func:`sqltune.tune.bf16.native_bf16` before it turns autocast on.

Prints a table and writes ``benchmarks/out/bf16.json``. Run: ``python benchmarks/bf16_bench.py``
(``--repeats N``; the bf16 rows stop after ``--max-seconds`` each on an emulating CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from sqltune import atomic
from sqltune.tune.bf16 import cpu_name, native_bf16

SHAPES = {"q_proj": (896, 896), "k_proj": (896, 128), "gate_proj": (896, 4864), "down_proj": (4864, 896)}


def _seconds(tokens: int, k: int, n: int, bf16: bool, repeats: int, max_seconds: float) -> float:
    a, w = torch.randn(tokens, k), torch.randn(k, n)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        a @ w  # warm-up
        start, done = time.perf_counter(), 0
        while done < repeats:
            a @ w
            done += 1
            if time.perf_counter() - start > max_seconds:
                break
    return (time.perf_counter() - start) / done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/bf16.json"))
    args = ap.parse_args()
    rows = []
    for name, (k, n) in SHAPES.items():
        fp32 = _seconds(args.tokens, k, n, False, args.repeats, args.max_seconds)
        bf16 = _seconds(args.tokens, k, n, True, args.repeats, args.max_seconds)
        rows.append({"matmul": name, "shape": [args.tokens, k, n], "fp32_ms": fp32 * 1e3, "bf16_autocast_ms": bf16 * 1e3,
                     "bf16_over_fp32": bf16 / fp32})
    total32, total16 = sum(r["fp32_ms"] for r in rows), sum(r["bf16_autocast_ms"] for r in rows)
    report = {"cpu": cpu_name(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": native_bf16("cpu"),
              "rows": rows, "bf16_over_fp32": total16 / total32}
    print(f"{report['cpu']} ({report['capability']}, {report['threads']} threads), native bf16: {report['native_bf16']}")
    print("| matmul | tokens × in × out | fp32 ms | bf16 autocast ms | bf16 / fp32 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['matmul']} | {' × '.join(map(str, r['shape']))} | {r['fp32_ms']:.1f} | "
              f"{r['bf16_autocast_ms']:.1f} | {r['bf16_over_fp32']:.2f} |")
    print(f"| all four | | {total32:.1f} | {total16:.1f} | {report['bf16_over_fp32']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
