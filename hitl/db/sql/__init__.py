"""The service's SQL, one module per table family; every statement explicit and parameterised.

Import the family a module uses under a name that says so (``from hitl.db.sql import requests as
requests_sql``), so it does not shadow the domain module of the same name (`hitl.requests`).

- `threads`, `runs`, `requests`, `timers`: a thread's life (its runs, its requests and their
  timers); `events`: the outbox every state change writes to;
- `webhooks` (endpoints), `deliveries` (and their attempts), `notifications`;
- `accounts` (users, groups, sessions, API keys, the sign-in throttle), `audit`,
  `idempotency`, `workers` (heartbeats);
- `retention` (what ages out), `status` and `gauges` (the operator's figures).

Elsewhere on purpose: `hitl.checkpointer` (LangGraph's own tables, as its saver writes them),
`hitl.db.migrate` (the schema version table, the migration runner's own bookkeeping).
"""
