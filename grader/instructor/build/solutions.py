"""Solution markers in the reference homework, and the starter code made by stripping them.

A solution region sits inside a function of a ``reference/*.py`` module::

    def sample_gaussian(m, v):
        # BEGIN SOLUTION
        # > Reparameterization trick: z = m + sqrt(v) * eps.
        # > Hint: torch.randn_like.
        epsilon = torch.randn_like(m)
        return m + torch.sqrt(v) * epsilon
        # END SOLUTION

Rules:

- ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are whole lines (after indentation), at the same indentation.
- The lines right after BEGIN that start with ``# >`` (same indentation) are the *prompt* shown to students;
  there must be at least one. One space after ``>`` is dropped, further spaces are kept (for indented math);
  a bare ``# >`` is an empty prompt line.
- Everything after the prompt, up to END, is the solution; it never reaches students.
- Regions do not nest, and each one lies inside a ``def`` (the nearest one above with a smaller indentation).
- A comment that resembles a marker without being one exactly (``# End Solution``, ``# BEGIN SOLUTIONS``)
  is an error rather than ordinary text: a silently ignored typo would ship a solution.

In the starter a region becomes, at the marker's indentation::

        # TODO: Reparameterization trick: z = m + sqrt(v) * eps.
        #       Hint: torch.randn_like.
        raise NotImplementedError("sample_gaussian: not implemented yet — see the TODO above")

A region is a solution only for the homeworks that assign its function: ``strip_solutions(text, source,
functions)`` replaces the regions of the functions named in ``functions`` and, in every other region,
keeps the solution and drops the marker and prompt lines (``reveal``), so that one source serves the
homework where ``negative_iwae_bound`` is provided and the one where students write it.

Files without markers are left unchanged. Any malformed marker raises :class:`MarkerError` naming the
file and the line.
"""

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

BEGIN_MARKER = "# BEGIN SOLUTION"
END_MARKER = "# END SOLUTION"
PROMPT_PREFIX = "# >"
TODO_FIRST = "# TODO: "
TODO_NEXT = "#       "  # as wide as TODO_FIRST, so that the prompt lines stay aligned
NOT_IMPLEMENTED = 'raise NotImplementedError("{name}: not implemented yet — see the TODO above")'

_MARKER_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<marker># (?:BEGIN|END) SOLUTION)[ \t]*$")
_PROMPT_LINE = re.compile(r"^(?P<indent>[ \t]*)# >(?: (?P<text>.*))?$")
_DEF_LINE = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?def[ \t]+(?P<name>\w+)")
_LOOSE_MARKER = re.compile(r"#\s*(?:BEGIN|END)\s+SOLUTION", re.IGNORECASE)


class MarkerError(ValueError):
    """A malformed solution marker: the message names the file, the line and what to fix."""

    def __init__(self, source: str, line_number: int, problem: str) -> None:
        super().__init__(f"{source}:{line_number}: {problem}")
        self.source = source
        self.line_number = line_number


@dataclass(frozen=True)
class Region:
    """One solution region; line numbers are 1-based and point at the marker lines."""

    begin_line: int
    end_line: int
    indent: str
    function: str
    prompt: tuple[str, ...]
    solution: tuple[str, ...]  # the solution lines as written, without their line ending


def _split_line(line: str) -> tuple[str, str]:
    """'code\\n' -> ('code', '\\n'); keeps the file's own line endings."""
    body = line.rstrip("\r\n")
    return body, line[len(body) :]


def _enclosing_function(lines: list[str], index: int, indent: str) -> str | None:
    """The name of the nearest ``def`` above ``lines[index]`` that is indented less than ``indent``."""
    for line in reversed(lines[:index]):
        match = _DEF_LINE.match(line)
        if match and len(match["indent"]) < len(indent):
            return match["name"]
    return None


def find_regions(text: str, source: str = "<string>") -> list[Region]:
    """Parse every solution region of ``text``; raise :class:`MarkerError` on a malformed one."""
    lines = [_split_line(line)[0] for line in text.splitlines(keepends=True)]
    regions: list[Region] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _MARKER_LINE.match(line)
        if match is None:
            _reject_malformed_marker(line, index, source)
            index += 1
            continue
        if match["marker"] == END_MARKER:
            raise MarkerError(source, index + 1, f"unbalanced {END_MARKER!r} without a {BEGIN_MARKER!r} before it")
        regions.append(_parse_region(lines, index, match["indent"], source))
        index = regions[-1].end_line  # the line after END (0-based index == 1-based END line)
    return regions


def _reject_malformed_marker(line: str, index: int, source: str) -> None:
    """A comment that looks like a marker but is not exactly one (a typo would otherwise ship a solution)."""
    if line.strip().startswith("#") and _LOOSE_MARKER.search(line):
        raise MarkerError(source, index + 1, f"malformed marker {line.strip()!r}: write exactly "
                          f"{BEGIN_MARKER!r} or {END_MARKER!r} on a line of its own")


