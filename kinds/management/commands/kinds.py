"""``manage.py kinds apply|get|delete``: Kind resources from YAML/JSON files, like kubectl.

    manage.py kinds apply -f FILE|DIR|- [-n NAMESPACE] [--as USER] [--public] [--dry-run]
    manage.py kinds get KIND [NAME] [-n NAMESPACE] [--as USER] [--public] [-o yaml|json]
    manage.py kinds delete -f FILE|DIR|- [-n NAMESPACE] [--as USER] [--public] [--dry-run]

Every write goes through ``kinds.services`` acting as ``--as`` (default: the user ``admin``), so
the same validation, group roles, references and secrets rules apply as over the API. Without
``-n`` each document goes to its own ``metadata.namespace`` (``default`` when it has none);
``-n`` puts every document in that namespace. ``--public`` works on the public (system)
resources, which needs a system admin.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from kinds import access, registry, selectors, services, skills
from kinds.init_data import ADMIN_USER_NAME, DocumentError, dump_yaml, parse_documents, read_path
from kinds.models import DEFAULT_NAMESPACE
from kinds.registry import KindType
from kinds.specs import API_VERSION
from wegent.errors import DomainError


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def kind_type_for(name: str) -> KindType:
    """``ghost``, ``ghosts``, ``Ghost`` and ``GHOSTS`` all mean the Ghost kind."""
    wanted = name.strip().lower()
    for kind_type in registry.all_types():
        if wanted in (kind_type.plural.lower(), kind_type.kind.lower()):
            return kind_type
    valid = ", ".join(kind_type.plural for kind_type in registry.all_types())
    raise CommandError(f"Unknown kind '{name}'. Valid kinds: {valid}")


class Command(BaseCommand):
    help = "Apply, show or delete Kind resources (Ghost, Shell, Model, Bot, Team, ...) from YAML or JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        common = ArgumentParser(add_help=False)
        common.add_argument(
            "-n",
            "--namespace",
            help="namespace for every document: 'default' (personal) or a group name "
            "(default: each document's metadata.namespace, else 'default')",
        )
        common.add_argument(
            "--as",
            dest="as_user",
            default=ADMIN_USER_NAME,
            metavar="USER",
            help=f"user name to act as (default: {ADMIN_USER_NAME})",
        )
        common.add_argument(
            "--public",
            action="store_true",
            help="work on public (system) resources; the acting user must be a system admin",
        )
        actions = parser.add_subparsers(dest="action", required=True, metavar="{apply,get,delete}")

        apply = actions.add_parser(
            "apply", parents=[common], help="create or update resources from YAML/JSON documents"
        )
        self._add_file_arguments(apply)

        get = actions.add_parser("get", parents=[common], help="print resources as YAML or JSON")
        get.add_argument("kind", help="kind, singular or plural, any case (ghost, ghosts, Ghost)")
        get.add_argument("name", nargs="?", help="resource name (all resources of the kind when omitted)")
        get.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml", help="output format")

        delete = actions.add_parser(
            "delete", parents=[common], help="delete the resources named in YAML/JSON documents"
        )
        self._add_file_arguments(delete)

    @staticmethod
    def _add_file_arguments(parser: ArgumentParser) -> None:
        parser.add_argument(
            "-f",
            "--filename",
            required=True,
            metavar="FILE|DIR|-",
            help="a YAML/JSON file, a directory (every *.yaml, *.yml, *.json in it, sorted) or - for stdin",
        )
        parser.add_argument("--dry-run", action="store_true", help="check everything but write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self._actor(options["as_user"], public=options["public"])
        owner = services.Owner(None) if options["public"] else None
        namespace = options.get("namespace")
        if options["public"] and namespace not in (None, DEFAULT_NAMESPACE):
            raise CommandError("Public resources live in the 'default' namespace")
        if options["action"] == "get":
            self._get(actor, owner, options)
        else:
            self._batch(actor, owner, options)

    # --- helpers ----------------------------------------------------------------------------------

    def _actor(self, user_name: str, *, public: bool) -> User:
        user = User.objects.filter(user_name=user_name).first()
        if user is None:
            raise CommandError(f"User '{user_name}' not found (use --as USER to act as another user)")
        if not user.is_active:
            raise CommandError(f"User '{user_name}' is inactive")
        if public and not user.is_admin:
            raise CommandError(f"--public needs a system admin; '{user_name}' is not one")
        return user

    def _read(self, filename: str) -> list[dict[str, Any]]:
        try:
            if filename == "-":
                documents = parse_documents(sys.stdin.read(), source="<stdin>")
            else:
                documents = read_path(Path(filename))
        except DocumentError as exc:
            raise CommandError(str(exc)) from exc
        if not documents:
            raise CommandError(f"{'<stdin>' if filename == '-' else filename}: no resources found")
        return documents

    @staticmethod
    def _by_namespace(documents: list[dict[str, Any]], forced: str | None) -> dict[str, list[dict]]:
        """Documents grouped by target namespace, ``default`` first, then groups by name."""
        batches: dict[str, list[dict[str, Any]]] = {}
        for document in documents:
            namespace = forced
            if namespace is None:
                metadata = document.get("metadata")
                own = metadata.get("namespace") if isinstance(metadata, dict) else None
                namespace = own if isinstance(own, str) and own else DEFAULT_NAMESPACE
            batches.setdefault(namespace, []).append(document)
        return dict(sorted(batches.items(), key=lambda item: (item[0] != DEFAULT_NAMESPACE, item[0])))

    def _batch(self, actor: User, owner: services.Owner | None, options: dict[str, Any]) -> None:
        documents = self._read(options["filename"])
        operation = services.apply_resources if options["action"] == "apply" else services.delete_resources
        dry_run = options["dry_run"]
        total = failed = 0
        for namespace, items in self._by_namespace(documents, options.get("namespace")).items():
            try:
                response = operation(
                    actor=actor, namespace=namespace, items=items, dry_run=dry_run, owner=owner
                )
            except DomainError as exc:
                raise CommandError(_one_line(exc.detail)) from exc
            for result in response["results"]:
                label = f"{result['kind'].lower() or 'resource'}/{result['name'] or '?'}"
                if result["success"]:
                    self.stdout.write(f"{label} {result['operation']}")
                else:
                    self.stdout.write(f"{label} failed: {_one_line(result.get('error', ''))}")
            where = "public resources" if owner is not None else f"namespace '{namespace}'"
            suffix = " (dry run: nothing was written)" if dry_run else ""
            self.stdout.write(f"{response['message']} in {where}{suffix}")
            total += len(response["results"])
            failed += sum(1 for result in response["results"] if not result["success"])
        if failed:
            raise CommandError(f"{failed} of {total} resources failed", returncode=1)

    def _get(self, actor: User, owner: services.Owner | None, options: dict[str, Any]) -> None:
        kind_type = kind_type_for(options["kind"])
        namespace = options.get("namespace") or DEFAULT_NAMESPACE
        name = options.get("name")
        try:
            if kind_type.backend is not None:
                if owner is not None:
                    raise CommandError(f"{kind_type.kind} resources have no public rows")
                if name is None:
                    items = kind_type.backend.list(actor=actor, namespace=namespace)
                    output: Any = {"apiVersion": API_VERSION, "kind": f"{kind_type.kind}List", "items": items}
                else:
                    output = kind_type.backend.get(actor=actor, namespace=namespace, name=name)
            else:
                output = self._get_rows(actor, owner, kind_type, namespace, name)
        except DomainError as exc:
            raise CommandError(_one_line(exc.detail)) from exc
        if options["output"] == "json":
            self.stdout.write(json.dumps(output, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(dump_yaml(output), ending="")

    @staticmethod
    def _get_rows(
        actor: User, owner: services.Owner | None, kind_type: KindType, namespace: str, name: str | None
    ) -> dict[str, Any]:
        reader = None if owner is not None else actor
        if reader is not None and not access.can(reader, namespace, access.READ):
            raise CommandError(f"Namespace '{namespace}' not found or permission denied")
        # Skills carry their row id and owner id in their labels, as the skills API shows them.
        render = skills.render_skill if kind_type.kind == skills.SKILL else selectors.render
        if name is None:
            rows = selectors.scoped_rows(reader, kind_type.kind, namespace)
            return {
                "apiVersion": API_VERSION,
                "kind": f"{kind_type.kind}List",
                "items": [render(r) for r in rows],
            }
        row = selectors.find(reader, kind_type.kind, namespace, name)
        if row is None:
            where = "the public resources" if owner is not None else f"namespace '{namespace}'"
            raise CommandError(f"{kind_type.kind} '{name}' not found in {where}")
        return render(row)
