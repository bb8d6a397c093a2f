/* Core commands: guest-ping, guest-sync, guest-sync-delimited, guest-info. */
#include "agent/agent.h"
#include "agent/cmdtab.h"
#include "gd_config.h"

void cmd_guest_ping(struct call *c, json_t *args)
{
	(void)args;
	call_return(c, json_object());
}

void cmd_guest_sync(struct call *c, json_t *args)
{
	call_return(c, json_incref(json_object_get(args, "id")));
}

void cmd_guest_sync_delimited(struct call *c, json_t *args)
{
	call_set_delimited(c);
	call_return(c, json_incref(json_object_get(args, "id")));
}

void cmd_guest_info(struct call *c, json_t *args)
{
	(void)args;
	json_t *list = json_array();
	for (size_t i = 0; i < cmdtab_len; i++) {
		const struct gd_cmd *cmd = &cmdtab[i];
		bool enabled = !agent_cmd_refusal(cmd->name, cmd->flags & GD_CMD_FREEZE_SAFE);
		json_array_append_new(list, json_pack("{s:b, s:s, s:b}", "enabled", enabled, "name",
						      cmd->name, "success-response",
						      !(cmd->flags & GD_CMD_NO_SUCCESS_REPLY)));
	}
	call_return(c, json_pack("{s:s, s:o}", "version", GD_VERSION, "supported_commands", list));
}
