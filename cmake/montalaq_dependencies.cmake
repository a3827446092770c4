# The core's two libraries, found so that a source build needs nothing but a C++20 compiler
# (docs/CONTRIBUTING.md, "Building from source"):
#
# - nlohmann/json: the system's CMake package (Debian's nlohmann-json3-dev) when present,
#   else the headers of the `nlohmann_json` PyPI package, which pyproject.toml lists as a
#   build requirement (so `pip install .` always has them).
# - spdlog: the system's package when present, compiled in header-only with fmt header-only
#   (MONTALAQ_SPDLOG_COMPILED_IN, the default), so the module links no libspdlog/libfmt and
#   a wheel carries none; without a system spdlog, cpp/fallback/ provides the few spdlog
#   names the core uses (a logger with levels and one sink, "{}" formatting), because the
#   core only logs rare events into a buffer Python drains: losing spdlog's formatting
#   breadth costs nothing there, while failing the build would cost the user everything.
#
# Both end up as interface targets montalaq_json and montalaq_spdlog.

add_library(montalaq_json INTERFACE)
find_package(nlohmann_json 3.10 QUIET)
if(nlohmann_json_FOUND)
  target_link_libraries(montalaq_json INTERFACE nlohmann_json::nlohmann_json)
  message(STATUS "montalaq: nlohmann/json from the system (${nlohmann_json_DIR})")
else()
  find_package(Python 3.10 COMPONENTS Interpreter)
  set(_montalaq_json_inc "")
  if(Python_Interpreter_FOUND)
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -c "import nlohmann_json; print(nlohmann_json.get_include())"
      OUTPUT_VARIABLE _montalaq_json_inc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
  if(NOT _montalaq_json_inc OR NOT EXISTS "${_montalaq_json_inc}/nlohmann/json.hpp")
    message(FATAL_ERROR
      "montalaq: nlohmann/json not found. Install one of: the PyPI package "
      "(pip install nlohmann_json; `pip install .` does this itself) or the system headers "
      "(apt-get install nlohmann-json3-dev).")
  endif()
  target_include_directories(montalaq_json SYSTEM INTERFACE "${_montalaq_json_inc}")
  message(STATUS "montalaq: nlohmann/json from PyPI (${_montalaq_json_inc})")
endif()

add_library(montalaq_spdlog INTERFACE)
find_package(spdlog 1.9 QUIET)
if(spdlog_FOUND AND MONTALAQ_SPDLOG_COMPILED_IN)
  # Header-only: spdlog's implementation and fmt's are compiled into our objects.
  get_target_property(_montalaq_spdlog_inc spdlog::spdlog_header_only INTERFACE_INCLUDE_DIRECTORIES)
  set(_montalaq_fmt_inc "")
  if(TARGET fmt::fmt-header-only)
    get_target_property(_montalaq_fmt_inc fmt::fmt-header-only INTERFACE_INCLUDE_DIRECTORIES)
  endif()
  target_include_directories(montalaq_spdlog SYSTEM INTERFACE ${_montalaq_spdlog_inc} ${_montalaq_fmt_inc})
  target_compile_definitions(montalaq_spdlog INTERFACE SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY=1)
  message(STATUS "montalaq: spdlog ${spdlog_VERSION} from the system, compiled in (header-only)")
elseif(spdlog_FOUND)
  target_link_libraries(montalaq_spdlog INTERFACE spdlog::spdlog)
  message(STATUS "montalaq: spdlog ${spdlog_VERSION} from the system, linked as a shared library")
else()
  target_include_directories(montalaq_spdlog INTERFACE "${CMAKE_CURRENT_SOURCE_DIR}/cpp/fallback")
  target_compile_definitions(montalaq_spdlog INTERFACE MONTALAQ_SPDLOG_FALLBACK=1)
  message(STATUS "montalaq: spdlog not found: using the built-in fallback logger (cpp/fallback)")
endif()

# Wheels: libstdc++ and libgcc inside the module, so the only run-time dependency is glibc
# (auditwheel then tags the wheel manylinux for the glibc it was built against).
function(montalaq_static_runtime target)
  if(MONTALAQ_STATIC_RUNTIME AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  endif()
endfunction()
