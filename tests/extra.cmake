# Included by tests/CMakeLists.txt. install_consumer installs this build tree into a scratch
# prefix and builds and runs tests/consumer against it with find_package(lsvk) and with
# pkg-config (tests/consumer/run.sh). Needs the whole tree built, as ctest after a build has.
# Not in sanitizer builds: the installed library would need the sanitizer runtime in every
# consumer, which is not what the package promises.
if(PROJECT_IS_TOP_LEVEL AND NOT LSVK_SANITIZE AND NOT (DEFINED LSVK_INSTALL AND NOT LSVK_INSTALL))
  find_program(LSVK_BASH bash)
  if(LSVK_BASH)
    add_test(NAME install_consumer
      COMMAND ${LSVK_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh ${PROJECT_BINARY_DIR})
    set_tests_properties(install_consumer PROPERTIES LABELS install SKIP_RETURN_CODE 77
      TIMEOUT 600 ENVIRONMENT "LSVK_VALIDATION=0")
  endif()
endif()
