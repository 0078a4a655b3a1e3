"""Ship the top-level queries/ and sample_trails/ folders inside the wheel as diag/_data/.

DESIGN.md keeps them at the top of the repository; a non-editable `pip install .` must still find them,
so the build copies them into the package. diag.resources looks in the checkout first, then in _data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
DATA_DIRS = ("queries", "sample_trails")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        for name in DATA_DIRS:
            src = HERE / name
            dst = Path(self.build_lib) / "diag" / "_data" / name
            if src.is_dir():
                if dst.exists():
                    shutil.rmtree(dst)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithData})
