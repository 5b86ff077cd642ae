/* cli_iam.c: `haboot iam-policy`, the least-privilege IAM policy of a
 * manifest, from what each module (and the runner) declares it calls. */
#include "cli_iam.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_debug.h"
#include "iam.h"
#include "manifest/diag.h"
#include "manifest/manifest.h"
#include "module.h"
#include "release.h"
#include "runner.h"
#include "util.h"

const char usage_iam_policy[] =
"usage: haboot iam-policy [FILE | -f FILE] [--group NAME] [--explain]\n"
"\n"
"Prints the IAM policy (JSON) the instance role needs for exactly what this\n"
"manifest does: every AWS call its modules and the failure policy make, each\n"
"scoped to the resources the manifest names (the volume, the zone and record,\n"
"the topic, the metric namespace, the group) and to this instance.  Put it in\n"
"the role's inline policy; examples/iam-policy.json is this command's output\n"
"for examples/nfs.yaml.\n"
"\n"
"Calls AWS cannot scope to a resource (the EC2 Describe calls) are granted on\n"
"\"*\", and every grant wider than the manifest's resources is listed on\n"
"standard error; --explain says what each statement is for.\n"
"\n"
"  -f, --file FILE   the manifest, the same as giving FILE (\"-\" or none:\n"
"                    standard input)\n"
"  --group NAME      the Auto Scaling group the service runs in: scopes\n"
"                    SetInstanceHealth and (takeover) the old owner's instance\n"
"                    to it (default: lifecycle_hook's group, if any)\n"
"  --explain         print what each statement is for instead of the policy\n"
"\n"
"exit: 0 printed, 1 a module declares no permissions, 2 usage or invalid manifest,\n"
"      3 the manifest cannot be read.\n";

enum { OPT_GROUP = 300, OPT_EXPLAIN };

/* The policy, or NULL after saying why (*rc set). */
static struct iam_policy *
policy_of(const struct manifest *m, const char *group, int *rc)
{
	struct iam_scope scope = {.service = m->name, .group = group ? group : m->hook_group};
	struct iam_policy *p = iam_policy_new(&scope);

	for (size_t i = 0; i < m->nmods; i++) {
		const struct module *mod = m->mods[i].mod;

		if (mod->permissions == NULL) {
			fprintf(stderr, "haboot: iam-policy: module %s declares no permissions "
			    "(struct module.permissions): its AWS calls are unknown, so no policy "
			    "can be written for this manifest\n", mod->name);
			iam_policy_free(p);
			*rc = EXIT_MODULE_FAILED;
			return NULL;
		}
		iam_set_origin(p, mod->name);
		mod->permissions(m->mods[i].cfg, p);
	}
	runner_permissions(m, p);
	release_permissions(m, p);
	return p;
}

int
cmd_iam_policy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"file", required_argument, NULL, 'f'},
		{"group", required_argument, NULL, OPT_GROUP},
		{"explain", no_argument, NULL, OPT_EXPLAIN},
		{NULL, 0, NULL, 0},
	};
	const char *path = "-", *file = NULL, *group = NULL;
	bool unreadable = false;
	struct iam_policy *p = NULL;
	struct manifest *m = NULL;
	struct diag d;
	bool explain = false;
	char *json = NULL;
	int ch, rc = EXIT_DONE;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "-f:", longopts, NULL)) != -1) {
		switch (ch) {
		case 1:
		case 'f':
			if (file != NULL)
				return usage_error(usage_iam_policy, "give one manifest, not also \"%s\"",
				    optarg);
			file = optarg;
			break;
		case OPT_GROUP:
			if (*optarg == '\0' || strlen(optarg) > 255)
				return usage_error(usage_iam_policy, "--group \"%s\": an Auto Scaling "
				    "group name is 1 to 255 characters", optarg);
			group = optarg;
			break;
		case OPT_EXPLAIN:
			explain = true;
			break;
		default:
			return cli_bad_option(usage_iam_policy);
		}
	}
	if (optind < argc) {
		if (file != NULL)
			return usage_error(usage_iam_policy, "give one manifest, not also \"%s\"",
			    argv[optind]);
		file = argv[optind];
	}
	if (file != NULL)
		path = file;
	diag_init(&d, path);
	m = manifest_load_file(path, &d, &unreadable);
	diag_print(&d, stderr);
	diag_free(&d);
	if (m == NULL) {
		rc = unreadable ? EXIT_ENVIRONMENT : EXIT_USAGE;
		goto out;
	}
	if ((p = policy_of(m, group, &rc)) == NULL)
		goto out;
	if (explain) {
		iam_policy_explain(p, stdout);
		goto out;
	}
	json = iam_policy_json(p);
	fputs(json, stdout);
	if (iam_policy_caveats(p) > 0) {
		fprintf(stderr, "haboot: iam-policy: some grants are wider than one resource "
		    "(what AWS cannot scope, what the manifest does not name):\n");
		iam_policy_explain_caveats(p, stderr);
	}
out:
	free(json);
	iam_policy_free(p);
	manifest_free(m);
	return rc;
}
