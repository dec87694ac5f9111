/* registry_opts.c - the registry options of index and mount (registry_opts.h). */
#include "config.h"

#include <string.h>

#include "clipfs/registry_opts.h"

#define AT(field) offsetof(struct registry_cli_opts, field)

const struct opt_def registry_opt_defs[REGISTRY_OPT_COUNT] = {
	{ "creds", K_SECRET, AT(creds), 0, "USER:PASS", "registry credentials", 0 },
	{ "authfile", K_PATH, AT(authfile), 0, "FILE",
	    "credentials file (containers auth.json format)", 0 },
	{ "cacert", K_PATH, AT(cacert), 0, "FILE", "trust this CA for the registry", 0 },
	{ "plain-http", K_FLAG, AT(plain_http), 0, NULL,
	    "talk HTTP, not HTTPS, to the registry (clipfs mount also takes this from the "
	    "index)", 0 },
	{ "tls-verify", K_BOOL, AT(tls_verify), 0, "BOOL", "verify the registry's certificate", 0 },
};

void
registry_cli_opts_init(struct registry_cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_verify = 1;
}
