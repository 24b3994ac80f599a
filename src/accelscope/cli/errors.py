"""Bad input on the command line: one line on stderr that starts with `error:`, exit status 2, never a traceback.

Three pieces, all applied to the whole command tree so no command can forget them:
- `OneLineErrors`, the root group class: located user errors (ValueError, SpecError, ...) and click's own usage
  errors (a missing option, `--m abc`) print one line and exit 2;
- `harden`: every integer option is at most `MAX_INT` and every float option is finite, checked as each option is
  parsed, so the message names the option as typed (`--moe-imbalance`);
- `naming_options`: an op's field error (`Norm.norm: ...`) is reworded with the option that set it (`--kind: ...`).
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
import typer._click as click  # typer's own copy of click: the one that parses our options
import typer._click.exceptions as click_errors
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

if TYPE_CHECKING:  # the op IR loads with the first command that builds an op
    from ..workload import ops as ir


USER_ERROR_EXIT = 2
# Largest integer any option takes: far above any real dimension (a 405B model's Adam step streams 4e11
# elements) yet small enough that products of a handful of them stay finite floats (1e15^5 = 1e75 << 1.8e308).
MAX_INT = 10**15

# our located messages are ValueErrors (SpecError, UnitError and perf's LevelNotAvailable derive from it; not
# imported here, which would load the models at start-up); missing or unreadable files are the user's to fix
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
                                            NotADirectoryError, FileExistsError)


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr as plain text: a user string that looks like rich markup prints as it is."""
    line = " ".join(message.split())  # one line, whatever the message's own line breaks
    Console(stderr=True, soft_wrap=True, highlight=False).print(Text.assemble(("error:", "bold red"), " ", line))


def short(value: object, width: int = 40) -> str:
    """A user value for a message, cut to `width` characters (a 400-digit number is not repeated in full)."""
    text = str(value)
    if len(text) <= width:
        return text
    kind = f"a {len(text)}-digit number" if text.lstrip("+-").isdigit() else f"{len(text)} characters"
    return f"{text[:12]}... ({kind})"


# ----- numeric options: finite floats, bounded integers ----------------------------------------------------------
def _number_problem(value: Any) -> str | None:
    """Why a parsed option value is not accepted (None: it is), for each item of a repeated option."""
    items = value if isinstance(value, list | tuple) else (value,)
    for item in items:
        if isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a finite number"
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INT:
            return f"{short(item)} is out of range (at most 1e15)"
    return None


# options that name where output goes: an empty one is Path(""), the working folder, where `demo --out ""` and
# `sweep --out ""` wrote their files without a word
PATH_OPTIONS = ("--out", "--plot", "--plots", "--trace")


def _path_problem(param: click.Parameter, value: Any) -> str | None:
    if isinstance(value, str) and not value.strip() and any(name in PATH_OPTIONS for name in param.opts):
        return "empty path; give a file or folder name (or leave the option out)"
    return None


def _checked(callback: Callable[..., Any] | None) -> Callable[..., Any]:
    """A parameter callback that checks the parsed number first, then runs the parameter's own callback."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        problem = _number_problem(value) or _path_problem(param, value)
        if problem:
            raise click_errors.BadParameter(problem, ctx=ctx, param=param)
        return callback(ctx, param, value) if callback else value

    check.checked = True  # type: ignore[attr-defined]
    return check


def harden(command: click.Command) -> None:
    """Check every numeric option of `command` and its subcommands after it is parsed (in place)."""
    for param in command.params:
        if not getattr(param.callback, "checked", False):
            param.callback = _checked(param.callback)
    for sub in getattr(command, "commands", {}).values():
        harden(sub)


# ----- the root group ---------------------------------------------------------------------------------------------
class OneLineErrors(TyperGroup):
    """The root command: user errors and usage errors as one `error:` line and exit 2."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        harden(self)
        try:
            with warnings.catch_warnings():
                # numpy's "overflow encountered" notes are not for a command's user: every estimate is checked to
                # be finite (perf/estimate.py) and reported as one error line when it is not
                warnings.simplefilter("ignore", RuntimeWarning)
                result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:  # `accelscope llm`: the help, and click's usage-error status
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            result = USER_ERROR_EXIT
        except click_errors.UsageError as exc:
            print_error(_usage_message(exc))
            result = USER_ERROR_EXIT
        except USER_ERRORS as exc:
            print_error(_os_message(exc) if isinstance(exc, OSError) else str(exc))
            result = USER_ERROR_EXIT
        except typer.Abort:
            print_error("aborted")
            result = 1
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def _os_message(exc: OSError) -> str:
    """`[Errno 20] Not a directory: '/dev/null/x'` as `/dev/null/x: not a directory; ...` with what to do."""
    if exc.filename is None or not exc.strerror:
        return str(exc)
    if isinstance(exc, FileExistsError):  # mkdir of an --out / --plot folder where a file already is
        return (f"{exc.filename}: a file is in the way of a folder to create; give an --out, --plot or --plots "
                "folder that is not an existing file")
    what = exc.strerror[0].lower() + exc.strerror[1:]
    return (f"{exc.filename}: {what}; give a path whose folders exist and that you may read (an input) or write "
            "(an --out, --plot or --plots folder)")


def _usage_message(exc: click_errors.UsageError) -> str:
    """click's message ("Invalid value for '--m': ...") and where to look for the right form."""
    where = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
    return f"{exc.format_message()}{where}"


# ----- option checks ------------------------------------------------------------------------------------------
def option_name(field: str) -> str:
    """The CLI option of a keyword argument: `global_batch` -> `--global-batch`."""
    return "--" + field.replace("_", "-")


