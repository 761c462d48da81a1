"""The stage layer as the Python API: same names and defaults as the CLI, outputs written as the CLI writes them."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import minekit as mk
from minekit import registry
from conftest import cli_commands
from minekit.cli import app
from minekit.errors import ConfigError
from minekit.options import RULES, BadValue


COMMANDS = list(cli_commands())


def _plain(value):
    return str(value) if isinstance(value, Path) else value


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_cli_and_library_agree_on_every_flag_and_default(path, cmd):
    stage_fn = cmd.callback.stage
    library = {n: p for n, p in inspect.signature(stage_fn).parameters.items() if n != "show_progress"}
    flags = {p.name: p for p in cmd.params}
    assert set(flags) == set(library), f"minekit {' '.join(path)}: flags and {stage_fn.__name__} params differ"
    for name, param in library.items():
        if param.default is inspect.Parameter.empty:
            assert flags[name].required or not flags[name].param_type_name == "option", name
            continue
        cli_default = flags[name].default
        assert _plain(cli_default) == _plain(param.default), f"{' '.join(path)} {name}"
        assert not flags[name].required


def test_every_stage_is_a_command_and_a_package_attribute():
    commands = {path: cmd.callback.stage for path, cmd in COMMANDS}
    assert {spec.command for spec in registry.SPECS.values()} == set(commands)
    for spec in (s for s in registry.SPECS.values() if s.step):
        assert getattr(mk, spec.function).kind == spec.kind == commands[spec.command].kind
    assert set(registry.API) <= set(dir(mk))


def test_stage_names_stay_stages_after_their_library_module_is_imported():
    import importlib

    importlib.import_module("minekit.dataset.build")
    importlib.import_module("minekit.clean.filter")
    assert mk.build.kind == "build" and mk.filter.kind == "filter"
    assert importlib.import_module("minekit.dataset.build").build_dataset  # the library module is still there


def test_import_minekit_stays_light():
    code = ("import sys, minekit as mk; mk.mine_dense; mk.train; mk.run; "
            "heavy = [m for m in ('polars', 'torch', 'sentence_transformers', 'numpy', 'click') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rules_apply_to_python_callers_before_any_file_is_read(tmp_path):
    with pytest.raises(BadValue) as exc:
        mk.mine_bm25(queries=tmp_path / "none", positives=tmp_path / "none", corpus=tmp_path / "none",
                     out=tmp_path / "o.parquet", top_k=0)
    assert exc.value.param == "top_k" and "greater than or equal to 1" in str(exc.value)
    with pytest.raises(BadValue, match="'foo' is not one of triplet"):
        mk.build(candidates=[tmp_path / "c"], queries=tmp_path / "q", positives=tmp_path / "p", corpus=tmp_path / "c",
                 name="d", out_dir=tmp_path / "ds", format="foo")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", sorted(RULES))
def test_every_rule_names_a_parameter_of_its_stage(kind):
    params = inspect.signature(registry.load(kind)).parameters
    assert set(RULES[kind]) <= set(params)


def test_stage_results_say_what_was_written_and_dropped(tiny_files, tmp_path):
    mined = mk.mine_bm25(**tiny_files, out=tmp_path / "bm25.parquet", top_k=5, show_progress=False)
    assert mined.path == tmp_path / "bm25.parquet" and mined.files == {"out": mined.path}
    assert mined.stats["rows_out"] == pl.read_parquet(mined.path).height
    kept = mk.filter(candidates=mined.path, out=tmp_path / "f.parquet", range_min=1)
    assert kept.dropped == {**kept.dropped, "range_min": 5}  # rank 1 of each of the 5 queries
    assert kept.stats["rows_out"] == mined.stats["rows_out"] - 5
    built = mk.build(candidates=[kept.path], **tiny_files, name="demo", out_dir=tmp_path / "ds", num_negatives=1)
    assert built.path == tmp_path / "ds" / "demo" / "v1" and not built.reused
    assert set(built.files) >= {"train.parquet", "ids.parquet", "manifest.json", "README.md"}
    again = mk.build(candidates=[kept.path], **tiny_files, name="demo", out_dir=tmp_path / "ds", num_negatives=1)
    assert again.reused and again.path == built.path


def test_a_two_file_output_appears_whole_or_not_at_all(tmp_path):
    """mine cluster's parquet + centroids and denoise's output + pseudo-positives are written this way."""
    import numpy as np

    from minekit.io import atomic_paths, write_parquet

    out = tmp_path / "c.parquet"
    saved = out.with_name(out.name + ".centroids.npy")
    with pytest.raises(OSError, match="disk full"):
        with atomic_paths(saved, out) as (tmp_centroids, tmp_out):
            with open(tmp_centroids, "wb") as handle:
                np.save(handle, np.zeros((2, 3), dtype=np.float32))
            raise OSError("disk full")  # the parquet never got written
    assert list(tmp_path.iterdir()) == []
    with atomic_paths(saved, out) as (tmp_centroids, tmp_out):
        with open(tmp_centroids, "wb") as handle:
            np.save(handle, np.ones((2, 3), dtype=np.float32))
        write_parquet(pl.DataFrame({"a": [1]}), tmp_out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.parquet", "c.parquet.centroids.npy"]
    assert np.load(saved).sum() == 6


def test_denoise_flag_pairs_are_checked_in_the_library_and_named_as_flags_on_the_command_line(tiny_files, tmp_path):
    with pytest.raises(ConfigError, match="pseudo_positives and min_positive_score go together"):
        mk.denoise(candidates=tmp_path / "c.parquet", **tiny_files, out=tmp_path / "o.parquet",
                   pseudo_positives=tmp_path / "pp.parquet")
    result = CliRunner().invoke(app, ["denoise", "--candidates", str(tmp_path / "c.parquet"),
                                      *[a for k, v in tiny_files.items() for a in (f"--{k}", str(v))],
                                      "--out", str(tmp_path / "o.parquet"), "--pseudo-positives",
                                      str(tmp_path / "pp.parquet")])
    assert result.exit_code == 2
    assert "--pseudo-positives and --min-positive-score go together" in result.output


def test_a_pipeline_step_and_the_same_call_store_one_fingerprint(tiny_files, tmp_path):
    import json

    from minekit.io import read_manifest

    toml = tmp_path / "p.toml"
    toml.write_text(f"""
