#!/usr/bin/python3
"""Generate the project's OEM schema (namespace Vsc) as JSON Schema and CSDL.

One description below yields schemas/redfish/Vsc.v1_0_0.json, Vsc.json and Vsc_v1.xml,
so the two forms cannot disagree. tests/api/test_generated.py regenerates and compares.
    scripts/gen-oem-schema.py [OUT_DIR]          (default: schemas/redfish)
"""
import json
import os
import re
import sys
from xml.sax.saxutils import quoteattr

ODATA = "http://redfish.dmtf.org/schemas/v1/odata-v4.json#/definitions/"
PATTERN = {"^([a-zA-Z_][a-zA-Z0-9_]*)?@(odata|Redfish|Message)\\.[a-zA-Z_][a-zA-Z0-9_]*$": {
    "description": "This property shall specify a valid odata or Redfish property.",
    "type": ["array", "boolean", "integer", "number", "null", "object", "string"]}}

# name -> (description, long description, values {value: description})
ENUMS = {
    "Backend": ("The kind of device behind a serial port.",
                "This type shall describe the kind of device that carries a serial port's bytes.", {
        "pty": "A pseudo-terminal; the hypervisor opens its slave through the published symlink.",
        "unix": "A Unix socket that the hypervisor (QEMU, client mode) connects to.",
        "usb-gadget": "A USB CDC-ACM function of the BMC's USB device controller; the host sees a ttyACM device."}),
    "PortState": ("The runtime state of a serial port.",
                  "This type shall describe whether the virtual machine side of a serial port is attached.", {
        "Down": "The backend failed; Error says why.",
        "Waiting": "The port is ready and no VM is attached to it.",
        "Connected": "The VM side is attached."}),
    "PortRight": ("A right on a serial port's console.",
                  "This type shall describe one right that a user may have on a serial port's console.", {
        "Watch": "Receive the console's output.",
        "Control": "Send input to the console (needs Watch).",
        "Observe": "Invoke the observe-only mode (needs Control).",
        "Private": "Invoke the private mode (needs Control).",
        "Force": "Take or release a mode another user holds (needs Control).",
        "Manage": "Manage the port's access rules; an Administrator's, not subject to access rules."}),
    "AccessEffect": ("Whether an access rule grants or denies its right.",
                     "This type shall describe the effect of an access rule.", {
        "Grant": "The rule grants the right (and the rights it needs).",
        "Deny": "The rule denies the right (and the rights that need it)."}),
    "ConsoleMode": ("Who may see and type on a console.",
                    "This type shall describe a serial port console's mode: who may receive its output and who may send it input.", {
        "Free": "Free use: every attached user with the control right may type.",
        "ObserveOnly": "Observe-only: the mode's holder alone types; everyone else watches.",
        "Private": "Private: the mode's holder alone sees and types; output produced meanwhile is never shown to anyone else, not even later."}),
    "ConsoleState": ("The state of a virtual machine as its serial console shows it.",
                     "This type shall describe the state of a virtual machine that the service derived from the output of its serial consoles.", {
        "Unknown": "Nothing the console printed has shown a state yet.",
        "Firmware": "Firmware or a boot loader runs (BIOS, UEFI, GRUB).",
        "Booting": "An operating system kernel started and is booting.",
        "Running": "The operating system is up: a login prompt or a configured ready line appeared.",
        "Panic": "The operating system crashed: a kernel panic, an oops, a BUG or a bugcheck.",
        "Rebooting": "The operating system is restarting the machine.",
        "Off": "The operating system powered the machine off."}),
    "AuditAction": ("The kind of an audit trail record.", "This type shall describe the kind of action an audit trail record describes.", {
        "Login": "A session was opened.",
        "LoginFailed": "Credentials were refused (a session login or HTTP Basic).",
        "Logout": "A session was deleted.",
        "SessionExpired": "A session timed out.",
        "ConsoleAttach": "A console WebSocket was opened.",
        "ConsoleDetach": "A console WebSocket was closed.",
        "ConsoleInput": "Input was sent to a console (its byte count, and the input itself when configured).",
        "ModeChange": "A console's mode changed.",
        "AccessRuleChange": "A port's access rule was added, changed or deleted.",
        "AccountChange": "An account or the account service's settings changed.",
        "PortsAllocated": "Serial ports were allocated.",
        "PortsFreed": "Serial ports were freed.",
        "StateRuleChange": "A console state rule was added or deleted.",
        "AuditLogCleared": "The audit trail was cleared.",
        "TlsReload": "The TLS certificate and key were read again (SIGHUP)."}),
    "SendInputResult": ("What SendInput did on one port.", "This type shall describe the outcome of SendInput on one port.", {
        "Sent": "The input was queued for the virtual machine.",
        "Refused": "The input was not sent; Reason says why."}),
    "SendInputRefusal": ("Why SendInput did not send input to a port.", "This type shall describe why SendInput refused to send input to a port.", {
        "NotFound": "No such port is allocated.",
        "Rights": "The caller has no control right on this port.",
        "Mode": "Another user holds the port in observe-only or private mode.",
        "NoVM": "No virtual machine is attached to the port.",
        "QueueFull": "The port's input queue is full.",
        "Failed": "The input could not be queued."}),
}

# A property: (type, description, long description, extra).
# type: "string", "integer", "boolean", "string?" (nullable), "date-time", "link", "links",
# "count", an enum name, "[Type]" (array of a complex type), "[string]".
def P(t, d, l, **extra):
    return (t, d, l, extra)

