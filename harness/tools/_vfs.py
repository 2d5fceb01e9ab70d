"""An in-memory POSIX-like filesystem: the only filesystem simulated tools ever see.

Paths are plain strings normalised with `posixpath`; nothing here calls `open`, `os` or
`pathlib`, so no argument, however hostile, can reach the host disk.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from harness.tools._types import ToolFailure

__all__ = ["VirtualFS", "normalise_path"]


def normalise_path(path: str, *, cwd: str = "/", home: str = "/") -> str:
    """An absolute, normalised virtual path; `..` stops at the virtual root as on a real system."""
    if "\x00" in path:
        raise ToolFailure(f"invalid path {path!r}: contains a NUL byte")
    if not path.strip():
        raise ToolFailure("invalid path: empty")
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    normal = posixpath.normpath(posixpath.join(cwd, path))
    # normpath keeps a leading "//" (POSIX leaves it implementation-defined); one root only.
    return "/" + normal.lstrip("/")


def _parents(path: str) -> list[str]:
    parents = []
    while path != "/":
        path = posixpath.dirname(path)
        parents.append(path)
    return parents


class VirtualFS:
    """Files as path -> text, plus the set of directories (every file's ancestors included)."""

    def __init__(self, files: Mapping[str, str], dirs: Iterable[str], *, home: str) -> None:
        self.home = home
        self.cwd = home
        self._files: dict[str, str] = {}
        self._dirs: set[str] = {"/"}
        for directory in dirs:
            self._add_dir(self.resolve(directory))
        for path, text in files.items():
            self.write(path, text)

    def resolve(self, path: str) -> str:
        return normalise_path(path, cwd=self.cwd, home=self.home)

    def _add_dir(self, path: str) -> None:
        self._dirs.update([path, *_parents(path)])

    def is_dir(self, path: str) -> bool:
        return self.resolve(path) in self._dirs

    def read(self, path: str) -> str:
        resolved = self.resolve(path)
        if resolved in self._dirs:
            raise ToolFailure(f"{resolved}: Is a directory")
        if resolved not in self._files:
            raise ToolFailure(f"{resolved}: No such file or directory")
        return self._files[resolved]

    def write(self, path: str, text: str) -> str:
        """Writes (creating parent directories, as agent file tools usually do); the path."""
        resolved = self.resolve(path)
        if resolved in self._dirs:
            raise ToolFailure(f"{resolved}: Is a directory")
        blocking = next((p for p in _parents(resolved) if p in self._files), None)
        if blocking is not None:
            raise ToolFailure(f"{blocking}: Not a directory")
        self._add_dir(posixpath.dirname(resolved))
        self._files[resolved] = text
        return resolved

    def listdir(self, path: str) -> list[str]:
        """Sorted entry names; directories end with "/"."""
        resolved = self.resolve(path)
        if resolved in self._files:
            raise ToolFailure(f"{resolved}: Not a directory")
        if resolved not in self._dirs:
            raise ToolFailure(f"{resolved}: No such file or directory")
        children = {posixpath.basename(p) + "/" for p in self._dirs if _is_child(p, resolved)}
        children |= {posixpath.basename(p) for p in self._files if _is_child(p, resolved)}
        return sorted(children)

    def remove(self, path: str, *, recursive: bool) -> list[str]:
        """Removes a file, or a directory tree when recursive; the removed paths."""
        resolved = self.resolve(path)
        if resolved in self._files:
            del self._files[resolved]
            return [resolved]
        if resolved not in self._dirs:
            raise ToolFailure(f"cannot remove '{path}': No such file or directory")
        if not recursive:
            raise ToolFailure(f"cannot remove '{path}': Is a directory")
        under = [p for p in (*self._files, *self._dirs) if _within(p, resolved) and p != "/"]
        for gone in under:
            self._files.pop(gone, None)
            self._dirs.discard(gone)
        return sorted(under)


def _is_child(path: str, directory: str) -> bool:
    return path != directory and posixpath.dirname(path) == directory


def _within(path: str, directory: str) -> bool:
    return directory == "/" or path == directory or path.startswith(directory + "/")
