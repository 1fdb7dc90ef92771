"""Only what pyproject.toml cannot say: a wheel carries models/, metrics/ and docs/runbooks/ (the project's
declarations, kept at the top of the checkout where people read them) inside the package, where
`pipelines.project_files` finds them when goodput runs outside a checkout."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("models", "metrics", "docs/runbooks")


class BuildWithProjectFiles(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout itself
            return
        for name in SHIPPED:
            target = Path(self.build_lib) / "pipelines" / "_shipped" / name
            shutil.copytree(name, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithProjectFiles})
