"""The user-facing docs: the CLI reference matches --help, links resolve, examples use real options, no dev talk."""

from __future__ import annotations

import importlib.util
import inspect
import re
import shlex
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
USER_DOCS = [README, *DOCS, ROOT / "pipelines" / "README.md"]

# Words about how minekit is developed, not about what it does: none belongs where a user reads.
DEV_TALK = [r"\bissues?\b", r"\bsessions?\b", r"load average", r"\blent\b", r"held-out budget", r"\bCEO\b"]


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _cli_reference_module():
    spec = importlib.util.spec_from_file_location("make_cli_reference", ROOT / "docs" / "make_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_matches_the_help_of_every_command():
    expected = _cli_reference_module().render()
    current = (ROOT / "docs" / "cli.md").read_text()
    assert current == expected, ("docs/cli.md differs from the commands' --help: run "
                                 "`python docs/make_cli_reference.py` from the repository root and commit docs/cli.md")


def _without_code(text: str) -> str:
    """The text with fenced code blocks and inline code removed (links there are examples, not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.M)}


@pytest.mark.parametrize("doc", USER_DOCS, ids=_ids(USER_DOCS))
def test_every_relative_link_points_to_an_existing_file(doc):
    broken = []
    for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _without_code(doc.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading with that anchor in {path.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)} has broken links: {broken}"


def test_readme_is_a_first_screen():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move details to docs/ (at most 200)"
    text = "\n".join(lines)
    for marker in ("<!-- ci: setup -->", "<!-- ci: test -->"):
        assert marker in text, f"README.md lost {marker}"
    assert "datasets/<name>/v<N>/" in text and "## Licence" in text


@pytest.mark.parametrize("doc", USER_DOCS, ids=_ids(USER_DOCS))
def test_user_docs_say_nothing_about_how_minekit_is_developed(doc):
    text = doc.read_text()
    found = [(pattern, line) for line in text.splitlines() for pattern in DEV_TALK
             if re.search(pattern, line, re.I)]
    assert not found, f"{doc.relative_to(ROOT)} talks about development, not minekit: {found}"


def _bash_commands(path: Path):
    """Every `minekit ...` command line in the doc's bash blocks, continuation lines joined."""
    for block in re.findall(r"^```bash\n(.*?)^```", path.read_text(), flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["minekit"]:
                yield line, words[1:]
            for i, word in enumerate(words):  # `... && minekit run ...`
                if word == "&&" and words[i + 1:i + 2] == ["minekit"]:
                    yield line, words[i + 2:words.index("&&", i + 1) if "&&" in words[i + 1:] else None]


@pytest.mark.parametrize("doc", [README, *DOCS], ids=_ids([README, *DOCS]))
def test_command_examples_use_existing_commands_and_options(doc):
    import typer

    from minekit.cli import app

    tree = typer.main.get_command(app)
    wrong = []
    for line, words in _bash_commands(doc):
        cmd, options = tree, {opt for p in tree.params for opt in p.opts}
        for word in words:
            if word.startswith("-") and not re.match(r"-[\d.]", word):  # -0.05 is a value
                if word.split("=")[0] not in options | {"--help"}:
                    wrong.append(f"{word} in: {line}")
            elif hasattr(cmd, "commands") and word in cmd.commands:
                cmd = cmd.commands[word]
                options = {opt for p in cmd.params for opt in [*p.opts, *p.secondary_opts]}
            elif hasattr(cmd, "commands"):
                wrong.append(f"no command {word!r} in: {line}")
                break
    assert not wrong, f"{doc.relative_to(ROOT)}: {wrong}"


def test_readme_python_example_calls_functions_with_their_keywords():
    """The README's short Python example binds to the real signatures (it is not run: its files are examples)."""
    import minekit

    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert code.startswith("import minekit as mk\n")
    calls = []

    def stub(name):
        signature = inspect.signature(getattr(minekit, name))

        def call(*args, **kwargs):
            signature.bind(*args, **kwargs)  # TypeError on an unknown or missing keyword
            calls.append(name)
            return types.SimpleNamespace(path=Path(f"{name}-output"), stats={}, dropped={}, data={}, files={})
        return call

    mk = types.SimpleNamespace(**{name: stub(name) for name in set(re.findall(r"\bmk\.(\w+)\(", code))})
    exec(compile(code.replace("import minekit as mk\n", ""), "README.md", "exec"), {"mk": mk})
    assert calls, "the README's Python example calls no minekit function"
