# RING_STATIC: ringd and ringctl linked with -static, for the FROM-scratch image (k8s/).
#
# Debian ships every dependency's static archive, but not always under the name -l finds
# (libuv's is libuv_a.a), and the imported targets pkg_check_modules makes point at the .so
# files, which a -static link cannot use. So a static build re-points each dependency target
# at archives: the `pkg-config --static` library list, each name looked up as lib<name>.a
# (or lib<name>_a.a). The names glibc's own libc.a covers (pthread, dl, rt, m) stay -l
# flags. A dependency without its archive stops configure with the archive's name.
#
# glibc and -static: getaddrinfo (the dns: seeds) needs no NSS module at run time since
# glibc 2.34 built the files and dns services into libc.a; the linker still prints its
# generic "requires at runtime the shared libraries" warning, which is about other services
# (k8s/README.md, "The image", and the pod test tests/k8s resolves through dnsmasq with the
# static binary in a root holding nothing else).

if(RING_STATIC AND (RING_SANITIZE OR RING_FUZZ))
    message(FATAL_ERROR "RING_STATIC cannot be combined with RING_SANITIZE or RING_FUZZ")
endif()

set(RING_STATIC_LIBC_NAMES pthread dl rt m c)

# Sets |out| to the static archive of library |name| (or to |name| for glibc's own).
function(ring_static_archive out name)
    if(name IN_LIST RING_STATIC_LIBC_NAMES)
        set(${out} ${name} PARENT_SCOPE)
        return()
    endif()
    find_library(RING_STATIC_ARCHIVE_${name} NAMES lib${name}.a lib${name}_a.a)
    if(NOT RING_STATIC_ARCHIVE_${name})
        message(FATAL_ERROR "RING_STATIC: no static archive lib${name}.a (its Debian -dev "
                            "package ships it; is it installed?)")
    endif()
    set(${out} ${RING_STATIC_ARCHIVE_${name}} PARENT_SCOPE)
endfunction()

# Links |target| (an imported or interface dependency target) against the archives of the
# libraries named after it, in that order.
function(ring_static_target target)
    set(archives)
    foreach(name ${ARGN})
        ring_static_archive(path ${name})
        list(APPEND archives ${path})
    endforeach()
    set_property(TARGET ${target} PROPERTY INTERFACE_LINK_LIBRARIES "${archives}")
endfunction()

# The same for a pkg-config dependency found by ring_require_pkg(|var| ...).
function(ring_static_pkg var)
    ring_static_target(PkgConfig::${var} ${${var}_STATIC_LIBRARIES})
endfunction()

# Links the executables given with -static (called once they exist).
function(ring_static_executables)
    foreach(exe ${ARGN})
        target_link_options(${exe} PRIVATE -static)
    endforeach()
endfunction()
