"""Spotting credentials in added lines of a diff, without any network or model.

The named patterns (AWS key ids, PEM private keys, ``password = "..."``, ``api_key = "..."``)
are precise; the entropy check catches random-looking tokens they miss and is therefore
reported with a lower severity.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

_ASSIGN = r"""["']?\s*(?::=|=(?!=)|:)\s*(["'])([^"'\n]+)\1"""
# (rule, pattern, shortest value worth flagging); the value is the last group, if any.
NAMED_PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), 0),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"), 0),
    ("password", re.compile(r"(?i)\b[\w-]*(?:password|passwd|pwd)\b" + _ASSIGN), 4),
    (
        "API key or token",
        re.compile(r"(?i)\b[\w-]*(?:api[_-]?key|apikey|secret|token|access[_-]?key)\b" + _ASSIGN),
        8,
    ),
)
TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{24,}={0,2}")
HEX = re.compile(r"[0-9a-fA-F]+")
MIN_ENTROPY_BITS = 4.0  # per character; English words and identifiers stay well below
PLACEHOLDER = re.compile(r"^(?:\$|\{\{|<|%\(|\*+$|x+$|changeme$|example$|dummy$|test$)", re.I)


@dataclass(frozen=True)
class SecretHit:
    """A secret-looking string: which rule saw it and a redacted preview for the reviewer."""

    rule: str
    preview: str
    precise: bool  # a named pattern (True) or only high entropy (False)


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``'s own character distribution."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def redact(secret: str) -> str:
    """Keep just enough of a secret to recognise it: ``AKIA...MPLE``."""
    if len(secret) <= 8:
        return "..."
    return f"{secret[:4]}...{secret[-4:]}"


def find_named_secret(line: str) -> SecretHit | None:
    """The first match of a named pattern on ``line``, ignoring placeholders like ``${X}``."""
    for rule, pattern, min_chars in NAMED_PATTERNS:
        match = pattern.search(line)
        if match is None:
            continue
        value = match.group(match.lastindex) if match.lastindex else match.group(0)
        if match.lastindex and (len(value) < min_chars or PLACEHOLDER.match(value)):
            continue
        return SecretHit(rule, redact(value), precise=True)
    return None


def _looks_like_path(token: str) -> bool:
    """``usr/local/lib/python3``: every segment is one-case, unlike base64's mixed case."""
    segments = token.split("/")
    return len(segments) > 1 and all(
        seg.islower() or seg.isupper() or not any(c.isalpha() for c in seg) for seg in segments
    )


def _high_entropy(line: str) -> SecretHit | None:
    for token in TOKEN.findall(line):
        core = token.rstrip("=")
        # Pure hex (commit SHAs, checksums in lock files) is too common to flag on its own.
        if HEX.fullmatch(core) or core.isalpha() or _looks_like_path(core):
            continue
        if not any(c.isdigit() for c in core):
            continue
        if shannon_entropy(core) >= MIN_ENTROPY_BITS:
            return SecretHit("high-entropy string", redact(core), precise=False)
    return None


def find_secret(line: str, *, entropy: bool = True) -> SecretHit | None:
    """The first secret-looking string on ``line``, or None; ``entropy=False`` skips the
    random-looking-token check (for lock files, which are full of hashes)."""
    return find_named_secret(line) or (_high_entropy(line) if entropy else None)
