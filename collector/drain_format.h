/* drain_format.h -- a batch of stored lines as each drain kind's payload:
 * NDJSON (fal's entry objects), OTLP/HTTP JSON logs, RFC 5424 syslog with
 * octet-counting framing. */
#ifndef LT_DRAIN_FORMAT_H
#define LT_DRAIN_FORMAT_H

#include <stdint.h>

#include "buf.h"
#include "line.h"

typedef enum { LT_DRAIN_NDJSON, LT_DRAIN_OTLP, LT_DRAIN_SYSLOG } lt_drain_kind;

/* "ndjson", "otlp", "syslog" -> kind; -1 if unknown. */
int lt_drain_kind_parse(const char *name);

/* A batch being built. */
typedef struct lt_drain_batch {
    lt_drain_kind kind;
    lt_buf body;
    void *otlp;           /* OTLP's document while it grows (jansson) */
    void *otlp_records;   /* the current resource's logRecords */
    char *otlp_resource;  /* the current resource's key */
    int64_t observed_ns;  /* OTLP observedTimeUnixNano: when the batch was read */
    const char *hostname; /* syslog HOSTNAME */
    size_t estimated;     /* OTLP's size before serialising */
    long lines;
    int64_t first_id, last_id, first_ts_ns;
} lt_drain_batch;

void lt_drain_batch_begin(lt_drain_batch *b, lt_drain_kind kind, const char *hostname);
/* Adds one line. -1 when out of memory. */
int lt_drain_batch_add(lt_drain_batch *b, const lt_line *line);
/* Bytes so far (OTLP: an estimate until finished). */
size_t lt_drain_batch_size(const lt_drain_batch *b);
/* Completes the body (OTLP: serialises the document). -1 when out of memory. */
int lt_drain_batch_finish(lt_drain_batch *b);
void lt_drain_batch_release(lt_drain_batch *b);

/* OTLP severity number of a logtap level (the spec's SeverityNumber). */
int lt_drain_otlp_severity(int level);

#endif
