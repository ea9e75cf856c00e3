/*
 * usb-gadget backend: placeholder until gadget/ lands (libusbgx CDC-ACM functions).
 * It refuses honestly: the allocation fails with a clear message and nothing is kept.
 */
#include "ports.h"

#include <errno.h>

static int gadget_open(struct port *p)
{
    (void)p;
    return -ENOTSUP;
}

static void gadget_close(struct port *p, bool unpublish)
{
    (void)p;
    (void)unpublish;
}

const struct backend_ops backend_usb_gadget = {
    .name = "usb-gadget",
    .open = gadget_open,
    .close = gadget_close,
};
