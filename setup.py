"""Install rrnn_plugin.  Dependencies are pinned in requirements/lock.txt and installed by
`make venv` (AllenNLP 2.10.1's own metadata cannot be resolved on Python 3.11; see README)."""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

import rrnn_plugin_shim


class BuildPyWithStartupHook(build_py):
    """Ship `rrnn_plugin_shim.pth` at the root of the wheel, i.e. in site-packages."""

    def run(self):
        super().run()
        rrnn_plugin_shim.write_pth(self.build_lib)


setup(
    name="rrnn_plugin",
    version="0.1.0",
    description="Sparse rational RNNs (WFSA layers with group-lasso structure learning) for AllenNLP",
    packages=find_packages(include=["rrnn_plugin", "rrnn_plugin.*"]),
    py_modules=["rrnn_plugin_shim"],
    package_data={"rrnn_plugin": ["py.typed"]},
    python_requires=">=3.11",
    cmdclass={"build_py": BuildPyWithStartupHook},
)
