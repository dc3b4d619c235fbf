/*
 * The Linux-only names check-darwin refuses: glibc declares them, macOS
 * does not. Included twice by compat.h.
 *
 * Theory of operation: with SOFTNET_LINUX_ONLY_HIDE defined (before any
 * system header) each constant is renamed to softnet_linux_only_NAME, so
 * glibc's enumerator (SOCK_CLOEXEC and MSG_* are enum constants as well as
 * macros) is declared under that name; the second inclusion (after the
 * system headers) undefines the name. The constant is then as absent as
 * on a Mac: `#ifdef NAME` is false and a use does not compile. Functions,
 * types and GNU macros are poisoned instead, so a mention anywhere later,
 * #ifdef included, is an error: nothing portable tests for them.
 *
 * Sources: each is Linux (or GNU) only per its Linux man page and absent
 * from Apple's <sys/socket.h>, <fcntl.h>, <time.h>, <netinet/in.h> and
 * <unistd.h> (XNU's bsd/sys headers, Apple's man pages). MSG_NOSIGNAL
 * appears in recent XNU only; it is refused so the code keeps building
 * with older SDKs. qsort_r exists on a Mac with its arguments in another
 * order, so no call written for glibc's is right there.
 *
 * Portable spellings: SOCK_CLOEXEC/SOCK_NONBLOCK, accept4, pipe2 ->
 * fcntl(FD_CLOEXEC, O_NONBLOCK) after the call (osdep_socket,
 * osdep_socketpair); MSG_NOSIGNAL -> SO_NOSIGPIPE or SIGPIPE ignored;
 * SO_PEERCRED -> getpeereid(3) (osdep_peer_cred); recvmmsg/sendmmsg ->
 * recvmsg_x/sendmsg_x (private, declared in osdep_darwin.c);
 * epoll/eventfd/timerfd -> libevent; htobe16 and friends -> htons/ntohl.
 *
 * selftest.sh uses every name here and expects each use to fail, and
 * #ifdef of each constant to be false; add a name and it is tested.
 */
