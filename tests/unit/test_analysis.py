"""Risk analysis: one test per finding kind, scoring, and bad input."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from nodes.analysis import HIGH_RISK_SCORE, Analysis, analyze, analyze_diff, make_analyze_node
from nodes.diff import parse_diff


def make_diff(
    path: str, added: Sequence[str] = (), removed: Sequence[str] = (), *, status: str = "modified"
) -> str:
    """A well-formed one-hunk diff of ``path``."""
    old = "/dev/null" if status == "added" else f"a/{path}"
    new = "/dev/null" if status == "deleted" else f"b/{path}"
    mode = {"added": "new file mode 100644\n", "deleted": "deleted file mode 100644\n"}
    header = f"diff --git a/{path} b/{path}\n{mode.get(status, '')}--- {old}\n+++ {new}\n"
    hunk = f"@@ -{int(bool(removed))},{len(removed)} +{int(bool(added))},{len(added)} @@\n"
    body = "".join(f"-{line}\n" for line in removed) + "".join(f"+{line}\n" for line in added)
    text = header + hunk + body
    assert parse_diff(text).well_formed
    return text


def kinds(analysis: Analysis) -> list[tuple[str, str | None]]:
    return [(f.kind, f.path) for f in analysis.findings]


def test_low_risk_sample() -> None:
    result = analyze_diff(LOW_RISK_DIFF)
    assert result.findings == []
    assert (result.risk_score, result.risk_level, result.well_formed) == (0, "low", True)
    assert (result.lines_added, result.lines_removed) == (2, 1)


def test_high_risk_sample() -> None:
    result = analyze_diff(HIGH_RISK_DIFF)
    assert result.risk_level == "high" and result.risk_score == 100
    rules = {f.rule for f in result.findings}
    assert rules == {"sensitive_path:migration", "sensitive_path:auth", "secret:precise"}


def test_files_and_counts() -> None:
    result = analyze_diff(HIGH_RISK_DIFF)
    assert [(f.path, f.status, f.added, f.removed) for f in result.files] == [
        ("migrations/0007_drop_users.sql", "added", 4, 0),
        ("auth/login.py", "modified", 5, 1),
    ]


@pytest.mark.parametrize(
    ("path", "category"),
    [
        ("migrations/0001_init.sql", "migration"),
        ("app/db/migrate/20240101_add.rb", "migration"),
        ("auth/views.py", "auth"),
        ("app/security.py", "auth"),
        ("web/login.html", "auth"),
        ("users/password_reset.py", "auth"),
        ("infra/main.tf", "infra"),
        ("deploy/terraform/vars.tfvars", "infra"),
        ("k8s/deployment.yaml", "infra"),
        ("helm/values.yaml", "infra"),
        ("Dockerfile", "infra"),
        ("services/api/Dockerfile.prod", "infra"),
        (".github/workflows/ci.yml", "ci"),
        (".gitlab-ci.yml", "ci"),
        ("Jenkinsfile", "ci"),
    ],
)
def test_sensitive_paths(path: str, category: str) -> None:
    result = analyze_diff(make_diff(path, ["x = 1"]))
    assert [f.rule for f in result.findings] == [f"sensitive_path:{category}"]
    assert result.findings[0].path == path


@pytest.mark.parametrize("path", ["docs/authors.md", "src/app.py", "README.md", "tests/x.py"])
def test_ordinary_paths_are_not_sensitive(path: str) -> None:
    assert analyze_diff(make_diff(path, ["x = 1"])).findings == []


def test_migration_alone_is_high_risk_and_ci_alone_medium() -> None:
    assert analyze_diff(make_diff("migrations/0002.sql", ["DROP TABLE t;"])).risk_level == "high"
    assert analyze_diff(make_diff(".gitlab-ci.yml", ["stages: []"])).risk_level == "medium"


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ('AWS_KEY = "AKIAIOSFODNN7EXAMPLE"', "AWS access key id"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
        ('password = "correct-horse"', "password"),
        ('DB_PASSWORD: "s3cr3t!"', "password"),
        ('api_key = "sk_live_4eC39HqLyjWDarjt"', "API key or token"),
        ("GITHUB_TOKEN := 'ghp_16C7e42F292c6912E7710c8'", "API key or token"),
    ],
)
def test_named_secrets(line: str, rule: str) -> None:
    result = analyze_diff(make_diff("src/settings.py", ["import os", line]))
    (finding,) = result.findings
    assert (finding.kind, finding.severity, finding.line) == ("secret", "high", 2)
    assert finding.message.startswith(rule)
    assert result.risk_level == "high"


def test_secret_is_redacted_in_the_message() -> None:
    result = analyze_diff(make_diff("src/settings.py", ['password = "correct-horse-battery"']))
    assert "correct-horse-battery" not in json.dumps(result.to_dict())
    assert "corr...tery" in result.findings[0].message


def test_high_entropy_string_is_a_medium_finding() -> None:
    line = 'SIGNING = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg"'
    (finding,) = analyze_diff(make_diff("src/settings.py", [line])).findings
    assert (finding.kind, finding.severity, finding.rule) == ("secret", "medium", "secret:entropy")


@pytest.mark.parametrize(
    "line",
    [
        'password = os.environ["DB_PASSWORD"]',
        'password = "${DB_PASSWORD}"',
        "if password == ADMIN_PASSWORD:",
        'token_url = "https://auth.example.com/token"',
        'sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"',
        "def test_something_really_long_name_2():",
        "sys.path.insert(0, 'usr/local/lib/python3/site-packages')",
    ],
)
def test_not_secrets(line: str) -> None:
    assert analyze_diff(make_diff("src/app.py", [line])).findings == []


def test_secrets_only_in_added_lines() -> None:
    result = analyze_diff(make_diff("src/app.py", [], ['password = "old-and-gone"']))
    assert result.findings == []


def test_lock_files_skip_the_entropy_check() -> None:
    line = '"integrity": "sha512-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg=="'
    assert analyze_diff(make_diff("package-lock.json", [line])).findings == []


def test_deleted_test_file() -> None:
    removed = ["def test_x():", "    pass"]
    text = make_diff("tests/test_checkout_flow.py", [], removed, status="deleted")
    result = analyze_diff(text)
    assert [(f.kind, f.severity, f.rule) for f in result.findings] == [
        ("deleted_test", "high", "deleted_test:file")
    ]


def test_removed_test_functions_but_not_renamed_or_moved_ones() -> None:
    removed = ["def test_gone():", "async def test_moved():", "func TestGoGone(t *testing.T) {"]
    text = make_diff("src/checks.py", ["async def test_moved():"], removed)
    result = analyze_diff(text)
    assert [(f.kind, f.message, f.line) for f in result.findings] == [
        ("deleted_test", "test test_gone removed", 1),
        ("deleted_test", "test TestGoGone removed", 3),
    ]
    assert result.risk_score == 20 and result.risk_level == "medium"


@pytest.mark.parametrize(("lines", "level"), [(399, None), (400, "medium"), (1000, "high")])
def test_large_changes(lines: int, level: str | None) -> None:
    result = analyze_diff(make_diff("src/big.py", [f"x{i} = {i}" for i in range(lines)]))
    assert [f.severity for f in result.findings if f.kind == "large_change"] == (
        [level] if level else []
    )


def test_many_files_is_a_large_change() -> None:
    text = "".join(make_diff(f"src/m{i}.py", ["x = 1"]) for i in range(30))
    assert [f.kind for f in analyze_diff(text).findings] == ["large_change"]


@pytest.mark.parametrize("text", ["", "   ", "hello world\n", "@@ nonsense @@\n", "\x00\xff"])
def test_malformed_input_is_a_finding_not_a_crash(text: str) -> None:
    result = analyze_diff(text)
    assert not result.well_formed
    assert [f.kind for f in result.findings] == ["malformed"]
    assert result.risk_score >= HIGH_RISK_SCORE


def test_miscounted_hunk_is_reported_with_the_other_findings() -> None:
    text = "--- a/auth/x.py\n+++ b/auth/x.py\n@@ -1,5 +1,5 @@\n-a\n+b\n"
    result = analyze_diff(text)
    assert {f.kind for f in result.findings} == {"malformed", "sensitive_path"}
    malformed = next(f for f in result.findings if f.kind == "malformed")
    assert (malformed.path, malformed.line) == ("auth/x.py", 3)


def test_score_counts_each_rule_once_and_caps_at_100() -> None:
    two_migrations = make_diff("migrations/1.sql", ["x"]) + make_diff("migrations/2.sql", ["y"])
    assert analyze_diff(two_migrations).risk_score == 50
    assert analyze_diff(HIGH_RISK_DIFF).risk_score == 100


def test_to_dict_is_json() -> None:
    data = analyze_diff(HIGH_RISK_DIFF).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data["findings"][0]) >= {"kind", "path", "line", "message", "severity"}
    assert data["summary"].startswith("2 file(s) changed (+9 -1); risk high (100/100)")


def test_analyze_node_and_optional_summarizer() -> None:
    assert analyze({"diff": LOW_RISK_DIFF})["analysis"]["risk_level"] == "low"
    node = make_analyze_node(lambda diff, a: f"{len(a.files)} file, looks fine")
    assert node({"diff": LOW_RISK_DIFF})["analysis"]["notes"] == ["1 file, looks fine"]
