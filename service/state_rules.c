/*
 * state_rules — the built-in console state rules, in matching order (docs/console-states.md
 * has them as a table; a unit test holds the two together).
 *
 * Order: Panic, Off, Rebooting, Firmware, Booting, Running. A kernel's line prefix is
 * "(^|\] )": the line's start or the end of a printk timestamp "[    1.234567] ".
 * Late boot stages (init, systemd's welcome, initramfs) are not tried while Running, so a
 * running system's own messages (motd "Welcome to ...", dracut in a log) cannot flip it back
 * to Booting; the kernel's banner, the boot loader and the firmware may (a reset that printed
 * nothing first).
 */
#include "state_detect.h"

#define PANIC     VM_STATE_PANIC
#define OFF       VM_STATE_OFF
#define REBOOTING VM_STATE_REBOOTING
#define FIRMWARE  VM_STATE_FIRMWARE
#define BOOTING   VM_STATE_BOOTING
#define RUNNING   VM_STATE_RUNNING
#define LATE_BOOT DETECT_IN(VM_STATE_RUNNING) /* not tried while Running */

const struct detect_rule detect_builtin_rules[] = {
    /* Panic */
    {"linux.panic", "Kernel panic - not syncing", PANIC, true, 0},
    {"linux.oops", "(^|[]:] )Oops: ", PANIC, true, 0},
    {"linux.bug", "(^|\\] |watchdog: )BUG: ", PANIC, true, 0},
    {"linux.kernel-bug", "(^|\\] )kernel BUG at ", PANIC, true, 0},
    {"linux.gpf", "(^|\\] )general protection fault(: [0-9a-f]{4} \\[#|, )", PANIC, true, 0},
    {"linux.hung-task", "INFO: task .+ blocked for more than [0-9]+ seconds", PANIC, true, 0},
    {"linux.hard-lockup", "Watchdog detected hard LOCKUP on cpu", PANIC, true, 0},
    {"windows.stop", "\\*\\*\\* STOP: 0x[0-9A-Fa-f]+", PANIC, true, 0},
    {"windows.stop-code", "(^|[[:space:]])Stop code: [A-Za-z0-9_]", PANIC, true, 0},
    {"windows.fatal", "A fatal system error has occurred", PANIC, true, 0},
    {"windows.bluescreen", "CLASSNAME=\"BLUESCREEN\"", PANIC, true, 0},
    {"freebsd.panic", "^panic: ", PANIC, true, 0},
    {"freebsd.fatal-trap", "^Fatal trap [0-9]+: .* while in kernel mode", PANIC, true, 0},
    /* Off */
    {"linux.power-down", "(^|\\] )reboot: Power down", OFF, true, 0},
    {"linux.halted", "(^|\\] )reboot: System halted", OFF, true, 0},
    {"generic.halted", "(^|\\] )System halted\\.?$", OFF, true, 0},
    {"freebsd.halted", "^The operating system has halted\\.", OFF, true, 0},
    {"freebsd.power-off", "^acpi0: Powering system off", OFF, true, 0},
    /* Rebooting */
    {"linux.restart", "(^|\\] )reboot: Restarting system", REBOOTING, true, 0},
    {"generic.restarting", "(^|\\] )Restarting system\\.?$", REBOOTING, true, 0},
    {"generic.rebooting", "(^|\\] )Rebooting( in [0-9]+ seconds)?\\.", REBOOTING, true, 0},
    {"systemd.reboot-target", "Reached target (reboot\\.target - )?(System )?Reboot\\.", REBOOTING,
     true, 0},
    /* Firmware and boot loaders */
    {"seabios.banner", "^SeaBIOS \\(version ", FIRMWARE, true, 0},
    {"ipxe.banner", "^iPXE (\\(https?://ipxe\\.org\\)|initialising devices)", FIRMWARE, true, 0},
    {"seabios.boot-device", "^Booting from (Hard Disk|ROM|DVD/CD|Floppy)", FIRMWARE, true, 0},
    {"edk2.bdsdxe", "^BdsDxe: (loading|starting|failed to load) Boot[0-9A-F]{4}", FIRMWARE, true,
     0},
    {"uefi.shell", "^(UEFI Interactive Shell v[0-9]|Shell> )", FIRMWARE, true, 0},
    {"grub.menu", "GNU GRUB +version [0-9]", FIRMWARE, true, 0},
    {"grub.booting", "Booting `[^']+'", FIRMWARE, true, 0},
    {"windows.bootmgr", "Windows Boot Manager", FIRMWARE, true, 0},
    {"freebsd.loader", "FreeBSD/[a-z0-9_]+ (EFI|bootstrap) loader", FIRMWARE, true, 0},
    /* Booting */
    {"linux.version", "(^|\\] )Linux version [0-9]", BOOTING, true, 0},
    {"linux.booting-on", "Booting Linux on (physical )?CPU", BOOTING, true, 0},
    {"linux.decompressing", "Decompressing Linux\\.\\.\\.", BOOTING, true, 0},
    {"grub.loading", "^ *Loading (Linux|initial ramdisk) ", BOOTING, true, 0},
    {"freebsd.copyright", "^Copyright \\(c\\) 1992-[0-9]{4} The FreeBSD Project\\.", BOOTING, true,
     0},
    {"windows.sac-started", "^Computer is booting, SAC started and initialized\\.", BOOTING, true,
     0},
    {"linux.initramfs", "(^|\\] )Trying to unpack rootfs image as initramfs", BOOTING, true,
     LATE_BOOT},
    {"linux.run-init", "(^|\\] )Run /[^ ]+ as init process", BOOTING, true, LATE_BOOT},
    {"linux.freeing-init", "(^|\\] )Freeing unused kernel ", BOOTING, true, LATE_BOOT},
    {"initramfs.tools", "^(Loading, please wait\\.\\.\\.|Begin: .* \\.\\.\\. )", BOOTING, true,
     LATE_BOOT},
    {"initramfs.dracut", "(^|\\] )dracut(-[a-z-]+)?(\\[[0-9]+\\])?: ", BOOTING, true, LATE_BOOT},
    {"systemd.welcome", "^Welcome to .+!$", BOOTING, true, LATE_BOOT},
    /* Running */
    {"getty.login", "^([A-Za-z0-9][A-Za-z0-9._-]* )?login: [A-Za-z0-9._@-]*$", RUNNING, true, 0},
    /* agetty --autologin (systemd's serial-getty with an autologin drop-in) */
    {"getty.autologin",
     "^([A-Za-z0-9][A-Za-z0-9._-]* )?login: [A-Za-z0-9._@-]+ \\(automatic login\\)$", RUNNING, true,
     0},
    {"systemd.multi-user", "Reached target (multi-user\\.target - )?Multi-User System", RUNNING,
     true, 0},
    {"windows.sac-prompt", "^SAC>", RUNNING, true, 0},
};

const size_t detect_builtin_count = sizeof(detect_builtin_rules) / sizeof(detect_builtin_rules[0]);

_Static_assert(sizeof(detect_builtin_rules) / sizeof(detect_builtin_rules[0]) <= DETECT_BUILTIN_MAX,
               "raise DETECT_BUILTIN_MAX");
