"""Mixture of memory experts: identity at init, learning, memorisation, router freeze, balance, save/load, errors.

Every model is a tiny random Llama built from a config. ``initializer_range=0.3`` (not the default 0.02)
matters: behind the final RMSNorm, a 0.02 lm_head cannot put more than ~1.3 logits between tokens, so
*no* adapter could push the loss near zero; real checkpoints have much larger output weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from sqltune.errors import ConfigError
from sqltune.models.adapters import base_fingerprint
from sqltune.tune.mome import (MoMEConfig, MoMEModel, TuneError, UnsupportedModuleError, apply_mome, load_mome,
                               save_mome)

N_FACTS, N_IDS = 30, 64
BOS, EOS, FACT, COLON, NUM0 = 1, 2, 3, 4, 5
ID0 = NUM0 + N_FACTS
VOCAB = ID0 + N_IDS


def tiny_base(seed: int = 0, hidden: int = 64, layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                      initializer_range=0.3, pad_token_id=0, bos_token_id=BOS, eos_token_id=EOS)
    return LlamaForCausalLM(cfg).eval()


def facts() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """30 facts ``<s> fact <k> : <id> <id> <id> </s>``: prompts, targets, sequences and prompt-masked labels."""
    gen = torch.Generator().manual_seed(1)
    targets = ID0 + torch.randint(0, N_IDS, (N_FACTS, 3), generator=gen)
    prompts = torch.tensor([[BOS, FACT, NUM0 + k, COLON] for k in range(N_FACTS)])
    seqs = torch.cat([prompts, targets, torch.full((N_FACTS, 1), EOS)], dim=1)
    labels = seqs.clone()
    labels[:, : prompts.shape[1]] = -100
    return prompts, targets, seqs, labels


def train(model: MoMEModel, seqs: torch.Tensor, labels: torch.Tensor, steps: int, *, lr: float = 1e-2,
          stop_below: float = 0.0) -> list[float]:
    model.train()
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        out = model(seqs, labels=labels)
        opt.zero_grad()
        (out.loss + model.aux_loss()).backward()
        opt.step()
        model.step()
        losses.append(out.loss.item())
        if losses[-1] < stop_below:
            break
    return losses


def recall(model: torch.nn.Module, prompts: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of facts whose 3 id tokens greedy generation reproduces exactly (KV-cache path)."""
    model.eval()
    with torch.no_grad():
        out = model.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=targets.shape[1],
                             do_sample=False, pad_token_id=0)
    return (out[:, prompts.shape[1]:] == targets).all(dim=1).float().mean().item()


