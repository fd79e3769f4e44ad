"""``manage.py index``: (re)index knowledge documents in this process, with a progress bar.

    manage.py index --all                 every indexable document
    manage.py index --kb 3 --kb 7         the documents of these knowledge bases
    manage.py index --failed              only documents whose last indexing failed
    manage.py index --document 12         one document

Each document is indexed as the Celery task would (``knowledge.services.indexing``); a failure
is recorded on the document and the command goes on with the next one.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.models import KnowledgeDocument
from knowledge.services import indexing

BAR = 30


class Command(BaseCommand):
    help = "(Re)index knowledge documents with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="every indexable document")
        parser.add_argument("--kb", type=int, action="append", default=[], help="a knowledge base id")
        parser.add_argument("--document", type=int, action="append", default=[], help="a document id")
        parser.add_argument("--failed", action="store_true", help="only documents whose indexing failed")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["all"] or options["kb"] or options["document"] or options["failed"]):
            raise CommandError("Say what to index: --all, --kb ID, --document ID or --failed")
        rows = KnowledgeDocument.objects.exclude(source_type=KnowledgeDocument.TABLE).order_by("id")
        if options["kb"]:
            rows = rows.filter(kind_id__in=options["kb"])
        if options["document"]:
            rows = rows.filter(pk__in=options["document"])
        if options["failed"]:
            rows = rows.filter(index_status=KnowledgeDocument.FAILED)
        ids = list(rows.values_list("pk", flat=True))
        counts = {"ready": 0, "failed": 0, "skipped": 0}
        started = time.monotonic()
        for done, doc_id in enumerate(ids, start=1):
            doc = indexing.reindex_now(doc_id)
            if doc is None:
                counts["skipped"] += 1
            elif doc.index_status == KnowledgeDocument.READY:
                counts["ready"] += 1
            else:
                counts["failed"] += 1
                self.stderr.write(f"\ndocument {doc_id} ({doc.name}): {doc.index_error}")
            self._bar(done, len(ids), started)
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"\nIndexed {counts['ready']}, failed {counts['failed']}, skipped {counts['skipped']} "
            f"of {len(ids)} documents in {elapsed:.1f}s"
        )

    def _bar(self, done: int, total: int, started: float) -> None:
        filled = BAR * done // total
        rate = done / max(time.monotonic() - started, 1e-9)
        self.stdout.write(
            f"\r[{'#' * filled}{'.' * (BAR - filled)}] {done}/{total} ({rate:.1f} docs/s)", ending=""
        )
        self.stdout.flush()
