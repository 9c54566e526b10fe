"""Models: the offline registry, fetching and converting weights, and loading.

>>> sorted(REGISTRY)
['qwen2.5-coder-0.5b', 'qwen2.5-coder-1.5b', 'smollm2-135m']
"""

from sqltune.models.load import Model, load_model, pick_device
from sqltune.models.registry import DEFAULT_MODEL, REGISTRY, TEST_MODEL, ModelSpec, get_spec

__all__ = ["DEFAULT_MODEL", "REGISTRY", "TEST_MODEL", "Model", "ModelSpec", "get_spec", "load_model", "pick_device"]
