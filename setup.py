"""What the wheel holds, with the app left where it is in the repository (the metadata is in pyproject.toml).

    cnnkit/            the engine                      <- cnnkit/
    cnnkit/assets/     demo runs, lesson results, ...   <- assets/       (cnnkit.paths.assets_dir finds either)
    cnnlab/            the `cnn-lab` command           <- cnnlab/
    cnnlab/app/        app.py, pages/, ui/, .streamlit <- the repository root

`cnn-lab` runs `streamlit run cnnlab/app/server.py` (app.py with the teacher-cookie route); Streamlit puts the script's folder on sys.path, so the app's
`import ui` finds cnnlab/app/ui next to it, exactly as in the repository. Nothing else at the root (tests,
benchmarks, docs) goes in.
"""

import warnings

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

APP = "cnnlab.app"
DATA_EXTENSIONS = ("toml", "json", "md", "txt", "tsv", "html", "js", "css", "png", "jpg", "svg")

# assets/, lessons/course/ and ui/components/ folders are data, not packages: setuptools would warn about each
# of them ("absent from packages").
DATA_FOLDERS = r"(cnnkit\.assets|cnnkit\.lessons\.course|cnnlab\.app\.ui\.components)\b"
warnings.filterwarnings("ignore", message=rf".*Package '{DATA_FOLDERS}.*' is absent from the `packages`")


class BuildPy(build_py):
    """From the repository root (the package cnnlab.app) only app.py and server.py go in: not setup.py, nothing
    else."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if m[1] in ("app", "server")] if package == APP else modules


# pages/ and assets/ folders have no __init__.py: they are listed by hand, their files added as package data.
packages = (
    find_packages(include=["cnnkit", "cnnkit.*", "cnnlab", "cnnlab.*"])
    + [APP, f"{APP}.pages"]
    + [f"{APP}.{name}" for name in find_packages(include=["ui", "ui.*"])]
    + ["cnnkit.assets"]
)

setup(
    packages=packages,
    # cnnlab.app is the repository root: its only modules are app.py and server.py (BuildPy).
    package_dir={APP: ".", "cnnkit.assets": "assets"},
    package_data={
        APP: [".streamlit/config.toml"],
        # data files beside the code: the course's lesson files, a component's page (tests/test_wheel_install.py
        # checks that every file of the repository's cnnkit/, ui/, pages/ and assets/ is in the wheel)
        "cnnkit": [f"**/*.{ext}" for ext in DATA_EXTENSIONS],
        f"{APP}.ui": [f"**/*.{ext}" for ext in DATA_EXTENSIONS],
        "cnnkit.assets": ["**/*"],
    },
    exclude_package_data={"": ["__pycache__/*", "*.pyc"]},
    cmdclass={"build_py": BuildPy},
)
