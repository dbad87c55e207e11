"""A late-submission policy for nbgrader's AssignLatePenalties (opt-in; see
coursegrade/README.md).

Example policy (the defaults): 15 minutes of grace; then 10 % of the notebook's score
off per started day late; more than 5 days late scores 0. To use it, in
nbgrader_config.py:

    c.AssignLatePenalties.plugin_class = "coursegrade.late.PerDayLatePenalty"
    c.PerDayLatePenalty.percent_per_day = 10
    c.PerDayLatePenalty.grace_minutes = 15
    c.PerDayLatePenalty.max_days = 5

nbgrader computes how late a submission is from the assignment's due date in the
gradebook (`nbgrader db assignment add ch01_linear --duedate="2026-10-01 23:59 UTC"`)
and the `timestamp.txt` that `nbgrader collect` writes next to each submission; it
stores the penalty per notebook, and `score - penalty` is what nbgrader's exports (and
coursegrade.lms) report.
"""

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float, Integer


class PerDayLatePenalty(LateSubmissionPlugin):
    grace_minutes = Float(15.0, help="lateness that costs nothing (minutes)").tag(
        config=True
    )
    percent_per_day = Float(10.0, help="percent of the score off per started day").tag(
        config=True
    )
    max_days = Integer(5, help="later than this many days: the score becomes 0").tag(
        config=True
    )

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        if (
            not 0 <= self.percent_per_day <= 100
            or self.grace_minutes < 0
            or self.max_days < 0
        ):
            raise ValueError(
                "PerDayLatePenalty: percent_per_day must be in [0, 100], "
                "grace_minutes and max_days >= 0"
            )
        late = total_seconds_late - 60 * self.grace_minutes
        if late <= 0:
            return 0.0
        days = math.ceil(late / 86400)
        if days > self.max_days:
            return float(score)
        return min(float(score), score * self.percent_per_day * days / 100)
