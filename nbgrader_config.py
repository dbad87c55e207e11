"""nbgrader configuration for the course (read by every `nbgrader` command run from this folder).

Layout: instructors write assignments in solutions/ (nbgrader's "source"); `nbgrader
generate_assignment` writes the student versions to exercises/ (nbgrader's "release").
"""
c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "nn-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading: a warning written to stderr by a correct answer must not zero the cell. nbgrader
# counts any stderr output in a test cell as a failure; failures raise exceptions (error outputs),
# which this does not touch, so dropping stderr streams from the graded notebook is safe.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]*"

# A student who deletes a test cell does not escape it: autograde puts it back from the gradebook.
c.OverwriteCells.add_missing_cells = True

# Kernels: one torch thread, no runaway cells.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.extra_arguments = ["--InteractiveShell.xmode=Minimal"]

# Feedback must never show hidden tests: strip their source before rendering. Tracebacks are
# minimal (see Execute.extra_arguments), so a failing hidden assert shows only its message.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
