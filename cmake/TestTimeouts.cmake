# Test timeouts under the sanitizers (h-ci).
#
# tasq_test_timeout_factor(OUT): TASQ_TEST_TIMEOUT_FACTOR from -D, else
# the environment at configure time, else 6 under TSan, 3 under the other
# sanitizers and 1 otherwise (the scripted tests' factor,
# tests/CMakeLists.txt).
function(tasq_test_timeout_factor out)
  if(DEFINED TASQ_TEST_TIMEOUT_FACTOR)
    set(f ${TASQ_TEST_TIMEOUT_FACTOR})
  elseif("$ENV{TASQ_TEST_TIMEOUT_FACTOR}" MATCHES "^[1-9][0-9]*$")
    set(f $ENV{TASQ_TEST_TIMEOUT_FACTOR})
  elseif(TASQ_SANITIZE MATCHES "thread")
    set(f 6)
  elseif(TASQ_SANITIZE)
    set(f 3)
  else()
    set(f 1)
  endif()
  set(${out} ${f} PARENT_SCOPE)
endfunction()

# tasq_scale_unit_timeouts(): multiplies the TIMEOUT of the unit and fuzz
# tests registered so far in the calling directory by that factor, as the
# scripted tests' are: a C unit test that takes 48 s under TSan on an idle
# machine (unit.journal) must not meet a 60 s TIMEOUT when the CI's
# suites share 2 cores. Call it last in a directory's CMakeLists.txt.
function(tasq_scale_unit_timeouts)
  tasq_test_timeout_factor(f)
  if(f EQUAL 1)
    return()
  endif()
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t IN LISTS tests)
    get_test_property(${t} LABELS labels)
    get_test_property(${t} TIMEOUT timeout)
    if(timeout AND labels MATCHES "(^|;)(unit|fuzz)(;|$)")
      math(EXPR timeout "${timeout} * ${f}")
      set_tests_properties(${t} PROPERTIES TIMEOUT ${timeout})
    endif()
  endforeach()
endfunction()
