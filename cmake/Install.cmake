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
#                             "Expat"), changelog.gz (the name of a native
#                             package's changelog: the version has no
#                             Debian revision)
#   share/doc/tasq/examples/  tasq-server.conf.example tasq-worker.conf.example
#   share/tasq/               gen-certs.sh
#   include/tasq/             handler.h (the plugin ABI, docs/HANDLERS.md);
#                             example handlers in share/doc/tasq/examples
#   /etc/tasq/                tasq-server.conf, worker-main.conf (the
#                             examples; conffiles of the .deb). /etc for the
#                             prefix /usr, PREFIX/etc otherwise
#
# The .deb also carries the maintainer scripts and conffiles list of
# deploy/debian/ (see there and deploy/README.md): a "tasq" system user,
# /etc/tasq 0750 root:tasq, /var/lib/tasq, purge.

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
  set(tasq_changelog_gz ${PROJECT_BINARY_DIR}/changelog.gz)
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
    DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME changelog)
endif()

# --- examples and tools -----------------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/deploy/tasq-server.conf.example
  ${PROJECT_SOURCE_DIR}/deploy/tasq-worker.conf.example
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# --- configuration: /etc/tasq ---------------------------------------------------
# The examples as the configurations the units read: tasq-server.service's
# /etc/tasq/tasq-server.conf, tasq-worker@main.service's
# /etc/tasq/worker-main.conf. Like the units' paths, the directory is
# chosen at install time, when the prefix is known (cpack installs with
# /usr): GNU's rule, /etc for the prefix /usr and PREFIX/etc otherwise, so
# that cmake --install --prefix DIR writes nothing outside DIR. (The units
# read /etc/tasq whatever the prefix.)
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(tasq_etc /etc/tasq)
  else()
    set(tasq_etc \"\${CMAKE_INSTALL_PREFIX}/etc/tasq\")
  endif()
  foreach(f tasq-server.conf:tasq-server worker-main.conf:tasq-worker)
    string(REPLACE \":\" \";\" f \"\${f}\")
    list(GET f 0 name)
    list(GET f 1 example)
    file(INSTALL DESTINATION \"\${tasq_etc}\" TYPE FILE
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
      FILES \"${PROJECT_SOURCE_DIR}/deploy/\${example}.conf.example\"
      RENAME \${name})
  endforeach()
")
install(PROGRAMS ${PROJECT_SOURCE_DIR}/deploy/gen-certs.sh
  DESTINATION ${CMAKE_INSTALL_DATADIR}/tasq)

# --- the handler plugin ABI ---------------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/include/tasq/handler.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tasq)

# --- packaging: a Debian package with cpack ----------------------------------
# Set your own (lintian refuses an address without a domain, such as
# tasq@localhost; example.org is reserved for examples, RFC 2606).
set(TASQ_PACKAGE_CONTACT "tasq maintainers <tasq@example.org>" CACHE STRING
  "Maintainer field of the packages")
# (build directories made before keep the old default in their cache)
if(TASQ_PACKAGE_CONTACT STREQUAL "tasq maintainers <tasq@localhost>")
  set_property(CACHE TASQ_PACKAGE_CONTACT PROPERTY VALUE
    "tasq maintainers <tasq@example.org>")
endif()
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tasq)
# The Debian version is the project's, plus TASQ_PACKAGE_VERSION_SUFFIX:
# e.g. -DTASQ_PACKAGE_VERSION_SUFFIX=+local1 makes 0.1.0+local1, which
# dpkg orders after 0.1.0 and before 0.1.1 (a rebuild with local changes;
# deploy.debian_package upgrades to one). "~rc1" orders before 0.1.0.
set(TASQ_PACKAGE_VERSION_SUFFIX "" CACHE STRING
  "Appended to the project version in the package's version")
if(NOT TASQ_PACKAGE_VERSION_SUFFIX MATCHES "^([+~][A-Za-z0-9.+~]*)?$")
  message(FATAL_ERROR "TASQ_PACKAGE_VERSION_SUFFIX '${TASQ_PACKAGE_VERSION_SUFFIX}': "
    "start it with + (later than ${PROJECT_VERSION}) or ~ (earlier), then "
    "letters, digits, '.', '+', '~'")
endif()
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION}${TASQ_PACKAGE_VERSION_SUFFIX})
set(CPACK_DEBIAN_PACKAGE_VERSION ${CPACK_PACKAGE_VERSION})
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
# The shared libraries' packages (libc6, libnng1, libprotobuf-c1, libssl3
# on bookworm, with their minimum versions) come from dpkg-shlibdeps
# (package dpkg-dev); passwd is for the maintainer scripts' useradd.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "openssl")
# Maintainer scripts and the conffiles list (deploy/debian/), installed
# with the modes dpkg expects whatever their modes in the source tree.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles
  ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
  ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
  ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
