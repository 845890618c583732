#include "ccurl.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>

static curl_socket_t ccurl_open_guarded_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address) {
    ccurl_socket_guard *guard = clientp;
    (void)purpose;
    int allowed = 0;
    if (address->family == AF_INET && address->addrlen >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in *in = (struct sockaddr_in *)&address->addr;
        allowed = guard->filter(guard->context, (const unsigned char *)&in->sin_addr, 4);
    } else if (address->family == AF_INET6 && address->addrlen >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&address->addr;
        allowed = guard->filter(guard->context, (const unsigned char *)&in6->sin6_addr, 16);
    }
    if (!allowed) return CURL_SOCKET_BAD;
    return socket(address->family, address->socktype, address->protocol);
}

static int ccurl_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    ccurl_socket_guard *guard = clientp;
    (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
    return guard->should_abort(guard->context) ? 1 : 0;
}

CURLcode ccurl_install_socket_guard(CURL *h, ccurl_socket_guard *guard) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, ccurl_open_guarded_socket);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, guard);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ccurl_progress);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_XFERINFODATA, guard);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    return rc;
}

typedef struct {
    const char *data;
    size_t left;
} ccurl_upload;

static size_t ccurl_read_upload(char *buffer, size_t size, size_t count, void *userdata) {
    ccurl_upload *upload = userdata;
    size_t room = size * count, n = upload->left < room ? upload->left : room;
    memcpy(buffer, upload->data, n);
    upload->data += n;
    upload->left -= n;
    return n;
}

CURLcode ccurl_send_mail(const char *url, const char *from, const char *to, const char *message, size_t length, long timeout_seconds,
                         const char *ca_file, char *error) {
    CURL *h = curl_easy_init();
    if (!h) return CURLE_FAILED_INIT;
    ccurl_upload upload = {message, length};
    struct curl_slist *recipients = curl_slist_append(NULL, to);
    error[0] = 0;
    CURLcode rc = curl_easy_setopt(h, CURLOPT_URL, url);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_MAIL_RCPT, recipients);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    if (rc == CURLE_OK && ca_file) rc = curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_READFUNCTION, ccurl_read_upload);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_READDATA, &upload);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_seconds);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    if (rc == CURLE_OK) rc = curl_easy_perform(h);
    curl_slist_free_all(recipients);
    curl_easy_cleanup(h);
    return rc;
}
