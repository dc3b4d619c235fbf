/*
 * The stable names of the drop reasons in drop.h, kept beside the list so
 * that a reason cannot exist without its name.
 */
#include <stddef.h>

#include "drop.h"

static const char *const reason_names[DROP__COUNT] = {
#define DROP_NAME(id, name) [DROP_##id] = name,
    DROP_REASONS(DROP_NAME)
#undef DROP_NAME
};

/* The stable name of r, or "unknown" for a value outside the list. */
const char *
drop_reason_name(enum drop_reason r)
{
	if ((unsigned)r >= DROP__COUNT || reason_names[r] == NULL)
		return "unknown";
	return reason_names[r];
}
