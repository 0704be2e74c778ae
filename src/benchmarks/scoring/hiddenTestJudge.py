"""Hidden-test judge of spogw-native (docs/scoring.md, "Code verdicts").

Two processes. The worker runs the candidate's program and answers calls to what it defined. The judge
holds the hidden tests and the nonce, runs the tests with the candidate's functions replaced by calls
into the worker, and alone writes the verdict. Only plain data (None, bool, int, float, complex, str,
bytes, and lists, tuples, sets and dicts of them) crosses from the worker; anything else stays there and
is seen by the judge as an opaque object that equals only itself.

Nothing is imported beyond what a bare interpreter start loads, so the judge costs little more than the
one program it replaces: messages use the length-prefixed codec below, not json (which imports re).
"""
import _signal
import builtins
import os
import sys

INPUT_FD = 3   # job from the host; read by the judge after the fork, never open in the worker
REPORT_FD = 4  # verdict to the host; closed in the worker before it runs anything
MAX_DEPTH = 100


class ProtocolError(Exception):
    """Bytes that are not a well-formed message."""


# ---- codec: one value is a tag byte and its body; strings and containers carry their length ----------
#   N T F            None, True, False
#   i<hex>;          int          f<hex>; float (float.hex)     c<hex>;<hex>; complex
#   s<n>:<utf-8>     str          b<n>:<bytes> bytes             y<n>:<bytes> bytearray
#   l t z e d<n>:    list, tuple, frozenset, set (n items), dict (n key-value pairs), items following
#   o<ref>;          an object kept in the worker (worker -> judge adds <T|F><n>:<type name>)

def encode(value, out, other, depth=0):
    """Appends plain data to the bytearray `out`; other(value, out) encodes anything else (or raises)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested more than %d deep" % MAX_DEPTH)
    if value is None:
        out += b"N"
    elif value is True or value is False:
        out += b"T" if value else b"F"
    elif isinstance(value, str):
        data = str.__str__(value).encode("utf-8", "surrogatepass")
        out += b"s%d:" % len(data) + data
    elif isinstance(value, int):
        out += b"i%x;" % int.__index__(value)
    elif isinstance(value, float):
        out += b"f" + float.hex(value).encode() + b";"
    elif isinstance(value, complex):
        value = complex.__complex__(value)
        out += b"c" + float.hex(value.real).encode() + b";" + float.hex(value.imag).encode() + b";"
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        out += (b"b" if isinstance(value, bytes) else b"y") + b"%d:" % len(data) + data
    elif isinstance(value, dict):
        items = list(dict.items(value))
        out += b"d%d:" % len(items)
        for k, v in items:
            encode(k, out, other, depth + 1)
            encode(v, out, other, depth + 1)
    else:
        for kind, tag in ((tuple, b"t"), (list, b"l"), (frozenset, b"z"), (set, b"e")):
            if isinstance(value, kind):
                items = list(kind.__iter__(value))
                out += tag + b"%d:" % len(items)
                for item in items:
                    encode(item, out, other, depth + 1)
                return
        other(value, out)


class Reader:
    """Reads values from `data`; every read checks its bounds and raises ProtocolError."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def tag(self):
        if self.at >= len(self.data):
            raise ProtocolError("message ends early")
        self.at += 1
        return self.data[self.at - 1:self.at]

    def until(self, stop, limit=64):
        end = self.data.find(stop, self.at, self.at + limit + 1)
        if end < 0:
            raise ProtocolError("missing %r" % stop)
        text, self.at = self.data[self.at:end], end + 1
        return text

    def count(self):
        text = self.until(b":", 20)
        if not text.isdigit():
            raise ProtocolError("bad length")
        return int(text)

    def take(self, n):
        if n > len(self.data) - self.at:
            raise ProtocolError("length beyond the message")
        chunk, self.at = self.data[self.at:self.at + n], self.at + n
        return chunk

    def number(self, parse):
        try:
            return parse(self.until(b";", 1 << 20).decode("ascii"))
        except (ValueError, OverflowError, UnicodeDecodeError):
            raise ProtocolError("bad number")

    def value(self, opaque, depth=0):
        if depth > MAX_DEPTH + 1:
            raise ProtocolError("value nested too deep")
        tag = self.tag()
        if tag == b"N":
            return None
        if tag in (b"T", b"F"):
            return tag == b"T"
        if tag == b"i":
            return self.number(lambda text: int(text, 16))
        if tag == b"f":
            return self.number(float.fromhex)
        if tag == b"c":
            return complex(self.number(float.fromhex), self.number(float.fromhex))
        if tag in (b"s", b"b", b"y"):
            chunk = self.take(self.count())
            if tag == b"s":
                try:
                    return chunk.decode("utf-8", "surrogatepass")
                except UnicodeDecodeError:
                    raise ProtocolError("bad text")
            return bytes(chunk) if tag == b"b" else bytearray(chunk)
        if tag in (b"l", b"t", b"z", b"e", b"d"):
            n = self.count()
            if n > len(self.data) - self.at:
                raise ProtocolError("more items than bytes")
            try:
                if tag == b"d":
                    return {self.value(opaque, depth + 1): self.value(opaque, depth + 1) for _ in range(n)}
                items = [self.value(opaque, depth + 1) for _ in range(n)]
                return {b"l": list, b"t": tuple, b"z": frozenset, b"e": set}[tag](items)
            except TypeError:
                raise ProtocolError("unhashable item in a set or dict key")
        if tag == b"o":
            return opaque(self)
        raise ProtocolError("unknown tag %r" % tag)


