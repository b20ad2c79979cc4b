"""Output paths checked before any work: a run never fails at its end for a bad ``--out``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def output_dir(path: str | Path, option: str = "--out") -> Path:
    """``path`` as a writable folder (created if missing); a ``ValueError`` naming
    ``option`` if it is a file or cannot be written."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option}: {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"{option}: cannot write to {folder} ({error.strerror})") from None
    return folder


def output_file(path: str | Path, option: str) -> Path:
    """``path`` as a file that can be written (its folder must exist); a ``ValueError``
    naming ``option`` otherwise."""
    file = Path(path)
    if file.is_dir():
        raise ValueError(f"{option}: {file} is a folder, not a file")
    parent = file.parent if str(file.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{option}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (file.exists() and not os.access(file, os.W_OK)):
        raise ValueError(f"{option}: cannot write {file}")
    return file
