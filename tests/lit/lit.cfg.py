# lit configuration for Buddy's FileCheck tests on real output: .mlir pass tests (buddy-opt), and
# under frontend/ (its lit.local.cfg makes .py the suffix there) Python scripts that print the
# MLIR the frontend emits for tiny torch modules.
import os

import lit.formats

config.name = "Buddy"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.buddy_obj_root, "tests", "lit")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "lit.site.cfg.py.in", "README.md"]

# buddy-opt first, then FileCheck/not from the pip LLVM tools.
config.environment["PATH"] = os.pathsep.join(
    [config.buddy_tools_dir, config.llvm_tools_dir, config.mlir_tools_dir,
     config.environment.get("PATH", os.environ.get("PATH", ""))]
)
config.substitutions.append(("%PYTHON", config.python_executable))
# The frontend scripts import `buddy` from the staged package of this build (<build>/python_packages).
config.environment["PYTHONPATH"] = getattr(config, "buddy_python_path",
                                          os.path.join(config.buddy_obj_root, "python_packages"))
