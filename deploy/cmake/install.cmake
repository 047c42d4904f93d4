# deploy/cmake/install.cmake: what `cmake --install` and `cpack -G DEB` ship (deploy/README.md).
# Included once, at the end of the top-level CMakeLists.txt, after every target exists.
#
# Components:
#   daemon  imgsinkd and imgsinkctl, the systemd unit, sysusers.d and
#           tmpfiles.d entries, the config file, docs
#   dev     the C++ client: static libraries imgsink_{client,proto,endpoint}, headers, and the
#           CMake package `imgsink` (targets imgsink::client, imgsink::proto, imgsink::endpoint)
#   python  the Python client (client/python/imgsink) where Debian's python3 imports it:
#           <prefix>/lib/python3/dist-packages for prefix /usr, else
#           <prefix>/lib/python3.<minor>/dist-packages (/usr/local's, on Debian's sys.path)
# The .deb holds all three (one package, `imgsink`).
#
# Generated files (unit, maintainer scripts) carry absolute paths computed from
# CMAKE_INSTALL_PREFIX at configure time: build a .deb with -DCMAKE_INSTALL_PREFIX=/usr.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

set(IMGSINK_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "systemd system unit directory (relative to the install prefix, or absolute)")
set(IMGSINK_SYSUSERSDIR "lib/sysusers.d" CACHE STRING
    "sysusers.d directory (relative to the install prefix, or absolute)")
set(IMGSINK_TMPFILESDIR "lib/tmpfiles.d" CACHE STRING
    "tmpfiles.d directory (relative to the install prefix, or absolute)")
set(IMGSINK_PACKAGE_MAINTAINER "imgsink developers <imgsink@localhost>" CACHE STRING
    "Maintainer field of the .deb")

