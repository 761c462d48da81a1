"""The command line's machinery: the typer apps, the @command decorator that makes a stage a command
(flags = the stage's parameters, its option families added as one stack), errors as one line, and main().
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from minekit._version import __version__
from minekit.errors import ConfigError, MinekitError

app = typer.Typer(
    help="Offline hard-negative mining and training-data building for retrieval models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
mine_app = typer.Typer(help="Mine candidate negatives for every query that has a positive.", no_args_is_help=True)
import_app = typer.Typer(help="Turn common data layouts into minekit's queries, positives and corpus files.",
                         no_args_is_help=True)
index_app = typer.Typer(help="Build the indexes mining reads, once, into the cache folder.", no_args_is_help=True)
app.add_typer(mine_app, name="mine")
app.add_typer(import_app, name="import")
app.add_typer(index_app, name="index")


class _State:
    debug = False
    quiet = False


STATE = _State()

# Options shared by many commands.
QueriesOpt = Annotated[Path, typer.Option("--queries", help="Queries parquet: query_id, text.")]
PositivesOpt = Annotated[Path, typer.Option("--positives", help="Positives parquet: query_id, doc_id[, score].")]
CorpusOpt = Annotated[Path, typer.Option("--corpus", help="Corpus parquet: doc_id, text[, title].")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output parquet file (written atomically).")]
CandidatesOpt = Annotated[Path, typer.Option("--candidates", help="Candidates parquet from mine, filter or denoise.")]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr; no progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for unexpected errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=lambda value: _print_version(value))] = False,
) -> None:
    STATE.debug, STATE.quiet = debug, quiet
    from minekit.encode.device import return_freed_memory

    return_freed_memory()  # encoders' large, changing buffers: bounded peak RSS (glibc; no-op elsewhere)
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # Libraries set their own levels at import (bm25s: DEBUG); only their warnings reach the user.
    handler.addFilter(lambda r: r.name.startswith("minekit") or r.levelno >= max(level, logging.WARNING))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def _path_value(value: str) -> Path:
    """A path flag's value; an empty one (`--out ''`, which would become the current folder '.') is an error."""
    if isinstance(value, str) and value.strip() == "":
        raise typer.BadParameter("it is empty; give a path.")
    return Path(value)


_QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}


@contextlib.contextmanager
def _quiet_libraries(quiet: bool):
    """With -q, the libraries' own bars and notes (weight loading, model cards, shards) stay silent too."""
    if not quiet:
        yield
        return
    saved = {k: os.environ.get(k) for k in _QUIET_ENV}
    os.environ.update(_QUIET_ENV)
    hf_logging = sys.modules.get("transformers.utils.logging")
    if hf_logging is not None:  # already imported: it read the environment then
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if "transformers.utils.logging" in sys.modules and saved["HF_HUB_DISABLE_PROGRESS_BARS"] is None:
            import warnings

            with warnings.catch_warnings():  # huggingface_hub warns that its (import-time) setting wins
                warnings.simplefilter("ignore")
                sys.modules["transformers.utils.logging"].enable_progress_bar()


