/* fuzz_manifest.c: libFuzzer harness for the manifest parser.
 * User-data is written by anyone who can edit a launch template, and haboot
 * reads it as root on first boot: any byte string must give a manifest or
 * diagnostics, never a crash, a leak or undefined behaviour.  A manifest that
 * parses is also planned, the path `haboot plan` takes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "context.h"
#include "effects.h"
#include "log.h"
#include "manifest/diag.h"
#include "manifest/manifest.h"
#include "manifest/metadata.h"
#include "runner.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(LOG_FMT_TEXT, LOG_ERROR);
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d;
	struct manifest *m;
	struct metadata md;
	struct effects eff;
	struct hb_ctx ctx;

	diag_init(&d, "fuzz.yaml");
	/* No "#haboot" marker required: with it the parser only rejects more. */
	m = manifest_parse(data, size, false, &d);
	diag_print(&d, devnull);
	if (m != NULL) {
		md_init(&md);
		md.offline_defaults = 1;
		eff_init(&eff, EFF_RECORD);
		ctx_init(&ctx);
		ctx.md = &md;
		ctx.eff = &eff;
		/* Text and JSON plans alike, picked by the input's length. */
		runner_plan(m, &ctx, size % 2, devnull);
		ctx_free(&ctx);
		eff_free(&eff);
		md_free(&md);
	}
	manifest_free(m);
	diag_free(&d);
	return 0;
}