def require_positive(**options: int | None) -> None:
    """Counts and lengths given as options (keyword = option with underscores) must be >= 1; None is unset."""
    for key, value in options.items():
        if value is not None and value < 1:
            raise ValueError(f"{option_name(key)}: must be >= 1 (got {value})")


def check_level(level: str, option: str = "--level") -> None:
    """A known, available performance level, refused under the option typed: the perf layer says `level: ...`,
    and a sweep spec built from the options gave pydantic's multi-line dump (sensitivity --level)."""
    from ..perf.estimate import check_level as check_known_level

    try:
        check_known_level(level)
    except ValueError as exc:
        message = str(exc)
        raise ValueError(f"{option}:{message.removeprefix('level:')}" if message.startswith("level:")
                         else f"{option}: {message}") from None


def check_output_file(option: str, out: str, suffixes: tuple[str, ...], parents_made: bool = True) -> None:
    """Refuse an output file that cannot be written before the work that fills it (bench's suite, calibrate's fit:
    a minute or more), not after: a folder, a name without one of `suffixes` (bench wrote CSV under any name, which
    `validate FOLDER` then skipped; a calibrated overlay without .yaml is not read as a spec by --hw), a file where
    a folder must be, or (`parents_made` False: the writer does not create them) a missing folder."""
    from pathlib import Path

    path = Path(out)
    fix = f"give a file name ending in {' or '.join(suffixes)}"
    if path.is_dir():
        raise ValueError(f"{option}: {out} is a folder; {fix}")
    if path.suffix not in suffixes:
        raise ValueError(f"{option}: {out} does not end in {' or '.join(suffixes)}; {fix}")
    blocker = next((parent for parent in path.parents if parent.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(f"{option}: {blocker} is a file, not a folder; {fix} in a folder")
    if not parents_made and not path.parent.is_dir():
        raise ValueError(f"{option}: folder {path.parent} does not exist; create it or {fix} in an existing folder")


def refuse_given(names: Iterable[str], reason: str) -> None:
    """Refuse options (keyword names) typed on the command line that the chosen mode ignores (`llm plan` without
    --serve ignores --slo-tpot): each was accepted with exit 0 and no effect. Defaults are not the user's, so only
    options whose value came from the command line or the environment count."""
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is None:  # called outside a command (a Python caller)
        return
    wanted = set(names)
    for param in ctx.command.params:
        if param.name in wanted and ctx.get_parameter_source(param.name) in (ParameterSource.COMMANDLINE,
                                                                            ParameterSource.ENVIRONMENT):
            option = max(param.opts, key=len)  # --input-len, not a short alias
            raise ValueError(f"{option}: {reason}")


def refuse_repeats(option: str, items: Iterable[Any]) -> None:
    """A list option naming one item twice (`--levels roofline,roofline`, `--vary isa.exp2 --vary isa.exp2`) did
    the work twice and showed it twice."""
    seen: list[Any] = []
    for item in items:
        if item in seen:
            raise ValueError(f"{option}: {short(str(item))!r} is named twice; name each once")
        seen.append(item)


def check_dtypes(**options: str | None) -> None:
    """Dtype options (keyword = option with underscores) name a known dtype; None is unset."""
    from ..hardware.dtypes import canonical_dtype

    for key, value in options.items():
        if value is not None:
            try:
                canonical_dtype(value)
            except ValueError as exc:
                raise ValueError(f"{option_name(key)}: {exc}") from None


# ----- op fields -> CLI options -----------------------------------------------------------------------------------
_FIELD_ERROR = re.compile(r"^([A-Z][A-Za-z]*)\.([a-z_]+)(\W)")
_ARGUMENT_ERROR = re.compile(r"^([a-z][a-z0-9_]*)([=:])")  # digits too: fp8_recipe


@contextmanager
def naming_options(renamed: Mapping[str, str] | None = None) -> Iterator[None]:
    """Reword `Op.field: ...` errors raised inside as `--field: ...` (the option the user typed).

    Options are the fields with dashes (`q_len` -> `--q-len`); `renamed` maps the others (`{"norm": "--kind"}`)."""
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        match = _FIELD_ERROR.match(message)
        from ..workload import ops as ir

        if match is None or not isinstance(getattr(ir, match.group(1), None), type):
            raise
        field = match.group(2)
        option = (renamed or {}).get(field) or option_name(field)
        raise ValueError(f"{option}{match.group(3)}{message[match.end():]}") from None


@contextmanager
def naming_arguments(options: Iterable[str]) -> Iterator[None]:
    """Reword errors of a Python API call that start with one of its keyword arguments (`global_batch=100: ...`,
    `moe_imbalance: ...`) with the option the user typed (`--global-batch=100: ...`), and the other arguments the
    message quotes with their value (`... divisible by cp=3` -> `... divisible by --cp=3`)."""
    options = tuple(options)
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        match = _ARGUMENT_ERROR.match(message)
        if match is None or match.group(1) not in options or type(exc) is not ValueError:
            raise
        rest = re.sub(r"(?<![\w-])([a-z][a-z0-9_]*)=(?=\S)",
                      lambda m: f"{option_name(m.group(1))}=" if m.group(1) in options else m.group(0),
                      message[match.end(1):])
        raise ValueError(f"{option_name(match.group(1))}{rest}") from None


def build_op(cls: type[ir.Op], renamed: Mapping[str, str] | None = None, **fields: Any) -> ir.Op:
    """An op from a command's options; a bad field is reported under its option (`--kind`, not `Norm.norm`)."""
    with naming_options(renamed):
        return cls(**fields)
