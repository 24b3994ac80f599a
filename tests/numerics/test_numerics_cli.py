"""`accelscope numerics formats|quantize` through typer's runner."""

import json

from typer.testing import CliRunner

from accelscope.cli.numerics_cmd import numerics_app

runner = CliRunner()


def test_formats_json_lists_everything():
    result = runner.invoke(numerics_app, ["formats", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    names = [f["name"] for f in data["element_formats"]] + [f["name"] for f in data["block_formats"]]
    assert "fp8_e4m3" in names and "nvfp4" in names and len(names) == 23
    e4m3 = next(f for f in data["element_formats"] if f["name"] == "fp8_e4m3")
    assert e4m3["max"] == 448.0 and e4m3["min_subnormal"] == 2.0**-9


def test_formats_table():
    result = runner.invoke(numerics_app, ["formats"])
    assert result.exit_code == 0 and "mxfp4" in result.stdout and "448" in result.stdout


def test_quantize_values_json():
    result = runner.invoke(numerics_app, ["quantize", "--format", "mxfp4", "--values", "7,0.3,-2.6,0.24", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    # OCP FLOOR scale for amax 7: X = 2^(2-2) = 1 (E8M0 code 127); 7 -> 6 (0x7), -2.6 -> -3 (0xD)
    assert data["dequantized"] == [6.0, 0.5, -3.0, 0.0]
    assert data["codes"] == [0x7, 0x1, 0xD, 0x0] and data["scale_codes"] == [127]
    assert data["metrics"]["max_abs_error"] == 1.0


def test_quantize_random_table():
    result = runner.invoke(numerics_app, ["quantize", "-f", "nvfp4", "--random", "40", "--seed", "1"])
    assert result.exit_code == 0 and "tensor scale" in result.stdout and "SQNR" in result.stdout


def test_bad_input_is_one_line_and_exit_2():
    result = runner.invoke(numerics_app, ["quantize", "-f", "fp7", "--values", "1"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --format: unknown format 'fp7'")
    assert "Traceback" not in result.output
    result = runner.invoke(numerics_app, ["quantize", "-f", "fp8_e4m3", "--values", "1,x"])
    assert result.exit_code == 2 and "values: must be comma-separated numbers" in result.stderr
    result = runner.invoke(numerics_app, ["quantize", "-f", "fp8_e4m3"])
    assert result.exit_code == 2 and "give exactly one of --values" in result.stderr


def test_study_gemm_cli_json():
    import json

    from typer.testing import CliRunner

    from accelscope.cli.app import app

    result = CliRunner().invoke(app, ["numerics", "study", "gemm", "--formats", "fp8_e4m3,mxfp4", "--k", "256",
                                      "--json"])
    assert result.exit_code == 0, result.stdout
    records = json.loads(result.stdout)
    errors = {r["format"]: r["relative_error"] for r in records}
    assert errors["fp8_e4m3"] < errors["mxfp4"]