def send(stream, payload):
    stream.write(b"%d:" % len(payload) + payload)
    stream.flush()


def receive(stream):
    """One length-prefixed message, or EOFError when the other side is gone."""
    header = b""
    while not header.endswith(b":"):
        byte = stream.read(1)
        if not byte or len(header) > 20:
            raise EOFError
        header += byte
    if not header[:-1].isdigit():
        raise EOFError
    n = int(header[:-1])
    payload = stream.read(n)
    if len(payload) != n:
        raise EOFError
    return Reader(payload)


def message(*values, other=None):
    out = bytearray()
    for value in values:
        encode(value, out, other)
    return bytes(out)


# ---- the worker: the candidate's process ---------------------------------------------------------

def describe_exception(error):
    try:
        text = str(error)[:1000]
    except BaseException:
        text = "(its message could not be read)"
    try:
        import traceback
        trace = "".join(traceback.format_exception(error))[-4000:]
    except BaseException:
        trace = ""
    return [str(type(error).__name__)[:100], text, trace]


def worker(requests, replies):
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    objects = []

    def other(value, out):
        # NumPy scalars behave like the Python number they hold; np.int64 is not an int subclass.
        if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
            return encode(value.item(), out, other)
        truth = bool(value)
        objects.append(value)
        name = str(type(value).__name__)[:100].encode("utf-8", "replace")
        out += b"o%d;" % (len(objects) - 1) + (b"T" if truth else b"F") + b"%d:" % len(name) + name

    def resolve(reader):
        ref = reader.number(int)
        if not 0 <= ref < len(objects):
            raise ProtocolError("unknown object")
        return objects[ref]

    job = receive(requests)
    source, names = job.value(None), job.value(None)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(source, "solution.py", "exec"), namespace)
    except BaseException as error:
        send(replies, message("raised", describe_exception(error)))
        os._exit(0)
    loaded = []
    for name in names:
        if name not in namespace:
            continue
        value = namespace[name]
        try:
            if type(value).__name__ == "module":
                loaded.append(message(name, "module", value.__name__))
            elif callable(value):
                objects.append(value)
                loaded.append(message(name, "callable", len(objects) - 1))
            else:
                loaded.append(message(name, "value") + message(value, other=other))
        except BaseException:
            continue
    send(replies, message("loaded", len(loaded)) + b"".join(loaded))
    # Calls run with as much stack as they would have had at the top of a program.
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    sys.setrecursionlimit(sys.getrecursionlimit() + depth + 2)
    while True:
        call = receive(requests)
        try:
            function = call.value(resolve)
            args, kwargs = call.value(resolve), call.value(resolve)
            reply = message("return", function(*args, **kwargs), other=other)
        except BaseException as error:
            reply = message("raised", describe_exception(error))
        send(replies, reply)


# ---- the judge -----------------------------------------------------------------------------------

class CandidateObject:
    """A value the candidate returned that is not plain data. It stays in the worker; the judge sees
    only its type name and truthiness (a bool, so nothing True itself could not say)."""

    __slots__ = ("ref", "type_name", "truth")

    def __init__(self, ref, type_name, truth):
        self.ref, self.type_name, self.truth = ref, type_name, truth

    def __bool__(self):
        return self.truth

    def __repr__(self):
        return "<the candidate's %s object>" % self.type_name


class CandidateError(Exception):
    """An exception raised in the candidate's process that has no builtin counterpart here."""

    def __init__(self, type_name, text):
        super().__init__("%s: %s" % (type_name, text))
        self.type_name = type_name


class CandidateEnded(Exception):
    """The worker is gone (it exited, was killed, or closed its end); "how" says which."""

    def __init__(self, how):
        super().__init__("the candidate's process ended (%s) before the tests finished" % how)
        self.how = how


def opaque(reader):
    ref = reader.number(int)
    truth = reader.tag()
    name = reader.take(reader.count()).decode("utf-8", "replace")
    if truth not in (b"T", b"F"):
        raise ProtocolError("bad object reference")
    return CandidateObject(ref, name, truth == b"T")


def refuse(value, out):
    if isinstance(value, CandidateObject):
        out += b"o%d;" % value.ref
        return
    raise TypeError("the tests passed a %s, which cannot cross to the candidate's process" % type(value).__name__)


