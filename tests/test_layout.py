"""The shape of the code: one stage spec, option families declared once, no import cycle, small units."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from pathlib import Path

import pytest

import minekit as mk
from minekit import options, registry
from conftest import cli_commands
from minekit.execution.pipeline_file import _options as pipeline_keys

PACKAGE = Path(mk.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every minekit module `name` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("minekit") and target != name:
                found.add(target)
    return found


def test_the_import_graph_has_no_cycle_and_stages_import_no_executor():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(trail + [node, nxt])
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    for name in (n for n in graph if n.startswith("minekit.stages")):
        assert not {t for t in graph[name] if t.startswith(("minekit.execution.pipeline", "minekit.execution.ray",
                                                              "minekit.execution.executors", "minekit.cli"))}, name
    ray_runner = (PACKAGE / "execution" / "ray_runner.py").read_text()
    assert not [spec.kind for spec in registry.SPECS.values() if f'"{spec.kind}"' in ray_runner and spec.kind != "merge"]


def test_no_function_longer_than_80_lines_and_no_module_longer_than_600():
    long_functions, long_modules = [], []
    for name, path in _modules().items():
        text = path.read_text()
        if len(text.splitlines()) > 600:
            long_modules.append(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long_functions.append(f"{name}.{node.name}")
    assert long_modules == [] and long_functions == []


CLI = dict(cli_commands())


@pytest.mark.parametrize("kind", sorted(registry.SPECS))
def test_every_option_has_one_default_and_one_rule_in_the_cli_the_pipeline_and_the_api(kind):
    spec = registry.SPECS[kind]
    api = getattr(mk, spec.function)
    flags = {p.name: p for p in CLI[spec.command].params}
    keys = pipeline_keys(api)
    for name, param in inspect.signature(api).parameters.items():
        if name == "show_progress":
            continue
        rule = options.rule_of(kind, name)
        family = getattr(api, "family_options", {}).get(name)
        if family is not None:  # declared once, in its family: the API's default is the family's
            assert param.default == family.default, (kind, name)
            assert family.metadata["rule"] is None or rule is family.metadata["rule"], (kind, name)
            assert flags[name].help == family.metadata["help"], (kind, name)
        if param.default is not inspect.Parameter.empty:
            cli_default = flags[name].default
            assert (str(cli_default) if isinstance(cli_default, Path) else cli_default) == param.default, (kind, name)
            if spec.step:
                assert keys[name].default == param.default, (kind, name)
        if rule is not None and flags[name].param_type_name == "option":  # the CLI checks with the same rule
            assert flags[name].callback is not None, (kind, name)


def test_a_family_member_means_one_thing_everywhere():
    seen: dict[str, dataclasses.Field] = {}
    for spec in registry.SPECS.values():
        for name, field in getattr(getattr(mk, spec.function), "family_options", {}).items():
            assert seen.setdefault(name, field) is field, f"{name} is declared by two families"
    encoder_stages = [s.kind for s in registry.SPECS.values()
                      if "batch_size" in getattr(getattr(mk, s.function), "family_options", {})]
    assert {"mine.dense", "mine.cluster", "embed", "evaluate"} <= set(encoder_stages)
    hints = typing.get_type_hints(options.EncoderOptions)
    assert hints["cache_dir"] == (str | None)


def test_a_file_named_like_a_value_does_not_change_a_fingerprint(tiny_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = dict(**tiny_files, out="o.parquet", stemmer="english", stopwords="en", method="lucene")
    clean = registry.stage_fingerprint(mk.mine_bm25, values)
    for name in ("english", "en", "lucene", "o.parquet"):
        (tmp_path / name).write_text("not an input")
    assert registry.stage_fingerprint(mk.mine_bm25, values) == clean
    build = dict(candidates=[tiny_files["corpus"]], **tiny_files, name="sample", fill="random")
    before = registry.stage_fingerprint(mk.build, build)
    (tmp_path / "sample").mkdir()
    (tmp_path / "random").write_text("")
    assert registry.stage_fingerprint(mk.build, build) == before
    # a declared input is hashed by content: another corpus file is another fingerprint
    other = tmp_path / "corpus2.parquet"
    other.write_bytes(Path(tiny_files["corpus"]).read_bytes() + b"")
    assert registry.stage_fingerprint(mk.mine_bm25, {**values, "corpus": other}) == clean
    other.write_bytes(b"changed")
    assert registry.stage_fingerprint(mk.mine_bm25, {**values, "corpus": other}) != clean


def test_errors_name_the_parameter(tmp_path):
    from minekit.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        mk.mine_bm25(queries="q", positives="p", corpus="c", out=tmp_path / "o.parquet", shards=2)
    assert exc.value.param == "shards"
    with pytest.raises(ConfigError) as exc:
        mk.mine_dense(queries="q", positives="p", corpus="c", out=tmp_path / "o.parquet", batch_size=0)
    assert exc.value.param == "batch_size"
