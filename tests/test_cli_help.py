"""Every command and option has help; --help is fast because heavy libraries load lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import cli_commands
from minekit.cli import app

runner = CliRunner()


COMMANDS = list(cli_commands())


def test_the_expected_commands_exist():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"validate", "info", "filter", "build", "mine bm25", "mine passage-bm25", "import beir",
            "import pairs"} <= names


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_option_has_help(path, cmd):
    assert cmd.help and "Example:" in cmd.help, f"{' '.join(path)} needs help with an Example: line"
    for param in cmd.params:
        if param.param_type_name == "option":
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help"
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from typer.testing import CliRunner; from minekit.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
            "heavy = [m for m in ('torch', 'sentence_transformers', 'faiss', 'transformers', 'polars', 'bm25s') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
