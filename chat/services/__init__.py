"""The rules behind the ``/chat`` events, one module per job. Synchronous (ORM); the namespace
runs them in threads. Tasks' rows are read and written only through ``tasks.selectors`` and
``tasks.services``.

- ``outcome``: what an event returns (ack, rooms, events, answers) and the task check every
  event shares;
- ``auth``: the user of a connection's token;
- ``joining``: ``task:join``, ``history:sync`` and ``chat:resume`` (what a client missed);
- ``sending``: ``chat:send``, planned in batches (``plan_sends``), and the answer to stream;
- ``answers``: ``chat:cancel``, ``chat:retry`` and answers whose worker died;
- ``status``: who hears a task's ``task:status`` and what it says;
- ``skill_responses``: ``skill:response`` (async: the pending-request registry, not the ORM).
"""
