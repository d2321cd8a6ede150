"""Install rrnn_plugin.  Dependencies are pinned in requirements/lock.txt and installed by
`make venv` (AllenNLP 2.10.1's own metadata cannot be resolved on Python 3.11; see README).

The WFSA recurrence kernels (rrnn_plugin/kernels/csrc) are compiled here, ahead of time, so no
user ever waits for a compile at run time.  The plugin is installed with
`pip install --no-deps --no-build-isolation -e .`, so the torch it will run with is importable
here and the kernels are built against exactly that torch.  Building them is best effort: if
torch is missing or the compiler fails, installation still succeeds and the encoder uses its
vectorized PyTorch path (with one warning at run time).
"""
import os
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

import rrnn_plugin_shim

CSRC = os.path.join("rrnn_plugin", "kernels", "csrc")


class BuildPyWithStartupHook(build_py):
    """Ship `rrnn_plugin_shim.pth` at the root of the wheel, i.e. in site-packages."""

    def run(self):
        super().run()
        rrnn_plugin_shim.write_pth(self.build_lib)


class DevelopWithKernels(develop):
    """Build the kernels in place before the (legacy) `setup.py develop` runs.

    pip runs `setup.py develop` for `pip install -e .` when the project has no pyproject.toml
    and `--use-pep517` is not given; setuptools >= 80 implements `develop` by starting
    `pip install -e . --use-pep517` WITH build isolation, where torch cannot be imported and so
    no kernel would be built.  Building in place here, in the environment that has torch, puts
    the .so next to the sources, where the editable install finds it.
    """

    def run(self):
        if "build_ext" in self.distribution.cmdclass:
            self.reinitialize_command("build_ext", inplace=1)
            self.run_command("build_ext")
        super().run()


def _kernel_build():
    """(ext_modules, build_ext command) for the kernels, or ([], None) without torch.

    The CPU kernel is always attempted.  The CUDA kernel only where torch itself is a CUDA build
    AND a CUDA toolkit is found: a CPU-only torch next to an installed nvcc (as on our dev
    machines and in CI) must not try, since the result could not be loaded anyway.
    """
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
    except ImportError:
        return [], None

    openmp = ["-fopenmp"] if sys.platform.startswith("linux") else []  # at::parallel_for needs it
    extensions = [
        CppExtension(
            "rrnn_plugin.kernels._wfsa_cpu",
            [os.path.join(CSRC, "wfsa_cpu_bindings.cpp"), os.path.join(CSRC, "wfsa_cpu.cpp")],
            extra_compile_args=["-O3", "-g0", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off", *openmp],
            extra_link_args=openmp,
            optional=True,
        )
    ]
    if torch.version.cuda is not None and CUDA_HOME is not None:
        extensions.append(
            CUDAExtension(
                "rrnn_plugin.kernels._wfsa_cuda",
                [os.path.join(CSRC, "wfsa_cuda_bindings.cpp"), os.path.join(CSRC, "wfsa_cuda.cu")],
                extra_compile_args={"cxx": ["-O3", "-g0"], "nvcc": ["-O3"]},
                optional=True,
            )
        )

    class BuildKernels(BuildExtension):
        """torch's BuildExtension, but a kernel that fails to build is skipped, not fatal."""

        def build_extensions(self):
            try:
                super().build_extensions()
            except Exception as error:  # compiler missing, ABI check, ...: fall back at run time
                self.warn(f"rrnn_plugin: kernels not built ({error}); the PyTorch path will be used")

        def build_extension(self, ext):
            try:
                super().build_extension(ext)
            except Exception as error:
                self.warn(f"rrnn_plugin: {ext.name} not built ({error}); the PyTorch path will be used")

        def copy_file(self, infile, outfile, *args, **kwargs):
            """Replace the in-place .so atomically: a training that has the old one loaded keeps
            its (unlinked) copy instead of seeing the file rewritten under it and crashing."""
            if not str(outfile).endswith((".so", ".pyd")):
                return super().copy_file(infile, outfile, *args, **kwargs)
            staging = f"{outfile}.{os.getpid()}.tmp"
            result = super().copy_file(infile, staging, *args, **kwargs)
            os.replace(staging, outfile)
            return (outfile, result[1])

    return extensions, BuildKernels


ext_modules, build_ext = _kernel_build()
cmdclass = {"build_py": BuildPyWithStartupHook, "develop": DevelopWithKernels}
if build_ext is not None:
    cmdclass["build_ext"] = build_ext

setup(
    name="rrnn_plugin",
    version="0.1.0",
    description="Sparse rational RNNs (WFSA layers with group-lasso structure learning) for AllenNLP",
    packages=find_packages(include=["rrnn_plugin", "rrnn_plugin.*"]),
    py_modules=["rrnn_plugin_shim"],
    package_data={"rrnn_plugin": ["py.typed", "kernels/csrc/*", "serve/page.html"]},
    ext_modules=ext_modules,
    python_requires=">=3.11",
    cmdclass=cmdclass,
)
