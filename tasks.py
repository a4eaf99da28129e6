#!/usr/bin/env python3
"""The two commands a newcomer needs, on a machine with nothing but python3 >= 3.11:

    python3 tasks.py demo     # set up .venv, install, build the demo database and serve it
    python3 tasks.py test     # set up .venv, install, run the whole test suite

Extra arguments are passed on: `python3 tasks.py test -k webhook`, `python3 tasks.py demo --port 8000`.
The virtual environment lives in .venv inside the checkout and is reinstalled only when
setup.cfg or pyproject.toml change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".survey_app-install-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def requirements_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("setup.cfg", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create .venv and install the project with its test extras, when anything changed."""
    if sys.version_info < (3, 11):
        sys.exit(f"survey_app needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("Creating a virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    fingerprint = requirements_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print("Installing survey_app and its dependencies into .venv ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "--quiet", "--editable", f"{ROOT}[test]"], check=True)
    STAMP.write_text(fingerprint)


def run(command: list[str]) -> int:
    return subprocess.run(command, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    ensure_environment()
    task, rest = argv[0], argv[1:]
    if task == "demo":
        return run([str(BIN / "survey-app"), "demo", *rest])
    return run([str(BIN / "python"), "-m", "pytest", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
