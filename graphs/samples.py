"""Sample diffs for the ``code_review`` graph, for notebooks, tests and benchmarks.

Both are well-formed (every hunk's line counts match its header), so the built-in diff check
in `nodes.testing` passes for them; they differ only in how risky the analysis finds them.
"""

from __future__ import annotations

LOW_RISK_DIFF = """\
diff --git a/README.md b/README.md
index 3b18e51..a2c4f0d 100644
--- a/README.md
+++ b/README.md
@@ -1,3 +1,4 @@
 # Payments service
+
 Handles card payments for the shop.
-Run `make test` before sending a change.
+Run `make test` and `make lint` before sending a change.
"""
"""A one-line docs change: no sensitive path, no secret, tiny. Scores 0 (low)."""

HIGH_RISK_DIFF = """\
diff --git a/migrations/0007_drop_users.sql b/migrations/0007_drop_users.sql
new file mode 100644
index 0000000..3f2a9c1
--- /dev/null
+++ b/migrations/0007_drop_users.sql
@@ -0,0 +1,4 @@
+-- Accounts now live in auth_accounts; the legacy table goes.
+BEGIN;
+DROP TABLE users;
+COMMIT;
diff --git a/auth/login.py b/auth/login.py
index 1a2b3c4..5d6e7f8 100644
--- a/auth/login.py
+++ b/auth/login.py
@@ -1,4 +1,8 @@
 import hmac
+ADMIN_PASSWORD = "hunter2-prod-2024"
+AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
 from app.crypto import hash_password
 def check_password(user, password):
-    return hmac.compare_digest(user.password_hash, hash_password(password))
+    if password == ADMIN_PASSWORD:
+        return True
+    return hmac.compare_digest(user.password_hash, hash_password(password))
"""
"""A destructive migration plus a login backdoor with hard-coded credentials. Scores 100 (high)."""
