"""Benchmark: forward+backward time and memory of MoME against a peft LoRA of equal *active* rank.

One run measures, on a small random Llama (no download):
1. the baseline, a peft LoRA of rank ``top_k * rank`` on the same target modules;
2. MoME with E in ``--experts`` (default 16, 256, 1024) for each dispatch in ``--dispatch``.

Each configuration runs in its own subprocess, so peak memory is its own: on CUDA
``max_memory_allocated`` over all its steps, on CPU the peak RSS (``VmHWM``, reset through
``/proc/self/clear_refs``; glibc is told to ``mmap`` every block over 64 KiB so that freed tensors leave the
RSS), both above what the model and its adapter held before the first step.
``saved MB`` is what autograd keeps for backward (counted with ``saved_tensors_hooks``; the same on any
device). Time is the median of ``--iters`` forward+backward passes after ``--warmup`` (no optimizer step);
``cpu ms`` is the process CPU time of those steps, less disturbed than wall time on a shared machine. The
LoRA baseline runs first and again last, so drift of the machine during the run shows.

Prints a table and writes ``benchmarks/out/mome.json``. Run: ``python benchmarks/mome_bench.py``
(``--quick``: E in 16, 256 only, fewer iterations; ``--device cuda`` on a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import typing as t
from pathlib import Path

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    """Build one model from ``spec`` and time/measure its forward+backward (runs in a subprocess)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from sqltune.tune.mome import MoMEConfig, apply_mome

    device, dtype = torch.device(spec["device"]), getattr(torch, spec["dtype"])
    torch.manual_seed(0)
    h = spec["hidden"]
    cfg = LlamaConfig(vocab_size=spec["vocab"], hidden_size=h, intermediate_size=int(h * 8 / 3) // 16 * 16,
                      num_hidden_layers=spec["layers"], num_attention_heads=max(h // 64, 2),
                      num_key_value_heads=max(h // 128, 1), max_position_embeddings=spec["seq"])
    base = LlamaForCausalLM(cfg).to(device=device, dtype=dtype)
    if spec["method"] == "lora":
        from peft import LoraConfig, get_peft_model

        active = spec["top_k"] * spec["rank"]
        model = get_peft_model(base, LoraConfig(r=active, lora_alpha=2 * active, target_modules=TARGETS,
                                                lora_dropout=0.0, bias="none"))
        params = [p for p in model.parameters() if p.requires_grad]
    else:
        model = apply_mome(base, MoMEConfig(n_experts=spec["experts"], top_k=spec["top_k"], rank=spec["rank"],
                                            target_modules=tuple(TARGETS), dispatch=spec["dispatch"],
                                            router_warmup_steps=10**9))
        params = model.trainable_parameters()
    ids = torch.randint(0, spec["vocab"], (spec["batch"], spec["seq"]), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> None:
        out = model(ids, labels=ids)
        loss = out.loss + (model.aux_loss() if spec["method"] == "mome" else 0)
        loss.backward()
        for p in params:
            p.grad = None

    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS
        before = _rss_kb("VmRSS") * 1024
    for _ in range(spec["warmup"]):  # the peak is taken from here: the first steps allocate, later ones reuse
        step()
    saved: dict[int, int] = {}

    def pack(x: torch.Tensor) -> torch.Tensor:
        saved[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        step()
    param_ids = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved_bytes = sum(n for ptr, n in saved.items() if ptr not in param_ids)
    times, cpu = [], []
    for _ in range(spec["iters"]):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        sync()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda" else _rss_kb("VmHWM") * 1024) - before
    return {"ms": 1000 * statistics.median(times), "ms_min": 1000 * min(times), "cpu_ms": 1000 * statistics.median(cpu),
            "peak_mb": peak / 2**20, "saved_mb": saved_bytes / 2**20,
            "trainable_m": sum(p.numel() for p in params) / 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experts", default="16,256,1024", help="comma-separated numbers of experts E")
    ap.add_argument("--dispatch", default="gather,dense", help="MoME dispatches to measure: gather, dense or both")
    ap.add_argument("--top-k", type=int, default=2, help="experts per token")
    ap.add_argument("--rank", type=int, default=4, help="rank of each expert; the LoRA gets top_k * rank")
    ap.add_argument("--hidden", type=int, default=256, help="hidden size of the random Llama")
    ap.add_argument("--layers", type=int, default=4, help="decoder layers")
    ap.add_argument("--vocab", type=int, default=2048, help="vocabulary size")
    ap.add_argument("--batch", type=int, default=4, help="sequences per step")
    ap.add_argument("--seq", type=int, default=128, help="tokens per sequence")
    ap.add_argument("--iters", type=int, default=5, help="timed steps (median reported)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--dtype", default=None, help="float32 or bfloat16 (default: float32 on CPU, bfloat16 on CUDA)")
    ap.add_argument("--quick", action="store_true", help="E in 16, 256 only and 3 timed steps")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "mome.json"), help="JSON output")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return 0
    experts = [16, 256] if args.quick else [int(e) for e in args.experts.split(",")]
    common = {k: getattr(args, k) for k in ("top_k", "rank", "hidden", "layers", "vocab", "batch", "seq", "warmup",
                                            "device")}
    common["iters"] = 3 if args.quick else args.iters
    common["dtype"] = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    specs = [{**common, "method": "lora", "experts": 1, "dispatch": "-"}]
    specs += [{**common, "method": "mome", "experts": e, "dispatch": d}
              for e in experts for d in args.dispatch.split(",")]
    specs.append(dict(specs[0]))  # the baseline again: the two LoRA rows bracket the run
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if not args.device.startswith("cuda"):
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"  # big blocks go back to the OS when freed: RSS tracks live tensors
    rows = []
    for spec in specs:
        proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True,
                              env=env)
        if proc.returncode:
            rows.append({**spec, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            rows.append({**spec, **json.loads(proc.stdout.strip().splitlines()[-1])})
        print((_header() + "\n" if len(rows) == 1 else "") + _row(rows[-1], rows[0]), flush=True)
    import torch
    results = {"load_average_after": os.getloadavg(), "python": sys.version.split()[0], "torch": torch.__version__,
               "machine": platform.machine(),
               "cpus": os.cpu_count(), "device": torch.cuda.get_device_name() if args.device.startswith("cuda")
               else platform.processor() or "cpu", "config": common, "rows": rows}
    out = Path(args.out)
    from sqltune.atomic import write_json

    write_json(out, results)
    print(f"wrote {out}")
    return 0


def _header() -> str:
    return (f"{'method':<6} {'E':>5} {'dispatch':<8} {'fwd+bwd ms':>10} {'x LoRA':>7} {'peak MB':>8} "
            f"{'saved MB':>9} {'trainable M':>11} {'cpu ms':>9}")


def _row(r: dict[str, t.Any], base: dict[str, t.Any]) -> str:
    if "error" in r:
        return f"{r['method']:<6} {r['experts']:>5} {r['dispatch']:<8} error: {r['error']}"
    ratio = r["ms"] / base["ms"] if "ms" in base else float("nan")
    return (f"{r['method']:<6} {r['experts']:>5} {r['dispatch']:<8} {r['ms']:>10.1f} {ratio:>7.2f} "
            f"{r['peak_mb']:>8.1f} "
            f"{r['saved_mb']:>9.1f} {r['trainable_m']:>11.2f} {r['cpu_ms']:>9.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
