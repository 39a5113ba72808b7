"""Small helpers shared by the built-in components' scripts (argument types, I/O, errors).

The scripts run as their own processes with ``python`` = Ductwork's interpreter, so
they import this module from the installed package instead of copying it into every
code folder. It is part of Ductwork's version, like pandas, not of a component's code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

__all__ = ["boolean", "fail", "output_folder", "read_parquet", "write_json", "read_json"]

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def boolean(text: str) -> bool:
    """An argparse ``type`` for booleans: true/false, 1/0, yes/no, on/off (any case)."""
    lowered = str(text).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    import argparse

    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def fail(message: str) -> NoReturn:
    """Stop the step with ``message`` on stderr and exit status 2."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def output_folder(path: str | Path) -> Path:
    """The output folder ``path``, created when missing (Ductwork creates it; a direct run may not)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        fail(f"output '{folder}' is a file; expected a folder to write into")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_parquet(folder: str | Path, filename: str, what: str) -> pd.DataFrame:
    """Read ``folder/filename``; fail with a message naming input ``what`` when it is absent."""
    path = Path(folder) / filename
    if not path.is_file():
        fail(
            f"input '{what}' has no '{filename}' in '{folder}'; expected the output folder of the "
            "step that produces it (connect the right output to this input)"
        )
    return pd.read_parquet(path)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file; fail with a message naming input ``what`` when it is absent."""
    if not path.is_file():
        fail(f"input '{what}' has no '{path.name}' in '{path.parent}'; expected the matching step's output")
    return json.loads(path.read_text(encoding="utf-8"))