OEM_OBJECTS = {  # complex types that carry "@odata.type" (Oem objects, action responses)
    "Manager": ("The vsc service's facts, carried in Manager.Oem.Vsc.",
                "This object shall contain the facts of the vsc virtual serial concentrator service that runs as this manager.", {
        "ServiceVersion": P("string", "The version of the vsc service.", "This property shall contain the version of the vscd program that serves this manager."),
        "StartTime": P("date-time", "The date and time when the service started.", "This property shall contain the date and time when the vscd process started."),
        "DatabaseSchemaVersion": P("integer", "The schema version of the service's database.", "This property shall contain the migration number (SQLite user_version) of the service's database."),
        "SessionsSurviveRestart": P("boolean", "An indication of whether Redfish sessions survive a restart of the service.", "This property shall indicate whether session tokens remain valid after the service restarts."),
        "MaxPorts": P("integer", "The most serial ports allocated at once.", "This property shall contain the limit on serial ports allocated at once, all virtual machines together."),
        "MaxPortsPerVM": P("integer", "The most serial ports one virtual machine may have.", "This property shall contain the limit on serial ports per virtual machine."),
        "PortsInUse": P("integer", "The serial ports allocated now.", "This property shall contain the number of serial ports allocated now."),
        "ConsoleBatchTime": P("integer", "How long console output waits now before it is sent to viewers, sent together.", "This property shall contain the time, in milliseconds, that new console output waits now before the service sends it to the console's viewers: the configured console_batch_ms, or more while the service's event loop is busy (console_batch_busy_ms); 0 when output is sent at once.", units="ms"),
        "DefaultBackend": P("Backend", "The backend used when an allocation names none.", "This property shall contain the backend that AllocatePorts uses when the request does not name one."),
        "ConsoleStateRules": P("link", "The console state detector's rules.", "This property shall link to the collection of rules that derive virtual machine states from console output."),
        "ConsoleHistories": P("links", "The console LogServices of every virtual machine with history kept, freed ones included.", "This property shall link to the console LogService of each virtual machine, active or freed, whose console state entries or output the service keeps."),
    }, ["@odata.type"]),
    "EventDestination": ("The vsc facts of a server-sent event stream, carried in EventDestination.Oem.Vsc.",
                         "This object shall contain who opened a server-sent event stream, from where and when, and the filter it asked for.", {
        "Filter": P("string?", "The $filter the stream was opened with.", "This property shall contain the $filter query parameter the client gave when it opened the stream, or null when it gave none."),
        "User": P("string", "The user who opened the stream.", "This property shall contain the user name of the account that opened the stream."),
        "ClientAddress": P("string", "The client's IP address.", "This property shall contain the IP address the stream was opened from."),
        "OpenedAt": P("date-time", "The date and time when the stream was opened.", "This property shall contain the date and time when the stream was opened."),
    }, ["@odata.type"]),
    "SerialInterface": ("The vsc facts of a serial port, carried in SerialInterface.Oem.Vsc.",
                        "This object shall contain the runtime facts of a serial port that vsc allocated for a virtual machine.", {
        "Backend": P("Backend", "The device kind behind the port.", "This property shall contain the backend that carries this port's bytes."),
        "BindPath": P("string", "What the hypervisor binds the VM's serial port to.", "This property shall contain the path (a device symlink, a Unix socket, or the host's /dev/serial/by-id name) that the hypervisor binds the virtual machine's serial port to."),
        "PortState": P("PortState", "Whether the VM side is attached.", "This property shall contain the runtime state of the port."),
        "Error": P("string?", "Why the port is down.", "This property shall contain the reason the backend is down, or null."),
        "Index": P("integer", "The port's number within its VM, from 1.", "This property shall contain the position of this port among its virtual machine's ports, starting at 1."),
        "ComPort": P("string", "The VM's serial port this port serves, such as COM1.", "This property shall contain the name of the virtual machine's serial port that this port serves, as the allocation gave it."),
        "Label": P("string", "A label from the allocation.", "This property shall contain the label that the allocation gave this port."),
        "ConsoleSocket": P("string", "The local Unix socket carrying this console's stream.", "This property shall contain the path of the Unix socket on the service's host that carries the raw console stream of this port."),
        "ConsoleURI": P("string", "The URI of this console's WebSocket on the service's HTTPS port.", "This property shall contain the URI that, requested with a WebSocket upgrade on the service's HTTPS port, carries this port's console stream as described in the service's console protocol."),
        "AttachedClients": P("integer", "How many clients watch this console now.", "This property shall contain the number of clients attached to this port's console stream."),
        "BytesFromVM": P("integer", "Bytes the VM printed since the service started.", "This property shall contain the number of bytes received from the virtual machine side since the service started."),
        "SlowClientsDropped": P("integer", "Console viewers disconnected because they stopped reading.", "This property shall contain the number of console connections of this port that the service closed because they read nothing for the configured time while their send queue was full."),
        "BytesToVM": P("integer", "Bytes sent to the VM since the service started.", "This property shall contain the number of bytes written to the virtual machine side since the service started."),
        "AccessRules": P("link", "The port's access rules.", "This property shall link to the collection of access rules that grant or deny console rights on this port."),
        "EffectiveRights": P("[PortRight]", "The requesting user's rights on this port's console.", "This property shall list the rights that the user who made the request has on this port's console, after the port's access rules."),
        "Mode": P("ConsoleMode", "The console's mode; PATCH to change it.", "This property shall contain the console's mode. A PATCH sets it on behalf of the requesting user, subject to that user's rights on the port; observe-only and private are held by that user.", readonly=False),
        "ModeHolder": P("string?", "The user holding observe-only or private.", "This property shall contain the user name of the holder of the console's observe-only or private mode, or null in free use."),
        "Attached": P("[ConsoleAttachment]", "The console connections attached now.", "This property shall list the console WebSocket connections attached to this port now."),
        "Connections": P("link", "The collection of this port's console connections.", "This property shall link to the collection of this port's console connections, where an administrator can disconnect one."),
    }, ["@odata.type"]),
    "ComputerSystem": ("What the virtual machine's serial consoles show, carried in ComputerSystem.Oem.Vsc.",
                       "This object shall contain the state that the service derived from the virtual machine's serial console output.", {
        "ConsoleState": P("ConsoleState", "The state the console shows.", "This property shall contain the state of the virtual machine as the service derived it from the output of its serial consoles."),
        "ConsoleStateTime": P("date-time", "When the console showed that state.", "This property shall contain the date and time when the service detected the current console state."),
        "ConsoleStateLine": P("string", "The console line that showed the state.", "This property shall contain the console line, without control sequences, that matched the rule that set the current state."),
        "ConsoleStateRule": P("string", "The rule that matched.", "This property shall contain the Id of the console state rule that matched the line."),
        "ConsoleStatePort": P("integer", "The port whose console showed the state.", "This property shall contain the index of the serial port whose output showed the current state."),
        "StateChangesSuppressed": P("integer", "State changes not logged because the console changed state too fast.", "This property shall contain the number of console state changes since the service started that were not recorded as log entries or events because the console changed state faster than the service records."),
    }, ["@odata.type"]),
    "LogService": ("The console history of a virtual machine, carried in LogService.Oem.Vsc.",
                   "This object shall describe the console output history that the service keeps for a virtual machine.", {
        "Transcript": P("string", "The URI of the raw console output.", "This property shall contain the URI that answers the virtual machine's raw console output as text; the query parameters Start, End, Tail and Port select a part."),
        "SystemFreed": P("boolean", "Whether the virtual machine's ports were freed.", "This property shall indicate whether the virtual machine's ports were freed; its history stays until the caps expire it."),
        "HistoryBytes": P("integer", "The bytes of console history kept.", "This property shall contain the number of bytes on disk that the service keeps of the virtual machine's console output."),
        "HistoryStart": P("date-time", "When the oldest kept output arrived.", "This property shall contain the date and time of the oldest console output kept."),
        "HistoryEnd": P("date-time", "When the newest kept output arrived.", "This property shall contain the date and time of the newest console output kept."),
    }, ["@odata.type"]),
    "LogEntry": ("A console state change, carried in LogEntry.Oem.Vsc.",
                 "This object shall describe a change of a virtual machine's state that the service detected on its serial console.", {
        "State": P("ConsoleState", "The state the console showed.", "This property shall contain the state that the console showed."),
        "PreviousState": P("ConsoleState", "The state before.", "This property shall contain the state before this change."),
        "RuleId": P("string", "The rule that matched.", "This property shall contain the Id of the console state rule that matched."),
        "Line": P("string", "The console line.", "This property shall contain the console line, without control sequences, that matched."),
        "Port": P("integer", "The port whose console showed it.", "This property shall contain the index of the serial port whose output showed the change."),
        "LinesBefore": P("[string]", "The console lines before it.", "This property shall contain the console lines that preceded the matching line, oldest first."),
        "LinesAfter": P("[string]", "The console lines after a panic.", "This property shall contain the console lines that followed a panic line, oldest first; absent until they were collected and for other states."),
    }, ["@odata.type"]),
    "AuditLogEntry": ("An audit trail record, carried in LogEntry.Oem.Vsc of the Manager's Audit LogService.",
                      "This object shall describe one action recorded in the service's audit trail: who, from where, on what.", {
        "Action": P("AuditAction", "What was done.", "This property shall contain the kind of action recorded."),
        "UserName": P("string", "Who did it.", "This property shall contain the user name of the account that acted, or the user name tried for a failed login; empty for the service itself."),
        "ClientAddress": P("string", "From where.", "This property shall contain the network address of the client, or an empty string when the action did not come from a client."),
        "Target": P("string", "The resource acted on.", "This property shall contain the URI of the resource acted on."),
        "Detail": P("string", "What exactly.", "This property shall describe the action; it never contains a password, a session token or a ticket."),
    }, ["@odata.type"]),
    "SerialInterfaceLinks": ("Links from a serial port, carried in SerialInterface.Links.Oem.Vsc.",
                             "This object shall contain links from a serial port to related resources.", {
        "ComputerSystem": P("link", "The virtual machine this port serves.", "This property shall link to the ComputerSystem of the virtual machine that this port serves."),
    }, ["@odata.type"]),
    "ComputerSystemLinks": ("Links from a virtual machine, carried in ComputerSystem.Links.Oem.Vsc.",
                            "This object shall contain links from a virtual machine to related resources.", {
        "SerialInterfaces": P("links", "The serial ports of this virtual machine.", "This property shall link to the SerialInterface resources that carry this virtual machine's serial ports."),
    }, ["@odata.type"]),
    "AllocatePortsResponse": ("The result of AllocatePorts.", "This object shall contain the result of the AllocatePorts action.", {
        "VMUUID": P("string", "The VM's UUID.", "This property shall contain the UUID of the virtual machine.",
                    pattern="^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
        "System": P("link", "The VM's ComputerSystem.", "This property shall link to the virtual machine's ComputerSystem."),
        "Created": P("boolean", "Whether this request created the ports.", "This property shall indicate whether the ports were created by this request (false when an identical earlier request had created them)."),
        "Ports": P("[PortAllocation]", "The allocated ports.", "This property shall list the virtual machine's ports in index order."),
    }, ["@odata.type", "VMUUID", "System", "Created", "Ports"]),
    "FreePortsResponse": ("The result of FreePorts.", "This object shall contain the result of the FreePorts action.", {
        "Freed": P("[string]", "Ids of the ports this request freed.", "This property shall list the Ids of the SerialInterfaces that this request freed."),
        "AlreadyFreed": P("[string]", "Ids of named ports that were freed before.", "This property shall list the Ids of named ports that an earlier request had freed."),
    }, ["@odata.type", "Freed", "AlreadyFreed"]),
    "ConsoleTicket": ("A single-use ticket that opens one console WebSocket.", "This object shall contain a short-lived, single-use credential that opens the console WebSocket of one serial port for the session that requested it.", {
        "Ticket": P("string", "The ticket.", "This property shall contain the ticket, to be given once as the ticket query parameter or the vsc.ticket.<ticket> WebSocket subprotocol."),
        "SerialInterface": P("link", "The port this ticket opens.", "This property shall link to the SerialInterface whose console the ticket opens."),
        "ConsoleURI": P("string", "The console WebSocket URI with the ticket.", "This property shall contain the console WebSocket URI of the port with the ticket as its query."),
        "ExpiresInSeconds": P("integer", "Seconds until the ticket expires unused.", "This property shall contain the number of seconds after which an unused ticket is no longer accepted."),
    }, ["@odata.type", "Ticket", "SerialInterface", "ConsoleURI", "ExpiresInSeconds"]),
    "SendInputResponse": ("The result of SendInput.", "This object shall contain the outcome of the SendInput action, one entry per named port.", {
        "Results": P("[SendInputPortResult]", "One outcome per named port, in request order.", "This property shall contain one entry per port named in the request, in the request's order."),
    }, ["@odata.type", "Results"]),
    "IpmiResponse": ("The result of IpmiRequest.", "This object shall contain the IPMI response to an IpmiRequest action.", {
        "CompletionCode": P("string", "The IPMI completion code, as two hex digits.", "This property shall contain the IPMI completion code of the response.", pattern="^[0-9A-F]{2}$"),
        "Data": P("string", "The response data after the completion code, as hex digits.", "This property shall contain the response data bytes that follow the completion code, as hex digits.", pattern="^([0-9A-F]{2})*$"),
    }, ["@odata.type", "CompletionCode", "Data"]),
}

ATTACHMENT = {
    "Id": P("string", "The connection's Id.", "This property shall contain the Id of the console connection, unique while the service runs."),
    "UserName": P("string", "Who opened the connection.", "This property shall contain the user name of the session that opened the connection."),
    "Role": P("string", "The user's role.", "This property shall contain the role of the user that opened the connection."),
    "Since": P("date-time", "When the connection was opened.", "This property shall contain the date and time when the connection was opened."),
    "Interactive": P("boolean", "Whether the connection may type now.", "This property shall indicate whether the connection's input is accepted now, given the user's rights and the console's mode."),
    "ReceivesOutput": P("boolean", "Whether the connection receives output now.", "This property shall indicate whether the connection receives the console's output now (false for others while the console is private)."),
}

PLAIN_OBJECTS = {  # complex types without "@odata.type"
    "ConsoleAttachment": ("One console connection, as SerialInterface.Oem.Vsc.Attached lists it.", "This type shall describe one console connection attached to a port.", ATTACHMENT, ["Id", "UserName", "Role", "Since", "Interactive", "ReceivesOutput"]),
    "SendInputPortResult": ("SendInput's outcome on one port.", "This type shall describe the outcome of SendInput on one port.", {
        "Port": P("string", "The port's SerialInterface Id.", "This property shall contain the Id of the port, as the request named it."),
        "Result": P("SendInputResult", "Whether the input was sent.", "This property shall indicate whether the input was queued for the port's virtual machine."),
        "Reason": P("SendInputRefusal", "Why the input was refused.", "This property shall contain the reason the input was refused; absent when it was sent."),
        "Message": P("string", "The refusal in words.", "This property shall describe the refusal in words; absent when the input was sent."),
    }, ["Port", "Result"]),
    "ConsoleConnectionLinks": ("Links from a console connection.", "This type shall contain links from a console connection to related resources.", {
        "SerialInterface": P("link", "The port this connection is attached to.", "This property shall link to the SerialInterface of the port this connection is attached to."),
    }, []),
    "PortAllocation": ("One allocated port, as AllocatePorts returns it.", "This type shall describe one serial port that AllocatePorts allocated.", {
        "SerialInterface": P("link", "The port's SerialInterface.", "This property shall link to the port's SerialInterface resource."),
        "Id": P("string", "The SerialInterface Id.", "This property shall contain the Id of the port's SerialInterface."),
        "Index": P("integer", "The port's number within its VM, from 1.", "This property shall contain the position of this port among its virtual machine's ports."),
        "ComPort": P("string", "The VM's serial port this port serves.", "This property shall contain the virtual machine's serial port name from the request."),
        "Label": P("string", "The label from the request.", "This property shall contain the label from the request."),
        "Backend": P("Backend", "The device kind behind the port.", "This property shall contain the port's backend."),
        "BindPath": P("string", "What the hypervisor binds the VM's serial port to.", "This property shall contain the path that the hypervisor binds the virtual machine's serial port to."),
        "ConsoleSocket": P("string", "The local Unix socket carrying this console's stream.", "This property shall contain the path of the local Unix socket carrying the raw console stream."),
    }, ["SerialInterface", "Id", "Index", "Backend", "BindPath"]),
}

# Actions bound to the Manager: name -> (description, [(param, edm type, required, description)], return type)
ACTIONS = {
    "AllocatePorts": ("Allocates a virtual machine's serial ports; the hypervisor's command when the VM starts.", [
        ("VMUUID", "Edm.String", True, "The virtual machine's UUID; a repeated request with the same UUID returns the same ports."),
        ("VMName", "Edm.String", True, "The virtual machine's name (letters, digits, '.', '_', '-'; at most 64)."),
        ("HostName", "Edm.String", False, "The host name the virtual machine's operating system uses."),
        ("PortCount", "Edm.Int64", True, "How many serial ports the virtual machine needs."),
        ("Backend", "Vsc.v1_0_0.Backend", False, "The backend; the service's default when absent."),
        ("Ports", "Collection(Vsc.v1_0_0.PortRequest)", False, "One entry per port, in order: which VM serial port it serves and a label."),
    ], "AllocatePortsResponse"),
    "FreePorts": ("Frees serial ports by virtual machine or by port; the hypervisor's command when the VM ends.", [
        ("VMUUID", "Edm.String", False, "Free every port of this virtual machine."),
        ("SerialInterfaces", "Collection(Edm.String)", False, "Free these ports (SerialInterface Ids)."),
    ], "FreePortsResponse"),
    "IpmiRequest": ("Runs one IPMI OEM request (group extension NetFn 0x2E) given as bytes; see docs/ipmi-oem.md.", [
        ("NetFn", "Edm.String", True, "The request's network function, as hex (2E)."),
        ("Command", "Edm.String", True, "The command byte, as hex."),
        ("Data", "Edm.String", True, "The request data bytes, as hex (the IANA enterprise number first)."),
        ("Transport", "Edm.String", False, "IPMB (32-byte messages, the default) or LAN (longer requests)."),
    ], "IpmiResponse"),
    "SendInput": ("Sends the same input to several consoles at once, subject to each port's rights and mode; see docs/console-protocol.md.", [
        ("Ports", "Collection(Edm.String)", True, "The ports (SerialInterface Ids) to send to; at most 64, none twice."),
        ("Data", "Edm.String", True, "The input: text, or Base64 when Encoding is Base64; at most 4096 bytes."),
        ("Encoding", "Edm.String", False, "UTF-8 (the default) or Base64."),
    ], "SendInputResponse"),
}
PLAIN_OBJECTS["PortRequest"] = ("One requested port of AllocatePorts.", "This type shall describe one serial port in an AllocatePorts request.", {
    "ComPort": P("string", "The VM serial port this port serves, such as COM1.", "This property shall contain the name of the virtual machine's serial port.", pattern="^[A-Za-z0-9]{1,15}$"),
    "Label": P("string", "A label for the port.", "This property shall contain a label for the port.", maxLength=64),
}, [])


# Resources of the OEM namespace: name -> (description, long description, properties,
# required, member type for collections or None). Properties take writable=True in extra.
RESOURCES = {
    "AccessRule": ("An access rule of a serial port.",
                   "This resource shall grant or deny one console right on one serial port to one account or to every account of one role. Exactly one of UserName and RoleId is present. A user's rules override the rules of the user's role; at the same level a denial overrides a grant.", {
        "UserName": P("string", "The account the rule applies to.", "This property shall contain the user name of the account that this rule applies to. It shall be absent for a rule that applies to a role. The rule is removed when the account is deleted.", maxLength=64),
        "RoleId": P("string", "The role the rule applies to.", "This property shall contain the RoleId of the role whose accounts this rule applies to. It shall be absent for a rule that applies to one account.", enum=["Administrator", "Operator", "ReadOnly"]),
        "Right": P("PortRight", "The right the rule grants or denies.", "This property shall contain the console right that this rule grants or denies. Manage is not accepted."),
        "Effect": P("AccessEffect", "Whether the rule grants or denies its right.", "This property shall indicate whether this rule grants or denies its right.", writable=True),
    }, ["@odata.id", "@odata.type", "Id", "Name", "Right", "Effect"], None),
    "AccessRuleCollection": ("The access rules of a serial port.",
                             "This resource shall contain the access rules of one serial port. At most one rule exists per subject and right.",
                             {}, ["@odata.id", "@odata.type", "Name", "Members", "Members@odata.count"], "AccessRule"),
    "ConsoleConnection": ("One console WebSocket connection attached to a port; DELETE disconnects it.",
                          "This resource shall describe one console connection attached to a serial port; a DELETE shall close the connection with a reason.",
                          dict(ATTACHMENT, **{
                              "SessionType": P("string", "The kind of session, as Session.SessionType names it.", "This property shall contain HostConsole."),
                              "Links": P("ConsoleConnectionLinks", "Links to related resources.", "This property shall contain links to resources related to this connection."),
                          }), ["@odata.id", "@odata.type", "Id", "Name", "UserName"], None),
    "ConsoleStateRule": ("A rule of the console state detector.",
                         "This resource shall describe one rule that derives a virtual machine's state from a line of its console output: a line that matches Pattern sets State. Administrator rules are tried before built-in rules, in the order they were added; the first match decides.", {
        "Pattern": P("string", "A POSIX extended regular expression matched against each console line.", "This property shall contain a POSIX extended regular expression, case-sensitive, matched against each console line with control sequences removed.", maxLength=256),
        "State": P("ConsoleState", "The state a matching line shows.", "This property shall contain the state that a matching line shows. Unknown is not accepted."),
        "BuiltIn": P("boolean", "Whether the rule is built into the service.", "This property shall indicate whether the rule is built into the service; built-in rules cannot be deleted."),
    }, ["@odata.id", "@odata.type", "Id", "Name", "Pattern", "State"], None),
    "ConsoleStateRuleCollection": ("The console state detector's rules.",
                                   "This resource shall contain the rules of the console state detector, in the order they are tried.",
                                   {}, ["@odata.id", "@odata.type", "Name", "Members", "Members@odata.count"], "ConsoleStateRule"),
    "ConsoleConnectionCollection": ("The console connections attached to a port.",
                                    "This resource shall list the console connections attached to a serial port.",
                                    {}, ["@odata.id", "@odata.type", "Name", "Members", "Members@odata.count"], "ConsoleConnection"),
}
RESOURCE = "http://redfish.dmtf.org/schemas/v1/Resource.json#/definitions/"


def json_resource(name, spec):
    desc, long, props, required, member = spec
    out = {"@odata.context": {"$ref": ODATA + "context"}, "@odata.etag": {"$ref": ODATA + "etag"},
           "@odata.id": {"$ref": ODATA + "id"}, "@odata.type": {"$ref": ODATA + "type"},
           "Description": {"anyOf": [{"$ref": RESOURCE + "Description"}, {"type": "null"}], "readonly": True},
           "Id": {"$ref": RESOURCE + "Id", "readonly": True},
           "Name": {"$ref": RESOURCE + "Name", "readonly": True}}
    if member:
        del out["Id"]
        out["Members"] = {"description": "The members of this collection.", "items": {"$ref": ODATA + "idRef"},
                          "longDescription": "This property shall contain an array of links to the members of this collection.",
                          "readonly": True, "type": "array"}
        out["Members@odata.count"] = {"$ref": ODATA + "count"}
        out["Members@odata.nextLink"] = {"$ref": ODATA + "nextLink"}
    for pname, (t, d, l, extra) in props.items():
        extra = dict(extra)
        writable = extra.pop("writable", False)
        p = dict(json_type_of(t), description=d, longDescription=l, readonly=not writable)
        p.update(extra)
        out[pname] = dict(sorted(p.items()))
    return {"additionalProperties": False, "description": desc, "longDescription": long,
            "patternProperties": PATTERN, "properties": dict(sorted(out.items())), "required": required,
            "type": "object"}


def json_type(t):
    if t in ENUMS or t.lstrip("[").rstrip("]") in PLAIN_OBJECTS:
        pass
    if t == "string?":
        return {"type": ["string", "null"]}
    if t == "date-time":
        return {"format": "date-time", "type": "string"}
    if t == "link":
        return {"$ref": ODATA + "idRef"}
    if t == "links":
        return {"items": {"$ref": ODATA + "idRef"}, "type": "array"}
    if t in ENUMS:
        return {"$ref": "#/definitions/" + t}
    if t.startswith("["):
        inner = t[1:-1]
        return {"items": {"type": inner} if inner == "string" else {"$ref": "#/definitions/" + inner}, "type": "array"}
    return {"type": t}


def json_type_of(t):
    if t in PLAIN_OBJECTS:
        return {"$ref": "#/definitions/" + t}
    return json_type(t)


def json_object(name, spec, with_type):
    desc, long, props, required = spec
    out = {}
    if with_type:
        out["@odata.type"] = {"$ref": ODATA + "type"}
    for pname, (t, d, l, extra) in props.items():
        p = dict(json_type_of(t), description=d, longDescription=l, readonly=name not in ("PortRequest",))
        p.update(extra)
        out[pname] = dict(sorted(p.items()))
        if t == "links":
            out[pname + "@odata.count"] = {"$ref": ODATA + "count"}
    d = {"additionalProperties": False, "description": desc, "longDescription": long,
         "patternProperties": PATTERN, "properties": dict(sorted(out.items())), "type": "object"}
    if required:
        d["required"] = required
    return d


def versioned_json():
    defs = {}
    for name, (desc, long, values) in ENUMS.items():
        defs[name] = {"description": desc, "enum": list(values), "enumDescriptions": values,
                      "longDescription": long, "type": "string"}
    for name, spec in OEM_OBJECTS.items():
        defs[name] = json_object(name, spec, True)
    for name, spec in PLAIN_OBJECTS.items():
        defs[name] = json_object(name, spec, False)
    for name, spec in RESOURCES.items():
        defs[name] = json_resource(name, spec)
    for name, (desc, params, _ret) in ACTIONS.items():
        defs[name] = {"additionalProperties": False, "description": desc,
                      "longDescription": "This action shall do what its description says: " + desc,
                      "parameters": {p: {"description": d, "requiredParameter": req} if req else {"description": d}
                                     for p, _t, req, d in params},
                      "patternProperties": PATTERN,
                      "properties": {"@Redfish.ActionInfo": {"description": "The URI of the ActionInfo resource for this action.", "format": "uri-reference", "type": "string"},
                                     "target": {"description": "Link to invoke action", "format": "uri-reference", "type": "string"},
                                     "title": {"description": "Friendly action name", "type": "string"}},
                      "type": "object"}
    return {"$id": "http://vsc.invalid/schemas/v1/Vsc.v1_0_0.json", "$ref": "#/definitions/Manager",
            "$schema": "http://redfish.dmtf.org/schemas/v1/redfish-schema-v1.json",
            "copyright": "Copyright 2026 the vsc authors. Served by vscd at /redfish/v1/JsonSchemas/Vsc/Vsc.v1_0_0.json.",
            "definitions": dict(sorted(defs.items())), "language": "en", "owningEntity": "vsc",
            "release": "1.0", "title": "#Vsc.v1_0_0"}


def unversioned_json():
    defs = {}
    for name, spec in list(OEM_OBJECTS.items()) + list(RESOURCES.items()):
        defs[name] = {"anyOf": [{"$ref": "http://vsc.invalid/schemas/v1/Vsc.v1_0_0.json#/definitions/" + name}],
                      "description": spec[0], "longDescription": spec[1]}
    return {"$id": "http://vsc.invalid/schemas/v1/Vsc.json",
            "$schema": "http://redfish.dmtf.org/schemas/v1/redfish-schema-v1.json",
            "copyright": "Copyright 2026 the vsc authors.", "definitions": dict(sorted(defs.items())),
            "language": "en", "owningEntity": "vsc", "title": "#Vsc"}


EDM = {"string": "Edm.String", "string?": "Edm.String", "integer": "Edm.Int64", "boolean": "Edm.Boolean",
       "date-time": "Edm.DateTimeOffset"}


def string_enum(t):
    """An enum with a value CSDL cannot name (an EnumType member is an identifier: no '-'):
    in CSDL a string whose values a pattern lists, so that a payload's value is valid there
    as it is in the JSON schema."""
    return t in ENUMS and not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) for v in ENUMS[t][2])


