/* ready.c: does the service answer?  One probe of the manifest's kind:
 *  - port: a TCP connect that the service accepts;
 *  - command: the program (as the service's user) exits 0;
 *  - http: a GET answered with a 2xx status.
 * HTTP goes through the libcurl haboot already carries for AWS, not a
 * hand-made client: it parses status lines, chunked bodies and keep-alive
 * answers correctly, keeps to a whole-exchange timeout, and is told to
 * ignore http_proxy (a probe of 127.0.0.1 through a proxy would test the
 * proxy).  Redirects are not followed: a 3xx is not ready. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/http.h"
#include "exec.h"
#include "net.h"
#include "service.h"

#define HTTP_BODY_MAX (64 * 1024)

static int
probe_http(const char *url, long long timeout_ms, char *why, size_t whylen)
{
	struct http *h = http_new();
	struct http_req req = {.method = "GET", .url = url, .no_proxy = true,
	    .connect_timeout_ms = timeout_ms, .timeout_ms = timeout_ms, .max_body = HTTP_BODY_MAX};
	struct http_resp resp;
	int rc = -1;

	http_resp_init(&resp);
	if (h == NULL) {
		snprintf(why, whylen, "cannot start an HTTP client");
		goto out;
	}
	if (http_do(h, &req, &resp) < 0) {
		snprintf(why, whylen, "GET %s: %s", url, resp.err);
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		snprintf(why, whylen, "GET %s answered %ld", url, resp.status);
		goto out;
	}
	rc = 0;
out:
	http_resp_free(&resp);
	http_free(h);
	return rc;
}

static int
probe_command(char *const argv[], const struct exec_as *as, long long timeout_ms, char *why,
    size_t whylen)
{
	struct exec_result res;
	int rc = -1;

	if (exec_argv_as((const char *const *)argv, as, timeout_ms, &res) < 0) {
		snprintf(why, whylen, "cannot run %s: %s", argv[0], strerror(errno));
		return -1;
	}
	if (res.timed_out)
		snprintf(why, whylen, "%s did not finish within %lldms", argv[0], timeout_ms);
	else if (!res.exited)
		snprintf(why, whylen, "%s was killed by signal %d", argv[0], res.status);
	else if (res.status != 0) {
		size_t n = res.out.len;

		while (n > 0 && (res.out.data[n - 1] == '\n' || res.out.data[n - 1] == ' '))
			n--;
		snprintf(why, whylen, "%s exited with status %d%s%.*s", argv[0], res.status,
		    n ? ": " : "", (int)(n > 200 ? 200 : n), res.out.data);
		for (char *p = why; *p; p++)
			if (*p == '\n')
				*p = ' ';
	} else
		rc = 0;
	exec_result_free(&res);
	return rc;
}

int
svc_probe(const struct svc_cfg *s, const struct exec_as *as, long long timeout_ms, char *why,
    size_t whylen)
{
	if (timeout_ms < 1)
		timeout_ms = 1;
	switch (s->ready) {
	case READY_PORT:
		return net_probe(s->ready_host, (int)s->ready_port, timeout_ms, why, whylen);
	case READY_HTTP:
		return probe_http(s->ready_url, timeout_ms, why, whylen);
	default:
		return probe_command(s->ready_cmd, as, timeout_ms, why, whylen);
	}
}