# --- the library's packages (libtasq, docs/LIBRARY.md) ------------------------
# One package per install component: the programs (the component
# Unspecified, which keeps the name tasq and everything above), libtasq1
# (libtasq.so.1, component runtime: the shlibs file and ldconfig triggers
# Debian wants) and libtasq-dev (headers, libtasq.so, libtasq.a, tasq.pc,
# man pages of section 3, examples; component dev). The programs do not
# link libtasq, so tasq does not depend on libtasq1.
set(CPACK_DEB_COMPONENT_INSTALL ON)
# Each package has its copyright and changelog (Debian policy 12.5).
foreach(c runtime:libtasq1 dev:libtasq-dev)
  string(REPLACE ":" ";" c ${c})
  list(GET c 0 comp)
  list(GET c 1 pkg)
  install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/copyright
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${pkg} COMPONENT ${comp})
  if(TASQ_GZIP)
    install(FILES ${tasq_changelog_gz}
      DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${pkg} COMPONENT ${comp})
  else()
    install(FILES ${PROJECT_SOURCE_DIR}/deploy/debian/changelog
      DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${pkg} RENAME changelog
      COMPONENT ${comp})
  endif()
endforeach()
set(CPACK_COMPONENTS_ALL Unspecified runtime dev)
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_NAME tasq)
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_CONTROL_EXTRA
  ${CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA})
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "")
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_DEPENDS ${CPACK_DEBIAN_PACKAGE_DEPENDS})
set(CPACK_DEBIAN_PACKAGE_DEPENDS "")
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_SUGGESTS
  "openssl, libtasq-dev (= ${CPACK_PACKAGE_VERSION})")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "")
# (CPackDeb puts CPACK_PACKAGE_DESCRIPTION_SUMMARY on the first line of
# every package's Description; CMake 3.25 has no summary per component.)
set(CPACK_DEBIAN_UNSPECIFIED_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libtasq1)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# shlibs (for the packages built against it) and the ldconfig trigger
# (deploy/debian/libtasq1/: its scripts stand in for CPack's, which would
# call ldconfig themselves).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/deploy/debian/libtasq1/triggers
  ${PROJECT_SOURCE_DIR}/deploy/debian/libtasq1/postinst
  ${PROJECT_SOURCE_DIR}/deploy/debian/libtasq1/postrm)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "C library of the tasq distributed task queue
libtasq lets any program submit tasks to a tasq-server and read their
results in input order, or serve tasks as a worker, with the shared key
and TLS options of the tasq tools. This package holds the shared library.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libtasq-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libtasq1 (= ${CPACK_PACKAGE_VERSION})")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS
  "pkgconf, libnng-dev, libprotobuf-c-dev, libssl-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "C library of the tasq distributed task queue (development files)
libtasq lets any program submit tasks to a tasq-server and read their
results in input order, or serve tasks as a worker. This package holds
the header tasq/tasq.h, the static library, the pkg-config file tasq.pc,
the manual pages of section 3 and example programs. Linking statically
needs libnng-dev, libprotobuf-c-dev and libssl-dev.")
include(CPack)
