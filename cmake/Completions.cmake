# Shell completions of tasq, tasq-server and tasq-worker, generated at build
# time from the programs' own --help (cmake/gen-completions.sh), so that
# they cannot drift from the option tables; installed where bash-completion
# and zsh look for them:
#   share/bash-completion/completions/  tasq tasq-server tasq-worker
#   share/zsh/vendor-completions/       _tasq _tasq-server _tasq-worker
# integration.completions checks that every option of every program (and of
# every tasq command) is in both, and that they complete.
if(CMAKE_CROSSCOMPILING)
  message(STATUS "no shell completions: they run the programs, which this build cannot")
  return()
endif()
set(tasq_comp_dir ${PROJECT_BINARY_DIR}/completions)
set(tasq_comp_bash ${tasq_comp_dir}/bash/tasq ${tasq_comp_dir}/bash/tasq-server
  ${tasq_comp_dir}/bash/tasq-worker)
set(tasq_comp_zsh ${tasq_comp_dir}/zsh/_tasq ${tasq_comp_dir}/zsh/_tasq-server
  ${tasq_comp_dir}/zsh/_tasq-worker)
add_custom_command(OUTPUT ${tasq_comp_bash} ${tasq_comp_zsh}
  COMMAND bash ${PROJECT_SOURCE_DIR}/cmake/gen-completions.sh ${tasq_comp_dir}
    $<TARGET_FILE:tasq-server> $<TARGET_FILE:tasq-worker> $<TARGET_FILE:tasq>
  DEPENDS tasq-server tasq-worker tasq
    ${PROJECT_SOURCE_DIR}/cmake/gen-completions.sh
  COMMENT "shell completions from the programs' --help"
  VERBATIM)
add_custom_target(tasq_completions ALL DEPENDS ${tasq_comp_bash} ${tasq_comp_zsh})
install(FILES ${tasq_comp_bash}
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${tasq_comp_zsh}
  DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
