/* log.c -- see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "timefmt.h"

void lt_log(const char *fmt, ...)
{
    char ts[40];
    lt_time_format(lt_time_now_ns(), ts, sizeof ts);
    fprintf(stderr, "%s logtap-collector: ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