# Sets ${out} to the absolute form of install directory `dir` (as the installed system sees it).
function(imgsink_full_install_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

imgsink_full_install_dir(IMGSINK_SYSUSERS_FULL "${IMGSINK_SYSUSERSDIR}/imgsink.conf")
imgsink_full_install_dir(IMGSINK_TMPFILES_FULL "${IMGSINK_TMPFILESDIR}/imgsink.conf")

# The config file: GNUInstallDirs maps prefix /usr to /etc (outside the prefix) and /usr/local
# to /usr/local/etc (inside).  Install relative when inside, so `--prefix` relocates it.
set(IMGSINK_CONFIG_FILE_FULL "${CMAKE_INSTALL_FULL_SYSCONFDIR}/imgsink/imgsinkd.toml")
file(RELATIVE_PATH _imgsink_config_rel "${CMAKE_INSTALL_PREFIX}"
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/imgsink")
if(_imgsink_config_rel MATCHES "^\\.\\./")
  set(IMGSINK_CONFIG_INSTALL_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/imgsink")
else()
  set(IMGSINK_CONFIG_INSTALL_DIR "${_imgsink_config_rel}")
endif()

# ---------------------------------------------------------------------------------- daemon ---
install(TARGETS imgsinkd imgsinkctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT daemon)

set(IMGSINK_DEPLOY_DIR ${PROJECT_SOURCE_DIR}/deploy)
set(IMGSINK_DEPLOY_BINARY_DIR ${PROJECT_BINARY_DIR}/deploy)
configure_file(${IMGSINK_DEPLOY_DIR}/systemd/imgsinkd.service.in
               ${IMGSINK_DEPLOY_BINARY_DIR}/imgsinkd.service @ONLY)
install(FILES ${IMGSINK_DEPLOY_BINARY_DIR}/imgsinkd.service
              ${IMGSINK_DEPLOY_DIR}/systemd/imgsinkd.socket
        DESTINATION ${IMGSINK_SYSTEMD_UNITDIR} COMPONENT daemon)
install(FILES ${IMGSINK_DEPLOY_DIR}/systemd/imgsink.sysusers
        DESTINATION ${IMGSINK_SYSUSERSDIR} RENAME imgsink.conf COMPONENT daemon)
install(FILES ${IMGSINK_DEPLOY_DIR}/systemd/imgsinkd.tmpfiles
        DESTINATION ${IMGSINK_TMPFILESDIR} RENAME imgsink.conf COMPONENT daemon)

# The config: never overwrite one an operator edited (a .deb marks it a conffile instead; its
# staging tree is always empty, so it always gets the file).
install(CODE "
  set(_dir \"${IMGSINK_CONFIG_INSTALL_DIR}\")
  if(NOT IS_ABSOLUTE \"\${_dir}\")
    set(_dir \"\${CMAKE_INSTALL_PREFIX}/\${_dir}\")
  endif()
  if(EXISTS \"\$ENV{DESTDIR}\${_dir}/imgsinkd.toml\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}\${_dir}/imgsinkd.toml (the shipped one is in the docs)\")
  else()
    file(INSTALL DESTINATION \"\${_dir}\" TYPE FILE RENAME imgsinkd.toml
         FILES \"${IMGSINK_DEPLOY_DIR}/imgsinkd.toml.example\")
  endif()
" COMPONENT daemon)

install(FILES ${IMGSINK_DEPLOY_DIR}/README.md
              ${IMGSINK_DEPLOY_DIR}/imgsinkd.toml.example
              ${IMGSINK_DEPLOY_DIR}/systemd/imgsinkd-tcp.conf
              ${IMGSINK_DEPLOY_DIR}/systemd/imgsinkd-metrics.conf
              ${IMGSINK_DEPLOY_DIR}/systemd/imgsinkd-s3.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon)

# ------------------------------------------------------------------------------------- dev ---
# The installed headers are C++17: consumers get -std=c++17 (or newer) from the targets.
foreach(lib imgsink_client imgsink_proto imgsink_endpoint)
  target_compile_features(${lib} PUBLIC cxx_std_17)
endforeach()
set_target_properties(imgsink_client PROPERTIES EXPORT_NAME client)
set_target_properties(imgsink_proto PROPERTIES EXPORT_NAME proto)
set_target_properties(imgsink_endpoint PROPERTIES EXPORT_NAME endpoint)
install(TARGETS imgsink_client imgsink_proto imgsink_endpoint
        EXPORT imgsinkTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/client/include/imgsink/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/imgsink COMPONENT dev
        FILES_MATCHING PATTERN "*.h")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/proto/include/imgsink/proto/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/imgsink/proto COMPONENT dev
        FILES_MATCHING PATTERN "*.h")

set(IMGSINK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/imgsink)
install(EXPORT imgsinkTargets NAMESPACE imgsink:: DESTINATION ${IMGSINK_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${IMGSINK_DEPLOY_DIR}/cmake/imgsinkConfig.cmake.in
                              ${IMGSINK_DEPLOY_BINARY_DIR}/imgsinkConfig.cmake
                              INSTALL_DESTINATION ${IMGSINK_CMAKE_DIR})
# 0.x: the API may change with every minor version.
write_basic_package_version_file(${IMGSINK_DEPLOY_BINARY_DIR}/imgsinkConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${IMGSINK_DEPLOY_BINARY_DIR}/imgsinkConfig.cmake
              ${IMGSINK_DEPLOY_BINARY_DIR}/imgsinkConfigVersion.cmake
        DESTINATION ${IMGSINK_CMAKE_DIR} COMPONENT dev)

# ---------------------------------------------------------------------------------- python ---
# Pure Python: no build step.  Debian's python3 reads /usr/lib/python3/dist-packages (packages)
# and /usr/local/lib/python3.X/dist-packages (local installs); other prefixes need PYTHONPATH.
if(NOT DEFINED IMGSINK_PYTHON_INSTALL_DIR)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(_imgsink_pydir "lib/python3/dist-packages")
  else()
    execute_process(COMMAND /usr/bin/python3 -c "import sys; print('%d.%d' % sys.version_info[:2])"
                    OUTPUT_VARIABLE _imgsink_pyver OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _imgsink_pyrc)
    if(NOT _imgsink_pyrc EQUAL 0 OR _imgsink_pyver STREQUAL "")
      set(_imgsink_pyver 3)
    endif()
    set(_imgsink_pydir "lib/python${_imgsink_pyver}/dist-packages")
  endif()
  set(IMGSINK_PYTHON_INSTALL_DIR "${_imgsink_pydir}" CACHE STRING
      "where the Python client package imgsink is installed (relative to the prefix, or absolute)")
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/client/python/imgsink
        DESTINATION ${IMGSINK_PYTHON_INSTALL_DIR} COMPONENT python
        FILES_MATCHING PATTERN "*.py" PATTERN "py.typed" PATTERN "__pycache__" EXCLUDE)

# ------------------------------------------------------------------------------------- deb ---
foreach(script postinst prerm postrm)
  configure_file(${IMGSINK_DEPLOY_DIR}/debian/${script}.in
                 ${IMGSINK_DEPLOY_BINARY_DIR}/debian/${script} @ONLY)
endforeach()
file(WRITE ${IMGSINK_DEPLOY_BINARY_DIR}/debian/conffiles "${IMGSINK_CONFIG_FILE_FULL}\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME imgsink)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${IMGSINK_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "writes training image tensors as PNG/JPEG without stalling training")
# CPack indents these lines below the summary.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION [=[
imgsinkd receives image tensors from training processes over ZeroMQ and writes
them as PNG/JPEG files pixel-identical to torchvision.utils.save_image, durably,
on its own cores.  Ships the daemon with its hardened systemd unit, the Python
client (import imgsink; a drop-in for torchvision.utils.save_image that starts a
per-user daemon on demand), and the static C++ client library with its headers
and the CMake package imgsink.]=])
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${IMGSINK_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The Python client's imports; torch/torchvision only for tensors and the in-process fallback.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd, python3 (>= 3.9), python3-numpy, python3-zmq, python3-msgpack")
# What a consumer of the C++ package needs besides this package.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libzmq3-dev, pkg-config, cmake, python3-torch, python3-torchvision")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${IMGSINK_DEPLOY_BINARY_DIR}/debian/postinst
    ${IMGSINK_DEPLOY_BINARY_DIR}/debian/prerm
    ${IMGSINK_DEPLOY_BINARY_DIR}/debian/postrm
    ${IMGSINK_DEPLOY_BINARY_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# The package installs where this build was configured to (the unit's paths say so), and
# absolute destinations (/etc) go through DESTDIR into the package, never onto the build host.
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_SET_DESTDIR ON)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "__pycache__")
include(CPack)