[inputs]
queries = "{tiny_files['queries']}"
positives = "{tiny_files['positives']}"
corpus = "{tiny_files['corpus']}"

[steps.bm25]
run = "mine.bm25"
top_k = 5

[steps.filtered]
run = "filter"
candidates = "@bm25"
range_min = 1

[steps.build]
run = "build"
candidates = ["@filtered"]
name = "demo"
num_negatives = 1
""")
    runs = tmp_path / "runs"
    assert CliRunner().invoke(app, ["-q", "run", str(toml), "--runs-dir", str(runs)]).exit_code == 0
    records = json.loads((runs / "p" / "run.json").read_text())["steps"]
    for name in ("bm25", "filtered"):
        assert read_manifest(records[name]["output"])["fingerprint"] == records[name]["fingerprint"]
    built = json.loads((Path(records["build"]["output"]) / "manifest.json").read_text())
    assert built["fingerprint"] == records["build"]["fingerprint"]
    # the same stage called by hand, writing elsewhere, computes the same fingerprint
    again = mk.mine_bm25(**tiny_files, out=tmp_path / "by-hand.parquet", top_k=5, show_progress=False)
    assert read_manifest(again.path)["fingerprint"] == records["bm25"]["fingerprint"]
    by_hand = mk.filter(candidates=records["bm25"]["output"], out=tmp_path / "f.parquet", range_min=1)
    assert read_manifest(by_hand.path)["fingerprint"] == records["filtered"]["fingerprint"]

    # an output replaced by one made with other settings is not up to date, whatever run.json says
    mk.mine_bm25(**tiny_files, out=records["bm25"]["output"], top_k=3, show_progress=False)
    dry = CliRunner().invoke(app, ["-q", "run", str(toml), "--runs-dir", str(runs), "--dry-run"])
    assert "output was made with other settings" in dry.stdout


def test_one_setting_one_fingerprint_however_it_is_written(tiny_files):
    base = dict(candidates=[tiny_files["corpus"]], queries="q", positives="p", corpus="c", name="d")
    fingerprints = {registry.stage_fingerprint(mk.build, {**base, "relative_margin": value})
                    for value in ("none", "None", None)}
    assert len(fingerprints) == 1
    assert registry.stage_fingerprint(mk.train, {"dataset": "d", "out": "m", "epochs": 1}) == \
        registry.stage_fingerprint(mk.train, {"dataset": "d", "out": "elsewhere", "epochs": 1.0})
    assert registry.stage_fingerprint(mk.filter, {"candidates": tiny_files["corpus"], "out": "o", "range_min": 1}) != \
        registry.stage_fingerprint(mk.filter, {"candidates": tiny_files["corpus"], "out": "o", "range_min": 2})


def test_pipeline_thresholds_take_auto_only_where_the_stage_does():
    params, _ = registry.split_values(mk.denoise, {"max_positive_similarity": "auto", "positive_neighbours": 12,
                                                     "absolute_margin": "none"})
    assert params["max_positive_similarity"] == "auto" and params["positive_neighbours"] == 12.0
    assert params["absolute_margin"] is None and params["relative_margin"] is None
    with pytest.raises(ConfigError, match="'auto' is not a number or 'none'"):
        registry.split_values(mk.denoise, {"relative_margin": "auto"})
