# Install rules beyond the programs themselves (man pages, units,
# pkg-config, packaging) live here; the top CMakeLists.txt includes it.
#
#   cmake --install build --prefix /usr/local        # or DESTDIR=... cmake --install build
#   (cd build && cpack)                              # tasq_<version>_<arch>.deb
#
# Installed besides the programs (whose rules are in server/, worker/,
# client/):
#   share/man/man{1,5,8}/     tasq.1 tasq-worker.1 tasq.conf.5 tasq-server.8
#                             (gzip -9n'ed when gzip is there, as Debian wants)
#   lib/systemd/system/       tasq-server.service tasq-worker@.service, whose
#                             ExecStart names the installed programs
#   share/doc/tasq/           copyright (Debian machine-readable format, MIT
#                             "Expat"), changelog.Debian.gz
#   share/doc/tasq/examples/  tasq-server.conf.example
#   share/tasq/               gen-certs.sh
#   include/tasq/             handler.h (the plugin ABI, docs/HANDLERS.md);
#                             example handlers in share/doc/tasq/examples

# --- man pages ---------------------------------------------------------------
set(tasq_man_pages tasq.1 tasq-worker.1 tasq.conf.5 tasq-server.8)
find_program(TASQ_GZIP gzip)
set(tasq_man_outputs)
foreach(page ${tasq_man_pages})
  string(REGEX MATCH "[0-9]$" section ${page})
  set(src ${PROJECT_SOURCE_DIR}/docs/man/${page})
  if(TASQ_GZIP)
    set(out ${PROJECT_BINARY_DIR}/man/${page}.gz)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND sh -c "\"$0\" -9nc \"$1\" > \"$2\"" ${TASQ_GZIP} ${src} ${out}
      DEPENDS ${src}
      COMMENT "gzip ${page}"
      VERBATIM)
    list(APPEND tasq_man_outputs ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  else()
    install(FILES ${src} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endif()
endforeach()
if(tasq_man_outputs)
  add_custom_target(tasq_man ALL DEPENDS ${tasq_man_outputs})
endif()

# --- systemd units -------------------------------------------------------------
# The units name /usr/bin/tasq-*; at install time that becomes the real
# prefix (the .deb's /usr, or --prefix), so the units always start the
# programs installed beside them. /etc/tasq stays as it is.
set(tasq_units tasq-server.service tasq-worker@.service)
set(tasq_unit_src ${PROJECT_SOURCE_DIR}/deploy/systemd)
set(tasq_unit_tmp ${PROJECT_BINARY_DIR}/systemd)
install(CODE "
  foreach(u ${tasq_units})
    file(READ \"${tasq_unit_src}/\${u}\" text)
    string(REPLACE \"/usr/bin/\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" text \"\${text}\")
    file(WRITE \"${tasq_unit_tmp}/\${u}\" \"\${text}\")
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\"
      TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
      FILES \"${tasq_unit_tmp}/\${u}\")
  endforeach()
")

# --- license and changelog, where Debian puts them ----------------------------
install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/copyright
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(TASQ_GZIP)
  set(tasq_changelog_gz ${PROJECT_BINARY_DIR}/changelog.Debian.gz)
  add_custom_command(OUTPUT ${tasq_changelog_gz}
    COMMAND sh -c "\"$0\" -9nc \"$1\" > \"$2\"" ${TASQ_GZIP}
      ${PROJECT_SOURCE_DIR}/deploy/debian/changelog ${tasq_changelog_gz}
    DEPENDS ${PROJECT_SOURCE_DIR}/deploy/debian/changelog
    COMMENT "gzip changelog"
    VERBATIM)
  add_custom_target(tasq_changelog ALL DEPENDS ${tasq_changelog_gz})
  install(FILES ${tasq_changelog_gz} DESTINATION ${CMAKE_INSTALL_DOCDIR})
else()
  install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/changelog
    DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME changelog.Debian)
endif()

# --- examples and tools -----------------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/deploy/tasq-server.conf.example
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/deploy/gen-certs.sh
  DESTINATION ${CMAKE_INSTALL_DATADIR}/tasq)

# --- the handler plugin ABI ---------------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/include/tasq/handler.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tasq)

# --- packaging: a Debian package with cpack ----------------------------------
set(TASQ_PACKAGE_CONTACT "tasq maintainers <tasq@localhost>" CACHE STRING
  "Maintainer field of the packages")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tasq)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${TASQ_PACKAGE_CONTACT})
set(CPACK_PACKAGE_VENDOR "tasq")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "distributed task queue: server, worker supervisor and client")
set(CPACK_PACKAGE_DESCRIPTION
  "tasq-server hosts named task and result queues; tasq-worker runs worker
processes on any number of machines that lease batches of tasks, compute
them and return the results; the tasq client submits batches and collects
every result exactly once. Messages are authenticated with a shared key
(HMAC-SHA256) and can be encrypted with TLS; a journal keeps the queues
across restarts. Includes systemd units and man pages.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libnng1, libprotobuf-c1, libssl3")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "openssl")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
include(CPack)