@pytest.mark.parametrize("dispatch", ["gather", "dense"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_wrapped_model_equals_base_at_init(dispatch: str, dtype: torch.dtype) -> None:
    base = tiny_base().to(dtype)
    ids = torch.randint(0, VOCAB, (3, 7))
    before = base(ids).logits
    model = apply_mome(base, MoMEConfig(n_experts=16, top_k=2, dispatch=dispatch))
    assert len(model.mome_layers()) == 2 * 7
    assert model.mome_layers()["model.layers.0.self_attn.q_proj"].mome_A.dtype == dtype
    assert torch.equal(model(ids).logits, before)
    (model(ids, labels=ids).loss + model.aux_loss()).backward()  # and it trains in this dtype
    grad = model.mome_layers()["model.layers.1.mlp.down_proj"].mome_B.grad
    assert grad is not None and grad.dtype == dtype and bool(grad.isfinite().all()) and bool(grad.abs().sum() > 0)


def test_router_noise_only_perturbs_the_choice_while_the_router_trains() -> None:
    from sqltune.tune.mome import Router

    router = Router(8, MoMEConfig(n_experts=16, top_k=2, router_noise=10.0))
    x = torch.randn(64, 8)
    assert not torch.equal(router(x)[1], router(x)[1]), "training: noisy choice"
    router.eval()
    assert torch.equal(router(x)[1], router(x)[1])
    router.train()
    router.freeze()
    assert torch.equal(router(x)[1], router(x)[1]), "frozen: the choice must be deterministic"
    assert router.last_aux is None


@pytest.mark.parametrize("mode, inp_shape", [("fan_out", (5, 3)), ("fan_in", (5, 2, 3))])
def test_gathered_matmul_gradients_are_exact(mode: str, inp_shape: tuple[int, ...]) -> None:
    from sqltune.tune.mome.layer import GatheredMatmul

    gen = torch.Generator().manual_seed(0)
    idx = torch.tensor([[0, 3], [1, 1], [3, 2], [0, 0], [2, 1]])
    inp = torch.randn(*inp_shape, dtype=torch.double, generator=gen).requires_grad_()
    bank = torch.randn(4, 2, 3, dtype=torch.double, generator=gen).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: GatheredMatmul.apply(a, b, idx, mode), (inp, bank))


def test_gather_and_dense_dispatch_agree_in_values_and_gradients() -> None:
    _, _, seqs, labels = facts()
    results = []
    for dispatch in ("gather", "dense"):
        model = apply_mome(tiny_base(), MoMEConfig(n_experts=16, top_k=2, dispatch=dispatch))
        with torch.no_grad():  # non-zero B so the experts matter
            for layer in model.mome_layers().values():
                layer.mome_B.normal_(0, 0.1, generator=torch.Generator().manual_seed(7))
        loss = model(seqs, labels=labels).loss + model.aux_loss()
        loss.backward()
        results.append([loss.detach()] + [p.grad for p in model.trainable_parameters()])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_loss_halves_within_a_few_dozen_steps() -> None:
    torch.manual_seed(0)
    ids = torch.randint(5, VOCAB, (4, 12))
    model = apply_mome(tiny_base(), MoMEConfig(n_experts=16, top_k=2, router_warmup_steps=10))
    losses = train(model, ids, ids, steps=30)
    assert losses[-1] < losses[0] / 2, losses


def test_memorises_random_identifiers_to_exact_recall() -> None:
    prompts, targets, seqs, labels = facts()
    model = apply_mome(tiny_base(), MoMEConfig(n_experts=16, top_k=2, rank=4, router_warmup_steps=20))
    assert recall(model, prompts, targets) <= 1 / N_FACTS, "the untuned model should not know the facts"
    losses = train(model, seqs, labels, steps=150, stop_below=0.02)
    assert losses[-1] < 0.02, f"not memorised after {len(losses)} steps: {losses[-5:]}"
    assert recall(model, prompts, targets) == 1.0


def test_router_is_bit_identical_after_freeze_while_experts_keep_learning() -> None:
    _, _, seqs, labels = facts()
    model = apply_mome(tiny_base(), MoMEConfig(n_experts=16, top_k=2, router_warmup_steps=3))
    router_start = {k: v.clone() for k, v in model.mome_state_dict().items() if ".mome_router." in k}
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2, weight_decay=0.1)  # stays across the freeze
    for _ in range(3):
        opt.zero_grad(set_to_none=False)  # stale zero grads must not move a frozen router either
        (model(seqs, labels=labels).loss + model.aux_loss()).backward()
        opt.step()
        model.step()
    assert model.router_frozen and model.steps == 3
    state = model.mome_state_dict()
    assert any(not torch.equal(state[k], v) for k, v in router_start.items()), "the router should train during warm-up"
    frozen = {k: v.clone() for k, v in state.items()}
    for _ in range(4):
        opt.zero_grad(set_to_none=False)
        (model(seqs, labels=labels).loss + model.aux_loss()).backward()
        opt.step()
        model.step()
    after = model.mome_state_dict()
    assert all(torch.equal(after[k], v) for k, v in frozen.items() if ".mome_router." in k)
    assert all(not torch.equal(after[k], v) for k, v in frozen.items() if k.endswith("mome_B"))
    assert all(not p.requires_grad for k, p in model.named_parameters() if ".mome_router." in k)
    assert float(model.aux_loss()) == 0.0


def test_after_step_freezes_at_the_warmup_step_and_is_idempotent() -> None:
    model = apply_mome(torch.nn.Sequential(torch.nn.Linear(4, 4)), MoMEConfig(n_experts=4, target_modules=("0",),
                                                                              router_warmup_steps=5))
    model.after_step(4)
    assert not model.router_frozen and model.steps == 4
    model.after_step(5)
    model.after_step(5)  # e.g. once more after resuming from a checkpoint
    assert model.router_frozen and model.steps == 5
    assert apply_mome(torch.nn.Sequential(torch.nn.Linear(4, 4)),
                      MoMEConfig(n_experts=4, target_modules=("0",), router_warmup_steps=0)).router_frozen


def _usage_after_training(coef: float) -> tuple[float, float]:
    """Train from a collapsed router (experts 0 and 1 favoured everywhere); normalised usage entropy after.

    ``dispatch="dense"``: the same numbers as ``gather`` (tested above), fewer and larger ops on a CPU.
    """
    _, _, seqs, labels = facts()
    model = apply_mome(tiny_base(), MoMEConfig(n_experts=16, top_k=2, router_warmup_steps=1000,
                                               load_balance_coef=coef, dispatch="dense"))
    with torch.no_grad():
        for layer in model.mome_layers().values():
            layer.mome_router.net.bias[:2] += 2.0
    train(model, seqs, labels, steps=40)
    model.reset_usage()
    with torch.no_grad():
        model.eval()(seqs)
    usage = model.expert_usage()
    assert sum(usage.counts["model.layers.1.mlp.down_proj"]) == seqs.numel() * 2
    return usage.mean_entropy, usage.min_entropy


def test_load_balancing_term_keeps_expert_usage_spread() -> None:
    with_mean, with_min = _usage_after_training(0.1)
    without_mean, _ = _usage_after_training(0.0)
    assert with_min > 0.5, f"usage entropy fell to {with_min:.3f} in some layer despite the load-balancing term"
    assert with_mean > without_mean + 0.05, f"with {with_mean:.3f} vs without {without_mean:.3f}"