#ifdef SOFTNET_LINUX_ONLY_HIDE
#define SOCK_CLOEXEC           softnet_linux_only_SOCK_CLOEXEC
#define SOCK_NONBLOCK          softnet_linux_only_SOCK_NONBLOCK
#define SOCK_PACKET            softnet_linux_only_SOCK_PACKET
#define MSG_CMSG_CLOEXEC       softnet_linux_only_MSG_CMSG_CLOEXEC
#define MSG_NOSIGNAL           softnet_linux_only_MSG_NOSIGNAL
#define MSG_MORE               softnet_linux_only_MSG_MORE
#define MSG_CONFIRM            softnet_linux_only_MSG_CONFIRM
#define MSG_ERRQUEUE           softnet_linux_only_MSG_ERRQUEUE
#define MSG_FASTOPEN           softnet_linux_only_MSG_FASTOPEN
#define MSG_ZEROCOPY           softnet_linux_only_MSG_ZEROCOPY
#define MSG_BATCH              softnet_linux_only_MSG_BATCH
#define MSG_WAITFORONE         softnet_linux_only_MSG_WAITFORONE
#define MSG_TRYHARD            softnet_linux_only_MSG_TRYHARD
#define MSG_PROXY              softnet_linux_only_MSG_PROXY
#define MSG_FIN                softnet_linux_only_MSG_FIN
#define MSG_SYN                softnet_linux_only_MSG_SYN
#define MSG_RST                softnet_linux_only_MSG_RST
#define SO_PEERCRED            softnet_linux_only_SO_PEERCRED
#define SO_PASSCRED            softnet_linux_only_SO_PASSCRED
#define SCM_CREDENTIALS        softnet_linux_only_SCM_CREDENTIALS
#define SO_BINDTODEVICE        softnet_linux_only_SO_BINDTODEVICE
#define SO_PEERSEC             softnet_linux_only_SO_PEERSEC
#define SO_PRIORITY            softnet_linux_only_SO_PRIORITY
#define SO_MARK                softnet_linux_only_SO_MARK
#define SO_RCVBUFFORCE         softnet_linux_only_SO_RCVBUFFORCE
#define SO_SNDBUFFORCE         softnet_linux_only_SO_SNDBUFFORCE
#define SO_BUSY_POLL           softnet_linux_only_SO_BUSY_POLL
#define SO_ZEROCOPY            softnet_linux_only_SO_ZEROCOPY
#define SO_INCOMING_CPU        softnet_linux_only_SO_INCOMING_CPU
#define SO_ATTACH_FILTER       softnet_linux_only_SO_ATTACH_FILTER
#define SO_LOCK_FILTER         softnet_linux_only_SO_LOCK_FILTER
#define SO_PEERGROUPS          softnet_linux_only_SO_PEERGROUPS
#define SO_PASSSEC             softnet_linux_only_SO_PASSSEC
#define AF_PACKET              softnet_linux_only_AF_PACKET
#define PF_PACKET              softnet_linux_only_PF_PACKET
#define AF_NETLINK             softnet_linux_only_AF_NETLINK
#define PF_NETLINK             softnet_linux_only_PF_NETLINK
#define SOL_IP                 softnet_linux_only_SOL_IP
#define SOL_IPV6               softnet_linux_only_SOL_IPV6
#define SOL_PACKET             softnet_linux_only_SOL_PACKET
#define SOL_NETLINK            softnet_linux_only_SOL_NETLINK
#define SOL_TCP                softnet_linux_only_SOL_TCP
#define SOL_UDP                softnet_linux_only_SOL_UDP
#define O_PATH                 softnet_linux_only_O_PATH
#define O_TMPFILE              softnet_linux_only_O_TMPFILE
#define O_NOATIME              softnet_linux_only_O_NOATIME
#define O_DIRECT               softnet_linux_only_O_DIRECT
#define O_LARGEFILE            softnet_linux_only_O_LARGEFILE
#define F_SETPIPE_SZ           softnet_linux_only_F_SETPIPE_SZ
#define F_GETPIPE_SZ           softnet_linux_only_F_GETPIPE_SZ
#define F_SETSIG               softnet_linux_only_F_SETSIG
#define F_GETSIG               softnet_linux_only_F_GETSIG
#define F_OFD_SETLK            softnet_linux_only_F_OFD_SETLK
#define F_OFD_SETLKW           softnet_linux_only_F_OFD_SETLKW
#define F_OFD_GETLK            softnet_linux_only_F_OFD_GETLK
#define F_ADD_SEALS            softnet_linux_only_F_ADD_SEALS
#define F_GET_SEALS            softnet_linux_only_F_GET_SEALS
#define CLOCK_BOOTTIME         softnet_linux_only_CLOCK_BOOTTIME
#define CLOCK_MONOTONIC_COARSE softnet_linux_only_CLOCK_MONOTONIC_COARSE
#define CLOCK_REALTIME_COARSE  softnet_linux_only_CLOCK_REALTIME_COARSE
#define CLOCK_TAI              softnet_linux_only_CLOCK_TAI
#define CLOCK_BOOTTIME_ALARM   softnet_linux_only_CLOCK_BOOTTIME_ALARM
#define CLOCK_REALTIME_ALARM   softnet_linux_only_CLOCK_REALTIME_ALARM
#define IP_FREEBIND            softnet_linux_only_IP_FREEBIND
#define IP_TRANSPARENT         softnet_linux_only_IP_TRANSPARENT
#define IP_MTU_DISCOVER        softnet_linux_only_IP_MTU_DISCOVER
#define IP_PMTUDISC_DO         softnet_linux_only_IP_PMTUDISC_DO
#define IPV6_FREEBIND          softnet_linux_only_IPV6_FREEBIND
#define htobe16                softnet_linux_only_htobe16
#define htole16                softnet_linux_only_htole16
#define be16toh                softnet_linux_only_be16toh
#define le16toh                softnet_linux_only_le16toh
#define htobe32                softnet_linux_only_htobe32
#define htole32                softnet_linux_only_htole32
#define be32toh                softnet_linux_only_be32toh
#define le32toh                softnet_linux_only_le32toh
#define htobe64                softnet_linux_only_htobe64
#define htole64                softnet_linux_only_htole64
#define be64toh                softnet_linux_only_be64toh
#define le64toh                softnet_linux_only_le64toh
#else
#undef SOCK_CLOEXEC
#undef SOCK_NONBLOCK
#undef SOCK_PACKET
#undef MSG_CMSG_CLOEXEC
#undef MSG_NOSIGNAL
#undef MSG_MORE
#undef MSG_CONFIRM
#undef MSG_ERRQUEUE
#undef MSG_FASTOPEN
#undef MSG_ZEROCOPY
#undef MSG_BATCH
#undef MSG_WAITFORONE
#undef MSG_TRYHARD
#undef MSG_PROXY
#undef MSG_FIN
#undef MSG_SYN
#undef MSG_RST
#undef SO_PEERCRED
#undef SO_PASSCRED
#undef SCM_CREDENTIALS
#undef SO_BINDTODEVICE
#undef SO_PEERSEC
#undef SO_PRIORITY
#undef SO_MARK
#undef SO_RCVBUFFORCE
#undef SO_SNDBUFFORCE
#undef SO_BUSY_POLL
#undef SO_ZEROCOPY
#undef SO_INCOMING_CPU
#undef SO_ATTACH_FILTER
#undef SO_LOCK_FILTER
#undef SO_PEERGROUPS
#undef SO_PASSSEC
#undef AF_PACKET
#undef PF_PACKET
#undef AF_NETLINK
#undef PF_NETLINK
#undef SOL_IP
#undef SOL_IPV6
#undef SOL_PACKET
#undef SOL_NETLINK
#undef SOL_TCP
#undef SOL_UDP
#undef O_PATH
#undef O_TMPFILE
#undef O_NOATIME
#undef O_DIRECT
#undef O_LARGEFILE
#undef F_SETPIPE_SZ
#undef F_GETPIPE_SZ
#undef F_SETSIG
#undef F_GETSIG
#undef F_OFD_SETLK
#undef F_OFD_SETLKW
#undef F_OFD_GETLK
#undef F_ADD_SEALS
#undef F_GET_SEALS
#undef CLOCK_BOOTTIME
#undef CLOCK_MONOTONIC_COARSE
#undef CLOCK_REALTIME_COARSE
#undef CLOCK_TAI
#undef CLOCK_BOOTTIME_ALARM
#undef CLOCK_REALTIME_ALARM
#undef IP_FREEBIND
#undef IP_TRANSPARENT
#undef IP_MTU_DISCOVER
#undef IP_PMTUDISC_DO
#undef IPV6_FREEBIND
#undef htobe16
#undef htole16
#undef be16toh
#undef le16toh
#undef htobe32
#undef htole32
#undef be32toh
#undef le32toh
#undef htobe64
#undef htole64
#undef be64toh
#undef le64toh

#pragma GCC poison accept4 pipe2 dup3 recvmmsg sendmmsg mmsghdr ucred
#pragma GCC poison epoll_create epoll_create1 epoll_ctl epoll_wait
#pragma GCC poison epoll_pwait eventfd eventfd_read eventfd_write signalfd
#pragma GCC poison timerfd_create timerfd_settime timerfd_gettime
#pragma GCC poison inotify_init inotify_init1 inotify_add_watch prctl capget
#pragma GCC poison capset secure_getenv explicit_bzero strchrnul memrchr
#pragma GCC poison rawmemchr mempcpy get_current_dir_name
#pragma GCC poison program_invocation_name program_invocation_short_name
#pragma GCC poison TEMP_FAILURE_RETRY getresuid getresgid setresuid setresgid
#pragma GCC poison getrandom posix_fallocate fallocate sync_file_range
#pragma GCC poison memfd_create syncfs ppoll splice vmsplice clock_nanosleep
#pragma GCC poison timer_create timer_settime timer_gettime timer_delete
#pragma GCC poison sigtimedwait sigwaitinfo posix_fadvise gettid getauxval
#pragma GCC poison malloc_usable_size mremap qsort_r euidaccess eaccess
#endif