class Session:
    def __init__(self, requests, replies, worker_pid):
        self.requests, self.replies, self.worker_pid = requests, replies, worker_pid
        self.candidate_traceback = ""

    def exchange(self, payload):
        try:
            send(self.requests, payload)
            reply = receive(self.replies)
        except (EOFError, OSError):
            raise self.ended()
        kind = reply.value(None)
        if kind == "raised":
            raise self.raised(reply.value(None))
        return kind, reply

    def ended(self):
        try:
            _, status = os.waitpid(self.worker_pid, 0)
        except ChildProcessError:
            return CandidateEnded("gone")
        if os.WIFSIGNALED(status):
            import signal
            return CandidateEnded(signal.Signals(os.WTERMSIG(status)).name)
        return CandidateEnded("exit %d" % os.waitstatus_to_exitcode(status))

    def raised(self, info):
        if type(info) is not list or len(info) != 3 or not all(type(x) is str for x in info):
            raise ProtocolError("malformed exception")
        type_name, text, self.candidate_traceback = info
        cls = getattr(builtins, type_name, None)
        if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "builtins":
            return cls(text)
        return CandidateError(type_name, text)

    def function(self, ref, name):
        def candidate_function(*args, **kwargs):
            out = bytearray(b"o%d;" % ref)
            encode(args, out, refuse)
            encode(kwargs, out, refuse)
            kind, reply = self.exchange(bytes(out))
            if kind != "return":
                raise ProtocolError("unexpected reply")
            return reply.value(opaque)

        candidate_function.__name__ = candidate_function.__qualname__ = name
        return candidate_function


def names_used(code):
    names = set(code.co_names)
    for constant in code.co_consts:
        if hasattr(constant, "co_names"):
            names |= names_used(constant)
    return names


def read_job():
    chunks = []
    while True:
        chunk = os.read(INPUT_FD, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(INPUT_FD)
    reader = Reader(b"".join(chunks))
    return [reader.take(reader.count()).decode("utf-8") for _ in range(6)]


def judge(requests, replies, worker_pid):
    import ctypes

    # Non-dumpable: the worker (same uid) can neither ptrace this process nor open its /proc memory or
    # descriptors. Done before the worker is given anything to run.
    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")
    nonce, imports, prelude, solution, tests_source, entry_point = read_job()
    session = Session(requests, replies, worker_pid)
    failure = None
    try:
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        exec(compile(imports + "\n" + prelude, "prelude.py", "exec"), namespace)
        tests = compile(tests_source, "hidden_tests.py", "exec")
        # What the tests use that neither the prelude nor the builtins provide comes from the candidate,
        # and always the entry point. Builtins and prelude helpers stay the judge's own.
        wanted = {entry_point} | {
            name for name in names_used(tests)
            if name not in namespace and not hasattr(builtins, name) and not name.startswith("__")
        }
        kind, reply = session.exchange(message(imports + "\n" + prelude + "\n\n" + solution, sorted(wanted)))
        if kind != "loaded":
            raise ProtocolError("unexpected reply")
        for _ in range(reply.value(None)):
            name, what = reply.value(None), reply.value(None)
            if name not in wanted:
                raise ProtocolError("a name that was not asked for")
            if what == "callable":
                namespace[name] = session.function(reply.value(None), name)
            elif what == "module":
                module = reply.value(None)
                if module.split(".")[0] in sys.stdlib_module_names:
                    __import__(module)
                    namespace[name] = sys.modules[module]
            elif what == "value":
                namespace[name] = reply.value(opaque)
            else:
                raise ProtocolError("unknown kind of name")
        exec(tests, namespace)
    except BaseException as error:
        failure = error
    try:
        os.kill(worker_pid, 9)
    except ProcessLookupError:
        pass
    error_type = None if failure is None else failure.type_name if isinstance(failure, CandidateError) else type(failure).__name__
    ended = failure.how if isinstance(failure, CandidateEnded) else ""
    text = "" if failure is None else str(failure)[:1000]
    with os.fdopen(REPORT_FD, "wb") as report:
        for field in (nonce, "1" if failure is None else "0", error_type or "", text, ended):
            data = field.encode("utf-8", "replace")
            report.write(b"%d:" % len(data) + data)
    if failure is None:
        os._exit(0)
    # The candidate's traceback, the tests' traceback, then the error type as the last line, where the
    # sandbox reads an uncaught exception's type (a candidate error has no class of its own here).
    import traceback
    sys.stderr.write(session.candidate_traceback)
    traceback.print_exception(failure)
    sys.stderr.write("%s: %s\n" % (error_type, text.replace("\n", " ")))
    sys.stderr.flush()
    os._exit(1)


def main():
    os.closerange(REPORT_FD + 1, 2 ** 31 - 1)  # behind the launcher: no inherited descriptor survives
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # no KeyboardInterrupt the worker could time into the tests
    to_worker = os.pipe()
    from_worker = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(INPUT_FD)
            os.close(REPORT_FD)
            os.close(to_worker[1])
            os.close(from_worker[0])
            worker(os.fdopen(to_worker[0], "rb"), os.fdopen(from_worker[1], "wb"))
        finally:
            os._exit(0)
    os.close(to_worker[0])
    os.close(from_worker[1])
    judge(os.fdopen(to_worker[1], "wb"), os.fdopen(from_worker[0], "rb"), pid)


main()
