"""Exit statuses of every ``egraff`` command, and the one-line error report.

- 0: done;
- 2: bad input or usage, found before anything ran (a config or plan key, a missing or unreadable
  input file, a bad option); click and typer use 2 for their own usage errors;
- 1: a failure while running (a job raised, a download failed, LAMMPS stopped).

The error is one line on stderr, ``error: <sentence>``, never a traceback.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NoReturn

import typer

from egraff.config import ConfigError

BAD_INPUT = 2
FAILURE = 1


def fail(error, status: int) -> NoReturn:
    typer.secho(f"error: {error}", err=True, fg="red")
    raise typer.Exit(status)


@contextmanager
def exit_statuses(bad_input: tuple = (), failures: tuple = ()) -> Iterator[None]:
    """Report :class:`ConfigError` and ``bad_input`` errors with status 2, ``failures`` with status 1."""
    try:
        yield
    except (ConfigError, *bad_input) as err:
        fail(err, BAD_INPUT)
    except failures as err:
        fail(err, FAILURE)


@contextmanager
def write_failures(output: Path) -> Iterator[None]:
    """An ``OSError`` while a command writes ``output`` (no such folder, no permission, disk full): status 1."""
    try:
        yield
    except OSError as err:
        fail(f"cannot write {output}: {err.strerror or err}", FAILURE)
