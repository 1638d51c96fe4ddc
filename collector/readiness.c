/* readiness.c -- the collector's word to systemd (readiness.h).
 *
 * The packaged unit is Type=notify: systemd holds back the units ordered
 * after logtap-collector.service, and `systemctl start` returns, only once
 * the collector has opened its store, bound its ZeroMQ endpoint and serves
 * HTTP -- the same moment it writes DATA/collector.json for everyone else.
 * sd_notify reads NOTIFY_SOCKET itself and is a no-op where it is unset, so
 * a collector started by hand is unaffected. libsystemd is optional at build
 * time (meson option `systemd`): without it these calls do nothing, and a
 * unit of Type=notify would time out, so such a build should be run with
 * Type=simple.
 */
#include "readiness.h"

#include "log.h"

#ifdef LT_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

void lt_readiness_ready(const char *status)
{
#ifdef LT_HAVE_SYSTEMD
    int rc = sd_notifyf(0, "READY=1\nSTATUS=%s", status);
    if (rc < 0)
        lt_log("cannot tell systemd the collector is ready: error %d", -rc);
#else
    (void)status;
#endif
}
