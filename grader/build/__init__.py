"""Instructor build tools: the student starter (``assignment/``) and the handout zip, made from ``reference/``.

Run as ``python -m grader.build assignment [--check]`` or ``python -m grader.build handout``.
"""
