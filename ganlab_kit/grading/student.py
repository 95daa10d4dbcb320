"""A student's JupyterLab: nbgrader's student tools only (``ganlab course student-setup``).

Installing nbgrader (students need it to fetch and submit through the exchange, and for the
Validate button) switches on all of its Jupyter parts, the instructor's ones included: the
formgrader, the "Create Assignment" panel and the course list. ``student_setup`` turns those
off in the students' Jupyter configuration and keeps the Assignments list and Validate:

- JupyterLab plugins (``jupyter labextension disable``): ``@jupyter/nbgrader:formgrader``,
  ``:create-assignment``, ``:course-list``;
- Jupyter Server extensions (``jupyter server extension disable``): nbgrader's formgrader and
  course list, so their pages and APIs answer 404 even to a student who types the address.

Run it in the students' environment (``--level sys-prefix``, the default: a JupyterHub image or a
shared environment) or for one account (``--level user``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["INSTRUCTOR_LAB_PLUGINS", "INSTRUCTOR_SERVER_EXTENSIONS", "STUDENT_LAB_PLUGINS",
           "STUDENT_SERVER_EXTENSIONS", "LEVELS", "student_setup"]

INSTRUCTOR_LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                          "@jupyter/nbgrader:course-list")
INSTRUCTOR_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
#: What students keep: the Assignments list (fetch, submit, feedback) and the Validate button.
STUDENT_LAB_PLUGINS = ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment")
STUDENT_SERVER_EXTENSIONS = ("nbgrader.server_extensions.assignment_list",
                             "nbgrader.server_extensions.validate_assignment")

#: --level -> (labextension flag, server extension flag)
LEVELS = {"sys-prefix": ("--level=sys_prefix", "--sys-prefix"), "user": ("--level=user", "--user"),
          "system": ("--level=system", "--system")}


def _config_dir(level: str) -> str:
    from jupyter_core.paths import ENV_CONFIG_PATH, SYSTEM_CONFIG_PATH, jupyter_config_dir

    return {"user": jupyter_config_dir(), "sys-prefix": ENV_CONFIG_PATH[0],
            "system": SYSTEM_CONFIG_PATH[0]}[level]


def student_setup(level: str = "sys-prefix", environment: Optional[Dict[str, str]] = None) -> List[str]:
    """Disable nbgrader's instructor parts at ``level``; what was done, one line each.

    The JupyterLab plugins go through ``jupyter labextension disable``. The server extensions
    are switched off in ``jupyter_server_config.json`` of the level's config folder (merged
    into what is there): ``jupyter server extension disable`` refuses nbgrader's, which
    declare no extension points, and writes nothing."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r}: choose one of {sorted(LEVELS)}")
    lab_flag, _ = LEVELS[level]
    environment = dict(environment or os.environ)
    folder = os.path.dirname(sys.executable)
    environment["PATH"] = folder + os.pathsep + environment.get("PATH", "")
    done = []
    for plugin in INSTRUCTOR_LAB_PLUGINS:
        arguments = ["labextension", "disable", lab_flag, plugin]
        result = subprocess.run([sys.executable, "-m", "jupyter", *arguments], env=environment,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"`jupyter {' '.join(arguments)}` failed:\n{(result.stdout + result.stderr)[-2000:]}")
        done.append("jupyter " + " ".join(arguments))
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(environment)   # JUPYTER_CONFIG_DIR and friends, as the commands above saw them
    try:
        config_dir = Path(_config_dir(level))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    path = config_dir / "jupyter_server_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    extensions = config.setdefault("ServerApp", {}).setdefault("jpserver_extensions", {})
    for name in INSTRUCTOR_SERVER_EXTENSIONS:
        extensions[name] = False
    config_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    done.append(f"{path}: " + ", ".join(f"{name} off" for name in INSTRUCTOR_SERVER_EXTENSIONS))
    return done
