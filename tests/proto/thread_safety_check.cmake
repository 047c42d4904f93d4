# ctest script (clang builds only): proves the build really checks the lock annotations.
# Compiles thread_safety_check.cc with the tree's compile options (OPTIONS) plus -Werror: as-is it
# must compile; with each -DIMGSINK_VIOLATION=<n> it must fail with a -Wthread-safety diagnostic.
#   cmake -DCXX=<clang++> -DOPTIONS=<space-separated> -DINCLUDE=<proto/include> -DSOURCE=<.cc> -DCASES=<n> -P
foreach(var CXX OPTIONS INCLUDE SOURCE CASES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "thread_safety_check: -D${var}= missing")
  endif()
endforeach()
if(NOT OPTIONS MATCHES "-Wthread-safety")
  message(FATAL_ERROR "thread_safety_check: the tree's compile options lack -Wthread-safety: ${OPTIONS}")
endif()

separate_arguments(OPTIONS UNIX_COMMAND "${OPTIONS}")
set(base ${CXX} -std=c++17 -fsyntax-only ${OPTIONS} -Werror -I${INCLUDE} ${SOURCE})
execute_process(COMMAND ${base} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "thread_safety_check: the correct snippet does not compile:\n${out}")
endif()

foreach(n RANGE 1 ${CASES})
  execute_process(COMMAND ${base} -DIMGSINK_VIOLATION=${n}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0)
    message(FATAL_ERROR "thread_safety_check: violation ${n} compiled: the lock annotations are "
                        "not checked")
  endif()
  if(NOT out MATCHES "-Werror,-Wthread-safety")
    message(FATAL_ERROR "thread_safety_check: violation ${n} failed, but not with a "
                        "-Wthread-safety error:\n${out}")
  endif()
  message(STATUS "violation ${n}: rejected")
endforeach()
