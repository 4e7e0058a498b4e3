"""Notifications: email (SMTP) and Slack messages when a request is created, escalated or
reminded, each with a link to the request's page.

How an event becomes notifications, atomically (like webhook deliveries): every state change
writes its event to ``hitl_events`` in the statement that makes the change; a trigger on that
table (``hitl_queue_notifications``, migration 0006) inserts, for ``request.created``,
``request.escalated`` and ``request.reminded``, one ``hitl_notifications`` row per email
recipient and one for Slack, in the same transaction. So a notification exists if and only if
its event does, whichever code path wrote it. The trigger cannot read settings: each process
records the channels it is configured for in ``hitl_notification_channels`` when it starts
(`queue.set_channels`), and the trigger queues for those.

Recipients are computed when the event commits, from ``hitl_users`` (a person turns email off
with ``{"email": false}`` in their preferences: ``PATCH /api/v1/me/preferences``). The message
is written when it is sent (`content`, `smtp`, `slack`), from the request as it is then, by the
sender loop (`sender`) that every service process runs for its channels.

The way back: a request whose answer is a choice (`choices`) gets one answer button per choice
in its emails, each a single-use token of its recipient (`tokens`); as a Slack app
(`slack_app`, `slack_blocks`, `slack_interactions`) its messages carry buttons or a modal, and
every copy is updated after any answer. Both answer through `hitl.requests`, like the web form.
"""

from __future__ import annotations
