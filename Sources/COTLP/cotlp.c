#include "COTLP.h"
#include <stdlib.h>
#include <zlib.h>

enum message { REQUEST, RESOURCE_LOGS, RESOURCE, SCOPE_LOGS, SCOPE, LOG_RECORD, KEY_VALUE, ANY_VALUE, ARRAY_VALUE, KV_LIST,
               TRACE_REQUEST, RESOURCE_SPANS, SCOPE_SPANS, SPAN, SPAN_EVENT, SPAN_LINK,
               METRICS_REQUEST, RESOURCE_METRICS, SCOPE_METRICS, METRIC, SUM, HISTOGRAM, NUMBER_POINT, HISTOGRAM_POINT, NONE };

/* The message type held by field `field` of `type`, or NONE for scalars, strings and bytes. */
static enum message child(enum message type, uint64_t field) {
    switch (type) {
    case REQUEST: return field == 1 ? RESOURCE_LOGS : NONE;
    case RESOURCE_LOGS: return field == 1 ? RESOURCE : field == 2 ? SCOPE_LOGS : NONE;
    case RESOURCE: return field == 1 ? KEY_VALUE : NONE;
    case SCOPE_LOGS: return field == 1 ? SCOPE : field == 2 ? LOG_RECORD : NONE;
    case SCOPE: return field == 3 ? KEY_VALUE : NONE;
    case LOG_RECORD: return field == 5 ? ANY_VALUE : field == 6 ? KEY_VALUE : NONE;
    case KEY_VALUE: return field == 2 ? ANY_VALUE : NONE;
    case ANY_VALUE: return field == 5 ? ARRAY_VALUE : field == 6 ? KV_LIST : NONE;
    case ARRAY_VALUE: return field == 1 ? ANY_VALUE : NONE;
    case KV_LIST: return field == 1 ? KEY_VALUE : NONE;
    case TRACE_REQUEST: return field == 1 ? RESOURCE_SPANS : NONE;
    case RESOURCE_SPANS: return field == 1 ? RESOURCE : field == 2 ? SCOPE_SPANS : NONE;
    case SCOPE_SPANS: return field == 1 ? SCOPE : field == 2 ? SPAN : NONE;
    case SPAN: return field == 9 ? KEY_VALUE : field == 11 ? SPAN_EVENT : field == 13 ? SPAN_LINK : NONE;
    case SPAN_EVENT: return field == 3 ? KEY_VALUE : NONE;
    case SPAN_LINK: return field == 4 ? KEY_VALUE : NONE;
    /* Only the metric messages the collector declares (metrics.proto); the rest is skipped unread. */
    case METRICS_REQUEST: return field == 1 ? RESOURCE_METRICS : NONE;
    case RESOURCE_METRICS: return field == 1 ? RESOURCE : field == 2 ? SCOPE_METRICS : NONE;
    case SCOPE_METRICS: return field == 2 ? METRIC : NONE;
    case METRIC: return field == 7 ? SUM : field == 9 ? HISTOGRAM : NONE;
    case SUM: return field == 1 ? NUMBER_POINT : NONE;
    case HISTOGRAM: return field == 1 ? HISTOGRAM_POINT : NONE;
    case NUMBER_POINT: return field == 7 ? KEY_VALUE : NONE;
    case HISTOGRAM_POINT: return field == 9 ? KEY_VALUE : NONE;
    default: return NONE;
    }
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return 0;
        uint8_t byte = *(*p)++;
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) { *value = result; return 1; }
    }
    return 0;
}

static int scan(enum message type, const uint8_t *p, const uint8_t *end, int depth, int max_depth) {
    if (depth > max_depth) return 1;
    while (p < end) {
        uint64_t key, length;
        if (!read_varint(&p, end, &key)) return 2;
        switch (key & 7) {
        case 0: if (!read_varint(&p, end, &length)) return 2; break;
        case 1: if (end - p < 8) return 2; p += 8; break;
        case 5: if (end - p < 4) return 2; p += 4; break;
        case 2: {
            if (!read_varint(&p, end, &length) || length > (uint64_t)(end - p)) return 2;
            enum message inner = child(type, key >> 3);
            if (inner != NONE) {
                int result = scan(inner, p, p + length, depth + 1, max_depth);
                if (result) return result;
            }
            p += length;
            break;
        }
        default: return 2; /* groups (3, 4) and invalid wire types */
        }
    }
    return 0;
}

int cotlp_check_depth(const uint8_t *data, size_t length, int max_depth) {
    return scan(REQUEST, data, data + length, 0, max_depth);
}

int cotlp_check_trace_depth(const uint8_t *data, size_t length, int max_depth) {
    return scan(TRACE_REQUEST, data, data + length, 0, max_depth);
}

int cotlp_check_metrics_depth(const uint8_t *data, size_t length, int max_depth) {
    return scan(METRICS_REQUEST, data, data + length, 0, max_depth);
}

long cotlp_gunzip(const uint8_t *data, size_t length, size_t limit, uint8_t **out) {
    z_stream stream = {0};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return -1;
    size_t capacity = length * 4 < 65536 ? 65536 : length * 4;
    if (capacity > limit + 1) capacity = limit + 1;
    uint8_t *buffer = malloc(capacity);
    if (!buffer) { inflateEnd(&stream); return -1; }
    stream.next_in = (Bytef *)data;
    stream.avail_in = (uInt)length;
    long result = -1;
    for (;;) {
        stream.next_out = buffer + stream.total_out;
        stream.avail_out = (uInt)(capacity - stream.total_out);
        int rc = inflate(&stream, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            result = stream.avail_in > 0 ? -1 : (stream.total_out > limit ? -2 : (long)stream.total_out);
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) break;          /* invalid data */
        if (stream.avail_out > 0) break;                      /* input ended before the stream did */
        if (capacity > limit) { result = -2; break; }         /* full at limit + 1: too large */
        size_t grown = capacity * 2 > limit + 1 ? limit + 1 : capacity * 2;
        uint8_t *bigger = realloc(buffer, grown);
        if (!bigger) break;
        buffer = bigger;
        capacity = grown;
    }
    inflateEnd(&stream);
    if (result < 0) { free(buffer); return result; }
    *out = buffer;
    return result;
}

long cotlp_gzip(const uint8_t *data, size_t length, uint8_t *out, size_t capacity) {
    z_stream stream = {0};
    if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    stream.next_in = (Bytef *)data;
    stream.avail_in = (uInt)length;
    stream.next_out = out;
    stream.avail_out = (uInt)capacity;
    int rc = deflate(&stream, Z_FINISH);
    long produced = (long)stream.total_out;
    deflateEnd(&stream);
    return rc == Z_STREAM_END ? produced : -1;
}
