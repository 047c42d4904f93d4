# Script mode (cmake -P), run after a Catch2 test executable is built (imgsink_add_catch_test in
# tests/CMakeLists.txt): lists the executable's test cases and writes OUT, a ctest file that
# registers each case as its own test "<NAME>: <case>".
#
# Like Catch2's own CatchAddTests.cmake, but a case name may hold any character: that script
# splits Catch's output into a CMake list, so a ';' in a name (ours have several) made two
# broken tests out of one.  Here the output is cut at newlines by position and every name is
# written as a bracket argument, never through a list.
#
# Inputs (-D): EXE, NAME, WORKING_DIR, OUT.  The tests get the labels and environment that the
# including file sets in imgsink_case_labels and imgsink_case_environment.

execute_process(COMMAND "${EXE}" --list-test-names-only
                OUTPUT_VARIABLE listing RESULT_VARIABLE rc WORKING_DIRECTORY "${WORKING_DIR}")
# Catch2 v2 exits with the number of test cases it listed; a crash is a string or negative.
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "${EXE} --list-test-names-only failed: ${rc}\n${listing}")
endif()

set(script "")
set(count 0)
while(NOT listing STREQUAL "")
  string(FIND "${listing}" "\n" newline)
  if(newline EQUAL -1)
    set(case "${listing}")
    set(listing "")
  else()
    string(SUBSTRING "${listing}" 0 ${newline} case)
    math(EXPR newline "${newline} + 1")
    string(SUBSTRING "${listing}" ${newline} -1 listing)
  endif()
  string(STRIP "${case}" case)
  if(case STREQUAL "")
    continue()
  endif()
  # On Catch's command line '\' escapes, ',' separates names and '[' ']' enclose tags.
  set(spec "${case}")
  foreach(char "\\" "," "[" "]")
    string(REPLACE "${char}" "\\${char}" spec "${spec}")
  endforeach()
  string(APPEND script
    "add_test([==[${NAME}: ${case}]==] [==[${EXE}]==] [==[${spec}]==])\n"
    "set_tests_properties([==[${NAME}: ${case}]==] PROPERTIES"
    " WORKING_DIRECTORY [==[${WORKING_DIR}]==]"
    " LABELS \"\${imgsink_case_labels}\" ENVIRONMENT \"\${imgsink_case_environment}\")\n")
  math(EXPR count "${count} + 1")
endwhile()
if(count EQUAL 0)
  message(FATAL_ERROR "${EXE} lists no test cases")
endif()
file(WRITE "${OUT}" "${script}")
