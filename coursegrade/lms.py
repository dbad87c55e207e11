"""Grades for the school's LMS: nbgrader export plugins writing Canvas and Moodle
gradebook CSVs.

    nbgrader export --exporter coursegrade.lms.CanvasExporter --to canvas_grades.csv
    nbgrader export --exporter coursegrade.lms.MoodleExporter --to moodle_grades.csv

Both read nbgrader's gradebook (the course config's db_url: SQLite by default,
PostgreSQL when configured) and write one row per student and one column per assignment
with the score after nbgrader's late-submission penalty (`score -
late_submission_penalty`, never below 0), as nbgrader's own CSV export computes it.
`--ExportPlugin.assignment=[...]` and `--ExportPlugin.student=[...]` select, as for
nbgrader's exporter.

Canvas (Grades > Import): the columns of Canvas's own gradebook export, `Student`, `ID`,
`SIS User ID`, `SIS Login ID`, `Section`, then one column per assignment, and a second
row `Points Possible` with each assignment's maximum. Canvas matches a row to a student
by `ID` (its numeric user id) or the SIS ids; a column whose name is not an assignment
of the course creates one. Without a roster, `SIS User ID` and `SIS Login ID` are the
nbgrader student id.

Moodle (Grade administration > Import > CSV file): the columns of Moodle's own text
export, `First name`, `Surname`, `ID number`, `Institution`, `Department`, `Email
address`, then one column per assignment. At import, map "Identify user by" to `ID
number` (the nbgrader student id unless the roster says otherwise) or `Email address`,
and each column to a grade item (or "new grade item"). Moodle refuses a grade above the
item's maximum, so set the grade item's maximum to the assignment's `max_score`.

`--<Exporter>.roster=roster.csv`: a CSV with a `student_id` column (the nbgrader id) and
any of the exporter's identity columns (e.g. Canvas `ID`, `SIS Login ID`, `Section`;
Moodle `ID number`, `Email address`), copied from the LMS's own export.
`--<Exporter>.columns= {"ch01_linear": "Exercise 1 (1234)"}` renames assignment columns
(Canvas's export names a column `Name (assignment id)`; matching it updates that
assignment instead of creating one). `--<Exporter>.missing=blank` leaves students
without a submission empty (Canvas and Moodle then keep what they had) instead of 0,
nbgrader's default.
"""

import csv

from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict, Enum, Unicode


def spreadsheet_text(value):
    """A text field that no spreadsheet (or LMS preview) reads as a formula."""
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def number(value):
    return f"{value:.2f}".rstrip("0").rstrip(".") if value is not None else ""


class LmsExporter(ExportPlugin):
    """Common part: the student x assignment table, with penalties applied."""

    identity = []  # identity columns of the LMS format, in order
    default_to = "grades.csv"

    roster = Unicode("", help="CSV with student_id and LMS identity columns").tag(
        config=True
    )
    columns = Dict({}, help="assignment name -> column name in the LMS").tag(
        config=True
    )
    missing = Enum(
        ["zero", "blank"],
        default_value="zero",
        help="what a student without a submission gets",
    ).tag(config=True)

    def read_roster(self):
        if not self.roster:
            return {}
        try:
            with open(self.roster, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                if "student_id" not in (reader.fieldnames or []):
                    raise ValueError(
                        f"roster {self.roster} has no student_id column "
                        f"(columns: {reader.fieldnames})"
                    )
                unknown = set(reader.fieldnames) - set(self.identity) - {"student_id"}
                if unknown:
                    raise ValueError(
                        f"roster {self.roster}: unknown columns {sorted(unknown)}; "
                        f"allowed: student_id, {', '.join(self.identity)}"
                    )
                return {row["student_id"]: row for row in reader}
        except FileNotFoundError:
            raise ValueError(f"roster file {self.roster} does not exist") from None

    def table(self, gradebook):
        """(assignments, students, {(student id, assignment name): score or None})."""
        wanted_a = {str(a) for a in self.assignment}
        wanted_s = {str(s) for s in self.student}
        assignments = [
            a
            for a in sorted(
                gradebook.assignments,
                key=lambda a: (a.duedate is None, a.duedate, a.name),
            )
            if not wanted_a or a.name in wanted_a
        ]
        unknown = wanted_a - {a.name for a in gradebook.assignments}
        if unknown:
            raise ValueError(f"no such assignment in the gradebook: {sorted(unknown)}")
        students = [
            s
            for s in sorted(gradebook.students, key=lambda s: s.id)
            if not wanted_s or s.id in wanted_s
        ]
        scores = {}
        for a in assignments:
            for s in students:
                try:
                    sub = gradebook.find_submission(a.name, s.id)
                except MissingEntry:
                    scores[s.id, a.name] = 0.0 if self.missing == "zero" else None
                else:
                    penalty = sub.late_submission_penalty or 0.0
                    scores[s.id, a.name] = max(0.0, sub.score - penalty)
        return assignments, students, scores

    def identity_row(self, student, roster):
        raise NotImplementedError

    def extra_rows(self, assignments):
        return []

    def export(self, gradebook):
        dest = self.to or self.default_to
        roster = self.read_roster()
        assignments, students, scores = self.table(gradebook)
        header = self.identity + [self.columns.get(a.name, a.name) for a in assignments]
        self.log.info(
            "Exporting %d students x %d assignments to %s",
            len(students),
            len(assignments),
            dest,
        )
        with open(dest, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            for row in self.extra_rows(assignments):
                w.writerow(row)
            for s in students:
                ids = self.identity_row(s, roster.get(s.id, {}))
                w.writerow(
                    [spreadsheet_text(v) for v in ids]
                    + [number(scores[s.id, a.name]) for a in assignments]
                )


class CanvasExporter(LmsExporter):
    """Canvas gradebook import CSV (see the module docstring)."""

    identity = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    default_to = "canvas_grades.csv"

    def identity_row(self, s, r):
        name = ", ".join(p for p in (s.last_name, s.first_name) if p) or s.id
        return [
            r.get("Student") or name,
            r.get("ID", ""),
            r.get("SIS User ID") or s.id,
            r.get("SIS Login ID") or s.id,
            r.get("Section", ""),
        ]

    def extra_rows(self, assignments):
        return [
            ["    Points Possible", "", "", "", ""]
            + [number(a.max_score) for a in assignments]
        ]


class MoodleExporter(LmsExporter):
    """Moodle gradebook import CSV (see the module docstring)."""

    identity = [
        "First name",
        "Surname",
        "ID number",
        "Institution",
        "Department",
        "Email address",
    ]
    default_to = "moodle_grades.csv"

    def identity_row(self, s, r):
        return [
            r.get("First name") or s.first_name or "",
            r.get("Surname") or s.last_name or "",
            r.get("ID number") or s.id,
            r.get("Institution", ""),
            r.get("Department", ""),
            r.get("Email address") or s.email or "",
        ]
