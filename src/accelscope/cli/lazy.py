"""The root command group loads a sub-command's module only when that sub-command runs.

Why: typer turns every option of every command into a click parameter when the app is built, and the command
modules import their layers (pydantic specs, the perf models, the LLM stack); building all ~45 commands cost
~0.1 s of every start-up and importing them ~0.1 s more (benchmarks/bench_cli_startup.py). `accelscope --help`
lists the sub-commands from the short help kept here (tests/test_cli_startup.py checks it against each loaded
command's own help), and `accelscope hw list` builds only `hw`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
import typer._click as click  # typer's own copy of click: the one that parses our options
import typer._click.exceptions as click_errors
from typer.core import TyperCommand

from .errors import OneLineErrors, harden


@dataclass(frozen=True)
class LazyCommand:
    """A sub-command of the root: `target` is "module:attribute" in this package (a typer app or a command
    function); `also` are modules that register more commands on that app when imported."""

    name: str
    target: str
    short_help: str
    also: tuple[str, ...] = ()

    def load(self) -> click.Command:
        for module in self.also:
            importlib.import_module(f"{__package__}.{module}")
        module, attribute = self.target.split(":")
        obj = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
        if isinstance(obj, typer.Typer):  # as `add_typer` builds it: no shell-completion options on a sub-group
            command = typer.main.get_group(obj)
        else:  # a function: a one-command typer app becomes that command
            single = typer.Typer(add_completion=False)
            single.command(self.name)(obj)
            command = typer.main.get_command(single)
        command.name = self.name
        return command

    def stub(self) -> click.Command:
        """What the root's help lists: the name and the short help, nothing imported."""
        return TyperCommand(self.name, help=self.short_help, short_help=self.short_help)


class LazyRoot(OneLineErrors):
    """`OneLineErrors` whose sub-commands are `LazyCommand`s, built (and their numeric options checked) on first
    use."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}
    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in self.lazy if name not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.lazy.get(cmd_name)
        if cmd_name not in self.commands and entry is not None:
            if self._listing:
                return entry.stub()
            command = entry.load()
            harden(command)
            self.commands[cmd_name] = command
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click_errors.UsageError as exc:  # typer suggests close names from the loaded commands only
            if args and "Did you mean" not in exc.message:
                from difflib import get_close_matches

                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise
