"""`manage.py tenant_config check FILE [FILE ...]` and `manage.py tenant_config show FILE`.

Only the loader is imported: checking a rules file needs neither a database nor a tenant, so the command
works in CI and before a province is onboarded.
"""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenant_configs.loader import RulesFileError, load_rules_file, rules_to_toml


class Command(BaseCommand):
    help = "Check association rules files (check FILE...) or print one normalised (show FILE)."
    requires_system_checks: list[str] = []  # a rules file can be checked without a configured project

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{check,show}")
        check = actions.add_parser("check", help="validate rules files; exit status 1 if any has a problem")
        check.add_argument("files", nargs="+", metavar="FILE")
        show = actions.add_parser("show", help="print a rules file with every setting spelled out")
        show.add_argument("file", metavar="FILE")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "show":
            self._show(options["file"])
        else:
            self._check(options["files"])

    def _check(self, files: list[str]) -> None:
        refused = 0
        for path in files:
            try:
                load_rules_file(path)
            except RulesFileError as error:
                refused += 1
                for problem in error.problems:
                    self.stderr.write(str(problem))
            else:
                self.stdout.write(f"OK {path}")
        if refused:
            raise CommandError(f"{refused} of {len(files)} rules files refused")

    def _show(self, path: str) -> None:
        try:
            rules = load_rules_file(path)
        except RulesFileError as error:
            for problem in error.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{path} refused") from None
        self.stdout.write(rules_to_toml(rules), ending="")
