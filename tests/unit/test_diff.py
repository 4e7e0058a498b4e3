"""The unified-diff parser: files, hunks, line numbers, and what counts as malformed."""

from __future__ import annotations

from graphs.samples import HIGH_RISK_DIFF, LOW_RISK_DIFF
from nodes.diff import parse_diff


def test_samples_are_well_formed() -> None:
    for text in (LOW_RISK_DIFF, HIGH_RISK_DIFF):
        parsed = parse_diff(text)
        assert parsed.well_formed, parsed.errors


def test_files_statuses_and_line_numbers() -> None:
    parsed = parse_diff(HIGH_RISK_DIFF)
    migration, login = parsed.files
    assert (migration.path, migration.status) == ("migrations/0007_drop_users.sql", "added")
    assert [n for n, _ in migration.added] == [1, 2, 3, 4]
    assert (login.path, login.status) == ("auth/login.py", "modified")
    assert login.added[0] == (2, 'ADMIN_PASSWORD = "hunter2-prod-2024"')
    assert login.removed == [
        (4, "    return hmac.compare_digest(user.password_hash, hash_password(password))")
    ]


def test_plain_diff_u_output_without_git_headers() -> None:
    text = (
        "--- old/a.txt\t2024-01-01 00:00:00\n+++ new/a.txt\t2024-01-02 00:00:00\n"
        "@@ -1 +1 @@\n-one\n+two\n"
        "--- old/b.txt\n+++ new/b.txt\n@@ -1,2 +1,1 @@\n keep\n-drop\n"
    )
    parsed = parse_diff(text)
    assert parsed.well_formed, parsed.errors
    assert [f.path for f in parsed.files] == ["new/a.txt", "new/b.txt"]


def test_removed_line_starting_with_dashes_stays_in_its_hunk() -> None:
    text = "--- a/q.sql\n+++ b/q.sql\n@@ -1,2 +1,1 @@\n--- a SQL comment\n SELECT 1;\n"
    parsed = parse_diff(text)
    assert parsed.well_formed, parsed.errors
    assert parsed.files[0].removed == [(1, "-- a SQL comment")]


def test_deleted_and_metadata_only_files() -> None:
    text = (
        "diff --git a/tests/test_x.py b/tests/test_x.py\ndeleted file mode 100644\n"
        "--- a/tests/test_x.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-def test_x(): pass\n"
        "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"
    )
    parsed = parse_diff(text)
    assert parsed.well_formed, parsed.errors
    assert [(f.path, f.status) for f in parsed.files] == [
        ("tests/test_x.py", "deleted"),
        ("run.sh", "modified"),
    ]


def test_no_headers_is_an_error() -> None:
    parsed = parse_diff("just some text\nnot a diff\n")
    assert not parsed.well_formed
    assert "no file headers" in parsed.errors[0].message


def test_short_hunk_is_an_error() -> None:
    parsed = parse_diff("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n")
    assert [e.line for e in parsed.errors] == [3]
    assert "declares -3 +3" in parsed.errors[0].message


def test_long_hunk_is_an_error() -> None:
    parsed = parse_diff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n")
    assert [e.line for e in parsed.errors] == [6]
    assert "outside any hunk" in parsed.errors[0].message


def test_header_without_hunks_and_hunk_without_header_are_errors() -> None:
    assert not parse_diff("--- a/x\n+++ b/x\n").well_formed
    parsed = parse_diff("@@ -1 +1 @@\n-a\n+b\n")
    assert "no file header" in parsed.errors[0].message
