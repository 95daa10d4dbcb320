"""nbgrader course settings for the ganlab-kit labs (run nbgrader from this folder).

The grading settings (where the hidden checks are, time limits, the training budget)
live in ../autograder/nbgrader_config.py, next to the checks, and are loaded here.
Set GANLAB_AUTOGRADER to use a copy of the autograder folder kept elsewhere.
"""
import os

c = get_config()  # noqa: F821 - provided by traitlets when it reads this file

c.CourseDirectory.course_id = "ganlab"

_autograder = os.environ.get("GANLAB_AUTOGRADER") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, "autograder")
_grading_config = os.path.join(os.path.abspath(_autograder), "nbgrader_config.py")
if not os.path.isfile(_grading_config):
    raise FileNotFoundError(
        f"{_grading_config} is missing: the hidden checks and grading settings are in the "
        "autograder/ folder of a ganlab-kit checkout; set GANLAB_AUTOGRADER to that folder.")
load_subconfig(_grading_config)  # noqa: F821 - provided by traitlets
