"""The homeworks' autograder (the engine, the grading run, the homeworks) and the tooling around it."""

GRADER_VERSION = "1.1.0"
