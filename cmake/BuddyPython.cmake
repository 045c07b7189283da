# The Python package `buddy` is assembled from the component folders:
#
#   python/buddy/*      -> buddy/            (CLI, toolchain discovery, llm/ = buddy.llm)
#   frontend/           -> buddy/frontend/
#   backend/            -> buddy/backend/
#   runtime/python/*.py -> buddy/runtime/
#   <build> _runtime    -> buddy/_runtime.*.so  (pybind11, from runtime/)
#   <build> buddy-opt   -> buddy/_bin/buddy-opt
#   runtime/gemmini/    -> buddy/_gemmini_sim/  (C++ sources of the Gemmini simulator,
#                          compiled for riscv64 by buddy.backend.gemmini_sim on first use)
#
# In the build tree the package is staged under ${BUDDY_PYTHON_STAGE} with
# symlinks to the sources, so `ctest` tests the tree just built; `pip install`
# uses the install() rules below, which lay out the same tree in site-packages.

set(BUDDY_PYTHON_STAGE "${CMAKE_BINARY_DIR}/python_packages")
set(BUDDY_PACKAGE_STAGE "${BUDDY_PYTHON_STAGE}/buddy")
file(MAKE_DIRECTORY "${BUDDY_PACKAGE_STAGE}/_bin")

# name in the package -> source folder
set(BUDDY_PY_SUBPACKAGES
  "frontend=${CMAKE_SOURCE_DIR}/frontend"
  "backend=${CMAKE_SOURCE_DIR}/backend"
  "runtime=${CMAKE_SOURCE_DIR}/runtime/python/buddy_runtime")

function(_buddy_link src dst)
  if(IS_SYMLINK "${dst}")
    file(READ_SYMLINK "${dst}" _cur)
    if(_cur STREQUAL "${src}")
      return()
    endif()
    file(REMOVE "${dst}")  # a stage made before a source folder moved
  elseif(EXISTS "${dst}")
    return()
  endif()
  file(CREATE_LINK "${src}" "${dst}" SYMBOLIC)
endfunction()

file(GLOB _buddy_top CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/python/buddy/*")
foreach(f IN LISTS _buddy_top)
  get_filename_component(_n "${f}" NAME)
  if(NOT _n STREQUAL "__pycache__")
    _buddy_link("${f}" "${BUDDY_PACKAGE_STAGE}/${_n}")
  endif()
endforeach()
foreach(pair IN LISTS BUDDY_PY_SUBPACKAGES)
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 _name)
  list(GET pair 1 _src)
  _buddy_link("${_src}" "${BUDDY_PACKAGE_STAGE}/${_name}")
endforeach()

# Package data: the Gemmini simulator's sources (buddy.gemmini.sim finds them here).
_buddy_link("${CMAKE_SOURCE_DIR}/runtime/gemmini" "${BUDDY_PACKAGE_STAGE}/_gemmini_sim")
install(DIRECTORY "${CMAKE_SOURCE_DIR}/runtime/gemmini/" DESTINATION buddy/_gemmini_sim
        FILES_MATCHING PATTERN "*.h" PATTERN "*.cpp")

set(_py_patterns FILES_MATCHING PATTERN "*.py" PATTERN "*.json" PATTERN "*.cmake"
    PATTERN "__pycache__" EXCLUDE PATTERN "tests" EXCLUDE)
install(DIRECTORY "${CMAKE_SOURCE_DIR}/python/buddy/" DESTINATION buddy ${_py_patterns})
foreach(pair IN LISTS BUDDY_PY_SUBPACKAGES)
  string(REPLACE "=" ";" pair "${pair}")
  list(GET pair 0 _name)
  list(GET pair 1 _src)
  install(DIRECTORY "${_src}/" DESTINATION "buddy/${_name}" ${_py_patterns})
endforeach()

# Installed binaries find libMLIR.so / libLLVM.so in the sibling pip packages:
#   site-packages/buddy/_bin/buddy-opt -> site-packages/mlir/lib, site-packages/llvm/lib
set(BUDDY_INSTALL_RPATH_BIN "$ORIGIN/../../mlir/lib;$ORIGIN/../../llvm/lib")
