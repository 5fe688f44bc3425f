"""Instructor build tools: each homework's starter (``assignment/<id>/``), handout and autograder package, made
from its layers in ``reference/``.

Run as ``python -m grader.instructor.build assignment|handout|autograder [--homework ID]``.
"""
