/* test_exports_render.c: the files haboot writes for the NFS servers. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "exports/exports.h"

static char *kopts[] = {"rw", "sync", "no_root_squash"};
static char *kclients[] = {"10.0.0.0/24", "192.0.2.7"};

static void
one_export(struct exports_cfg *x, struct nfs_export *ex, int server, char **opts, size_t nopts)
{
	memset(x, 0, sizeof(*x));
	memset(ex, 0, sizeof(*ex));
	ex->path = "/mnt/nfs";
	ex->clients = kclients;
	ex->nclients = 2;
	ex->options = opts;
	ex->noptions = nopts;
	ex->fsid = 7;
	x->server = server;
	x->ex = ex;
	x->nex = 1;
	x->config = server == SERVER_KERNEL ? "/etc/exports.d/haboot.exports"
	                                    : "/etc/ganesha/haboot.conf";
	x->lease_s = EXPORTS_LEASE_S;
	x->grace_s = EXPORTS_GRACE_S;
}

/* The last line of a rendered file. */
static const char *
last_line(const struct buf *b)
{
	const char *p = b->data + b->len - 1;

	assert_int_equal(*p, '\n');
	while (p > b->data && p[-1] != '\n')
		p--;
	return p;
}

static void
test_kernel_line(void **state)
{
	struct exports_cfg x;
	struct nfs_export ex;
	struct buf b;

	(void)state;
	one_export(&x, &ex, SERVER_KERNEL, kopts, 3);
	buf_init(&b);
	exports_render(&x, NULL, &b);
	assert_true(exports_is_ours(b.data, b.len));
	/* Every client gets the options, the default no_subtree_check and the fixed fsid. */
	assert_string_equal(last_line(&b), "/mnt/nfs 10.0.0.0/24(rw,sync,no_root_squash,"
	    "no_subtree_check,fsid=7) 192.0.2.7(rw,sync,no_root_squash,no_subtree_check,fsid=7)\n");
	buf_free(&b);
}

static void
test_kernel_keeps_subtree_choice(void **state)
{
	char *opts[] = {"ro", "subtree_check"};
	struct exports_cfg x;
	struct nfs_export ex;
	struct buf b;

	(void)state;
	one_export(&x, &ex, SERVER_KERNEL, opts, 2);
	buf_init(&b);
	exports_render(&x, NULL, &b);
	assert_null(strstr(b.data, "no_subtree_check"));
	assert_non_null(strstr(b.data, "10.0.0.0/24(ro,subtree_check,fsid=7)"));
	buf_free(&b);
}

static void
test_ganesha_mapping(void **state)
{
	char *opts[] = {"rw", "no_root_squash", "sec=krb5p:sys", "anonuid=65534", "secure"};
	struct exports_cfg x;
	struct nfs_export ex;
	struct buf b;

	(void)state;
	one_export(&x, &ex, SERVER_GANESHA, opts, 5);
	buf_init(&b);
	exports_render(&x, "/mnt/nfs/.haboot/nfs-recovery", &b);
	assert_true(exports_is_ours(b.data, b.len));
	assert_non_null(strstr(b.data, "\tRecoveryBackend = fs;\n"
	    "\tRecoveryRoot = \"/mnt/nfs/.haboot/nfs-recovery\";\n"
	    "\tLease_Lifetime = 60;\n\tGrace_Period = 90;\n"));
	assert_non_null(strstr(b.data, "\tExport_Id = 7;\n\tPath = \"/mnt/nfs\";\n"
	    "\tPseudo = \"/mnt/nfs\";\n\tFilesystem_id = 7.7;\n"));
	/* Unlisted clients get nothing; the listed ones what the options say. */
	assert_non_null(strstr(b.data, "\tAccess_Type = None;\n"));
	assert_non_null(strstr(b.data, "\t\tClients = 10.0.0.0/24, 192.0.2.7;\n"
	    "\t\tProtocols = 4;\n\t\tAccess_Type = RW;\n\t\tSquash = No_Root_Squash;\n"
	    "\t\tSecType = krb5p, sys;\n\t\tAnonymous_Uid = 65534;\n"
	    "\t\tPrivilegedPort = true;\n\t}\n}\n"));
	buf_free(&b);
}

