#ifndef COTLP_H
#define COTLP_H
#include <stddef.h>
#include <stdint.h>
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "google/rpc/error_details.pb-c.h"

/* protobuf-c unpacks nested messages recursively, with no depth limit: a request nesting
   AnyValue a million levels deep would overflow the stack. This scans the wire format of an
   ExportLogsServiceRequest first, knowing which fields hold messages, and returns
   0 when nesting stays within `max_depth`, 1 when it goes deeper, 2 when the bytes are not
   valid protobuf wire format. */
int cotlp_check_depth(const uint8_t *data, size_t length, int max_depth);

/* The same for an ExportTraceServiceRequest (spans, their events and links). */
int cotlp_check_trace_depth(const uint8_t *data, size_t length, int max_depth);

/* The same for an ExportMetricsServiceRequest (the sum and histogram points' attributes). */
int cotlp_check_metrics_depth(const uint8_t *data, size_t length, int max_depth);

/* Inflates a gzip body in one pass into a buffer it mallocs and grows as needed, never past
   `limit` bytes (a zip bomb stops there). Returns the inflated length with `*out` set (free it),
   -1 for invalid gzip data, -2 when the output would exceed `limit`. */
long cotlp_gunzip(const uint8_t *data, size_t length, size_t limit, uint8_t **out);

/* Compresses `data` as gzip into `out`; returns the compressed length or -1. */
long cotlp_gzip(const uint8_t *data, size_t length, uint8_t *out, size_t capacity);
#endif
