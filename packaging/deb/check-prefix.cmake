#  Read by cpack (CPACK_PROJECT_CONFIG_FILE): the unit's ExecStart, libzvh.pc
#  and the library directory were fixed at configure time, so a package is
#  made only from a build configured for /usr.
if (CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
    message (FATAL_ERROR "Debian packages need a build configured with "
             "-DCMAKE_INSTALL_PREFIX=/usr (this one: ${CPACK_PACKAGING_INSTALL_PREFIX})")
endif ()
