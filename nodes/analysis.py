"""Deterministic risk analysis of a unified diff: what changed, what looks dangerous, how much.

No model and no network: the same diff always gets the same findings and score, so a reviewer
(and a test) can rely on why a change was or was not sent to a person.

Scoring: every finding belongs to a rule (``kind:category``) with a weight; the score is the sum
of each rule's weight, counted once however many files trip it, capped at 100.
``risk_level`` is ``high`` from `HIGH_RISK_SCORE` (50), ``medium`` from `MEDIUM_RISK_SCORE` (20).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nodes import secrets
from nodes.diff import FileDiff, parse_diff

Severity = Literal["low", "medium", "high"]
RiskLevel = Literal["low", "medium", "high"]

HIGH_RISK_SCORE = 50
MEDIUM_RISK_SCORE = 20
LARGE_CHANGE_LINES = 400
HUGE_CHANGE_LINES = 1000
MANY_FILES = 30
MAX_SECRET_FINDINGS_PER_FILE = 5

WEIGHTS: dict[str, int] = {
    "secret:precise": 60,
    "secret:entropy": 25,
    "sensitive_path:migration": 50,
    "sensitive_path:auth": 50,
    "sensitive_path:infra": 30,
    "sensitive_path:ci": 30,
    "deleted_test:file": 30,
    "deleted_test:function": 20,
    "large_change:huge": 40,
    "large_change:large": 20,
    "malformed:diff": 50,  # what cannot be parsed cannot be assessed: a person must look
}

_SEP = r"(?:^|[/_.\-])"
_END = r"(?:[/_.\-]|$)"
SENSITIVE_PATHS: tuple[tuple[str, Severity, str, re.Pattern[str]], ...] = (
    (
        "migration",
        "high",
        "database migration: check for data loss and long locks",
        re.compile(r"(?:^|/)(?:migrations?|alembic|db/migrate)/"),
    ),
    (
        "auth",
        "high",
        "authentication or security code",
        re.compile(
            _SEP + r"(?:auth|authn|authz|authentication|authorization|security|login|logout"
            r"|passwords?|passwd|credentials?|oauth2?|jwt|permissions?)" + _END
        ),
    ),
    (
        "infra",
        "medium",
        "infrastructure or deployment configuration",
        re.compile(
            r"(?:^|/)(?:infra|infrastructure|terraform|k8s|kubernetes|helm|charts|ansible)/"
            r"|\.tf$|\.tfvars$|(?:^|/)dockerfile(?:[.\-][^/]*)?$|(?:^|/)docker-compose[^/]*\.ya?ml$"
        ),
    ),
    (
        "ci",
        "medium",
        "CI/CD pipeline configuration",
        re.compile(
            r"(?:^|/)\.github/workflows/|(?:^|/)\.gitlab-ci\.ya?ml$|(?:^|/)jenkinsfile$"
            r"|(?:^|/)\.circleci/|(?:^|/)azure-pipelines\.ya?ml$|(?:^|/)\.travis\.yml$"
            r"|(?:^|/)bitbucket-pipelines\.yml$|(?:^|/)\.buildkite/"
        ),
    ),
)
TEST_PATH = re.compile(
    r"(?:^|/)tests?/|(?:^|/)test_[^/]+\.py$|_test\.(?:py|go)$|\.(?:test|spec)\.[jt]sx?$"
)
TEST_FUNCTION = re.compile(r"^\s*(?:async\s+)?def\s+(test\w*)\s*\(|^\s*func\s+(Test\w*)\s*\(")
LOCKFILES = re.compile(
    r"(?:^|/)(?:package-lock\.json|yarn\.lock|pnpm-lock\.yaml|poetry\.lock|uv\.lock"
    r"|Cargo\.lock|go\.sum|Gemfile\.lock|composer\.lock)$"
)


@dataclass(frozen=True)
class Finding:
    """One reason for concern, pointing at a file and line when it can.

    ``line`` counts in the new file for added content, in the old file for removed content,
    and in the diff text itself for ``malformed`` findings.
    """

    kind: str  # secret | sensitive_path | deleted_test | large_change | malformed
    severity: Severity
    message: str
    path: str | None = None
    line: int | None = None
    rule: str = ""  # the scoring rule, e.g. "sensitive_path:auth"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileStat:
    path: str
    status: str  # added | deleted | modified | renamed
    added: int
    removed: int


@dataclass(frozen=True)
class Analysis:
    """Everything the analysis found, in a JSON-friendly shape via `to_dict`."""

    files: list[FileStat]
    findings: list[Finding]
    risk_score: int
    risk_level: RiskLevel
    well_formed: bool
    lines_added: int = 0
    lines_removed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for finding in self.findings:
            kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
        found = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in kinds.items())
        return (
            f"{len(self.files)} file(s) changed (+{self.lines_added} -{self.lines_removed}); "
            f"risk {self.risk_level} ({self.risk_score}/100)"
            + (f"; findings: {found}" if found else "; no findings")
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.summary
        return data


def risk_level(score: int) -> RiskLevel:
    if score >= HIGH_RISK_SCORE:
        return "high"
    return "medium" if score >= MEDIUM_RISK_SCORE else "low"


def _path_findings(file: FileDiff) -> list[Finding]:
    paths = {p for p in (file.old_path, file.new_path) if p and p != "/dev/null"}
    found = []
    for category, severity, why, pattern in SENSITIVE_PATHS:
        if any(pattern.search(p.lower()) for p in paths):
            rule = f"sensitive_path:{category}"
            found.append(Finding("sensitive_path", severity, why, file.path, rule=rule))
    return found


def _secret_findings(file: FileDiff) -> list[Finding]:
    found: list[Finding] = []
    check_entropy = not LOCKFILES.search(file.path)
    for line_no, text in file.added:
        hit = secrets.find_secret(text, entropy=check_entropy)
        if hit is None:
            continue
        if len(found) == MAX_SECRET_FINDINGS_PER_FILE:
            found.append(Finding("secret", "low", "more secret-looking strings", file.path))
            break
        severity: Severity = "high" if hit.precise else "medium"
        rule = "secret:precise" if hit.precise else "secret:entropy"
        message = f"{hit.rule} added ({hit.preview})"
        found.append(Finding("secret", severity, message, file.path, line_no, rule))
    return found


def _test_findings(file: FileDiff, added_tests: set[str]) -> list[Finding]:
    if file.status == "deleted" and TEST_PATH.search(file.path):
        rule = "deleted_test:file"
        return [Finding("deleted_test", "high", "test file deleted", file.path, rule=rule)]
    found = []
    for line_no, text in file.removed:
        match = TEST_FUNCTION.match(text)
        if match and (name := match.group(1) or match.group(2)) not in added_tests:
            message = f"test {name} removed"
            rule = "deleted_test:function"
            found.append(Finding("deleted_test", "medium", message, file.path, line_no, rule))
    return found


def _size_findings(files: list[FileDiff], changed: int) -> list[Finding]:
    if changed >= HUGE_CHANGE_LINES:
        message = f"{changed} lines changed"
        return [Finding("large_change", "high", message, rule="large_change:huge")]
    if changed >= LARGE_CHANGE_LINES or len(files) >= MANY_FILES:
        message = f"{changed} lines changed in {len(files)} files"
        return [Finding("large_change", "medium", message, rule="large_change:large")]
    return []


def score(findings: list[Finding]) -> int:
    """Sum of the weights of the distinct rules that fired, capped at 100."""
    return min(100, sum(WEIGHTS.get(rule, 0) for rule in {f.rule for f in findings}))


def analyze_diff(text: str) -> Analysis:
    """Analyse unified diff ``text``. Never raises on bad input: problems become findings."""
    parsed = parse_diff(text)
    findings = [
        Finding("malformed", "high", e.message, e.path, e.line or None, "malformed:diff")
        for e in parsed.errors
    ]
    added_tests = {
        m.group(1) or m.group(2)
        for f in parsed.files
        for _, text_ in f.added
        if (m := TEST_FUNCTION.match(text_))
    }
    for file in parsed.files:
        findings += _path_findings(file) + _secret_findings(file)
        findings += _test_findings(file, added_tests)
    added = sum(len(f.added) for f in parsed.files)
    removed = sum(len(f.removed) for f in parsed.files)
    findings += _size_findings(parsed.files, added + removed)
    risk = score(findings)
    return Analysis(
        files=[FileStat(f.path, f.status, len(f.added), len(f.removed)) for f in parsed.files],
        findings=findings,
        risk_score=risk,
        risk_level=risk_level(risk),
        well_formed=parsed.well_formed,
        lines_added=added,
        lines_removed=removed,
    )


Summarizer = Callable[[str, Analysis], str]
"""An optional LLM-like callable ``(diff, analysis) -> note``; it adds prose, never changes
the score, so routing stays deterministic."""


def make_analyze_node(
    summarize: Summarizer | None = None,
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Build the ``analyze`` node, optionally with a summariser for a reviewer-facing note."""

    def analyze(state: Mapping[str, Any]) -> dict[str, Any]:
        diff = state["diff"]
        analysis = analyze_diff(diff)
        if summarize is not None:
            analysis.notes.append(summarize(diff, analysis))
        return {"analysis": analysis.to_dict()}

    return analyze


analyze = make_analyze_node()
"""The ``analyze`` node: reads ``diff``, writes ``analysis`` (`Analysis.to_dict`)."""
