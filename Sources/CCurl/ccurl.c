#include "ccurl.h"
#include <netinet/in.h>
#include <sys/socket.h>

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
