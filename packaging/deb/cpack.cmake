#  Debian packages with CPack (docs/OPERATIONS.md, Install):
#
#    cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
#          -DZVH_FUZZ=OFF -DZVH_BENCH=OFF
#    cmake --build build-deb -j2 --target zvhd zvhctl zvh_shared
#    (cd build-deb && cpack)          # build-deb/packages/*.deb
#
#  zvhd        zvhd, zvhctl, the systemd unit, /usr/share/zvhd (regions.zpl and
#              the examples), /usr/share/doc/zvhd; maintainer scripts in zvhd/
#  libzvh0     libzvh.so.0*
#  libzvh-dev  headers, libzvh.so, libzvh.a, libzvh.pc
#
#  Depends come from dpkg-shlibdeps; zvhd and zvhctl link libzvh statically,
#  so zvhd does not depend on libzvh0. scripts/package-test.sh installs the
#  packages on a fresh Debian 12 root and runs a region from them.
set (CPACK_GENERATOR DEB)
set (CPACK_PACKAGE_NAME zvh-federation)
set (CPACK_PACKAGE_VENDOR "zvh-federation")
set (CPACK_PACKAGE_CONTACT "zvh-federation maintainers <zvh-federation@localhost>")
set (CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
#  No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put it above every
#  component's description; the first line of each is its synopsis
set (CPACK_OUTPUT_FILE_PREFIX packages)
#  The packages hold what this build was configured for: its prefix must be
#  /usr (cpack refuses another, packaging/deb/check-prefix.cmake)
set (CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set (CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/check-prefix.cmake)
set (CPACK_STRIP_FILES ON)

set (CPACK_DEB_COMPONENT_INSTALL ON)
set (CPACK_COMPONENTS_ALL zvhd libzvh0 libzvh-dev)
set (CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)           # NAME_VERSION-RELEASE_ARCH.deb
set (CPACK_DEBIAN_PACKAGE_RELEASE 1)
set (CPACK_DEBIAN_PACKAGE_SECTION net)
set (CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set (CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
#  Maintainer scripts 0755 and files 0644, whatever the checkout's modes
set (CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set (CPACK_DEBIAN_ZVHD_PACKAGE_NAME zvhd)
set (CPACK_DEBIAN_ZVHD_PACKAGE_SECTION net)
#  adduser for the postinst; the shared libraries come from dpkg-shlibdeps
set (CPACK_DEBIAN_ZVHD_PACKAGE_DEPENDS "adduser")
set (CPACK_DEBIAN_ZVHD_PACKAGE_SUGGESTS "systemd")
set (CPACK_COMPONENT_ZVHD_DESCRIPTION
"federated message broker for the Zorg- en Veiligheidshuizen (daemon)
zvhd is the regional daemon of zvh-federation: warm handovers of cases
between regions and crisis signals to partners, over CURVE-encrypted
ZeroMQ, with an LMDB store. The package holds zvhd, zvhctl, the systemd
unit (not enabled: configure /etc/zvhd/zvhd.cfg first) and the directory
of the 31 regions in /usr/share/zvhd.")
set (CPACK_DEBIAN_ZVHD_PACKAGE_CONTROL_EXTRA
     ${CMAKE_CURRENT_LIST_DIR}/zvhd/postinst
     ${CMAKE_CURRENT_LIST_DIR}/zvhd/prerm
     ${CMAKE_CURRENT_LIST_DIR}/zvhd/postrm)

set (CPACK_DEBIAN_LIBZVH0_PACKAGE_NAME libzvh0)
set (CPACK_DEBIAN_LIBZVH0_PACKAGE_SECTION libs)
#  A shlibs file, so packages built against libzvh get "libzvh0 (>= VERSION)",
#  and the ldconfig trigger
#  (CPack has no per-component switch; only libzvh0 holds a shared library)
set (CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set (CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set (CPACK_COMPONENT_LIBZVH0_DESCRIPTION
"zvh-federation client library
libzvh talks to a zvhd's local control endpoint (cases, plans, signals)
and subscribes as a partner to its signal views.")

set (CPACK_DEBIAN_LIBZVH-DEV_PACKAGE_NAME libzvh-dev)
set (CPACK_DEBIAN_LIBZVH-DEV_PACKAGE_SECTION libdevel)
#  libzvh.pc's Requires.private must be there for pkg-config to answer
set (CPACK_DEBIAN_LIBZVH-DEV_PACKAGE_DEPENDS
     "libzvh0 (= ${PROJECT_VERSION}-1), libczmq-dev, libzmq3-dev, libprotobuf-c-dev, libjansson-dev")
set (CPACK_COMPONENT_LIBZVH-DEV_DESCRIPTION
"zvh-federation client library (development files)
Headers (zvh/zvh.h, zvh/zvh_plan.h), libzvh.so and libzvh.pc for
pkg-config.")

include (CPack)
