# The worker's files, as a zip archive made by the host's python3 (modules
# and their bytecode; cmake/embed_python_runtime.py), and the ring helper just
# built for the target, are linked into edgefn_core by a generated C file
# of .incbin directives: the binary alone runs Python functions
# (src/runtime/python/embedded_runtime.hpp). No target program runs at build
# time, so a cross build embeds the target's helper. The object is rebuilt
# when a .py file or the helper changes.
#
# edgefn_embed_python_runtime(CORE RING SOURCE_ROOT): adds the generated
# source to the library CORE, embedding the helper built by the shared
# library target RING and the runtime files under SOURCE_ROOT/runtimes/python.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
set(EDGEFN_PYTHON_RUNTIME_FILES
  edgefn_worker.py
  edgefn_handler.py
  edgefn_channel.py
  edgefn_messages.py
  edgefn_check.py
  edgefn_serving.py
  nuclio_sdk/__init__.py
  nuclio_sdk/context.py
  nuclio_sdk/event.py
  nuclio_sdk/exceptions.py
  nuclio_sdk/helpers.py
  nuclio_sdk/json_encoder.py
  nuclio_sdk/logger.py
  nuclio_sdk/platform.py
  nuclio_sdk/qualified_offset.py
  nuclio_sdk/response.py
  nuclio_sdk/test/__init__.py
  nuclio_sdk/test/mock_platform.py
  nuclio_sdk/test/test_case.py
)

function(edgefn_embed_python_runtime core ring source_root)
  set(edgefn_python_archive ${CMAKE_BINARY_DIR}/generated/edgefn_python_runtime.zip)
  set(edgefn_embedded_source ${CMAKE_BINARY_DIR}/generated/embedded_python_runtime.c)
  list(TRANSFORM EDGEFN_PYTHON_RUNTIME_FILES PREPEND ${source_root}/runtimes/python/
    OUTPUT_VARIABLE edgefn_python_sources)
  # DEPENDS the helper: re-run whenever the helper is rebuilt.
  add_custom_command(OUTPUT ${edgefn_python_archive} ${edgefn_embedded_source}
    COMMAND ${Python3_EXECUTABLE} ${source_root}/cmake/embed_python_runtime.py
      ${edgefn_python_archive} ${edgefn_embedded_source} $<TARGET_FILE:${ring}>
      ${source_root}/runtimes/python ${EDGEFN_PYTHON_RUNTIME_FILES}
    DEPENDS ${source_root}/cmake/embed_python_runtime.py ${edgefn_python_sources} ${ring}
    COMMENT "Embedding the Python runtime and the ring helper"
    VERBATIM)
  target_sources(${core} PRIVATE ${edgefn_embedded_source})
endfunction()
