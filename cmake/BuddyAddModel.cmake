# buddy_add_model(): compile a model to a library target at build time.
#
#   buddy_add_model(NAME <target>
#                   IMPORT_SCRIPT <script.py | model.mlir>
#                   [ENTRY <name>]              # exported entry point: _buddy_<name> (default: forward)
#                   [TARGET <buddy target>]     # default: host (see `buddy compile --help`)
#                   [OPT_LEVEL <0-3>]           # default: 3
#                   [NUM_PARAMS <n>]            # .mlir input: leading @forward args that are params
#                   [OPENMP]                    # parallel loops too (the kernels always are; libomp is always linked for native targets)
#                   [EXCLUDE_FROM_ALL]          # build the library only when something needs it
#                   [DEPENDS <files or targets...>])
#
# An import script defines `build_model()` returning (torch.nn.Module,
# example_inputs), an ImportedGraph, or tensor-level MLIR text. The build step
# runs `python -m buddy compile [--name <ENTRY>]` (import + buddy-opt pipeline +
# llc) into ${CMAKE_CURRENT_BINARY_DIR}/<NAME>.buddy/ and wraps its model.o in a
# static library <NAME> exporting `void _buddy_<ENTRY>(void **args)` (the ABI of
# docs/interfaces.md); it links BuddyRuntime, libm and, with OPENMP, libomp.
# The artifact directory (manifest.json, weight file) is in the target
# property BUDDY_ARTIFACT_DIR. Give every model linked into one executable
# its own ENTRY: its other global symbols (<ENTRY>, _mlir_ciface_<ENTRY>) then
# differ too.
#
# Several graphs of one model (e.g. an LLM's prefill buckets and decode step,
# sharing one weight file):
#
#   buddy_add_model(NAME <target>
#                   IMPORT_SCRIPT <program.py>
#                   GRAPHS <entry>...           # the entry names the program compiles
#                   [SCRIPT_ARGS <args...>]     # extra arguments for the program
#                   [OUTPUTS <file names...>]   # other files it writes into the artifact dir
#                   [OPENMP] [EXCLUDE_FROM_ALL] [DEPENDS ...])
#
# runs `python <program.py> <SCRIPT_ARGS...> --out <dir> --graphs <e1>,<e2>,...`,
# which must write `<dir>/<e>.o` for every entry, each exporting `_buddy_<e>`
# (compile them with `buddy.compile(..., name=<e>)`). The static library <NAME>
# holds all of them plus a generated table `buddy_graphs_<NAME>` of
# buddy/LinkedGraphs.h, so a program finds each graph by name without dlopen
# (examples/BuddyLlama). TARGET/OPT_LEVEL/NUM_PARAMS/ENTRY are the program's
# business in this form.

