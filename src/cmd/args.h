/* Reading a handler's arguments. The dispatcher has checked them against the schema (types,
 * required members, enums), so a handler only picks values and supplies defaults. */
#ifndef GUESTD_CMD_ARGS_H
#define GUESTD_CMD_ARGS_H

#include <stdbool.h>
#include <jansson.h>

static inline json_int_t arg_int(json_t *args, const char *name, json_int_t dflt)
{
	json_t *v = json_object_get(args, name);
	return v ? json_integer_value(v) : dflt;
}

static inline bool arg_bool(json_t *args, const char *name, bool dflt)
{
	json_t *v = json_object_get(args, name);
	return v ? json_is_true(v) : dflt;
}

/* NULL when absent. */
static inline const char *arg_str(json_t *args, const char *name)
{
	return json_string_value(json_object_get(args, name));
}

#endif
