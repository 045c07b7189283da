# lit configuration for Buddy's .mlir pass tests (FileCheck on real pass output).
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
