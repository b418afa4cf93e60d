# Install rules: the public header, the static and the shared library, a CMake package
# (find_package(lsvk) -> lsvk::lsvk, lsvk::lsvk_static) and a pkg-config file (lsvk.pc).
# On by default only when lsvk is the top-level project, so that add_subdirectory(lsvk) does not
# add lsvk to the parent's install.
option(LSVK_INSTALL "Generate lsvk's install rules" ${PROJECT_IS_TOP_LEVEL})
if(NOT LSVK_INSTALL)
  return()
endif()

include(CMakePackageConfigHelpers)
set(LSVK_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/lsvk CACHE STRING
  "Where lsvkConfig.cmake is installed, relative to the prefix")
mark_as_advanced(LSVK_INSTALL_CMAKEDIR)

file(GLOB LSVK_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/include/lsvk/*.h)
install(FILES ${LSVK_PUBLIC_HEADERS}
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lsvk COMPONENT lsvk_development)

set(lsvk_export_targets lsvk_shared lsvk_static)
# Without a libcjson.pc, cmake/Dependencies.cmake wraps the library found by hand in the
# interface target lsvk_cjson; the static library's users need it too, so it is exported.
if(LSVK_CJSON_TARGET STREQUAL "lsvk_cjson")
  list(APPEND lsvk_export_targets lsvk_cjson)
  set(LSVK_CONFIG_CJSON_FROM_PKGCONFIG OFF)
  set(LSVK_PC_REQUIRES_PRIVATE "")
  set(LSVK_PC_LIBS_PRIVATE "-lcjson ")
else()
  set(LSVK_CONFIG_CJSON_FROM_PKGCONFIG ON)
  set(LSVK_PC_REQUIRES_PRIVATE "libcjson")
  set(LSVK_PC_LIBS_PRIVATE "")
endif()
string(APPEND LSVK_PC_LIBS_PRIVATE "-ldl -lm")

install(TARGETS ${lsvk_export_targets} EXPORT lsvkTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT lsvk_runtime
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lsvk_runtime
    NAMELINK_COMPONENT lsvk_development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lsvk_development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT lsvkTargets NAMESPACE lsvk:: FILE lsvkTargets.cmake
  DESTINATION ${LSVK_INSTALL_CMAKEDIR} COMPONENT lsvk_development)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/lsvkConfig.cmake.in
  ${PROJECT_BINARY_DIR}/lsvkConfig.cmake
  INSTALL_DESTINATION ${LSVK_INSTALL_CMAKEDIR})
# 0.x: a new minor version may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lsvkConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/lsvkConfig.cmake ${PROJECT_BINARY_DIR}/lsvkConfigVersion.cmake
  DESTINATION ${LSVK_INSTALL_CMAKEDIR} COMPONENT lsvk_development)

# pkg-config: the prefix is only known at install time (cmake --install --prefix DIR), so the
# file is configured twice: now for everything else, then by the install script for the prefix.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(LSVK_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(LSVK_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(LSVK_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(LSVK_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(LSVK_PC_PREFIX "@LSVK_INSTALL_TIME_PREFIX@")
configure_file(${PROJECT_SOURCE_DIR}/cmake/lsvk.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/lsvk.pc.in @ONLY)
install(CODE "
  set(LSVK_INSTALL_TIME_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/pkgconfig/lsvk.pc.in\"
                 \"${PROJECT_BINARY_DIR}/pkgconfig/lsvk.pc\" @ONLY)
" COMPONENT lsvk_development)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/lsvk.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT lsvk_development)

# Samples that are useful on their own (they link the static library, so need nothing else).
set(LSVK_INSTALL_SAMPLES lsvk-info)
foreach(sample IN LISTS LSVK_INSTALL_SAMPLES)
  if(TARGET ${sample})
    install(TARGETS ${sample} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT lsvk_runtime)
  endif()
endforeach()
