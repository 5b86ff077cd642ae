/* cli_source.c: the manifest and the instance facts of a manifest command
 * (cli_source.h). */
#include "cli_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/imds.h"
#include "cli.h"
#include "log.h"
#include "manifest/diag.h"
#include "manifest/manifest.h"
#include "manifest/metadata.h"
#include "util.h"

void
cli_input_init(struct cli_input *in)
{
	memset(in, 0, sizeof(*in));
	in->imds_timeout_ms = IMDS_DEFAULT_DEADLINE_MS;
}

int
cli_input_opt(struct cli_input *in, const char *usage, int ch, const char *arg)
{
	switch (ch) {
	case 1:
		/* An operand: the manifest, once. */
		if (in->operand != NULL)
			return usage_error(usage, "give one manifest, not also \"%s\"", arg);
		in->operand = arg;
		return 0;
	case 'f':
		if (in->file != NULL)
			return usage_error(usage, "give one manifest, not also \"%s\"", arg);
		in->file = arg;
		return 0;
	case CLI_OPT_METADATA:
		in->metadata = xrealloc(in->metadata, (in->nmetadata + 1) * sizeof(char *));
		in->metadata[in->nmetadata++] = arg;
		return 0;
	case CLI_OPT_METADATA_FILE:
		in->metadata_file = arg;
		return 0;
	case CLI_OPT_IMDS_TIMEOUT:
		return cli_duration(usage, "--imds-timeout", arg, &in->imds_timeout_ms) < 0 ?
		    EXIT_USAGE : 0;
	case CLI_OPT_IMDSV1:
		in->imdsv1 = true;
		return 0;
	}
	return 1;
}

int
cli_input_done(struct cli_input *in, const char *usage, int argc, char **argv)
{
	int r;

	for (; optind < argc; optind++)
		if ((r = cli_input_opt(in, usage, 1, argv[optind])) != 0)
			return r;
	if (in->operand != NULL && in->file != NULL)
		return usage_error(usage, "give the manifest once, as FILE or as -f FILE, not both "
		    "(\"%s\")", in->operand);
	if (in->operand != NULL)
		in->file = in->operand;
	return 0;
}

void
cli_input_free(struct cli_input *in)
{
	free(in->metadata);
	in->metadata = NULL;
}

/* Printed on stderr, and kept for the status file. */
char *
cli_diag_text(struct diag *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return xstrdup("(out of memory)");
	diag_print(d, f);
	fclose(f);
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	return text;
}

/* A manifest file that cannot be read is no manifest at all, as with
 * user-data that holds none: an environment problem (3).  One that reads but
 * is wrong is an invalid manifest (2). */
static struct manifest *
load_file(const char *path, struct cli_source *s)
{
	struct manifest *m;
	struct diag d;
	bool unreadable;

	s->name = strcmp(path, "-") ? path : "<stdin>";
	diag_init(&d, path);
	m = manifest_load_file(path, &d, &unreadable);
	s->error = cli_diag_text(&d);
	if (*s->error != '\0')
		fprintf(stderr, "%s\n", s->error);
	if (m == NULL) {
		s->rc = unreadable ? EXIT_ENVIRONMENT : EXIT_USAGE;
		s->headline = unreadable ? "cannot read the manifest" : "invalid manifest";
	} else {
		free(s->error);
		s->error = NULL;
	}
	diag_free(&d);
	return m;
}

static void
source_fail(struct cli_source *s, int rc, const char *headline, char *msg)
{
	fprintf(stderr, "haboot: %s\n", msg);
	s->error = msg;
	s->rc = rc;
	s->headline = headline;
}

/* The user-data manifest: 404 and a user-data of another kind (a cloud-init
 * script) both mean "no manifest", an environment problem, not a bad manifest. */
