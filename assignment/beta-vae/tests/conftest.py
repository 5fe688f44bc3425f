"""Shared set-up of the public tests.

The homework modules (utils.py, vae.py, ...) sit one folder up; they are put on the import path here.
``call_homework`` calls one of your functions and, while it still raises NotImplementedError, turns the
long traceback into a one-line message saying which function to write.
"""

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HOMEWORK_DIR = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    if str(HOMEWORK_DIR) not in sys.path:
        sys.path.insert(0, str(HOMEWORK_DIR))


def _call_homework(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        raised_in = traceback.extract_tb(error.__traceback__)[-1]  # the function that still raises
    # Failing here, outside the except block, keeps the original traceback out of the report.
    missing, file = raised_in.name, Path(raised_in.filename).name
    called = getattr(function, "__name__", missing)
    needed_by = "" if called == missing else f", and {called} calls it"
    pytest.fail(f"{missing} is not implemented yet ({file}){needed_by}: "
                "replace its `raise NotImplementedError` with your code", pytrace=False)


@pytest.fixture
def call_homework() -> Callable[..., Any]:
    """``call_homework(function, *args)``: ``function(*args)``, failing briefly if it is not written yet."""
    return _call_homework
