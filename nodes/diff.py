"""A small, strict parser for unified diffs (``git diff`` and plain ``diff -u`` output).

Both the risk analysis and the built-in test check read diffs through this module, so they
agree on what a file, a hunk and a line are. Problems are collected as `DiffError`s instead of
raised: a reviewer should see "hunk at line 12 is short by 2 lines", not a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
GIT_HEADER = re.compile(r"^diff --git (?:a/)?(\S+) (?:b/)?(\S+)")
# Lines between a file header and its first hunk that git writes for metadata-only changes.
META_PREFIXES = (
    "index ",
    "new file mode",
    "deleted file mode",
    "old mode",
    "new mode",
    "similarity index",
    "dissimilarity index",
    "rename from",
    "rename to",
    "copy from",
    "copy to",
    "Binary files",
    "GIT binary patch",
)
NULL_PATH = "/dev/null"


@dataclass
class Hunk:
    """One ``@@ -a,b +c,d @@`` block and what it actually contains."""

    line: int  # 1-based line of the header in the diff text
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    old_seen: int = 0
    new_seen: int = 0

    @property
    def complete(self) -> bool:
        return self.old_seen >= self.old_count and self.new_seen >= self.new_count


@dataclass
class FileDiff:
    """The changes to one file. ``added``/``removed`` hold ``(line number, text)`` pairs,
    numbered in the new and the old file respectively."""

    old_path: str | None = None
    new_path: str | None = None
    line: int = 0  # 1-based line of the file's first header in the diff text
    has_meta: bool = False  # mode change, rename, binary, empty new file: no hunks needed
    hunks: list[Hunk] = field(default_factory=list)
    added: list[tuple[int, str]] = field(default_factory=list)
    removed: list[tuple[int, str]] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The path a reader knows the file by: the new one, or the old one if deleted."""
        if self.new_path and self.new_path != NULL_PATH:
            return self.new_path
        return self.old_path or "(unknown)"

    @property
    def status(self) -> str:
        if self.old_path == NULL_PATH:
            return "added"
        if self.new_path == NULL_PATH:
            return "deleted"
        if self.old_path and self.new_path and self.old_path != self.new_path:
            return "renamed"
        return "modified"


@dataclass(frozen=True)
class DiffError:
    """Something that makes the diff not apply cleanly."""

    line: int
    message: str
    path: str | None = None


@dataclass
class ParsedDiff:
    files: list[FileDiff] = field(default_factory=list)
    errors: list[DiffError] = field(default_factory=list)

    @property
    def well_formed(self) -> bool:
        return bool(self.files) and not self.errors


def _strip_prefix(path: str) -> str:
    """``a/x.py`` -> ``x.py``; drops a trailing tab + timestamp written by ``diff -u``."""
    path = path.split("\t", 1)[0].strip()
    if path != NULL_PATH and path[:2] in ("a/", "b/"):
        path = path[2:]
    return path


class _Parser:
    def __init__(self) -> None:
        self.result = ParsedDiff()
        self.file: FileDiff | None = None
        self.hunk: Hunk | None = None
        self.saw_old_header = False  # a `---` line belongs to the current file already

    def error(self, line: int, message: str) -> None:
        path = self.file.path if self.file else None
        self.result.errors.append(DiffError(line, message, path))

    def close_hunk(self) -> None:
        hunk = self.hunk
        if hunk is not None and not hunk.complete:
            self.error(
                hunk.line,
                f"hunk at line {hunk.line} declares -{hunk.old_count} +{hunk.new_count} lines "
                f"but has -{hunk.old_seen} +{hunk.new_seen}",
            )
        self.hunk = None

    def close_file(self) -> None:
        self.close_hunk()
        file = self.file
        if file is not None and not file.hunks and not file.has_meta:
            self.error(file.line, f"{file.path}: file header at line {file.line} has no hunk")
        self.file = None

    def open_file(self, line: int, old: str | None = None, new: str | None = None) -> None:
        self.close_file()
        self.saw_old_header = False
        self.file = FileDiff(old_path=old, new_path=new, line=line)
        self.result.files.append(self.file)

    def feed(self, n: int, line: str) -> None:
        hunk, file = self.hunk, self.file
        if hunk is not None and file is not None and not hunk.complete:
            if self.hunk_line(n, line, hunk, file):
                return
            self.close_hunk()
        if line.startswith("diff --git "):
            match = GIT_HEADER.match(line)  # paths with spaces: the ---/+++ lines will tell
            self.open_file(n, *(match.group(1, 2) if match else ()))
        elif line.startswith("--- "):
            if file is None or file.hunks or self.saw_old_header:
                self.open_file(n)  # plain `diff -u` output: no `diff --git` line per file
            assert self.file is not None
            self.file.old_path = _strip_prefix(line[4:])
            self.saw_old_header = True
        elif line.startswith("+++ ") and file is not None and not file.hunks:
            file.new_path = _strip_prefix(line[4:])
        elif match := HUNK_HEADER.match(line):
            if file is None:
                self.error(n, f"hunk at line {n} has no file header before it")
                self.open_file(n)
                file = self.file
                assert file is not None
            old_count, new_count = (int(c) if c is not None else 1 for c in match.group(2, 4))
            self.hunk = Hunk(n, int(match[1]), old_count, int(match[3]), new_count)
            file.hunks.append(self.hunk)
        elif file is not None and line.startswith(META_PREFIXES):
            file.has_meta = True
        elif file is not None and file.hunks and line[:1] in ("+", "-", " "):
            self.error(n, f"line {n} is outside any hunk (a hunk header undercounts its lines)")

    def hunk_line(self, n: int, line: str, hunk: Hunk, file: FileDiff) -> bool:
        """Consume one line of an open hunk; False when the line cannot belong to it."""
        tag, text = line[:1], line[1:]
        if tag == "\\":  # "\ No newline at end of file"
            return True
        if tag in (" ", "") and hunk.old_seen < hunk.old_count and hunk.new_seen < hunk.new_count:
            # An empty line counts as context: editors strip the single space of blank lines.
            hunk.old_seen += 1
            hunk.new_seen += 1
        elif tag == "-" and hunk.old_seen < hunk.old_count:
            file.removed.append((hunk.old_start + hunk.old_seen, text))
            hunk.old_seen += 1
        elif tag == "+" and hunk.new_seen < hunk.new_count:
            file.added.append((hunk.new_start + hunk.new_seen, text))
            hunk.new_seen += 1
        else:
            return False
        return True


def parse_diff(text: str) -> ParsedDiff:
    """Parse unified diff text into files, hunks and changed lines, collecting any problems."""
    parser = _Parser()
    lines = text.splitlines()
    for n, line in enumerate(lines, start=1):
        parser.feed(n, line)
    parser.close_file()
    result = parser.result
    if not result.files:
        result.errors.append(DiffError(0, "no file headers (diff --git, ---/+++) found"))
    return result