static void
test_ganesha_defaults_follow_exportfs(void **state)
{
	struct exports_cfg x;
	struct nfs_export ex;
	struct buf b;

	(void)state;
	one_export(&x, &ex, SERVER_GANESHA, NULL, 0);
	buf_init(&b);
	exports_render(&x, "/r", &b);
	/* exportfs defaults: ro, root_squash, sec=sys. */
	assert_non_null(strstr(b.data, "\t\tAccess_Type = RO;\n\t\tSquash = Root_Squash;\n"
	    "\t\tSecType = sys;\n\t}\n"));
	buf_free(&b);
}

static void
test_render_is_deterministic(void **state)
{
	struct exports_cfg x;
	struct nfs_export ex;
	struct buf a, b;

	(void)state;
	one_export(&x, &ex, SERVER_GANESHA, kopts, 3);
	buf_init(&a);
	buf_init(&b);
	exports_render(&x, "/r", &a);
	exports_render(&x, "/r", &b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	buf_free(&a);
	buf_free(&b);
}

static void
test_ganesha_refusals(void **state)
{
	(void)state;
	assert_non_null(exports_ganesha_refuses("async"));
	assert_non_null(exports_ganesha_refuses("crossmnt"));
	assert_non_null(exports_ganesha_refuses("mountpoint=/mnt"));
	assert_null(exports_ganesha_refuses("mountpoint"));
	assert_null(exports_ganesha_refuses("rw"));
	assert_null(exports_ganesha_refuses("sync"));
	assert_null(exports_ganesha_refuses("sec=krb5"));
	assert_null(exports_ganesha_refuses("no_subtree_check"));
}

static void
test_conflicts(void **state)
{
	char *ok[] = {"rw", "sync", "anonuid=1", "anongid=1"};
	char *rwro[] = {"ro", "sync", "rw"};
	char *twice[] = {"anonuid=1", "rw", "anonuid=2"};
	char why[160];

	(void)state;
	assert_null(exports_options_conflict(ok, 4, why, sizeof(why)));
	assert_non_null(exports_options_conflict(rwro, 3, why, sizeof(why)));
	assert_non_null(strstr(why, "\"rw\" and \"ro\""));
	assert_non_null(exports_options_conflict(twice, 3, why, sizeof(why)));
	assert_non_null(strstr(why, "anonuid"));
}

static void
test_marker(void **state)
{
	const char *mine = EXPORTS_MARKER "\n/x *(ro)\n";
	const char *theirs = "# my own exports\n" EXPORTS_MARKER "\n";

	(void)state;
	assert_true(exports_is_ours(mine, strlen(mine)));
	assert_false(exports_is_ours(theirs, strlen(theirs)));
	assert_false(exports_is_ours("", 0));
	assert_false(exports_is_ours(EXPORTS_MARKER, strlen(EXPORTS_MARKER)));
}

static void
test_recovery_root(void **state)
{
	struct exports_cfg x;
	struct nfs_export ex;
	char *r;

	(void)state;
	one_export(&x, &ex, SERVER_GANESHA, NULL, 0);
	r = exports_recovery_root(&x, "/vol");
	assert_string_equal(r, "/vol/.haboot/nfs-recovery");
	free(r);
	r = exports_recovery_root(&x, NULL);
	assert_string_equal(r, "/mnt/nfs/.haboot/nfs-recovery");
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_line),
		cmocka_unit_test(test_kernel_keeps_subtree_choice),
		cmocka_unit_test(test_ganesha_mapping),
		cmocka_unit_test(test_ganesha_defaults_follow_exportfs),
		cmocka_unit_test(test_render_is_deterministic),
		cmocka_unit_test(test_ganesha_refusals),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_marker),
		cmocka_unit_test(test_recovery_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
