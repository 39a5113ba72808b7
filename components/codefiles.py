"""Which files make up a component's code: one walker and one ignore rule set.

The code digest (``components.digest``), the engine's per-file code manifest, the
registry's code snapshot, a step's scratch copy of that snapshot and a run's recorded
pipeline all ask this module, so a file is either part of a component's code everywhere
or nowhere.

Rules, for a command component's ``code`` folder (:func:`code_files`):

- Built-in ignores: caches, VCS folders and editor junk (:data:`IGNORED_NAMES`) and
  compiled Python (``*.pyc``, ``*.pyo``), wherever they are.
- ``.amlignore`` and ``.gitignore`` files, with ``.gitignore`` semantics (the ``pathspec``
  library's ``GitIgnoreSpec``): a file in a folder applies to that folder and everything
  under it; patterns of a deeper file win over those of a shallower one; an ignored folder
  is not entered, so nothing inside it can be re-included. Where a folder has both files,
  ``.amlignore`` is used and ``.gitignore`` is not (Azure ML's rule). The ignore files
  themselves are not code: they decide what the code is, and the files they let through
  are hashed one by one, so adding an ignore file that leaves out nothing keeps reuse.
- Symbolic links are never followed out of the folder. A link whose target lies inside the
  folder is part of the code as a link: the digest hashes its target (as a path relative to
  the link), snapshots and a step's scratch copy recreate it as that relative link, and a
  linked folder is not entered (no loops, no second copy of the same files). A link that
  points outside the folder, or to nothing, is refused (:class:`CodeLinkError`, naming the
  folder, the link and its target) rather than skipped: the step would miss the file.

For a function component only its module and the local modules it imports count,
transitively (:func:`function_source_files`): editing an unrelated file of a folder that
is often a whole project keeps reuse, editing an imported helper does not.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from components.errors import DuctworkError
from components.spec import ComponentSpec

if TYPE_CHECKING:  # ≈ 10–15 ms to import: only for a folder with an ignore file
    from pathspec import GitIgnoreSpec

__all__ = [
    "IGNORED_NAMES",
    "IGNORED_SUFFIXES",
    "IGNORE_FILES",
    "CodeFile",
    "CodeLinkError",
    "code_files",
    "component_code_files",
    "copy_code_files",
    "function_source_files",
    "link_target",
]

#: Folder and file names never part of a component's code (caches, VCS folders, editor junk).
IGNORED_NAMES = frozenset({
    "__pycache__", ".git", ".hg", ".svn", ".ipynb_checkpoints", ".DS_Store", ".pytest_cache", ".mypy_cache",
    ".ruff_cache", ".ductwork",
})
#: File endings never part of a component's code (compiled Python).
IGNORED_SUFFIXES = (".pyc", ".pyo")
#: Ignore files honoured in a code folder and its subfolders, the first one present winning.
IGNORE_FILES = (".amlignore", ".gitignore")

#: (relative POSIX path, absolute path) of one file of a component's code
CodeFile = tuple[str, Path]

_imports_memo: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {}


def _ignore_spec(directory: Path) -> GitIgnoreSpec | None:
    for name in IGNORE_FILES:
        path = directory / name
        if path.is_file():
            from pathspec import GitIgnoreSpec

            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            try:
                return GitIgnoreSpec.from_lines(lines)
            except (ValueError, re.error):
                raise DuctworkError(_bad_patterns(path, lines)) from None
    return None


def _bad_patterns(path: Path, lines: list[str]) -> str:
    """Every line of ignore file ``path`` that is no valid pattern, in one message."""
    from pathspec import GitIgnoreSpec

    bad = []
    for number, line in enumerate(lines, 1):
        try:
            GitIgnoreSpec.from_lines([line])
        except (ValueError, re.error) as exc:
            bad.append(f"line {number} {line!r} ({exc})")
    many = len(bad) != 1
    return (f"'{path}' has {len(bad)} invalid pattern{'s' if many else ''}: {'; '.join(bad)}. Fix or remove "
            f"{'them' if many else 'it'} (gitignore syntax: https://git-scm.com/docs/gitignore#_pattern_format)")


def _ignored(rel: str, is_dir: bool, specs: list[tuple[str, GitIgnoreSpec]]) -> bool:
    """Whether ``rel`` (relative to the code folder) is ignored by the ignore files above it:
    the deepest file with a matching pattern decides (a ``!`` pattern re-includes)."""
    for base, spec in reversed(specs):
        inner = rel[len(base) + 1:] if base else rel
        result = spec.check_file(inner + "/" if is_dir else inner)
        if result.include is not None:
            return result.include
    return False


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (OSError, ValueError):
        return False
    return True


class CodeLinkError(DuctworkError):
    """A code folder holds a link that points outside it or to nothing."""


def link_target(path: Path) -> str:
    """Where the link ``path`` points, relative to the folder holding it (POSIX), after
    following every link of the chain: what the digest hashes and copies recreate."""
    return Path(os.path.relpath(os.path.realpath(path), os.path.realpath(path.parent))).as_posix()


def _check_link(path: Path, rel: str, folder: Path, root: Path) -> None:
    try:
        raw = os.readlink(path)
    except OSError:
        raw = "?"
    fix = "copy the file in or remove the link"
    if not os.path.exists(path):
        raise CodeLinkError(f"code folder '{folder}': link '{rel}' -> '{raw}' points to nothing (a dangling "
                            f"link); {fix}")
    if not _inside(path, root):
        raise CodeLinkError(f"code folder '{folder}': link '{rel}' -> '{raw}' points outside the folder; {fix}")


def code_files(folder: str | Path) -> list[CodeFile]:
    """Every file of a code folder under the rules of the module docstring, sorted by relative path.

    ``folder`` naming a single file gives that file alone.
    """
    folder = Path(folder)
    if folder.is_file():
        return [(folder.name, folder)]
    root = folder.resolve()
    found: list[CodeFile] = []
    # (folder relative to the code folder, the ignore specs that apply in it), depth first
    stack: list[tuple[str, list[tuple[str, GitIgnoreSpec]]]] = [("", [])]
    while stack:
        rel_dir, inherited = stack.pop()
        directory = folder / rel_dir if rel_dir else folder
        spec = _ignore_spec(directory)
        specs = [*inherited, (rel_dir, spec)] if spec is not None else inherited
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name in IGNORED_NAMES:
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            link = entry.is_symlink()
            if link and not (name in IGNORE_FILES or name.endswith(IGNORED_SUFFIXES) or _ignored(rel, False, specs)):
                _check_link(Path(entry.path), rel, folder, root)
                found.append((rel, Path(entry.path)))  # kept as a link, a linked folder not entered
                continue
            if entry.is_dir(follow_symlinks=False):
                if not _ignored(rel, True, specs):
                    stack.append((rel, specs))
                continue
            if name in IGNORE_FILES or name.endswith(IGNORED_SUFFIXES) or _ignored(rel, False, specs):
                continue
            if not link and entry.is_file(follow_symlinks=False):
                found.append((rel, Path(entry.path)))
    return sorted(found)


def copy_code_files(folder: str | Path, files: Iterable[str], target: str | Path) -> None:
    """Copy ``files`` (relative POSIX paths, as :func:`code_files` gives them) from ``folder`` into
    ``target``, creating it; a link is recreated as a link (:func:`link_target`).

    Every file is a copy of its own, never a link to the source: a step's scratch copy of its
    code snapshot is written into by the step (its working folder), and through a hard link an
    in-place write or a ``chmod`` would change the snapshot itself — read-only modes do not stop
    root, nor an owner who may ``chmod`` — while a symbolic link lets it write into the
    snapshot's folders. Bytes, mode and modification time are copied (in the kernel:
    ``sendfile``); extended attributes are not (about half the cost of ``shutil.copy2``)."""
    folder, target = Path(folder), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    made = {str(target)}
    for rel in files:
        source, dest = os.path.join(folder, rel), os.path.join(target, rel)
        parent = os.path.dirname(dest)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        if os.path.islink(source):
            os.symlink(link_target(Path(source)), dest)
        else:
            _copy_file(source, dest)


def _copy_file(source: str, dest: str) -> None:
    with open(source, "rb") as src:
        st = os.fstat(src.fileno())
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            try:
                while os.sendfile(fd, src.fileno(), None, max(st.st_size, 1 << 20)):
                    pass  # to the end of the file, as shutil copies
            except OSError:  # no sendfile between these two (not Linux, an odd file system)
                src.seek(0)
                os.ftruncate(fd, 0)
                with os.fdopen(os.dup(fd), "wb") as out:
                    shutil.copyfileobj(src, out)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _module_file(code: Path, dotted: str) -> Path | None:
    base = code.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, code: Path) -> tuple[str, ...]:
    """Dotted names a module imports (absolute, with relative ones resolved), memoised by stat."""
    st = path.stat()
    key = str(path)
    memo = _imports_memo.get(key)
    if memo and memo[0] == _stat_key(st):
        return memo[1]
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        tree = ast.Module(body=[], type_ignores=[])
    rel = path.relative_to(code).with_suffix("")
    package = list(rel.parts[:-1])
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                base = ".".join([*up, node.module] if node.module else up)
            else:
                base = node.module or ""
            if base:
                names.append(base)
            names.extend(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
    unique = tuple(dict.fromkeys(n for n in names if n))
    _imports_memo[key] = (_stat_key(st), unique)
    return unique


def function_source_files(spec: ComponentSpec) -> list[Path]:
    """The function's module file and the local modules it imports, transitively.

    Only modules whose files live under the component's ``code`` folder count
    (the standard library and installed packages are the environment's
    business); a package's ``__init__.py`` counts when a module inside it is
    imported. Sorted, absolute paths.
    """
    if spec.function is None or spec.code is None:
        return []
    code = Path(spec.code)
    start = _module_file(code, spec.function.module)
    if start is None:
        return []
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for dotted in _imports(path, code):
            parts = dotted.split(".")
            for i in range(1, len(parts) + 1):
                found = _module_file(code, ".".join(parts[:i]))
                if found is not None and found not in seen:
                    todo.append(found)
    return sorted(seen)


def component_code_files(spec: ComponentSpec) -> list[CodeFile]:
    """The files that make up ``spec``'s code: a command's whole ``code`` folder (or file), a
    function's module and the local modules it imports; none without ``code``."""
    if spec.code is None:
        return []
    code = Path(spec.code)
    if spec.kind == "function":
        return _function_files(code, function_source_files(spec))
    return code_files(code)


def _function_files(code: Path, paths: list[Path]) -> list[CodeFile]:
    """A function's source files; a linked one comes with its target (both inside ``code``)."""
    root = code.resolve()
    found: dict[str, Path] = {}
    for path in paths:
        rel = path.relative_to(code).as_posix()
        if path.is_symlink() or not _inside(path, root):
            _check_link(path, rel, code, root)
        found[rel] = path
        if path.is_symlink():
            real = Path(os.path.realpath(path))
            found.setdefault(real.relative_to(root).as_posix(), real)
    return sorted(found.items())