static struct manifest *
load_user_data(struct imds *imds, const char *cmd, struct cli_source *s)
{
	struct manifest *m = NULL;
	struct manifest_text t;
	struct buf raw;
	struct diag d;
	int r;

	s->name = "user-data";
	buf_init(&raw);
	buf_init(&t.text);
	diag_init(&d, "user-data");
	if ((r = imds_user_data(imds, &raw)) == IMDS_NOT_FOUND) {
		source_fail(s, EXIT_ENVIRONMENT, "no manifest in user-data", xasprintf("no manifest "
		    "in user-data: this instance has no user-data (IMDS at %s answered 404); put a "
		    "manifest whose first line is \"%s\" in the launch template's user-data, or "
		    "give the manifest as a FILE (haboot %s FILE)", imds_endpoint(imds), MANIFEST_MARKER,
		    cmd));
		goto out;
	}
	if (r != IMDS_OK) {
		source_fail(s, EXIT_ENVIRONMENT, "cannot read user-data", xasprintf("cannot read the "
		    "manifest from user-data: %s%s%s%s", imds_error(imds), imds_disabled(imds) ?
		    ": give the manifest as a FILE (haboot " : "", imds_disabled(imds) ? cmd : "",
		    imds_disabled(imds) ? " FILE)" : ""));
		goto out;
	}
	/* Decoded once: the marker is looked for in, and the manifest parsed
	 * from, the same text. */
	if (manifest_decode(raw.data, raw.len, &t, &d) < 0) {
		char *msg = cli_diag_text(&d);

		source_fail(s, EXIT_ENVIRONMENT, "unreadable user-data", xasprintf("user-data is not "
		    "a manifest haboot can read: %s", msg));
		free(msg);
		goto out;
	}
	if (!manifest_has_marker(&t)) {
		source_fail(s, EXIT_ENVIRONMENT, "no manifest in user-data", xasprintf("no manifest "
		    "in user-data: its %zu bytes%s do not start with \"%s\" (another tool's "
		    "user-data?); make \"%s\" its first line, or give the manifest as a FILE "
		    "(haboot %s FILE)", raw.len, t.gzipped ? " (gzipped)" : "", MANIFEST_MARKER,
		    MANIFEST_MARKER, cmd));
		goto out;
	}
	m = manifest_parse_text(&t, &d);
	s->error = cli_diag_text(&d);
	if (*s->error != '\0')
		fprintf(stderr, "%s\n", s->error);
	if (m == NULL) {
		s->rc = EXIT_USAGE;
		s->headline = "invalid manifest in user-data";
	} else {
		free(s->error);
		s->error = NULL;
	}
out:
	diag_free(&d);
	buf_free(&raw);
	manifest_text_free(&t);
	return m;
}

struct imds *
cli_open_imds(const struct cli_input *o, char **err)
{
	struct imds *imds;

	if ((imds = imds_new(err)) == NULL)
		return NULL;
	imds_set_deadline(imds, o->imds_timeout_ms);
	imds_allow_v1(imds, o->imdsv1);
	return imds;
}

int
cli_setup_metadata(struct metadata *md, const struct cli_input *o, bool live)
{
	char *why = NULL, *warn = NULL;
	int rc = EXIT_USAGE;

	if (o->metadata_file && md_load_file(md, o->metadata_file, &why) < 0) {
		fprintf(stderr, "haboot: --metadata-file %s\n", why);
		goto out;
	}
	for (size_t i = 0; i < o->nmetadata; i++)
		if (md_set_arg(md, o->metadata[i], &why) < 0) {
			fprintf(stderr, "haboot: --metadata %s: %s\n", o->metadata[i], why);
			goto out;
		}
	if (md_settle_region(md, !live, &why, &warn) < 0) {
		fprintf(stderr, "haboot: %s\n", why);
		goto out;
	}
	if (live && warn != NULL)
		log_warn("haboot", "%s", warn);
	rc = 0;
out:
	free(why);
	free(warn);
	return rc;
}

struct manifest *
cli_load(const char *file, struct imds *imds, const char *cmd, struct cli_source *s)
{
	return file != NULL ? load_file(file, s) : load_user_data(imds, cmd, s);
}

void
cli_source_free(struct cli_source *s)
{
	free(s->error);
	s->error = NULL;
}