def test_save_then_load_gives_identical_outputs_and_refuses_another_base(tmp_path: Path) -> None:
    _, _, seqs, labels = facts()
    model = apply_mome(tiny_base(), MoMEConfig(n_experts=16, top_k=2, router_warmup_steps=2))
    train(model, seqs, labels, steps=4)
    want = model.eval()(seqs).logits
    with model.disable_adapter():
        assert torch.equal(model(seqs).logits, tiny_base()(seqs).logits) and not torch.equal(model(seqs).logits, want)
    folder = save_mome(model, tmp_path / "adapter", metadata={"schema_fingerprint": "abc", "data_hash": "def"})
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_model.safetensors", "mome_config.json"]
    info = json.loads((folder / "mome_config.json").read_text())
    assert info["metadata"] == {"schema_fingerprint": "abc", "data_hash": "def"}
    assert info["sqltune_base_fingerprint"] == base_fingerprint(model) and info["router_frozen"]

    loaded = load_mome(tiny_base(), folder)
    assert torch.equal(loaded.eval()(seqs).logits, want)
    assert loaded.router_frozen and loaded.steps == 4

    other = tiny_base(hidden=32)
    with pytest.raises(TuneError, match="another base model") as err:
        load_mome(other, folder)
    assert "\n" not in str(err.value)
    assert not any(isinstance(m, torch.nn.Module) and hasattr(m, "mome_A") for m in other.modules())


def test_unload_gives_the_base_back_and_merge_is_refused() -> None:
    base = tiny_base()
    ids = torch.randint(0, VOCAB, (2, 5))
    before = base(ids).logits
    model = apply_mome(base, MoMEConfig(n_experts=4, top_k=1))
    with pytest.raises(TuneError, match="cannot be merged"):
        model.merge_and_unload()
    assert torch.equal(model.unload()(ids).logits, before)
    assert type(base.model.layers[0].self_attn.q_proj) is torch.nn.Linear


@pytest.mark.parametrize("make, error, message", [
    (lambda: MoMEConfig(n_experts=4, top_k=5), ConfigError, "top_k=5 must be <= n_experts=4"),
    (lambda: MoMEConfig.from_dict({"n_experts": 8, "topk": 2}), ConfigError,
     "Unknown MoMEConfig key 'topk'. Did you mean 'top_k'"),
    (lambda: MoMEConfig(rank=0), ConfigError, "MoMEConfig.rank=0 must be a positive integer"),
    (lambda: MoMEConfig(dispatch="gathr"), ConfigError, "Did you mean 'gather'"),
    (lambda: apply_mome(tiny_base(), MoMEConfig(target_modules=("q_prj",))), ConfigError,
     "target_modules entry 'q_prj' matches no module of LlamaForCausalLM. Did you mean 'q_proj'"),
    (lambda: apply_mome(tiny_base(), MoMEConfig(target_modules=("mlp",))), UnsupportedModuleError,
     "'model.layers.0.mlp' .LlamaMLP.*only torch.nn.Linear"),
], ids=["top_k", "unknown-key", "rank", "dispatch", "no-match", "not-linear"])
def test_bad_config_is_a_one_line_error(make, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message) as err:
        make()
    assert "\n" not in str(err.value)


def test_not_a_linear_is_also_a_type_error_and_the_model_is_left_untouched() -> None:
    base = tiny_base()
    with pytest.raises(TypeError):
        apply_mome(base, MoMEConfig(target_modules=("q_proj", "embed_tokens")))
    assert all(p.requires_grad for p in base.parameters())
    assert type(base.model.layers[0].self_attn.q_proj) is torch.nn.Linear


@pytest.mark.parametrize("dispatch", ["gather", "dense"])
def test_trains_under_bf16_autocast_like_plain_fp32(dispatch: str) -> None:
    from sqltune.tune.mome import MoMELinear

    torch.manual_seed(0)
    layer = MoMELinear(torch.nn.Linear(16, 12), MoMEConfig(n_experts=8, top_k=2, rank=2, dispatch=dispatch))
    with torch.no_grad():
        layer.mome_B.normal_()
    x = torch.randn(3, 5, 16)
    layer(x).sum().backward()
    want = [p.grad.clone() for p in (layer.mome_A, layer.mome_B)]
    layer.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    y.float().sum().backward()
    for p, w in zip((layer.mome_A, layer.mome_B), want):
        assert p.grad.dtype == torch.float32
        assert float((p.grad - w).norm() / w.norm()) < 0.02  # bf16 rounding, not a wrong gradient


@pytest.mark.parametrize("dispatch", ["gather", "dense"])
def test_layer_traces_as_one_graph_under_torch_compile(dispatch: str) -> None:
    from sqltune.tune.mome import MoMELinear

    torch.manual_seed(0)
    layer = MoMELinear(torch.nn.Linear(16, 12), MoMEConfig(n_experts=8, top_k=2, rank=2, dispatch=dispatch))
    with torch.no_grad():
        layer.mome_B.normal_()
    x = torch.randn(3, 5, 16)
    want = layer(x)
    want.sum().backward()
    want_grad, layer.mome_A.grad = layer.mome_A.grad, None
    got = torch.compile(layer, backend="aot_eager", fullgraph=True)(x)  # fullgraph: a graph break is an error
    got.sum().backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(layer.mome_A.grad, want_grad)