def enum_pattern(t):
    return "^(%s)$" % "|".join(re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", v) for v in ENUMS[t][2])


def csdl_type(t):
    if t in EDM:
        return EDM[t], t != "string?"
    if t == "link":
        return "Resource.Item", True
    if t == "links":
        return "Collection(Resource.Item)", True
    if string_enum(t):
        return "Edm.String", True
    if t in ENUMS or t in PLAIN_OBJECTS:
        return "Vsc.v1_0_0." + t, True
    inner = t[1:-1]
    if string_enum(inner):
        return "Collection(Edm.String)", True
    return "Collection(%s)" % (EDM.get(inner) or "Vsc.v1_0_0." + inner), True


def annot(term, text, indent):
    return '%s<Annotation Term="%s" String=%s/>' % (indent, term, quoteattr(text))


def csdl():
    L = ['<?xml version="1.0" encoding="UTF-8"?>',
         "<!-- vsc OEM schema (namespace Vsc). Generated by scripts/gen-oem-schema.py; do not edit.",
         "     Served by vscd at /redfish/v1/schemas/Vsc_v1.xml and referenced from $metadata. -->",
         '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">']
    for uri, ns, alias in [
            ("http://docs.oasis-open.org/odata/odata/v4.0/errata03/csd01/complete/vocabularies/Org.OData.Core.V1.xml", "Org.OData.Core.V1", "OData"),
            ("http://docs.oasis-open.org/odata/odata/v4.0/errata03/csd01/complete/vocabularies/Org.OData.Measures.V1.xml", "Org.OData.Measures.V1", "Measures"),
            ("http://redfish.dmtf.org/schemas/v1/RedfishExtensions_v1.xml",
             [("RedfishExtensions.v1_0_0", "Redfish"), ("Validation.v1_0_0", "Validation")], None),
            ("http://redfish.dmtf.org/schemas/v1/Resource_v1.xml", ["Resource", "Resource.v1_0_0"], None),
            ("http://redfish.dmtf.org/schemas/v1/Manager_v1.xml", "Manager", None)]:
        L.append('  <edmx:Reference Uri="%s">' % uri)
        for one in ns if isinstance(ns, list) else [ns]:
            one, one_alias = one if isinstance(one, tuple) else (one, alias)
            L.append('    <edmx:Include Namespace="%s"%s/>' % (one, ' Alias="%s"' % one_alias if one_alias else ""))
        L.append("  </edmx:Reference>")
    L.append("  <edmx:DataServices>")
    L.append('    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Vsc">')
    L.append('      <Annotation Term="Redfish.OwningEntity" String="vsc"/>')
    for name, (desc, params, ret) in ACTIONS.items():
        L.append('      <Action Name="%s" IsBound="true">' % name)
        L.append('        <Parameter Name="Manager" Type="Manager.v1_0_0.OemActions"/>')
        for p, t, req, d in params:
            enum = t[len("Vsc.v1_0_0."):] if t.startswith("Vsc.v1_0_0.") else None
            t = "Edm.String" if string_enum(enum) else t
            L.append('        <Parameter Name="%s" Type="%s"%s>' % (p, t, ' Nullable="false"' if req else ""))
            L.append(annot("OData.Description", d, "          "))
            if string_enum(enum):
                L.append(annot("Validation.Pattern", enum_pattern(enum), "          "))
            if req:
                L.append('          <Annotation Term="Redfish.RequiredParameter"/>')
            L.append("        </Parameter>")
        L.append('        <ReturnType Type="Vsc.v1_0_0.%s" Nullable="false"/>' % ret)
        L.append(annot("OData.Description", desc, "        "))
        L.append(annot("OData.LongDescription", "This action shall do what its description says: " + desc, "        "))
        L.append("      </Action>")
    L.append("    </Schema>")
    L.append('    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Vsc.v1_0_0">')
    L.append('      <Annotation Term="Redfish.OwningEntity" String="vsc"/>')
    L.append('      <Annotation Term="Redfish.Release" String="1.0"/>')
    for name, (desc, long, values) in ENUMS.items():
        if string_enum(name):
            continue  # a pattern on each property of the type (csdl_type)
        L.append('      <EnumType Name="%s">' % name)
        for v, d in values.items():
            L.append('        <Member Name="%s">' % v)
            L.append(annot("OData.Description", d, "          "))
            L.append("        </Member>")
        L.append(annot("OData.Description", desc, "        "))
        L.append(annot("OData.LongDescription", long, "        "))
        L.append("      </EnumType>")
    for name, spec in list(OEM_OBJECTS.items()) + list(PLAIN_OBJECTS.items()):
        desc, long, props, _req = spec
        base = ' BaseType="Resource.OemObject"' if name in OEM_OBJECTS else ""
        L.append('      <ComplexType Name="%s"%s>' % (name, base))
        L.append(annot("OData.Description", desc, "        "))
        L.append(annot("OData.LongDescription", long, "        "))
        for pname, (t, d, l, _extra) in props.items():
            ct, notnull = csdl_type(t)
            nav = t in ("link", "links")
            tag = "NavigationProperty" if nav else "Property"
            L.append('        <%s Name="%s" Type="%s"%s>' % (tag, pname, ct, ' Nullable="false"' if notnull and not t.startswith("[") and not nav else ""))
            writable = name == "PortRequest" or _extra.get("readonly") is False
            L.append('          <Annotation Term="OData.Permissions" EnumMember="OData.Permission/%s"/>' % ("ReadWrite" if writable else "Read"))
            L.append(annot("OData.Description", d, "          "))
            L.append(annot("OData.LongDescription", l, "          "))
            if _extra.get("units"):
                L.append(annot("Measures.Unit", _extra["units"], "          "))
            if string_enum(t.strip("[]")):
                L.append(annot("Validation.Pattern", enum_pattern(t.strip("[]")), "          "))
            if nav:
                L.append('          <Annotation Term="OData.AutoExpandReferences"/>')
            L.append("        </%s>" % tag)
        L.append("      </ComplexType>")
    for name, (desc, long, props, _req, member) in RESOURCES.items():
        base = "Resource.v1_0_0.ResourceCollection" if member else "Resource.v1_0_0.Resource"
        L.append('      <EntityType Name="%s" BaseType="%s">' % (name, base))
        L.append(annot("OData.Description", desc, "        "))
        L.append(annot("OData.LongDescription", long, "        "))
        for pname, (t, d, l, extra) in props.items():
            ct, notnull = csdl_type(t)
            L.append('        <Property Name="%s" Type="%s"%s>' % (pname, ct, ' Nullable="false"' if notnull and pname not in ("UserName", "RoleId") else ""))
            L.append('          <Annotation Term="OData.Permissions" EnumMember="OData.Permission/%s"/>' % ("ReadWrite" if extra.get("writable") else "Read"))
            L.append(annot("OData.Description", d, "          "))
            L.append(annot("OData.LongDescription", l, "          "))
            L.append("        </Property>")
        if member:
            L.append('        <NavigationProperty Name="Members" Type="Collection(Vsc.v1_0_0.%s)">' % member)
            L.append('          <Annotation Term="OData.Permissions" EnumMember="OData.Permission/Read"/>')
            L.append(annot("OData.Description", "The members of this collection.", "          "))
            L.append(annot("OData.LongDescription", "This property shall contain an array of links to the members of this collection.", "          "))
            L.append('          <Annotation Term="OData.AutoExpandReferences"/>')
            L.append("        </NavigationProperty>")
        L.append("      </EntityType>")
    L.append("    </Schema>")
    L.append("  </edmx:DataServices>")
    L.append("</edmx:Edmx>")
    return "\n".join(L) + "\n"


def main(out):
    os.makedirs(out, exist_ok=True)
    for fname, doc in [("Vsc.v1_0_0.json", versioned_json()), ("Vsc.json", unversioned_json())]:
        with open(os.path.join(out, fname), "w") as f:
            json.dump(doc, f, indent=4)
            f.write("\n")
    with open(os.path.join(out, "Vsc_v1.xml"), "w") as f:
        f.write(csdl())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "schemas/redfish")
