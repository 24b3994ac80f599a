"""The root command loads a sub-command's module only when it runs (cli/lazy.py): the help it lists without
loading them must be each command's own, and a command must not pull in the others."""

import os
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from accelscope.cli.app import app
from accelscope.cli.lazy import LazyRoot

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _first_paragraph(text: str) -> str:
    """What a command list shows of a help text: its first paragraph, lines joined."""
    return " ".join(text.strip().split("\n\n")[0].split())


def test_listed_short_help_is_each_loaded_commands_own():
    root = typer.main.get_command(app)
    for name, entry in LazyRoot.lazy.items():
        loaded = entry.load()
        assert loaded.name == name
        assert _first_paragraph(entry.short_help) == _first_paragraph(loaded.short_help or loaded.help or ""), name
    assert root.list_commands(None) == list(LazyRoot.lazy)  # nothing registered outside the lazy table


def test_only_the_root_could_offer_shell_completion():
    def options(command, path=()):
        yield path, {opt for param in command.params for opt in param.opts}
        for name in getattr(command, "list_commands", lambda _: [])(None):
            yield from options(command.get_command(None, name), (*path, name))

    offered = [path for path, opts in options(typer.main.get_command(app)) if "--install-completion" in opts]
    assert offered == []  # the app is built with add_completion=False, and so is every lazily built command


def test_help_lists_every_command_and_a_typo_gets_the_lazy_names():
    runner = CliRunner()
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert all(f" {name} " in listing for name in LazyRoot.lazy)
    typo = runner.invoke(app, ["estimat"])
    assert typo.exit_code == 2 and "Did you mean 'estimate'" in typo.output


def _modules_after(*args: str) -> set[str]:
    code = ("import sys\nfrom accelscope.cli.app import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(m for m in sys.modules if m.startswith('accelscope.cli.')), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          check=True, env={**os.environ, "PYTHONPATH": SRC})
    return set(done.stderr.split()[-100:])


def test_a_command_loads_only_its_own_module():
    loaded = _modules_after("hw", "list", "--json")
    assert "accelscope.cli.hw_cmd" in loaded
    others = {f"accelscope.cli.{m}" for m in ("llm_cmd", "sim_cmd", "estimate_cmd", "sweep_cmd", "numerics_cmd",
                                              "validate_cmd", "plan_cmd", "serve_cmd")}
    assert loaded & others == set()
    assert "accelscope.cli.hw_cmd" not in _modules_after("--help")
