"""The VAE homework autograder and the instructor tooling around it."""

GRADER_VERSION = "1.1.0"
