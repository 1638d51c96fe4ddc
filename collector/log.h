/* log.h -- the collector's own log: what it says about itself (start-up,
 * store faults, retention, the stop) goes to stderr, one line each, behind
 * a timestamp and the program's name. */
#ifndef LT_LOG_H
#define LT_LOG_H

__attribute__((format(printf, 1, 2))) void lt_log(const char *fmt, ...);

#endif
