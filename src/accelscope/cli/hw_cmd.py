"""`accelscope hw`: list the presets, show one like a datasheet, print the schema, check a spec."""

from __future__ import annotations

import json
import warnings
from typing import Annotated

import typer
from rich.console import Console

from .app_options import JsonOpt, SetOpt, named, spec_from
from .check_cmd import check_command

hw_app = typer.Typer(help="Hardware specs: list presets, show one.", no_args_is_help=True)
console = Console()


# ----- hw ---------------------------------------------------------------------------------------------
@hw_app.command("list")
def hw_list(as_json: JsonOpt = False) -> None:
    """List hardware presets with their headline figures."""
    from ..hardware.headline import preset_headlines
    from . import render

    heads = preset_headlines()  # straight from the preset files: no schema import on this start-up path
    if as_json:
        print(json.dumps(heads, indent=2))
    else:
        console.print(render.hw_table(heads, width=console.width))


@hw_app.command("schema")
def hw_schema() -> None:
    """Print the spec schema (JSON Schema of every section and field)."""
    from ..hardware.spec import HardwareSpec

    print(json.dumps(HardwareSpec.model_json_schema(), indent=2))


@hw_app.command("show")
def hw_show(
    spec: Annotated[str, typer.Argument(help="Preset id or path to a YAML spec.")],
    sets: SetOpt = None,
    sources: Annotated[bool, typer.Option("--sources/--no-sources", help="Show where each number is from.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Show a spec like a datasheet, with derived figures (ridge points, bytes/FLOP, SFU-to-matrix ratio) and the
    warnings of `hw check`."""
    from ..hardware.check import SpecWarning, check_spec
    from . import render
    from .check_cmd import print_warnings

    with warnings.catch_warnings():  # printed below, with the datasheet
        warnings.simplefilter("ignore", SpecWarning)
        hw = spec_from(spec, sets)
    findings = check_spec(hw)
    if as_json:
        from ..hardware.describe import derived_figures

        checks = [{"check": f.check, "message": f.message, "explained": f.explained} for f in findings if not f.ok]
        print(json.dumps(named({"spec": hw.model_dump(mode="json"), "derived": derived_figures(hw),
                                "warnings": checks}, hw), indent=2))
    else:
        render.print_datasheet(console, hw, show_sources=sources)
        print_warnings(console, findings)


hw_app.command("check")(check_command)
