/* Agent-wide state: the gates that depend on it. */
#include <string.h>

#include "agent/agent.h"

struct agent agent;

/* True when the comma-separated list holds name (spaces around names are allowed). */
static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && t[-1] == ' ')
			t--;
		if ((size_t)(t - p) == n && memcmp(p, name, n) == 0)
			return true;
		p = e;
	}
	return false;
}

const char *agent_cmd_refusal(const char *name, bool freeze_safe)
{
	if (agent.cfg.block_rpcs && list_has(agent.cfg.block_rpcs, name))
		return "disabled";
	if (agent.cfg.allow_rpcs && *agent.cfg.allow_rpcs && !list_has(agent.cfg.allow_rpcs, name))
		return "disabled";
	if (agent.frozen && !freeze_safe)
		return "frozen";
	return NULL;
}
