"""What quotas and the audit trail add to a write: the quota check per answer and one audit row.

Runs in this process against a fresh database (a temp SQLite data dir by default, the WAL
database the embedded mode uses; ``--database-url`` names an EMPTY PostgreSQL or MySQL database,
migrated here), and times, each over --calls calls (median
and p99, microseconds):

  check-none    ``quotas.services.check`` with no quota configured (the rules are cached per
                process: no query at all)
  check-user    one user with a daily and a monthly quota and --answers answers this month (one
                aggregate query over ``subtask_usage_idx``)
  check-group   the same user in a group of --members members whose group quota pools
                --answers answers each (member list + one aggregate)
  audit-row     ``audit.services.record`` (one INSERT, autocommit)

    .venv/bin/python bench/quota_audit.py [--answers 1000] [--members 20] [--calls 300]

Numbers are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], object], calls: int) -> str:
    fn()  # warm: connections, caches, the rules
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"median {statistics.median(samples):8.0f} us   p99 {p99:8.0f} us"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=1000, help="answers per user this month")
    parser.add_argument("--members", type=int, default=20, help="members of the group")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--database-url", help="an empty database (migrated, then filled)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wegent.settings")
    os.environ["WEGENT_DATA_DIR"] = tempfile.mkdtemp(prefix="wegent-bench-quota-")
    os.environ.setdefault("WEGENT_SECRET_KEY", "bench-only-secret-key-not-for-production-use-0123456789")
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from accounts.models import Group, GroupMember, User
    from audit import services as audit
    from quotas import selectors
    from quotas import services as quotas
    from quotas.models import Quota
    from tasks.models import Subtask, TaskResource

    users = [User.objects.create_user(f"bench{i}", password="bench-pass-123") for i in range(args.members)]
    me = users[0]
    for user in users:
        task = TaskResource.objects.create(owner=user, kind="Task", name=f"t{user.pk}", namespace="default")
        Subtask.objects.bulk_create(
            [
                Subtask(task=task, user=user, role=Subtask.ASSISTANT, message_id=i + 1, input_tokens=10)
                for i in range(args.answers)
            ],
            batch_size=500,
        )
    print(f"database: {django.db.connection.vendor}; {args.members} users x {args.answers} answers")
    print(f"check-none   {timed(lambda: quotas.check(me.pk), args.calls)}")
    Quota.objects.create(scope="user", user=me, period="day", max_requests=10**9)
    Quota.objects.create(scope="user", user=me, period="month", max_tokens=10**12)
    print(f"check-user   {timed(lambda: quotas.check(me.pk), args.calls)}")
    group = Group.objects.create(name="bench-group", owner=me)
    GroupMember.objects.bulk_create([GroupMember(group=group, user=user, role="Developer") for user in users])
    Quota.objects.create(scope="group", group=group, period="month", max_requests=10**9)
    selectors.rules.clear()
    print(f"check-group  {timed(lambda: quotas.check(me.pk), args.calls)}")
    print(f"audit-row    {timed(lambda: audit.record(via='api', action='create', actor=me), args.calls)}")


if __name__ == "__main__":
    main()
