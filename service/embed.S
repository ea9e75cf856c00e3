/*
 * Files compiled into vscd: database migrations and the project's OEM schemas.
 * Each EMBED gives `name` and `name_end` (a NUL byte follows the data, so text files
 * are also C strings). Paths are relative to the project root, where make runs; the web
 * dashboard's bundled files are found in the build's web directory (`-Wa,-I$(BUILD)/web`).
 */
.macro EMBED name, path
    .section .rodata
    .global \name
    .global \name\()_end
    .balign 16
\name:
    .incbin "\path"
\name\()_end:
    .byte 0
.endm

EMBED embed_migration_0001, "db/migrations/0001_accounts.sql"
EMBED embed_migration_0002, "db/migrations/0002_account_lockout.sql"
EMBED embed_migration_0003, "db/migrations/0003_ports.sql"
EMBED embed_migration_0004, "db/migrations/0004_port_access_rules.sql"
EMBED embed_migration_0005, "db/migrations/0005_console_state.sql"
EMBED embed_migration_0006, "db/migrations/0006_audit.sql"
EMBED embed_migration_0007, "db/migrations/0007_console_states.sql"
EMBED embed_schema_sql, "db/schema.sql"
EMBED embed_oem_csdl, "schemas/redfish/Vsc_v1.xml"
EMBED embed_oem_json, "schemas/redfish/Vsc.json"
EMBED embed_oem_json_v1_0_0, "schemas/redfish/Vsc.v1_0_0.json"
EMBED embed_event_registry, "schemas/redfish/VscEvents.1.0.0.json"
EMBED embed_web_index, "index.html"
EMBED embed_web_app_js, "app.js"
EMBED embed_web_app_css, "app.css"

.section .note.GNU-stack, "", @progbits