class _FromStage:
    """The default of a flag is the default of the stage function's parameter of the same name."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _FromStage()


def _stage_signature(fn: Callable, stage_fn: Callable, kind: str) -> inspect.Signature:
    """fn's flags, then the stage's option families (declared once, in minekit.options) as one option stack.

    A DEFAULT takes the stage function's default; value rules (minekit.options) become callbacks, so a bad
    flag fails while the command line is parsed.
    """
    import copy
    import typing

    from minekit.options import rule_of

    hints = typing.get_type_hints(fn, include_extras=True)
    library = inspect.signature(stage_fn).parameters
    family = getattr(stage_fn, "family_options", {})
    params = []
    for param in inspect.signature(fn).parameters.values():
        annotation, default = hints.get(param.name, param.annotation), param.default
        if param.name not in library:
            raise TypeError(f"{fn.__name__}: flag {param.name} is no parameter of {stage_fn.__name__}")
        if param.name in family:
            raise TypeError(f"{fn.__name__}: flag {param.name} belongs to an option family; it is added for you")
        if default is DEFAULT:
            default = library[param.name].default
        rule = rule_of(kind, param.name)
        if typing.get_origin(annotation) is typing.Annotated:
            base, *meta = typing.get_args(annotation)
            info = copy.copy(meta[0])
            if rule is not None:
                info.callback = _click_rule(rule)
            is_option = type(info).__name__ == "OptionInfo"
            if is_option and Path in (base, *typing.get_args(base)) and info.parser is None:
                info.parser = _path_value
            annotation = typing.Annotated[(base, info, *meta[1:])]
        params.append(param.replace(annotation=annotation, default=default))
    stage_hints = typing.get_type_hints(stage_fn)
    for name, option in family.items():
        if name in library and name != "show_progress":
            params.append(_family_flag(name, option, stage_hints[name], rule_of(kind, name)))
    return inspect.signature(fn).replace(parameters=params)


def _family_flag(name: str, option, hint, rule) -> inspect.Parameter:
    """A family member as a typer option: its help, default and rule come from minekit.options."""
    import typing

    args = typing.get_args(hint)
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    declared = ["--" + name.replace("_", "-")] if base is bool else []  # --ray, --trust-remote-code: plain flags
    info = typer.Option(*declared, help=option.metadata["help"],
                        callback=_click_rule(rule) if rule is not None else None)
    annotation = Annotated[Optional[base] if option.default is None else base, info]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option.default, annotation=annotation)


def _click_rule(rule: Callable) -> Callable:
    def callback(value):
        try:
            return rule(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


def command(kind: str, *, out_files: tuple[str, ...] = (), out_folders: tuple[str, ...] = (),
            out_paths: tuple[str, ...] = ()) -> Callable:
    """Register the command of the stage `kind` (its name and group come from minekit.registry): it calls the
    stage with its flags and prints what it wrote.

    MinekitErrors become one clear line on stderr and an exit code. The params named in out_files /
    out_folders / out_paths (a file or a folder, as other flags say) are outputs: checked writable before any work.
    """
    from minekit.api import function
    from minekit.registry import SPECS

    spec = SPECS[kind]
    stage_fn = function(spec.function)
    group = {"mine": mine_app, "import": import_app, "index": index_app}[spec.command[0]] if len(spec.command) > 1 else app

    def decorate(fn: Callable) -> Callable:
        takes_progress = "show_progress" in inspect.signature(stage_fn).parameters

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from minekit import guards
            from minekit.options import BadValue

            try:
                for param in (*out_files, *out_folders, *out_paths):
                    check = (guards.check_output_file if param in out_files else guards.check_output_folder
                             if param in out_folders else guards.check_output_path)
                    check(kwargs.get(param), guards.flag_names(wrapper)[param])
                with _quiet_libraries(STATE.quiet):
                    extra = {"show_progress": show_progress()} if takes_progress else {}
                    _show(stage_fn(*args, **kwargs, **extra))
            except BadValue as exc:
                flag = guards.flag_names(wrapper).get(exc.param, exc.param)
                typer.echo(f"Error: Invalid value for '{flag}': {exc.reason}", err=True)
                raise typer.Exit(exc.exit_code) from None
            except MinekitError as exc:
                message = str(exc)
                if isinstance(exc, ConfigError):  # name the flags the user typed, not the library's params
                    message = guards.as_flags(message, guards.flag_names(wrapper))
                typer.echo(f"Error: {message}", err=True)
                raise typer.Exit(exc.exit_code) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt):
                raise
            except Exception as exc:
                if STATE.debug:
                    raise
                fault = guards.write_fault(exc)  # a full disk or a read-only place, met outside minekit.io
                if fault is not None:
                    typer.echo(f"Error: {fault}", err=True)
                    raise typer.Exit(1) from None
                typer.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                           err=True)
                raise typer.Exit(1) from None

        wrapper.__signature__ = _stage_signature(fn, stage_fn, kind)
        wrapper.stage = stage_fn
        return group.command(spec.command[-1])(wrapper)

    return decorate


def show_progress() -> bool:
    return not STATE.quiet


def _show(output) -> None:
    """Notes and counts on stderr (not with -q), the stage's text and output path on stdout."""
    from minekit.stats import format_stats

    if not STATE.quiet:
        for note in output.notes:
            typer.echo(note, err=True)
        if output.stats and output.title:
            typer.echo(format_stats(output.title, output.stats), err=True)
    if output.text:
        typer.echo(output.text)
    if output.path is not None and output.show_path:
        typer.echo(str(output.path))


def _threshold(value: str | float | None, *, auto: bool = False) -> str | float | None:
    """'none' on the command line turns a default threshold off; 'auto', where taken, leaves it to the stage."""
    from minekit.options import auto_float, none_float

    try:
        return (auto_float if auto else none_float)(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def _plain_metavars(group) -> None:
    """Plain metavars (PATH, INTEGER, TEXT) and the allowed values of every choice option in --help."""
    import importlib

    from minekit.options import RULES

    for cmd in getattr(group, "commands", {}).values():
        _plain_metavars(cmd)
        rules = RULES.get(getattr(getattr(getattr(cmd, "callback", None), "stage", None), "kind", ""), {})
        for param in getattr(cmd, "params", []):
            if getattr(param, "param_type_name", "") != "option" or param.is_flag:
                continue
            source = getattr(rules.get(param.name), "choices", None)  # (module, constant) of a one_of rule
            choices = getattr(importlib.import_module(source[0]), source[1], None) if source else None
            if choices:
                param.metavar = "[" + "|".join(choices) + "]"
            else:
                bare = str(param.bare_type()).lower()
                param.metavar = "PATH" if "path" in bare else {"int": "INTEGER", "float": "FLOAT"}.get(bare, "TEXT")


def main() -> None:
    if "--help" in sys.argv or "-h" in sys.argv or len(sys.argv) <= 2:
        command_tree = typer.main.get_command(app)
        _plain_metavars(command_tree)
        command_tree()
        return
    app()