def _parse_region(lines: list[str], begin: int, indent: str, source: str) -> Region:
    begin_number = begin + 1
    function = _enclosing_function(lines, begin, indent)
    if function is None:
        raise MarkerError(source, begin_number, f"{BEGIN_MARKER!r} is not inside a function: the starter "
                          "raises NotImplementedError, so a region must sit in a def body")
    prompt: list[str] = []
    index = begin + 1
    while index < len(lines) and (prompt_match := _PROMPT_LINE.match(lines[index])):
        if prompt_match["indent"] != indent:
            raise MarkerError(source, index + 1, f"prompt line indented differently from its {BEGIN_MARKER!r} "
                              f"on line {begin_number}: indent both the same")
        prompt.append((prompt_match["text"] or "").rstrip())
        index += 1
    if not prompt:
        raise MarkerError(source, begin_number, f"region has no prompt: add at least one '{PROMPT_PREFIX} ...' "
                          f"line right after {BEGIN_MARKER!r}; it becomes the students' TODO")
    solution_start = index
    while index < len(lines):
        match = _MARKER_LINE.match(lines[index])
        if match is None:
            _reject_malformed_marker(lines[index], index, source)
        else:
            if match["marker"] == BEGIN_MARKER:
                raise MarkerError(source, index + 1, f"nested {BEGIN_MARKER!r}: the region opened on line "
                                  f"{begin_number} is not closed yet")
            if match["indent"] != indent:
                raise MarkerError(source, index + 1, f"indentation mismatch: {END_MARKER!r} is indented "
                                  f"{len(match['indent'])} characters, its {BEGIN_MARKER!r} on line "
                                  f"{begin_number} {len(indent)}")
            return Region(begin_number, index + 1, indent, function, tuple(prompt),
                          tuple(lines[solution_start:index]))
        index += 1
    raise MarkerError(source, begin_number, f"unbalanced {BEGIN_MARKER!r}: no {END_MARKER!r} before the end of "
                      "the file")


def starter_lines(region: Region, newline: str = "\n") -> list[str]:
    """The lines that replace ``region`` in the starter, each ending with ``newline``."""
    first, *rest = region.prompt
    todo = [f"{region.indent}{TODO_FIRST}{first}".rstrip()]
    todo += [f"{region.indent}{TODO_NEXT}{line}".rstrip() for line in rest]
    todo.append(region.indent + NOT_IMPLEMENTED.format(name=region.function))
    return [line + newline for line in todo]


def revealed_lines(region: Region, newline: str = "\n") -> list[str]:
    """The lines that replace ``region`` where its function is provided: the solution as written."""
    return [line + newline for line in region.solution]


def strip_solutions(text: str, source: str = "<string>", functions: Collection[str] | None = None) -> str:
    """The starter version of a module: each region of a function in ``functions`` (default: every region)
    replaced by its TODO and a NotImplementedError, every other region by its solution without the markers.

    Text without markers comes back unchanged. Raises :class:`MarkerError` on a malformed marker and
    :class:`SyntaxError` (naming ``source``) if the starter would not compile.
    """
    regions = find_regions(text, source)
    if not regions:
        return text
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    position = 0  # 0-based index of the next line to copy
    for region in regions:
        out += lines[position : region.begin_line - 1]
        newline = _split_line(lines[region.begin_line - 1])[1] or "\n"
        stripped = functions is None or region.function in functions
        out += starter_lines(region, newline) if stripped else revealed_lines(region, newline)
        position = region.end_line
    out += lines[position:]
    starter = "".join(out)
    compile(starter, f"{source} (starter)", "exec")
    return starter


def reveal_solutions(text: str, source: str = "<string>") -> str:
    """The module with every region's solution kept and its marker and prompt lines dropped."""
    return strip_solutions(text, source, functions=())


def solution_lines(text: str, source: str = "<string>", functions: Collection[str] | None = None) -> set[str]:
    """The code of every solution line (non-blank, non-comment) of the regions of ``functions`` (default: all),
    stripped and without a trailing comment.

    Used to check that nothing shipped to students contains a solution line.
    """
    found: set[str] = set()
    for region in find_regions(text, source):
        if functions is not None and region.function not in functions:
            continue
        for line in region.solution:
            code = normalize_code_line(line)
            if code:
                found.add(code)
    return found


def provided_lines(text: str, source: str = "<string>", functions: Collection[str] | None = None) -> set[str]:
    """The code of every line that ships: outside the regions of ``functions`` (default: all regions),
    normalized like :func:`solution_lines`.

    A solution line that also appears here (``logits = self.dec(z)`` in a provided method, say) is no secret.
    """
    inside: set[int] = set()
    for region in find_regions(text, source):
        if functions is None or region.function in functions:
            inside.update(range(region.begin_line, region.end_line + 1))
    outside = (line for number, line in enumerate(text.splitlines(), 1) if number not in inside)
    return {code for line in outside if (code := normalize_code_line(line))}


def normalize_code_line(line: str) -> str:
    """A line reduced to its code: a PEP 8 inline comment ('  # ...') removed, runs of whitespace made one space.

    Comment-only lines give ''.
    """
    stripped = line.strip()
    if stripped.startswith("#"):
        return ""
    code = stripped.split("  #", 1)[0]
    return " ".join(code.split())


def strip_file(path: Path, functions: Collection[str] | None = None) -> str:
    """:func:`strip_solutions` of a UTF-8 file (line endings kept as they are), errors naming the file."""
    return strip_solutions(path.read_bytes().decode("utf-8"), str(path), functions)
