# MIT krb5 GSS-API initiator driven over stdin/stdout, for krb's tests.
# It calls libgssapi_krb5 through ctypes, so the peer checking the
# acceptor's AP-REP is MIT's own code.
#
# usage: python3 mit_initiator.py FLAGS [CB_APPDATA_HEX]
#   prints:  TOKEN <base64 initial token>
#   reads:   <base64 reply token>
#   prints:  OK <ret_flags>  |  ERR <major> <minor> <message>
import base64
import ctypes
import ctypes.util
import sys

lib = ctypes.CDLL(ctypes.util.find_library("gssapi_krb5") or "libgssapi_krb5.so.2")
u32 = ctypes.c_uint32


class Buf(ctypes.Structure):
    _fields_ = [("length", ctypes.c_size_t), ("value", ctypes.c_void_p)]


class ChanBindings(ctypes.Structure):
    _fields_ = [("initiator_addrtype", u32), ("initiator_address", Buf),
                ("acceptor_addrtype", u32), ("acceptor_address", Buf),
                ("application_data", Buf)]


P = ctypes.POINTER
lib.gss_import_name.argtypes = [P(u32), P(Buf), ctypes.c_void_p, P(ctypes.c_void_p)]
lib.gss_import_name.restype = u32
lib.gss_init_sec_context.argtypes = [P(u32), ctypes.c_void_p, P(ctypes.c_void_p), ctypes.c_void_p,
                                     ctypes.c_void_p, u32, u32, ctypes.c_void_p, P(Buf),
                                     ctypes.c_void_p, P(Buf), P(u32), ctypes.c_void_p]
lib.gss_init_sec_context.restype = u32
lib.gss_display_status.argtypes = [P(u32), u32, ctypes.c_int, ctypes.c_void_p, P(u32), P(Buf)]
lib.gss_display_status.restype = u32


def buf(data):
    keep = ctypes.create_string_buffer(data, len(data))
    return Buf(len(data), ctypes.cast(keep, ctypes.c_void_p)), keep


def status(code, kind):
    out, ctx, minor = Buf(), u32(0), u32(0)
    lib.gss_display_status(ctypes.byref(minor), code, kind, None, ctypes.byref(ctx), ctypes.byref(out))
    return ctypes.string_at(out.value, out.length).decode(errors="replace") if out.value else ""


flags = int(sys.argv[1])
cbp, keep = None, []
if len(sys.argv) > 2:
    app, k = buf(bytes.fromhex(sys.argv[2]))
    keep.append(k)
    cb = ChanBindings(0, Buf(0, None), 0, Buf(0, None), app)
    cbp = ctypes.cast(ctypes.pointer(cb), ctypes.c_void_p)

minor = u32(0)
nb, k = buf(b"HTTP@localhost")
keep.append(k)
name = ctypes.c_void_p()
hbs = ctypes.c_void_p.in_dll(lib, "GSS_C_NT_HOSTBASED_SERVICE")
if lib.gss_import_name(ctypes.byref(minor), ctypes.byref(nb), hbs, ctypes.byref(name)):
    print("ERR import_name", flush=True)
    sys.exit(1)
mech = ctypes.c_void_p.in_dll(lib, "gss_mech_krb5")
ctx = ctypes.c_void_p()
ret = u32(0)


def step(data):
    out = Buf()
    inp, k = buf(data) if data is not None else (Buf(0, None), None)
    maj = lib.gss_init_sec_context(ctypes.byref(minor), None, ctypes.byref(ctx), name, mech, flags, 0,
                                   cbp, ctypes.byref(inp), None, ctypes.byref(out), ctypes.byref(ret), None)
    return maj, ctypes.string_at(out.value, out.length) if out.value else b""


maj, tok = step(None)
if maj not in (0, 1):
    print("ERR %d %d %s" % (maj, minor.value, status(maj, 1) + "; " + status(minor.value, 2)), flush=True)
    sys.exit(1)
print("TOKEN " + base64.b64encode(tok).decode(), flush=True)
if maj == 0:  # no mutual authentication asked: already complete
    print("OK %d" % ret.value, flush=True)
    sys.exit(0)
reply = base64.b64decode(sys.stdin.readline().strip())
maj, _ = step(reply)
if maj != 0:
    print("ERR %d %d %s" % (maj, minor.value, status(maj, 1) + "; " + status(minor.value, 2)), flush=True)
    sys.exit(1)
print("OK %d" % ret.value, flush=True)
