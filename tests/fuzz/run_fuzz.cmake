# Runs a libFuzzer binary for SECONDS over the scratch corpus WORK, seeded from SEEDS, with the
# dictionary DICT.
# Crash inputs go to ARTIFACTS. Fails if the fuzzer reports anything.
foreach(v FUZZER SEEDS DICT WORK ARTIFACTS SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzz.cmake: ${v} not set")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK} ${ARTIFACTS})
file(GLOB seeds ${SEEDS}/*)
file(COPY ${seeds} DESTINATION ${WORK})
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -max_len=4096 -print_final_stats=1 -dict=${DICT}
          -artifact_prefix=${ARTIFACTS}/ ${WORK}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzzer failed (exit ${rc}); crash inputs, if any, are in ${ARTIFACTS}")
endif()
