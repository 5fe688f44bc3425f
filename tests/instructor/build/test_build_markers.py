"""Solution markers: parsing, stripping into the starter, and the errors for malformed regions."""

import textwrap
from pathlib import Path

import pytest

from grader.instructor.build.solutions import (
    MarkerError,
    find_regions,
    provided_lines,
    solution_lines,
    strip_file,
    strip_solutions,
)

MODULE = textwrap.dedent('''\
    import math


    def double(x: float) -> float:
        """Twice x."""
        # BEGIN SOLUTION
        # > Multiply x by two.
        # >     y = 2 * x
        # >
        # > Return y.
        y = 2 * x  # (batch,)
        return y
        # END SOLUTION


    class Model:
        def forward(self, x: float) -> float:
            if x is None:
                return x
            # BEGIN SOLUTION
            # > Call double.
            return double(x)
            # END SOLUTION

        def helper(self) -> float:
            return math.pi
''')

STARTER = textwrap.dedent('''\
    import math


    def double(x: float) -> float:
        """Twice x."""
        # TODO: Multiply x by two.
        #           y = 2 * x
        #
        #       Return y.
        raise NotImplementedError("double: not implemented yet — see the TODO above")


    class Model:
        def forward(self, x: float) -> float:
            if x is None:
                return x
            # TODO: Call double.
            raise NotImplementedError("forward: not implemented yet — see the TODO above")

        def helper(self) -> float:
            return math.pi
''')


def write(tmp_path: Path, text: str, name: str = "module.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_regions_are_replaced_by_the_todo_and_a_named_not_implemented_error():
    assert strip_solutions(MODULE) == STARTER


def test_regions_know_their_function_prompt_and_solution():
    first, second = find_regions(MODULE)
    assert (first.function, first.begin_line, first.end_line, first.indent) == ("double", 6, 13, "    ")
    assert first.prompt == ("Multiply x by two.", "    y = 2 * x", "", "Return y.")
    assert first.solution == ("    y = 2 * x  # (batch,)", "    return y")
    assert (second.function, second.indent) == ("forward", "        ")


def test_a_file_without_markers_is_unchanged(tmp_path):
    text = "import math\n\n\ndef f() -> float:\n    return math.pi  # BEGIN SOLUTION is only text here\n"
    assert strip_file(write(tmp_path, text)) == text


def test_line_endings_are_kept(tmp_path):
    path = tmp_path / "crlf.py"
    path.write_bytes(MODULE.replace("\n", "\r\n").encode("utf-8"))
    assert strip_file(path) == STARTER.replace("\n", "\r\n")


def test_the_starter_compiles_and_raises_not_implemented_error():
    namespace: dict = {}
    exec(compile(strip_solutions(MODULE), "starter", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="double: not implemented yet"):
        namespace["double"](1)
    assert namespace["Model"]().helper() == namespace["math"].pi


def test_solution_lines_are_the_code_inside_regions_without_comments():
    assert solution_lines(MODULE) == {"y = 2 * x", "return y", "return double(x)"}
    provided = provided_lines(MODULE)
    assert "return x" in provided and "if x is None:" in provided
    assert "return y" not in provided and "# BEGIN SOLUTION" not in provided


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param("""\
            def f():
                # BEGIN SOLUTION
                # > Do it.
                return 1
            """, 2, "unbalanced '# BEGIN SOLUTION'", id="begin-without-end"),
        pytest.param("""\
            def f():
                return 1
                # END SOLUTION
            """, 3, "unbalanced '# END SOLUTION'", id="end-without-begin"),
        pytest.param("""\
            def f():
                # BEGIN SOLUTION
                # > Do it.
                x = 1
                # BEGIN SOLUTION
                # > Again.
                return x
                # END SOLUTION
                # END SOLUTION
            """, 5, "nested '# BEGIN SOLUTION'", id="nested"),
        pytest.param("""\
            def f():
                # BEGIN SOLUTION
                return 1
                # END SOLUTION
            """, 2, "region has no prompt", id="no-prompt"),
        pytest.param("""\
            def f():
                # BEGIN SOLUTION
                # > Do it.
                return 1
              # END SOLUTION
            """, 5, "indentation mismatch", id="end-indentation"),
        pytest.param("""\
            def f():
                # BEGIN SOLUTION
                  # > Do it.
                return 1
                # END SOLUTION
            """, 3, "prompt line indented differently", id="prompt-indentation"),
        pytest.param("""\
            # BEGIN SOLUTION
            # > Do it.
            X = 1
            # END SOLUTION
            """, 1, "not inside a function", id="outside-a-function"),
        pytest.param("""\
            def f():
                # BEGIN SOLUTIONS
                # > Do it.
                return 1
                # END SOLUTION
            """, 2, "malformed marker", id="misspelled-begin"),
        pytest.param("""\
            def f():
                # BEGIN SOLUTION
                # > Do it.
                return 1
                # end solution
            """, 5, "malformed marker", id="misspelled-end"),
    ],
)
def test_bad_markers_raise_an_error_naming_file_and_line(tmp_path, text, line, problem):
    path = write(tmp_path, text, "bad.py")
    with pytest.raises(MarkerError) as caught:
        strip_file(path)
    assert str(caught.value).startswith(f"{path}:{line}: "), str(caught.value)
    assert problem in str(caught.value)
    assert caught.value.line_number == line


def test_a_starter_that_does_not_compile_is_an_error(tmp_path):
    path = write(tmp_path, """\
        def f():
            # BEGIN SOLUTION
            # > Do it.
            return 1
            # END SOLUTION
        def broken(:
        """, "broken.py")
    with pytest.raises(SyntaxError, match=r"broken\.py"):
        strip_file(path)