set(_BUDDY_ADD_MODEL_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/..")

function(buddy_add_model)
  cmake_parse_arguments(ARG "OPENMP;EXCLUDE_FROM_ALL" "NAME;IMPORT_SCRIPT;TARGET;OPT_LEVEL;NUM_PARAMS;ENTRY"
                        "DEPENDS;GRAPHS;SCRIPT_ARGS;OUTPUTS" ${ARGN})
  if(NOT ARG_NAME OR NOT ARG_IMPORT_SCRIPT)
    message(FATAL_ERROR "buddy_add_model: NAME and IMPORT_SCRIPT are required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "buddy_add_model(${ARG_NAME}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(ARG_GRAPHS AND (ARG_TARGET OR ARG_OPT_LEVEL OR ARG_NUM_PARAMS OR ARG_ENTRY))
    message(FATAL_ERROR "buddy_add_model(${ARG_NAME}): with GRAPHS, the program chooses "
                        "TARGET/OPT_LEVEL/NUM_PARAMS/ENTRY (pass them in SCRIPT_ARGS)")
  endif()
  if((ARG_SCRIPT_ARGS OR ARG_OUTPUTS) AND NOT ARG_GRAPHS)
    message(FATAL_ERROR "buddy_add_model(${ARG_NAME}): SCRIPT_ARGS and OUTPUTS need GRAPHS")
  endif()
  foreach(entry IN LISTS ARG_ENTRY ARG_GRAPHS)
    if(NOT entry MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
      message(FATAL_ERROR "buddy_add_model(${ARG_NAME}): entry name '${entry}' is not a C identifier")
    endif()
  endforeach()
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
  else()
    set(omp_flag --no-openmp)
  endif()
  # Buddy's kernels are OpenMP-parallel: native models always link an OpenMP runtime, the one
  # `buddy.toolchain.find_libomp()` finds (BUDDY_LIBOMP, the PyPI cmeel-libomp wheel, or the system).
  if(NOT BUDDY_LIBOMP)
    execute_process(
      COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${BUDDY_PYTHON_STAGE}"
              "${Python3_EXECUTABLE}" -c "from buddy.toolchain import find_libomp; print(find_libomp())"
      OUTPUT_VARIABLE _omp OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_VARIABLE _omp_err RESULT_VARIABLE _omp_rc)
    if(NOT _omp_rc EQUAL 0)
      message(FATAL_ERROR "buddy_add_model(${ARG_NAME}): no OpenMP runtime: ${_omp_err}")
    endif()
    set(BUDDY_LIBOMP "${_omp}" CACHE FILEPATH "OpenMP runtime linked into compiled models")
  endif()

  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.buddy")
  # Every Python source the import script can run: editing the frontend, the backend, the
  # runtime wrappers or the LLM component rebuilds the compiled model.
  file(GLOB_RECURSE backend_sources CONFIGURE_DEPENDS
       "${_BUDDY_ADD_MODEL_SOURCE_DIR}/frontend/*.py" "${_BUDDY_ADD_MODEL_SOURCE_DIR}/backend/*.py"
       "${_BUDDY_ADD_MODEL_SOURCE_DIR}/python/buddy/*.py"
       "${_BUDDY_ADD_MODEL_SOURCE_DIR}/runtime/python/buddy_runtime/*.py")
  set(tool_deps "")
  if(TARGET buddy-opt)
    list(APPEND tool_deps buddy-opt)
  endif()
  if(TARGET _runtime)
    list(APPEND tool_deps _runtime)  # the import writes weights through buddy.runtime
  endif()
  if(ARG_EXCLUDE_FROM_ALL)
    set(exclude EXCLUDE_FROM_ALL)
  else()
    set(exclude "")
  endif()

  if(ARG_GRAPHS)
    set(objs "")
    set(decls "")
    set(rows "")
    foreach(entry IN LISTS ARG_GRAPHS)
      list(APPEND objs "${dir}/${entry}.o")
      string(APPEND decls "void _buddy_${entry}(void **args);\n")
      string(APPEND rows "    {\"${entry}\", _buddy_${entry}},\n")
    endforeach()
    set(outputs "")
    foreach(f IN LISTS ARG_OUTPUTS)
      list(APPEND outputs "${dir}/${f}")
    endforeach()
    list(JOIN ARG_GRAPHS "," graph_list)
    add_custom_command(
      OUTPUT ${objs} ${outputs}
      COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${BUDDY_PYTHON_STAGE}"
              "${Python3_EXECUTABLE}" "${script}" ${ARG_SCRIPT_ARGS}
              --out "${dir}" --graphs "${graph_list}"
      DEPENDS "${script}" ${backend_sources} ${tool_deps} ${ARG_DEPENDS}
      COMMENT "Buddy: compiling model ${ARG_NAME} (graphs ${graph_list})"
      VERBATIM)
    set(table "${dir}/graphs.c")
    file(CONFIGURE OUTPUT "${table}" CONTENT
"/* Generated by buddy_add_model(NAME ${ARG_NAME}): its statically linked graphs. */
#include \"buddy/LinkedGraphs.h\"

${decls}
const BuddyLinkedGraph buddy_graphs_${ARG_NAME}[] = {
${rows}    {0, 0}};
")
    add_custom_target(${ARG_NAME}_buddy_compile DEPENDS ${objs} ${outputs})
    add_library(${ARG_NAME} STATIC ${exclude} "${table}" ${objs})
    set_source_files_properties(${objs} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    target_link_libraries(${ARG_NAME} PUBLIC BuddyRuntime m)
  else()
    set(obj "${dir}/model.o")
    if(ARG_ENTRY)
      set(name_flag --name "${ARG_ENTRY}")
    else()
      set(name_flag "")
    endif()
    add_custom_command(
      OUTPUT "${obj}" "${dir}/manifest.json"
      COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${BUDDY_PYTHON_STAGE}"
              "BUDDY_CACHE_DIR=${CMAKE_BINARY_DIR}/buddy-cache"
              "${Python3_EXECUTABLE}" -m buddy compile "${script}"
              --target "${ARG_TARGET}" -O "${ARG_OPT_LEVEL}" --num-params "${ARG_NUM_PARAMS}"
              ${name_flag} ${omp_flag} -o "${dir}"
      DEPENDS "${script}" ${backend_sources} ${tool_deps} ${ARG_DEPENDS}
      COMMENT "Buddy: compiling model ${ARG_NAME} for ${ARG_TARGET}"
      VERBATIM)
    add_custom_target(${ARG_NAME}_buddy_compile DEPENDS "${obj}")
    add_library(${ARG_NAME} STATIC ${exclude} "${obj}")
    set_source_files_properties("${obj}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    target_link_libraries(${ARG_NAME} INTERFACE BuddyRuntime m)
  endif()
  set_target_properties(${ARG_NAME} PROPERTIES LINKER_LANGUAGE C BUDDY_ARTIFACT_DIR "${dir}")
  add_dependencies(${ARG_NAME} ${ARG_NAME}_buddy_compile)
  if(ARG_TARGET STREQUAL "host" OR ARG_TARGET MATCHES "^x86")
    get_filename_component(_omp_dir "${BUDDY_LIBOMP}" DIRECTORY)
    target_link_libraries(${ARG_NAME} INTERFACE "${BUDDY_LIBOMP}" "-Wl,-rpath,${_omp_dir}")
  endif()
endfunction()
