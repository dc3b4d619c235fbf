/*
 * <sys/ucred.h> and the LOCAL_PEERCRED part of <sys/un.h> for the
 * fakevmnet build: struct xucred as XNU's bsd/sys/ucred.h declares it,
 * and the socket option that returns one (answered by xnu.c's getsockopt
 * from Linux's SO_PEERCRED and SO_PEERGROUPS).
 */
#ifndef FAKE_SYS_UCRED_H
#define FAKE_SYS_UCRED_H

#include <sys/types.h>

#define SOL_LOCAL      0     /* level of the LOCAL_* options */
#define LOCAL_PEERCRED 0x001 /* struct xucred of the peer */
#define XUCRED_VERSION 0
#define XU_NGROUPS     16

struct xucred {
	unsigned int cr_version; /* XUCRED_VERSION */
	uid_t cr_uid;            /* effective uid */
	short cr_ngroups;        /* groups in cr_groups, at most XU_NGROUPS */
	gid_t cr_groups[XU_NGROUPS]; /* cr_groups[0]: the effective gid */
};

#endif
