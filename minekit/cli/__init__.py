"""The minekit command line: a thin shell over the Python API (minekit.api). A command parses its flags,
calls one stage with them and prints what it wrote (the path on stdout, counts on stderr).

Flags are the stage's keyword arguments (--range-max is range_max); a flag written `= DEFAULT` takes the
stage's default, option families (encoder, BM25, shards) are added from minekit.options, and value rules
come from there too, so each lives in one place. Heavy libraries are imported inside the stages, so
`minekit --help` stays instant.
"""

from minekit.cli import commands  # noqa: F401  (registers every command on the app)
from minekit.cli.app import _plain_metavars, app, main  # noqa: F401
