# What `cmake --install` puts in place so that users build their own cases out of duet's
# tree (examples/my-case): the public headers in include/duet; libduet_engine.a,
# libduet_harness.a (the generic harness: registry, runner, commands; not duet's own
# catalog of cases) and libduet_main.a (a main calling duet_main); the duet executable;
# duet.pc for pkg-config; and a CMake package (find_package(duet)) with the imported
# targets duet::engine, duet::harness and duet::main and the function duet_add_case.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DUET_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/duet)

# The package's target names, also as aliases here, so that code built inside duet's
# tree (add_subdirectory) names the libraries as code built against an installation does.
foreach(part engine harness main)
  set_target_properties(duet_${part} PROPERTIES EXPORT_NAME ${part})
  add_library(duet::${part} ALIAS duet_${part})
endforeach()

install(TARGETS duet_engine duet_harness duet_main EXPORT duetTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        FILE_SET HEADERS DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        # Also as INTERFACE_INCLUDE_DIRECTORIES: a CMake before 3.23 ignores file sets.
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS duet RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT duetTargets NAMESPACE duet:: DESTINATION ${DUET_CMAKE_DIR})

configure_package_config_file(cmake/duetConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/duetConfig.cmake INSTALL_DESTINATION ${DUET_CMAKE_DIR})
# Before 1.0 a new minor version may change the case API: only 0.1.x satisfies 0.1.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/duetConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/duetConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/duetConfigVersion.cmake
              cmake/DuetAddCase.cmake
        DESTINATION ${DUET_CMAKE_DIR})

# duet.pc finds the installation from its own directory (${pcfiledir}) rather than
# naming CMAKE_INSTALL_PREFIX, which is fixed when configuring: `cmake --install
# --prefix DIR` and `make install PREFIX=DIR` choose the prefix later, and a copied
# installation stays usable.
file(RELATIVE_PATH DUET_PC_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" DUET_PC_PREFIX "${DUET_PC_PREFIX}") # "../../" -> "../.."
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(DUET_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(DUET_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(cmake/duet.pc.in ${CMAKE_CURRENT_BINARY_DIR}/duet.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/duet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
