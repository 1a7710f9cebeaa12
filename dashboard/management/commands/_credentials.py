"""What the credential commands share: reading a token without it ever being an argument."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.forms import BaseForm

# Audit events from the command line have no signed-in user; this names the actor instead.
COMMAND_LINE = "command line"


class TokenCommand(BaseCommand):
    """A command that reads a token with --token-file PATH (or - for stdin)."""

    # call_command(..., stdin=StringIO(...)) in tests, as Django's createsuperuser allows.
    stealth_options = ("stdin",)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Otherwise argparse takes `--token cog_...` as an abbreviation of --token-file.
        parser.allow_abbrev = False
        return parser

    def add_token_file_argument(self, parser: CommandParser, what: str) -> None:
        parser.add_argument(
            "--token-file",
            required=True,
            metavar="PATH",
            help=f"A file holding {what}, or - to read it from stdin.",
        )


def read_token(path: str, stdin: IO[str] | None = None) -> str:
    """The token from a file, or from stdin for "-". Whitespace around it is ignored."""
    if path.startswith("cog_"):
        raise CommandError(
            "--token-file takes the path of a file holding the token (or - for stdin), "
            "not the token itself: a token on the command line stays in shell history."
        )
    if path == "-":
        text = (stdin or sys.stdin).read()
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise CommandError(
                f"Cannot read the token file {path}: {exc.strerror or exc}."
            ) from None
        except UnicodeDecodeError:
            raise CommandError(f"The token file {path} is not text.") from None
    token = text.strip()
    if not token:
        where = "stdin" if path == "-" else f"the token file {path}"
        raise CommandError(f"No token in {where}: it is empty.")
    return token


def form_errors(form: BaseForm, options: dict[str, str]) -> CommandError:
    """One CommandError listing every field error, named by the command's own option."""
    lines: list[str] = []
    for field, errors in form.errors.items():
        label = options.get(field, field)
        lines.extend(f"{label}: {error}" for error in errors)
    return CommandError("\n".join(lines))
