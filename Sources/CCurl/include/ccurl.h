#ifndef CCURL_H
#define CCURL_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_multi_setopt are variadic, which Swift cannot call;
   these typed wrappers are most of the shim. */
static inline CURLcode ccurl_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_easy_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*ccurl_write_cb)(char *, size_t, size_t, void *);
static inline CURLcode ccurl_easy_setopt_write(CURL *h, CURLoption o, ccurl_write_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode ccurl_easy_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

/* Connect-time address check: libcurl calls its open-socket callback with every address it is
   about to connect to (after DNS), so the filter sees what a name really resolved to.
   `filter` gets the raw address bytes (4 for IPv4, 16 for IPv6) and returns nonzero to allow. */
typedef int (*ccurl_address_filter)(void *context, const unsigned char *address, int length);
/* Polled during a transfer (at least once a second); nonzero aborts it. */
typedef int (*ccurl_abort_check)(void *context);
typedef struct {
    ccurl_address_filter filter;
    ccurl_abort_check should_abort;
    void *context;
} ccurl_socket_guard;

/* Installs `guard` (which must outlive the handle's transfers) as the open-socket and
   progress callbacks. */
CURLcode ccurl_install_socket_guard(CURL *h, ccurl_socket_guard *guard);

/* Sends one message over SMTP to one recipient: `url` is smtp://host:port (STARTTLS when the
   server offers it; certificates checked against `ca_file` or the system's) or smtps://.
   `error` (CURL_ERROR_SIZE bytes) says why when the result is not CURLE_OK. */
CURLcode ccurl_send_mail(const char *url, const char *from, const char *to, const char *message, size_t length, long timeout_seconds,
                         const char *ca_file, char *error);
#endif
