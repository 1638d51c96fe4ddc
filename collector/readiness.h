/* readiness.h -- tell a service manager that the collector serves
 * (readiness.c). */
#ifndef LT_READINESS_H
#define LT_READINESS_H

/* Called once the collector serves (after DATA/collector.json is written):
 * a unit of Type=notify is started from then on. `status` is a line for
 * `systemctl status`. Does nothing outside systemd or in a build without
 * libsystemd. */
void lt_readiness_ready(const char *status);

#endif
