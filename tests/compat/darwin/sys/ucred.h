/*
 * <sys/ucred.h> for `make check-darwin`: struct xucred itself is in
 * compat.h (LOCAL_PEERCRED's answer); the header adds XU_NGROUPS, the
 * most groups XNU copies into cr_groups.
 */
#ifndef SOFTNET_COMPAT_SYS_UCRED_H
#define SOFTNET_COMPAT_SYS_UCRED_H

#define XU_NGROUPS 16

#endif
