"""coursegrade: the instructor's grading command (wraps nbgrader; see coursegrade/README.md)."""
