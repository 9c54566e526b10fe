"""Data-parallel tuning (sqltune.tune.parallel): two processes on CPU (gloo) make the same run as one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sqltune.tune.parallel import Ranks

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from sqltune.tune.config import TuneConfig
from sqltune.tune.parallel import current
from sqltune.tune.train import memory_tune
from tests.test_tune import _facts, _schema, _word_model

out, cfg = Path(sys.argv[1]), TuneConfig.from_dict(json.loads(sys.argv[2]))
ranks = current()
model, tok = _word_model(7, seed=3)
tuned, res = memory_tune(model, tok, _facts(7), _schema(), cfg, out / "run")
(out / f"rank{ranks.rank}.json").write_text(json.dumps({"world": ranks.world, "steps": res.steps}))
torch.save({n: p.detach() for n, p in tuned.named_parameters() if p.requires_grad or "mome_router" in n},
           out / f"params{ranks.rank}.pt")
if ranks.main:
    (out / "result.json").write_text(json.dumps({"steps": res.steps, "stopped": res.stopped, "tokens": res.tokens,
                                                 "losses": [r["loss"] for r in res.history]}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(processes: int) -> tuple[list[str], dict[str, str]]:
    """The command prefix that starts ``processes`` processes on this machine (torchrun, what
    ``accelerate launch`` runs for several GPUs), and their environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    prefix = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", f"--nproc_per_node={processes}",
        "--master_addr", "127.0.0.1", f"--master_port={_free_port()}"]
    return prefix, env


def _run(folder: Path, cfg: dict, processes: int) -> dict:
    folder.mkdir()
    script = folder / "worker.py"
    script.write_text(WORKER)
    prefix, env = launch(processes)
    proc = subprocess.run([*prefix, str(script), str(folder), json.dumps(cfg)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((folder / "result.json").read_text())


def test_two_processes_make_the_same_run_as_one(tmp_path: Path) -> None:
    import torch

    cfg = {"lr": 3e-3, "warmup_steps": 5, "max_steps": 300, "eval_items": 0, "prompt_mode": "none",
           "batch_tokens": 64, "max_seq_len": 64, "review": True, "save_every": 10, "stop_identifier_loss": 0.02}
    one = _run(tmp_path / "one", cfg, 1)
    two = _run(tmp_path / "two", cfg, 2)
    ranks = [json.loads((tmp_path / "two" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["steps"] == ranks[1]["steps"] == two["steps"], "every process stops at the same step"
    assert (one["steps"], one["stopped"], one["tokens"]) == (two["steps"], two["stopped"], two["tokens"])
    assert two["stopped"] == "memorised", "the check over every item ran split over both processes"
    # the same update up to float summation order: tight at first, drifting a little over a long run
    assert two["losses"][:60] == pytest.approx(one["losses"][:60], rel=1e-4, abs=1e-6)
    assert two["losses"] == pytest.approx(one["losses"], rel=2e-2)
    a = torch.load(tmp_path / "one" / "params0.pt")
    b = torch.load(tmp_path / "two" / "params0.pt")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=2e-3), name
    log = (tmp_path / "two" / "run" / "train_log.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in log]
    assert [r["step"] for r in rows] == list(range(1, two["steps"] + 1)), "one process writes the log"
    assert any(r["tokens"] == 21 for r in rows), "some step had one row: process 1 sat it out"


def test_mome_trains_data_parallel_with_every_process_holding_the_same_adapter(tmp_path: Path) -> None:
    """MoME under two processes: the router and the experts stay identical on both (summed gradients, the same
    router freeze), and the run follows the single-process one (the load-balancing term is each process's
    own, averaged, so not to the last digit)."""
    import torch

    cfg = {"adapter": "mome", "lr": 3e-3, "warmup_steps": 2, "max_steps": 12, "eval_items": 0, "prompt_mode": "none",
           "batch_tokens": 64, "max_seq_len": 64, "stop_identifier_loss": 0.0,
           "mome": {"n_experts": 8, "top_k": 2, "router_warmup_steps": 6}}
    one = _run(tmp_path / "one", cfg, 1)
    two = _run(tmp_path / "two", cfg, 2)
    assert one["steps"] == two["steps"] == 12
    assert two["losses"] == pytest.approx(one["losses"], rel=2e-2)
    a, b = (torch.load(tmp_path / "two" / f"params{r}.pt") for r in (0, 1))
    assert a.keys() == b.keys() and any("mome_router" in n for n in a)
    assert all(torch.equal(a[n], b[n]) for n in a), "both processes hold the same adapter"


def test_a_plain_run_is_one_process_and_shards_by_stride() -> None:
    assert Ranks().shard(range(3)) == [0, 1, 2] and Ranks().main and not Ranks().parallel
    assert [Ranks(rank=r, world=3).shard(range(7)) for r in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]
    assert Ranks(rank=2, world=3).shard(range(2)) == []  # a batch smaller than the world leaves a process idle
