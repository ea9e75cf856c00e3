/* embed — files compiled into the binary (see embed.S). */
#ifndef VSC_EMBED_H
#define VSC_EMBED_H

#include <stddef.h>

#define EMBED_DECLARE(name) extern const char name[], name##_end[]
#define EMBED_LEN(name)     ((size_t)(name##_end - name))

EMBED_DECLARE(embed_migration_0001);
EMBED_DECLARE(embed_migration_0002);
EMBED_DECLARE(embed_migration_0003);
EMBED_DECLARE(embed_migration_0004);
EMBED_DECLARE(embed_migration_0005);
EMBED_DECLARE(embed_migration_0006);
EMBED_DECLARE(embed_migration_0007);
EMBED_DECLARE(embed_schema_sql);
EMBED_DECLARE(embed_oem_csdl);
EMBED_DECLARE(embed_oem_json);
EMBED_DECLARE(embed_oem_json_v1_0_0);
EMBED_DECLARE(embed_event_registry);
/* The web dashboard, bundled by `make` into build/web/ (web/build.mjs). */
EMBED_DECLARE(embed_web_index);
EMBED_DECLARE(embed_web_app_js);
EMBED_DECLARE(embed_web_app_css);

#endif
