# Stage bookkeeping: one call per stage in the top-level CMakeLists; each sub-directory then
# creates the stage's targets from the globbed sources, so adding a file needs no CMake edit.
set_property(GLOBAL PROPERTY HMR_STAGE_LIST "")

function(hmr_stage name)
  cmake_parse_arguments(S "" "" "DIRS;DEPENDS" ${ARGN})
  set_property(GLOBAL APPEND PROPERTY HMR_STAGE_LIST ${name})
  set_property(GLOBAL PROPERTY HMR_STAGE_${name}_DIRS "${S_DIRS}")
  set_property(GLOBAL PROPERTY HMR_STAGE_${name}_DEPENDS "${S_DEPENDS}")
endfunction()

# Sources of stage `name` under ROOT (host, kernels, tests) matching GLOBS (relative patterns).
function(hmr_stage_sources out name root)
  get_property(dirs GLOBAL PROPERTY HMR_STAGE_${name}_DIRS)
  set(files "")
  foreach(d IN LISTS dirs)
    foreach(g IN LISTS ARGN)
      file(GLOB_RECURSE f CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${root}/${d}/${g}")
      list(APPEND files ${f})
    endforeach()
  endforeach()
  list(SORT files)
  set(${out} "${files}" PARENT_SCOPE)
endfunction()

# Every library gets at least this file so that empty stages still produce a target.
set(HMR_EMPTY_SOURCE "${PROJECT_BINARY_DIR}/hmr_empty.cpp")
file(WRITE "${HMR_EMPTY_SOURCE}.in" "// intentionally empty: keeps a stage library non-empty\n")
configure_file("${HMR_EMPTY_SOURCE}.in" "${HMR_EMPTY_SOURCE}" COPYONLY)

function(hmr_link_stages)
  get_property(stages GLOBAL PROPERTY HMR_STAGE_LIST)
  foreach(s IN LISTS stages)
    # A function with external linkage must have been declared first: a stage's cuda entry points
    # are declared once in its seam header (host/<dir>/<name>_cuda.h) that both the caller and the
    # defining *_cuda.cpp include, so a definition whose signature drifted from the declaration
    # (which would otherwise surface as a link error, or not at all for an overload) stops the
    # build here. File-local helpers are static or in an anonymous namespace.
    set(decl $<$<COMPILE_LANGUAGE:CXX>:-Werror=missing-declarations>)
    target_compile_options(hmr_${s} PRIVATE ${decl})
    target_compile_options(hmr_${s}_emu PRIVATE ${decl})
    if(HMR_HAVE_GPU)
      target_compile_options(hmr_${s}_gpu PRIVATE ${decl})
    endif()
    get_property(deps GLOBAL PROPERTY HMR_STAGE_${s}_DEPENDS)
    foreach(d IN LISTS deps)
      target_link_libraries(hmr_${s} PUBLIC hmr_${d})
      target_link_libraries(hmr_${s}_emu PRIVATE hmr_${d}_emu)
      if(HMR_HAVE_GPU)
        target_link_libraries(hmr_${s}_gpu PRIVATE hmr_${d}_gpu)
      endif()
    endforeach()
    # The host library dispatches into its cuda twins, which in turn use the host library's
    # cpu helpers (filter banks, parameter checks): a static-library cycle CMake resolves.
    # All PRIVATE: the twins' compile definitions (HMR_EMU, HMR_CUDA_NS) must not leak into each
    # other or into host code; for static libraries the link dependency still propagates.
    target_link_libraries(hmr_${s} PRIVATE hmr_${s}_emu)
    target_link_libraries(hmr_${s}_emu PRIVATE hmr_${s})
    if(HMR_HAVE_GPU)
      target_link_libraries(hmr_${s} PRIVATE hmr_${s}_gpu)
      target_link_libraries(hmr_${s}_gpu PRIVATE hmr_${s})
    endif()
  endforeach()
endfunction()
