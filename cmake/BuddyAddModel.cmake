# buddy_add_model(): compile a model to a library target at build time.
#
#   buddy_add_model(NAME <target>
#                   IMPORT_SCRIPT <script.py | model.mlir>
#                   [TARGET <buddy target>]     # default: host (see `buddy compile --help`)
#                   [OPT_LEVEL <0-3>]           # default: 3
#                   [NUM_PARAMS <n>]            # .mlir input: leading @forward args that are params
#                   [OPENMP]                    # parallel loops; links libomp
#                   [DEPENDS <files or targets...>])
#
# An import script defines `build_model()` returning (torch.nn.Module,
# example_inputs), an ImportedGraph, or tensor-level MLIR text. The build step
# runs `python -m buddy compile` (import + buddy-opt pipeline + llc) into
# ${CMAKE_CURRENT_BINARY_DIR}/<NAME>.buddy/ and wraps its model.o in a static
# library <NAME> exporting `void _buddy_forward(void **args)` (the ABI of
# docs/interfaces.md); it links BuddyRuntime, libm and, with OPENMP, libomp.
# The artifact directory (manifest.json, weight file) is in the target
# property BUDDY_ARTIFACT_DIR.

set(_BUDDY_ADD_MODEL_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/..")

function(buddy_add_model)
  cmake_parse_arguments(ARG "OPENMP" "NAME;IMPORT_SCRIPT;TARGET;OPT_LEVEL;NUM_PARAMS" "DEPENDS"
                        ${ARGN})
  if(NOT ARG_NAME OR NOT ARG_IMPORT_SCRIPT)
    message(FATAL_ERROR "buddy_add_model: NAME and IMPORT_SCRIPT are required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "buddy_add_model(${ARG_NAME}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_TARGET)
    set(ARG_TARGET host)
  endif()
  if(NOT ARG_OPT_LEVEL)
    set(ARG_OPT_LEVEL 3)
  endif()
  if(NOT ARG_NUM_PARAMS)
    set(ARG_NUM_PARAMS 0)
  endif()
  get_filename_component(script "${ARG_IMPORT_SCRIPT}" ABSOLUTE)
  if(NOT EXISTS "${script}")
    message(FATAL_ERROR "buddy_add_model(${ARG_NAME}): IMPORT_SCRIPT ${script} does not exist")
  endif()
  if(ARG_OPENMP)
    set(omp_flag --openmp)
    find_library(BUDDY_LIBOMP NAMES omp PATHS /usr/lib/llvm-22/lib REQUIRED)
  else()
    set(omp_flag --no-openmp)
  endif()

  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.buddy")
  set(obj "${dir}/model.o")
  file(GLOB backend_sources CONFIGURE_DEPENDS "${_BUDDY_ADD_MODEL_SOURCE_DIR}/backend/*.py")
  set(tool_deps "")
  if(TARGET buddy-opt)
    list(APPEND tool_deps buddy-opt)
  endif()
  if(TARGET _runtime)
    list(APPEND tool_deps _runtime)  # the import writes weights through buddy.runtime
  endif()
  add_custom_command(
    OUTPUT "${obj}" "${dir}/manifest.json"
    COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${BUDDY_PYTHON_STAGE}"
            "BUDDY_CACHE_DIR=${CMAKE_BINARY_DIR}/buddy-cache"
            "${Python3_EXECUTABLE}" -m buddy compile "${script}"
            --target "${ARG_TARGET}" -O "${ARG_OPT_LEVEL}" --num-params "${ARG_NUM_PARAMS}"
            ${omp_flag} -o "${dir}"
    DEPENDS "${script}" ${backend_sources} ${tool_deps} ${ARG_DEPENDS}
    COMMENT "Buddy: compiling model ${ARG_NAME} for ${ARG_TARGET}"
    VERBATIM)
  add_custom_target(${ARG_NAME}_buddy_compile DEPENDS "${obj}")

  add_library(${ARG_NAME} STATIC "${obj}")
  set_source_files_properties("${obj}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
  set_target_properties(${ARG_NAME} PROPERTIES LINKER_LANGUAGE C BUDDY_ARTIFACT_DIR "${dir}")
  add_dependencies(${ARG_NAME} ${ARG_NAME}_buddy_compile)
  target_link_libraries(${ARG_NAME} INTERFACE BuddyRuntime m)
  if(ARG_OPENMP)
    target_link_libraries(${ARG_NAME} INTERFACE "${BUDDY_LIBOMP}")
  endif()
endfunction()
