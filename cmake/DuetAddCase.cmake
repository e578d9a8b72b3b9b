# duet_add_case(<name> <source>... [CASES <case>...])
#
# Builds <source>... into a runner executable, target <name>: duet's command line
# (duet::main) around the cases those files register with DUET_CASE. Then adds one
# CTest test per case, `<runner> run <case>`, named after the case: <name> itself and
# each name after CASES (the other cases the files register, such as a fixed twin).
# A test passes when `duet run` exits 0, every run of the case in both modes and under
# each policy being as the case expects. Tests carry the label "duet" (ctest -L duet).
#
# The sources are the executable's own, not a library's: DUET_CASE registers from a
# constructor that nothing refers to, so a case in a static library would be dropped
# by the linker. For more libraries or flags: target_link_libraries(<name> ...).
#
#   duet_add_case(mean-sign mean_sign.c CASES mean-sign-fixed)
#   ctest -j 8        # the cases run in parallel, one result each
function(duet_add_case name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "CASES")
  if(NOT arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "duet_add_case(${name}): no source files")
  endif()
  add_executable(${name} ${arg_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE duet::main duet::harness duet::engine)
  foreach(case IN ITEMS ${name} ${arg_CASES})
    add_test(NAME ${case} COMMAND ${name} run ${case})
    set_tests_properties(${case} PROPERTIES LABELS duet)
  endforeach()
endfunction()
